"""Sentiment: articles, their coin links, and window/kind/count on the seed's sentiments.

Revision ID: 0004_sentiment
Revises: 0002_market
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cryptodash.platform.db import BigIntId, UTCDateTime

revision: str = "0004_sentiment"
down_revision: str | Sequence[str] | None = "0002_market"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sentiments") as batch:
        batch.add_column(sa.Column("period", sa.String(4), nullable=False, server_default="24h"))
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="all"))
        batch.add_column(
            sa.Column("article_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_unique_constraint(
            "uq_sentiments_coin_id_period_kind_timestamp",
            ["coin_id", "period", "kind", "timestamp"],
        )
    op.create_table(
        "articles",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("title_key", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text()),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("label", sa.String(10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.UniqueConstraint("url_key"),
        sa.UniqueConstraint("kind", "title_key"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_table(
        "article_coins",
        sa.Column(
            "article_id",
            BigIntId,
            sa.ForeignKey("articles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("coin_id", sa.String(50), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("label", sa.String(10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_article_coins_coin_id_published_at", "article_coins", ["coin_id", "published_at"]
    )
    op.create_index("ix_article_coins_published_at", "article_coins", ["published_at"])


def downgrade() -> None:
    op.drop_table("article_coins")
    op.drop_table("articles")
    with op.batch_alter_table("sentiments") as batch:
        batch.drop_constraint("uq_sentiments_coin_id_period_kind_timestamp", type_="unique")
        batch.drop_column("article_count")
        batch.drop_column("kind")
        batch.drop_column("period")
