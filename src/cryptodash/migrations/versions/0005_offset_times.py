"""Market consumer offsets remember the newest message time applied per partition, so the
persister can tell a redelivered message (not newer) from one of a log that started over (a
broker that lost its data: offsets from 0 again, messages newer than anything applied).

Revision ID: 0005_offset_times
Revises: 0004_portfolio
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_offset_times"
down_revision: str | Sequence[str] | None = "0004_portfolio"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("market_consumer_offsets") as batch:
        batch.add_column(sa.Column("max_timestamp", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("market_consumer_offsets") as batch:
        batch.drop_column("max_timestamp")
