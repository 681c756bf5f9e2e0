"""Response models of the sentiment API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

WindowName = Literal["1h", "24h", "7d"]
KindFilter = Literal["news", "social", "all"]
IntervalName = Literal["15m", "1h", "4h", "1d"]
RangeName = Literal["24h", "7d", "30d"]


class SentimentRead(BaseModel):
    coin_id: str
    window: WindowName
    kind: KindFilter
    score: float | None
    positive_pct: float | None
    negative_pct: float | None
    neutral_pct: float | None
    article_count: int
    timestamp: datetime


class TrendPointRead(BaseModel):
    timestamp: datetime
    score: float | None
    positive_pct: float | None
    negative_pct: float | None
    neutral_pct: float | None
    article_count: int


class TrendRead(BaseModel):
    coin_id: str
    kind: KindFilter
    interval: IntervalName
    range: RangeName
    points: list[TrendPointRead]


class ArticleRead(BaseModel):
    id: int
    title: str
    url: str
    source: str
    provider: str
    kind: Literal["news", "social"]
    published_at: datetime
    coins: list[str]
    label: Literal["positive", "negative", "neutral"]
    score: float
    model: str
    demo: bool


class ArticleList(BaseModel):
    articles: list[ArticleRead]
    next_before: datetime | None


class OverviewEntry(SentimentRead):
    symbol: str
    name: str


class OverviewRead(BaseModel):
    window: WindowName
    kind: KindFilter
    coins: list[OverviewEntry]


class ModelRead(BaseModel):
    configured: str
    state: str
    active: str | None = None
    kind: Literal["transformer", "lexicon"] | None = None
    fallback: bool | None = None
    reason: str | None = None
    details: dict[str, Any] = {}
    sources: list[dict[str, Any]] = []
    updated_at: datetime | None = None
