"""Tables owned by the sentiment domain.

`articles` holds every news article and social post once (deduplicated by canonical URL, then
by normalized title within a kind), with its classification. `article_coins` files an article
under each coin it mentions and repeats the fields the per-coin windows need, so an aggregate
is one indexed range scan. `sentiments` keeps the seed's columns plus the window, the kind and
the article count of each periodic aggregate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cryptodash.platform.db import Base, BigIntId, UTCDateTime, utcnow


class Sentiment(Base):
    __tablename__ = "sentiments"
    __table_args__ = (
        Index("ix_sentiments_coin_id_timestamp", "coin_id", "timestamp"),
        UniqueConstraint("coin_id", "period", "kind", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    coin_id: Mapped[str] = mapped_column(String(50))
    score: Mapped[float | None] = mapped_column(Float)
    positive_pct: Mapped[float | None] = mapped_column(Float)
    negative_pct: Mapped[float | None] = mapped_column(Float)
    neutral_pct: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    # "window" is a reserved word in SQL; the API calls it window, the column period.
    period: Mapped[str] = mapped_column(String(4), default="24h", server_default="24h")
    kind: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    article_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("url_key"),
        UniqueConstraint("kind", "title_key"),
        Index("ix_articles_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    title_key: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    label: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(200))

    coins: Mapped[list[ArticleCoin]] = relationship(
        back_populates="article", cascade="all, delete-orphan", lazy="selectin"
    )


class ArticleCoin(Base):
    __tablename__ = "article_coins"
    __table_args__ = (
        Index("ix_article_coins_coin_id_published_at", "coin_id", "published_at"),
        Index("ix_article_coins_published_at", "published_at"),
    )

    article_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    coin_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)

    article: Mapped[Article] = relationship(back_populates="coins")
