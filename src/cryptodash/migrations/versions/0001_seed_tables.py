"""The seed's tables: users, preferences, portfolios, holdings, history, watchlist, prices,
sentiments — with NUMERIC(38,18) money, BIGINT ids and a source column on prices.

On PostgreSQL `prices` is range-partitioned by month; `cryptodash_ensure_price_partitions`
creates the monthly partitions (called here and by the market service's maintenance job).

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cryptodash.platform.db import BigIntId, Numeric38, UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION cryptodash_ensure_price_partitions(
    months_back integer, months_ahead integer
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month_start date;
    month_end date;
    partition_name text;
    created integer := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month_start := (first_month + make_interval(months => i))::date;
        month_end := (month_start + interval '1 month')::date;
        partition_name := format('prices_%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF prices FOR VALUES FROM (%L) TO (%L)',
                partition_name,
                to_char(month_start, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(month_end, 'YYYY-MM-DD') || ' 00:00:00+00'
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;
"""


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False, server_default="user"),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.CheckConstraint("role IN ('user', 'admin')", name="role"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "user_preferences",
        sa.Column(
            "user_id",
            BigIntId,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("theme", sa.String(10), nullable=False, server_default="dark"),
        sa.Column("currency", sa.String(10), nullable=False, server_default="USD"),
        sa.Column("default_timeframe", sa.String(4), nullable=False, server_default="1h"),
        sa.Column("notifications", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "portfolios",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", BigIntId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("base_currency", sa.String(10), nullable=False, server_default="USD"),
        sa.Column("cost_basis_method", sa.String(10), nullable=False, server_default="fifo"),
        *_timestamps(),
        sa.CheckConstraint("cost_basis_method IN ('fifo', 'average')", name="cost_basis_method"),
    )
    op.create_index("ix_portfolios_user_id", "portfolios", ["user_id"])
    op.create_table(
        "portfolio_assets",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "portfolio_id",
            BigIntId,
            sa.ForeignKey("portfolios.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("coin_id", sa.String(50), nullable=False),
        sa.Column("quantity", Numeric38(), nullable=False),
        sa.Column("purchase_price", Numeric38(), nullable=False),
        sa.Column("purchase_date", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("portfolio_id", "coin_id"),
    )
    op.create_table(
        "portfolio_history",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "portfolio_id",
            BigIntId,
            sa.ForeignKey("portfolios.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("total_value", Numeric38(), nullable=False),
        sa.Column("cost_basis", Numeric38(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("portfolio_id", "timestamp"),
    )
    op.create_table(
        "watchlist",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", BigIntId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("coin_id", sa.String(50), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "coin_id"),
    )
    op.create_table(
        "sentiments",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("coin_id", sa.String(50), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("positive_pct", sa.Float()),
        sa.Column("negative_pct", sa.Float()),
        sa.Column("neutral_pct", sa.Float()),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sentiments_coin_id_timestamp", "sentiments", ["coin_id", "timestamp"])

    if op.get_bind().dialect.name == "postgresql":
        # A partitioned table's primary key and unique keys must include the partition key.
        op.execute(
            """
            CREATE TABLE prices (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY,
                coin_id VARCHAR(50) NOT NULL,
                source VARCHAR(20) NOT NULL,
                quote VARCHAR(10) NOT NULL DEFAULT 'USD',
                price NUMERIC(38, 18) NOT NULL,
                volume NUMERIC(38, 18),
                timestamp TIMESTAMPTZ NOT NULL,
                CONSTRAINT pk_prices PRIMARY KEY (id, timestamp),
                CONSTRAINT uq_prices_coin_id_source_timestamp UNIQUE (coin_id, source, timestamp)
            ) PARTITION BY RANGE (timestamp)
            """
        )
        op.execute(PARTITION_FUNCTION)
        op.execute("SELECT cryptodash_ensure_price_partitions(2, 3)")
    else:
        op.create_table(
            "prices",
            sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
            sa.Column("coin_id", sa.String(50), nullable=False),
            sa.Column("source", sa.String(20), nullable=False),
            sa.Column("quote", sa.String(10), nullable=False, server_default="USD"),
            sa.Column("price", Numeric38(), nullable=False),
            sa.Column("volume", Numeric38()),
            sa.Column("timestamp", UTCDateTime(), nullable=False),
            sa.UniqueConstraint("coin_id", "source", "timestamp"),
        )
    op.create_index("ix_prices_coin_id_timestamp", "prices", ["coin_id", "timestamp"])


def downgrade() -> None:
    op.drop_table("prices")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cryptodash_ensure_price_partitions(integer, integer)")
    for table in (
        "sentiments",
        "watchlist",
        "portfolio_history",
        "portfolio_assets",
        "portfolios",
        "user_preferences",
        "users",
    ):
        op.drop_table(table)
