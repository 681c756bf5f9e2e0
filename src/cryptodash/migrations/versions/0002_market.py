"""Market data: candles per coin, source and interval; the market consumers' bus offsets.

Revision ID: 0002_market
Revises: 0002_users
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cryptodash.platform.db import Numeric38, UTCDateTime

revision: str = "0002_market"
down_revision: str | Sequence[str] | None = "0002_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("coin_id", sa.String(50), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("interval", sa.String(4), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("open", Numeric38(), nullable=False),
        sa.Column("high", Numeric38(), nullable=False),
        sa.Column("low", Numeric38(), nullable=False),
        sa.Column("close", Numeric38(), nullable=False),
        sa.Column("volume", Numeric38(), nullable=False),
        sa.PrimaryKeyConstraint("coin_id", "source", "interval", "time", name="pk_candles"),
    )
    # Retention deletes old 1m candles and the 24 h statistics scan the last day of 1m
    # candles of every coin: both filter on interval and time.
    op.create_index("ix_candles_interval_time", "candles", ["interval", "time"])
    op.create_table(
        "market_consumer_offsets",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "consumer", "topic", "partition_id", name="pk_market_consumer_offsets"
        ),
    )


def downgrade() -> None:
    op.drop_table("market_consumer_offsets")
    op.drop_index("ix_candles_interval_time", table_name="candles")
    op.drop_table("candles")
