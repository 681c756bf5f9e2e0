"""Portfolio: transactions in their own table (`portfolio_assets` holds the holdings they
imply) and a revision counter on portfolios.

Revision ID: 0004_portfolio
Revises: 0002_market
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cryptodash.platform.db import BigIntId, Numeric38, UTCDateTime

revision: str = "0004_portfolio"
down_revision: str | Sequence[str] | None = "0002_market"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("portfolios") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "portfolio_transactions",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "portfolio_id",
            BigIntId,
            sa.ForeignKey("portfolios.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("coin_id", sa.String(50), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", Numeric38(), nullable=False),
        sa.Column("price", Numeric38(), nullable=False),
        sa.Column("fee", Numeric38(), nullable=False),
        sa.Column("executed_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="side"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("price > 0", name="price_positive"),
        sa.CheckConstraint("fee >= 0", name="fee_not_negative"),
    )
    op.create_index(
        "ix_portfolio_transactions_portfolio_id_executed_at_id",
        "portfolio_transactions",
        ["portfolio_id", "executed_at", "id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_portfolio_transactions_portfolio_id_executed_at_id",
        table_name="portfolio_transactions",
    )
    op.drop_table("portfolio_transactions")
    with op.batch_alter_table("portfolios") as batch:
        batch.drop_column("revision")
