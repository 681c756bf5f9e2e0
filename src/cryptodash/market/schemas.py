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


class FeedRead(BaseModel):
    """One price source's health (`unknown` and nothing else while no feed reports it)."""

    exchange: str
    connected: bool = Field(description="Every connection of the feed is open")
    state: str = Field(
        description="starting, connecting, connected, partial, reconnecting, idle, stopped, "
        "or unknown (no replica runs the feed now)"
    )
    connections: int | None = None
    connections_open: int | None = None
    symbols: int | None = Field(None, description="Symbols followed")
    rejected_symbols: list[str] | None = Field(
        None, description="Configured symbols the exchange does not list (or refused)"
    )
    connected_since: str | None = None
    down_since: str | None = None
    last_message_at: str | None = Field(None, description="Last frame with market data")
    last_disconnect_at: str | None = None
    last_error: str | None = None
    reconnects: int | None = None
    messages: int | None = Field(None, description="Frames received")
    ticks: int | None = Field(None, description="Ticks published")
    ignored: int | None = Field(None, description="Frames of unknown or unwanted kinds")
    malformed: int | None = Field(None, description="Frames that could not be parsed")
    gaps_found: int | None = Field(None, description="Reconnects and sequence gaps")
    gaps_backfilled: int | None = Field(
        None, description="Gaps whose minute candles (and closed longer ones) were refetched"
    )
    candles_backfilled: int | None = None
    backfill_pending: int | None = Field(None, description="REST pages waiting")
    started_at: str | None = None
    updated_at: str | None = None


class SourcesRead(BaseModel):
    sources: list[FeedRead]
