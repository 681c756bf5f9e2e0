"""Response shapes of the market API (documentation and tests; the hot routes assemble the
same JSON from cached bytes without building these models)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SourceQuoteRead(BaseModel):
    price: float = Field(description="Latest price on this source, in `quote`")
    quote: str = Field(description="USD or USDT")
    updated_at: str = Field(description="Exchange event time of that price (ISO-8601 UTC)")
    fresh: bool = Field(description="Updated within CRYPTODASH_PRICE_STALE_SECONDS")


class CoinRead(BaseModel):
    coin_id: str
    symbol: str
    name: str
    price: float | None = Field(description="Consolidated USD price: median of fresh sources")
    change_24h_pct: float | None
    volume_24h: float = Field(description="Base units traded in 24 h, every source")
    volume_24h_usd: float | None
    high_24h: float | None
    low_24h: float | None
    updated_at: str | None
    stale: bool = Field(description="No source is fresh: the newest known price stands in")
    usdt_rate_assumed: bool = Field(
        description="A USDT price was taken 1:1 for want of a live USDT/USD rate"
    )
    sources: dict[str, SourceQuoteRead]


class CoinsRead(BaseModel):
    coins: list[CoinRead]


class MoversRead(BaseModel):
    gainers: list[CoinRead]
    losers: list[CoinRead]


class MoverRead(BaseModel):
    coin_id: str
    symbol: str
    price: float | None
    change_24h_pct: float


class SourceCountRead(BaseModel):
    coins: int
    fresh: int


class StatsRead(BaseModel):
    coins_tracked: int
    coins_priced: int
    coins_stale: int
    coins_up: int
    coins_down: int
    coins_unchanged: int
    total_volume_24h_usd: float
    average_change_24h_pct: float | None
    top_gainer: MoverRead | None
    top_loser: MoverRead | None
    sources: dict[str, SourceCountRead]
    updated_at: str | None


class CandleRead(BaseModel):
    time: int = Field(description="Bucket start, Unix seconds (UTC)")
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesRead(BaseModel):
    coin_id: str
    interval: str
    source: str
    quote: str
    candles: list[CandleRead] = Field(description="Oldest first; the last may still be forming")
