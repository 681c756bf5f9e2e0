"""The gateway's real-time side: one bus subscription per process, turned into WebSocket frames
and handed to the `Hub`.

Every gateway process (all-in-one, or each split gateway replica) reads `price_updates`,
`analytics_updates` and `sentiment_updates` as its own consumer group
(`cryptodash.gateway.<host>-<pid>`, from the latest offset), so every replica sees every
message and fans it out to its own clients.

`price_updates` carries per-source ticks; `/ws/prices` shows the consolidated USD price. The
`PriceFeed` keeps each coin's latest price per source (the market's `CoinBook`) and
consolidates it with the market's own function, the way the persister does for
`price:{coin_id}`; the 24 h change is taken against the 24 h open implied by that cached entry,
which the persister keeps current from the stored candles (the gateway has no database).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from cryptodash.analytics.consumer import ANALYTICS_UPDATES
from cryptodash.gateway.fanout import Hub, Topic, Update
from cryptodash.gateway.portfolios import Portfolios, build_portfolios
from cryptodash.market import service as market
from cryptodash.market.coins import Universe
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.normalize import (
    USDT_RATE_COIN,
    CoinBook,
    InvalidTick,
    Tick,
    change_pct,
    consolidate,
    iso_z,
    open_from_change,
    round_significant,
    tick_from_message,
)
from cryptodash.platform.bus import Message
from cryptodash.platform.cache import Cache
from cryptodash.platform.logging import get_logger

if TYPE_CHECKING:
    from cryptodash.runtime import Platform

log = get_logger(__name__)

SENTIMENT_UPDATES = "sentiment_updates"
"""Published by the sentiment domain: one message per coin (key = coin id)."""

PRICES, ANALYTICS, SENTIMENT, PORTFOLIO = "prices", "analytics", "sentiment", "portfolio"
CHANNELS = (PRICES, ANALYTICS, SENTIMENT, PORTFOLIO)

OPEN_REFRESH_SECONDS = 2.0
"""How often the 24 h opens and the USDT/USD rate are read from the market's cache entries."""


def consumer_group() -> str:
    """This process's own group: every gateway replica sees every message (ARCHITECTURE §5b)."""
    return f"cryptodash.gateway.{socket.gethostname()}-{os.getpid()}"


