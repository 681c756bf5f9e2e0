"""Coinbase Exchange: live trades from the `ticker` channel, REST candles for history.

Wire formats and limits: `market-protocols.md` §3.1 (websocket feed) and §3.3 (candles).
What is Coinbase-specific is declared below as data; the connection life (backoff, watchdog,
gaps, health) is `feed.ExchangeFeed`'s.

- One connection; `subscribe` to `ticker` and `heartbeat` is sent at once (Coinbase drops a
  client that has not subscribed within 5 s) and the `subscriptions` answer is checked: a
  product it does not confirm is reported, one it refuses (`Failed to subscribe`) is dropped.
- `sequence` is tracked per product: a jump is a gap (the minutes around it are refetched
  from REST), an older or repeated number is stale and ignored. Heartbeats (one a second per
  product) keep the connection from looking stale when nothing trades.
- Unknown message types are ignored. `USDT-USD` is followed when Binance is configured: it
  is the USDT/USD rate that converts Binance's prices.
- Candles: `[time, low, high, open, close, volume]` as JSON numbers, newest first, at most
  300 per request; Coinbase has no 4h granularity (`ingest_candles` builds it from 1h).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import orjson

from cryptodash.config import Settings
from cryptodash.market.candles import Candle
from cryptodash.market.exchanges.feed import (
    Budget,
    ExchangeError,
    ExchangeFeed,
    ExchangeRequestError,
    FeedQuirks,
    Shard,
    Socket,
    SubscribeFailed,
)
from cryptodash.market.exchanges.live import ExchangeSpec, run_exchange
from cryptodash.market.exchanges.rest import LISTING_ATTEMPTS, RestClient
from cryptodash.market.normalize import InvalidTick, Tick
from cryptodash.platform.logging import get_logger
from cryptodash.runtime import Platform

log = get_logger(__name__)

SOURCE = "coinbase"
QUOTE = "USD"

# --------------------------------------------------------------------------- quirks

CHANNELS = ("heartbeat", "ticker")
CONFIRM_TIMEOUT = 10.0
"""Seconds to wait for the `subscriptions` answer."""
QUIRKS = FeedQuirks(lifetime=23.5 * 3600, stale_after=15.0)
"""No documented lifetime; a daily fresh connection costs nothing. Heartbeats come every
second, so 15 s of silence means dead."""
CANDLES_PAGE = 300
GRANULARITY: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86_400}
"""Our intervals Coinbase serves (seconds); 4h is built from 1h."""
REQUESTS_PER_SECOND = 5.0
"""Public REST: 10 requests/s per IP (bursts to 15); we take half."""
RETRY_AFTER = 2.0
"""Coinbase sends no `Retry-After` with its 429s."""
_INVALID_PRODUCT = re.compile(r"([A-Z0-9]+-[A-Z0-9]+) is not a valid product", re.IGNORECASE)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- pure parsing


def ticker_tick(message: Mapping[str, Any], coin_id: str, now: float | None = None) -> Tick:
    """A `ticker` message as a tick: last trade price in USD, its size in base units, at the
    trade time (now, when the message has none)."""
    try:
        price = Decimal(message["price"])
        size = message.get("last_size")
        volume = Decimal(size) if size is not None else Decimal(0)
        stamp = message.get("time")
        if stamp is None:
            at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        else:
            at = datetime.fromisoformat(stamp)
            if at.tzinfo is None:
                raise InvalidTick("time without a timezone")
            at = at.astimezone(UTC)
        if not (price.is_finite() and volume.is_finite() and price > 0 and volume >= 0):
            raise InvalidTick(f"bad price or size: {message.get('price')!r} {size!r}")
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise InvalidTick(f"bad ticker message: {exc!r}") from None
    return Tick(coin_id, SOURCE, price, volume, at, QUOTE)


def candle_rows(rows: Any) -> list[Candle]:
    """`/products/{id}/candles` rows `[time, low, high, open, close, volume]` (JSON numbers,
    newest first) as candles, oldest first."""
    if not isinstance(rows, list):
        raise ExchangeError(f"candles: expected an array, got {type(rows).__name__}")
    candles = []

    def number(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(f"not a number: {value!r}")
        return Decimal(str(value))

    try:
        for row in rows:
            volume = number(row[5]) if len(row) > 5 else Decimal(0)
            candles.append(
                Candle(
                    int(row[0]), number(row[3]), number(row[2]), number(row[1]), number(row[4]),
                    volume,
                )
            )  # fmt: skip
    except (IndexError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExchangeError(f"candles: bad row: {exc!r}") from None
    return sorted(candles, key=lambda c: c.time)


def online_products(products: Any) -> set[str]:
    """Product ids of a `/products` answer that trade now."""
    if not isinstance(products, list):
        raise ExchangeError("products: expected an array")
    return {
        str(p["id"]).upper()
        for p in products
        if isinstance(p, dict)
        and "id" in p
        and p.get("status", "online") == "online"
        and not p.get("trading_disabled", False)
    }


def unconfirmed(reply: Mapping[str, Any], products: Collection[str]) -> set[str]:
    """Products a `subscriptions` answer does not list on every one of our channels."""
    listed: dict[str, set[str]] = {}
    for channel in reply.get("channels") or []:
        if isinstance(channel, dict):
            listed[str(channel.get("name"))] = set(channel.get("product_ids") or [])
        elif isinstance(channel, str):  # a channel subscribed for the root product list
            listed[channel] = set(reply.get("product_ids") or [])
    missing: set[str] = set()
    for channel in CHANNELS:
        missing |= set(products) - listed.get(channel, set())
    return missing


# --------------------------------------------------------------------------- REST


class CoinbaseRest:
    """`/products` and `/products/{id}/candles` at half the public request rate."""

    source = SOURCE
    page_size = CANDLES_PAGE
    intervals = tuple(GRANULARITY)

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        self.client = RestClient(
            base_url,
            exchange=SOURCE,
            budget=Budget(REQUESTS_PER_SECOND, REQUESTS_PER_SECOND),
            default_retry_after=RETRY_AFTER,
            transport=transport,
        )

    def pause_left(self) -> float:
        return self.client.pause_left()

    async def close(self) -> None:
        await self.client.close()

    async def listed(self, symbols: Collection[str]) -> set[str]:
        products = await self.client.get("/products", attempts=LISTING_ATTEMPTS)
        return online_products(products) & set(symbols)

    async def candles(self, symbol: str, interval: str, first: int, last: int) -> list[Candle]:
        granularity = GRANULARITY[interval]
        try:
            rows = await self.client.get(
                f"/products/{symbol}/candles",
                {
                    "granularity": granularity,
                    "start": _iso(first),
                    # Through the end of the last bucket, whichever way the server reads `end`.
                    "end": _iso(last + granularity - 1),
                },
            )
        except ExchangeRequestError as exc:
            if exc.status != 400 or last - first < 2 * granularity:
                raise
            # A server counting the range one bucket longer than we do: halve and ask again.
            middle = first + (last - first) // granularity // 2 * granularity
            return await self.candles(symbol, interval, first, middle) + await self.candles(
                symbol, interval, middle + granularity, last
            )
        return [c for c in candle_rows(rows) if first <= c.time <= last]


# --------------------------------------------------------------------------- the feed


class CoinbaseFeed(ExchangeFeed):
    exchange = SOURCE

    def __init__(self, *, ws_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ws_url = ws_url

    def url(self, shard: Shard) -> str:
        return self.ws_url

    def _request(self, kind: str, products: list[str]) -> str:
        return orjson.dumps(
            {"type": kind, "product_ids": products, "channels": list(CHANNELS)}
        ).decode()

    def reset(self, shard: Shard) -> None:
        """Fresh per-connection state: sequences start over on a new connection."""
        shard.state["seq"] = {}
        shard.state["seen"] = {}

    async def handshake(self, socket: Socket, shard: Shard) -> None:
        self.reset(shard)
        await socket.send(self._request("subscribe", list(shard.symbols)))
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SubscribeFailed("coinbase: no `subscriptions` answer")
            try:
                raw = await asyncio.wait_for(socket.recv(), left)
            except TimeoutError:
                continue
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.status.malformed += 1
                continue
            kind = message.get("type") if type(message) is dict else None
            if kind == "subscriptions":
                self._confirm(message, shard)
                return
            if kind == "error":
                self._refused(message, shard)
            await self.on_frame(raw, shard)

    def _refused(self, message: dict[str, Any], shard: Shard) -> None:
        reason = str(message.get("reason") or "")
        text = f"coinbase: {message.get('message')}: {reason}".rstrip(": ")
        bad = {m.upper() for m in _INVALID_PRODUCT.findall(reason)}
        if bad:
            shard.symbols = [s for s in shard.symbols if s not in bad]
            for product in bad:
                self.symbols.pop(product, None)
            self.status.rejected_symbols = sorted(set(self.status.rejected_symbols) | bad)
        raise SubscribeFailed(text)

    def _confirm(self, message: dict[str, Any], shard: Shard) -> None:
        missing = unconfirmed(message, shard.symbols)
        if missing:
            log.warning("coinbase_unconfirmed", products=sorted(missing))
            self.status.last_error = f"subscription not confirmed for {', '.join(sorted(missing))}"

    async def on_frame(self, raw: str | bytes, shard: Shard) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.status.malformed += 1
            return
        if type(message) is not dict:
            self.status.malformed += 1
            return
        kind = message.get("type")
        if kind == "ticker":
            await self._ticker(message, shard)
        elif kind == "heartbeat":
            if message.get("product_id") in self.symbols:
                self.mark_data(shard)
                self._in_order(message, shard)
        elif kind == "subscriptions":
            self._confirm(message, shard)
        elif kind == "error":
            log.warning(
                "coinbase_error", message=message.get("message"), reason=message.get("reason")
            )
            self.status.last_error = f"coinbase: {message.get('message')}"
        else:
            self.status.ignored += 1

    def _in_order(self, message: dict[str, Any], shard: Shard) -> bool:
        """Track the product's sequence: False for a stale or repeated message; a jump is a
        gap for the backfiller."""
        product = message.get("product_id")
        sequence = message.get("sequence")
        if type(sequence) is not int or type(product) is not str:
            return True
        sequences: dict[str, int] = shard.state["seq"]
        seen: dict[str, float] = shard.state["seen"]
        now = time.time()
        last = sequences.get(product)
        since = seen.get(product, now)
        if last is not None:
            if sequence <= last:
                return False
            if sequence > last + 1:
                coin_id = self.symbols.get(product)
                log.info("coinbase_sequence_gap", product=product, last=last, got=sequence)
                if coin_id is not None and self.gaps is not None:
                    self.gaps.note_gap([coin_id], since, now)
        sequences[product] = sequence
        seen[product] = now
        return True

    async def _ticker(self, message: dict[str, Any], shard: Shard) -> None:
        product = message.get("product_id")
        coin_id = self.symbols.get(product) if type(product) is str else None
        if coin_id is None:
            self.status.ignored += 1
            return
        if not self._in_order(message, shard):
            self.status.ignored += 1
            return
        try:
            tick = ticker_tick(message, coin_id)
        except InvalidTick:
            self.status.malformed += 1
            return
        self.mark_data(shard)
        self.status.ticks += 1
        await self.publisher.publish(tick)

    async def set_symbols(self, wanted: Mapping[str, str]) -> None:
        """Follow exactly `wanted`: `unsubscribe` what goes and `subscribe` what comes on the
        open connection (the `subscriptions` answers are checked as they arrive)."""
        removed = sorted(set(self.symbols) - set(wanted))
        added = sorted(set(wanted) - set(self.symbols))
        self.symbols = dict(wanted)
        shard = self.shards[0] if self.shards else None
        if shard is None:
            return
        shard.symbols = sorted(self.symbols)
        socket = shard.socket
        if socket is not None:
            try:
                if removed:
                    await socket.send(self._request("unsubscribe", removed))
                if added:
                    await socket.send(self._request("subscribe", added))
            except ExchangeError as exc:  # the next connection subscribes to all of them
                log.warning("coinbase_resubscribe_failed", error=str(exc))
        self.status.symbols = sorted(self.symbols)


def _feed(settings: Settings, **kwargs: Any) -> CoinbaseFeed:
    quirks = FeedQuirks(
        lifetime=QUIRKS.lifetime,
        stale_after=settings.feed_stale_seconds,
        backoff_first=QUIRKS.backoff_first,
        backoff_max=QUIRKS.backoff_max,
    )
    return CoinbaseFeed(ws_url=settings.coinbase_ws_url, quirks=quirks, **kwargs)


SPEC = ExchangeSpec(
    name=SOURCE,
    rest=lambda settings: CoinbaseRest(settings.coinbase_rest_url),
    feed=_feed,
)


async def run(platform: Platform) -> None:
    """The Coinbase feed worker (singleton across replicas; see `market.domain`)."""
    await run_exchange(platform, SPEC)