def _epoch(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def typed_frame(kind: str, body: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """`{"type": kind, …body, …fields}`: the type first, and never overridden by the body."""
    frame = {"type": kind, **body, **fields}
    frame["type"] = kind
    return frame


class PriceFeed:
    """Per-source ticks in, the coin's consolidated `price_update` frame out."""

    def __init__(self, universe: Universe, *, stale_after: float) -> None:
        self.universe = universe
        self.stale_after = stale_after
        self.books: dict[str, CoinBook] = {
            coin_id: market.new_book(universe, coin_id)
            for coin_id in (*universe.ids, USDT_RATE_COIN)
        }
        self.tracked = frozenset(universe.ids)
        self.opens: dict[str, Decimal] = {}
        self.usdt_usd: Decimal | None = None
        self.version = 0
        """Bumped whenever a tracked coin's price changes (portfolio pushes watch it)."""
        self._last: dict[str, tuple[float, float | None]] = {}

    def frame(self, tick: Tick, now: datetime) -> dict[str, Any] | None:
        """The coin's frame after this tick, or None when its price and change did not move
        (or the coin is not tracked)."""
        book = self.books.get(tick.coin_id)
        if book is None:
            return None
        book.apply(tick)
        if tick.coin_id not in self.tracked:
            return None
        consolidated = consolidate(
            book.sources, now=now, stale_after=self.stale_after, usdt_usd=self.usdt_usd
        )
        if consolidated is None:
            return None
        price = round_significant(consolidated.price)
        change = change_pct(price, self.opens.get(tick.coin_id))
        shown = (float(price), change)
        if self._last.get(tick.coin_id) == shown:
            return None
        self._last[tick.coin_id] = shown
        self.version += 1
        return {
            "type": "price_update",
            "coin_id": tick.coin_id,
            "price": shown[0],
            "timestamp": iso_z(tick.timestamp),
            "change_24h": change,
            "source": tick.source,
            "sources": list(consolidated.sources),
            "stale": consolidated.stale,
        }

    def take_entries(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """The 24 h opens implied by the market's cached entries (price + change_24h_pct)."""
        for coin_id, entry in entries.items():
            price, change = entry.get("price"), entry.get("change_24h_pct")
            if isinstance(price, int | float) and isinstance(change, int | float):
                opened = open_from_change(price, change)
                if opened is not None:
                    self.opens[coin_id] = opened

    async def refresh(self, cache: Cache) -> None:
        ids = list(self.tracked)
        raw = await cache.get_many([market.price_key(c) for c in ids])
        self.take_entries(
            {coin_id: orjson.loads(value) for coin_id, value in zip(ids, raw, strict=True) if value}
        )
        self.usdt_usd = await market.cached_usdt_rate(cache)


class Realtime:
    """The hub and the bus handler that feeds it (`await realtime(message)`); `run` is the
    gateway's worker: the subscription, the open refresher and the stall watcher."""

    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.platform = platform
        self.universe = Universe.from_settings(settings)
        self.hub = Hub(platform.metrics, stall_timeout=settings.ws_stall_seconds)
        self.prices = PriceFeed(self.universe, stale_after=settings.price_stale_seconds)
        self.coin_ids = frozenset(self.universe.ids)
        self.rejected = 0
        self.subscribed = asyncio.Event()
        self.portfolios: Portfolios = build_portfolios(platform)

    async def __call__(self, message: Message) -> None:
        topic = message.topic
        if topic == PRICE_UPDATES:
            self._on_tick(message)
        elif topic == ANALYTICS_UPDATES:
            self._on_analytics(message)
        elif topic == SENTIMENT_UPDATES:
            self._on_sentiment(message)

    def _on_tick(self, message: Message) -> None:
        try:
            tick = tick_from_message(message.value)
        except InvalidTick:
            self.rejected += 1
            return
        frame = self.prices.frame(tick, datetime.now(UTC))
        if frame is not None:
            topic: Topic = (tick.coin_id, None)
            self.hub.publish(PRICES, topic, Update.of(frame, tick.timestamp.timestamp()))

    def _on_analytics(self, message: Message) -> None:
        value = message.value
        if not isinstance(value, dict):
            self.rejected += 1
            return
        coin_id, interval = value.get("coin_id", message.key), value.get("interval")
        if not isinstance(coin_id, str) or not isinstance(interval, str):
            self.rejected += 1
            return
        frame = typed_frame("analytics_update", value, coin_id=coin_id)
        update = Update.of(frame, _epoch(message.headers.get("produced_at")))
        self.hub.publish(ANALYTICS, (coin_id, interval), update)

    def _on_sentiment(self, message: Message) -> None:
        value = message.value
        coin_id = value.get("coin_id", message.key) if isinstance(value, dict) else message.key
        if not isinstance(coin_id, str) or not coin_id:
            self.rejected += 1
            return
        body = value if isinstance(value, dict) else {"data": value}
        frame = typed_frame("sentiment_update", body, coin_id=coin_id)
        update = Update.of(frame, _epoch(message.headers.get("produced_at")))
        self.hub.publish(SENTIMENT, (coin_id, None), update)

    async def run(self, platform: Platform) -> None:
        group = consumer_group()
        subscription = await platform.bus.subscribe(
            [PRICE_UPDATES, ANALYTICS_UPDATES, SENTIMENT_UPDATES], group, self, from_latest=True
        )
        self.subscribed.set()
        log.info("realtime_started", group=group)
        stalls = asyncio.create_task(self.hub.watch(), name="ws:watch")
        try:
            while True:
                try:
                    await self.prices.refresh(platform.cache)
                except Exception as exc:  # the cache reads as misses; anything else is logged
                    log.warning("realtime_refresh_failed", error=repr(exc))
                await asyncio.sleep(OPEN_REFRESH_SECONDS)
        finally:
            self.subscribed.clear()
            stalls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stalls
            await subscription.stop()

    async def close(self) -> None:
        """Shutdown: stop every client's sender, release the portfolio client."""
        self.hub.close()
        await self.portfolios.close()
