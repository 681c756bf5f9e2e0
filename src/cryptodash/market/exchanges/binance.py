"""Binance spot: live trades over combined streams, REST klines for history.

Wire formats and limits: `market-protocols.md` §1 (streams) and §2 (REST). Everything
Binance-specific that is a number or a name is declared below as data; the rest of the
connection life (backoff, watchdog, gaps, health) is `feed.ExchangeFeed`'s.

- One combined-stream connection (`/stream?streams=…`) per 100 symbols, each carrying
  `<symbol>@trade` and `<symbol>@miniTicker` (200 streams; Binance allows 1024). Trades are
  the ticks; a mini ticker only stands in for a symbol whose trades
  have been quiet for `TICKER_FALLBACK` seconds, so illiquid coins keep a fresh price.
- Coins added or removed while running (the hourly `exchangeInfo` re-check) are
  `SUBSCRIBE`d / `UNSUBSCRIBE`d on the open connections, at most `CONTROL_PER_SECOND`
  messages a second (Binance drops a connection sending more than 5, pings and pongs
  included), each answer matched by its id.
- A connection is replaced before Binance's 24 h limit, and at once on `serverShutdown`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import orjson

from cryptodash.config import Settings
from cryptodash.market.candles import INTERVALS, Candle
from cryptodash.market.exchanges.feed import (
    Budget,
    ConnectionLost,
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

SOURCE = "binance"
QUOTE = "USDT"

# --------------------------------------------------------------------------- quirks

CHANNELS = ("trade", "miniTicker")
"""Streams per symbol: `<symbol>@trade` and `<symbol>@miniTicker`."""
STREAM_CAP = 1024
"""Binance's limit of streams on one connection."""
STREAMS_PER_CONNECTION = 200
"""Ours: well under the cap, and a URL of this many stream names stays short."""
CONTROL_PER_SECOND = 3.0
"""Control messages we send per second and connection, one at a time (Binance drops a
connection receiving more than 5 messages in a second, pings and pongs included)."""
ACK_TIMEOUT = 10.0
TICKER_FALLBACK = 10.0
"""Seconds without a trade after which a symbol's mini ticker price becomes a tick."""
QUIRKS = FeedQuirks(lifetime=23.5 * 3600, stale_after=15.0)
"""Replaced half an hour before the 24 h limit; silent for 15 s (mini tickers come every
second) means dead."""

KLINES_PAGE = 1000
KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
WEIGHT_LIMIT = 6000
"""Request weight per minute and IP (`exchangeInfo` → `rateLimits`)."""
WEIGHT_SHARE = 0.4
"""The part of it this process allows itself (other tools may share the IP)."""
KLINE_INTERVALS: dict[str, str] = {name: name for name in INTERVALS}
"""Our interval names → Binance's (the same for every interval we store)."""


def streams_of(symbol: str) -> list[str]:
    return [f"{symbol.lower()}@{channel}" for channel in CHANNELS]


# --------------------------------------------------------------------------- pure parsing


def trade_tick(event: Mapping[str, Any], coin_id: str) -> Tick:
    """A `trade` or `aggTrade` event as a tick (price in USDT, quantity in base units)."""
    try:
        price = Decimal(event["p"])
        volume = Decimal(event["q"])
        at = datetime.fromtimestamp(event["T"] / 1000, UTC)
        if not (price.is_finite() and volume.is_finite() and price > 0 and volume >= 0):
            raise InvalidTick(f"bad price or quantity: {event.get('p')!r} {event.get('q')!r}")
    except (KeyError, TypeError, ValueError, InvalidOperation, OverflowError) as exc:
        raise InvalidTick(f"bad trade event: {exc!r}") from None
    return Tick(coin_id, SOURCE, price, volume, at, QUOTE)


def ticker_tick(event: Mapping[str, Any], coin_id: str) -> Tick:
    """A `24hrMiniTicker` event's last price as a tick without volume."""
    try:
        price = Decimal(event["c"])
        at = datetime.fromtimestamp(event["E"] / 1000, UTC)
        if not (price.is_finite() and price > 0):
            raise InvalidTick(f"bad price: {event.get('c')!r}")
    except (KeyError, TypeError, ValueError, InvalidOperation, OverflowError) as exc:
        raise InvalidTick(f"bad ticker event: {exc!r}") from None
    return Tick(coin_id, SOURCE, price, Decimal(0), at, QUOTE)


def kline_candles(rows: Any) -> list[Candle]:
    """`/api/v3/klines` rows (12 positional elements; times in ms, numbers as strings)."""
    if not isinstance(rows, list):
        raise ExchangeError(f"klines: expected an array, got {type(rows).__name__}")
    candles = []
    try:
        for row in rows:
            candles.append(
                Candle(
                    int(row[0]) // 1000,
                    Decimal(row[1]),
                    Decimal(row[2]),
                    Decimal(row[3]),
                    Decimal(row[4]),
                    Decimal(row[5]),
                )
            )
    except (IndexError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExchangeError(f"klines: bad row: {exc!r}") from None
    return sorted(candles, key=lambda c: c.time)


def trading_symbols(info: Any) -> set[str]:
    """Symbols with status TRADING in an `exchangeInfo` answer."""
    if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
        raise ExchangeError("exchangeInfo: no symbols list")
    return {
        str(s["symbol"]).upper()
        for s in info["symbols"]
        if isinstance(s, dict) and "symbol" in s and s.get("status") == "TRADING"
    }


# --------------------------------------------------------------------------- REST


class BinanceRest:
    """`/api/v3/exchangeInfo` and `/api/v3/klines` within a share of the weight budget; the
    `X-MBX-USED-WEIGHT-1M` header tells when the IP's minute is nearly spent (other clients
    count too), and we wait for the next minute then."""

    source = SOURCE
    page_size = KLINES_PAGE
    intervals = tuple(KLINE_INTERVALS)

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        per_minute = WEIGHT_LIMIT * WEIGHT_SHARE
        self.client = RestClient(
            base_url,
            exchange=SOURCE,
            budget=Budget(per_minute / 60, per_minute / 6),
            on_headers=self._used_weight,
            transport=transport,
        )

    def _used_weight(self, headers: httpx.Headers) -> None:
        try:
            used = int(headers.get("X-MBX-USED-WEIGHT-1M", "0"))
        except ValueError:
            return
        if used >= WEIGHT_LIMIT * 0.9:
            rest_of_minute = 60 - time.time() % 60 + 1
            self.client.paused_until = max(
                self.client.paused_until, time.monotonic() + rest_of_minute
            )

    def pause_left(self) -> float:
        return self.client.pause_left()

    async def close(self) -> None:
        await self.client.close()

    async def listed(self, symbols: Collection[str]) -> set[str]:
        """Those of `symbols` Binance lists as TRADING. Asks for just these; when Binance
        refuses the list (one unknown symbol fails the whole request) asks for everything."""
        wanted = sorted(symbols)
        try:
            info = await self.client.get(
                "/api/v3/exchangeInfo",
                {"symbols": orjson.dumps(wanted).decode()},
                weight=EXCHANGE_INFO_WEIGHT,
                attempts=LISTING_ATTEMPTS,
            )
        except ExchangeRequestError:
            info = await self.client.get(
                "/api/v3/exchangeInfo", weight=EXCHANGE_INFO_WEIGHT, attempts=LISTING_ATTEMPTS
            )
        return trading_symbols(info) & set(wanted)

    async def candles(self, symbol: str, interval: str, first: int, last: int) -> list[Candle]:
        size = INTERVALS[interval]
        rows = await self.client.get(
            "/api/v3/klines",
            {
                "symbol": symbol,
                "interval": KLINE_INTERVALS[interval],
                "startTime": first * 1000,
                "endTime": last * 1000 + size * 1000 - 1,
                "limit": min(KLINES_PAGE, (last - first) // size + 1),
            },
            weight=KLINES_WEIGHT,
        )
        return [c for c in kline_candles(rows) if first <= c.time <= last]


# --------------------------------------------------------------------------- the feed


class BinanceFeed(ExchangeFeed):
    exchange = SOURCE

    def __init__(self, *, ws_url: str, **kwargs: Any) -> None:
        super().__init__(shard_size=STREAMS_PER_CONNECTION // len(CHANNELS), **kwargs)
        self.ws_url = ws_url.rstrip("/")
        self._ids = itertools.count(1)
        self._last_trade_at: dict[str, float] = {}

    def url(self, shard: Shard) -> str:
        streams = [name for symbol in shard.symbols for name in streams_of(symbol)]
        return f"{self.ws_url}/stream?streams={'/'.join(streams)}"

    async def handshake(self, socket: Socket, shard: Shard) -> None:
        # The streams are in the URL: nothing to send. Control messages of this connection
        # share one budget and are answered by id.
        shard.state["budget"] = Budget(CONTROL_PER_SECOND, 1.0)
        shard.state["acks"] = {}

    def on_close(self, shard: Shard) -> None:
        acks: dict[int, asyncio.Future[Any]] = shard.state.get("acks", {})
        for waiter in acks.values():
            if not waiter.done():
                waiter.set_exception(ConnectionLost("connection closed before the answer"))
        acks.clear()

    async def on_frame(self, raw: str | bytes, shard: Shard) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.status.malformed += 1
            return
        # The hot path (one trade per frame) is plain function calls; only a tick is awaited.
        if type(message) is dict:
            data = message.get("data")
            if data is not None:  # combined-stream wrapper
                if type(data) is list:
                    await self._many(data, shard)
                    return
                tick = self._event(data, shard)
                if tick is not None:
                    await self.publisher.publish(tick)
            elif "id" in message:
                self._answer(message, shard)
            elif "e" in message:  # a raw-stream payload (not expected on /stream)
                tick = self._event(message, shard)
                if tick is not None:
                    await self.publisher.publish(tick)
            else:
                self.status.ignored += 1
        elif type(message) is list:
            await self._many(message, shard)
        else:
            self.status.malformed += 1

    async def _many(self, events: list[Any], shard: Shard) -> None:
        """An array of events (`!miniTicker@arr` and the like)."""
        for event in events:
            tick = self._event(event, shard)
            if tick is not None:
                await self.publisher.publish(tick)

    def _event(self, event: Any, shard: Shard) -> Tick | None:
        if type(event) is not dict:
            self.status.malformed += 1
            return None
        kind = event.get("e")
        if kind == "trade" or kind == "aggTrade":
            return self._trade(event, shard)
        if kind == "24hrMiniTicker":
            return self._ticker(event, shard)
        if kind == "serverShutdown":
            log.info("binance_server_shutdown", shard=shard.index)
            raise ConnectionLost("server_shutdown")
        self.status.ignored += 1
        return None

    def _trade(self, event: dict[str, Any], shard: Shard) -> Tick | None:
        symbol = event.get("s")
        coin_id = self.symbols.get(symbol) if type(symbol) is str else None
        if coin_id is None:
            self.status.ignored += 1
            return None
        try:
            tick = trade_tick(event, coin_id)
        except InvalidTick:
            self.status.malformed += 1
            return None
        now = time.time()
        self._last_trade_at[symbol] = now  # type: ignore[index]
        shard.last_data_at = self.status.last_message_at = now
        self.status.ticks += 1
        return tick

    def _ticker(self, event: dict[str, Any], shard: Shard) -> Tick | None:
        symbol = event.get("s")
        coin_id = self.symbols.get(symbol) if type(symbol) is str else None
        if coin_id is None:
            self.status.ignored += 1
            return None
        now = time.time()
        self.mark_data(shard, now)
        if now - self._last_trade_at.get(symbol, 0.0) < TICKER_FALLBACK:  # type: ignore[arg-type]
            return None  # trades are flowing: they carry the price
        try:
            tick = ticker_tick(event, coin_id)
        except InvalidTick:
            self.status.malformed += 1
            return None
        self.status.ticks += 1
        return tick

    # ------------------------------------------------------------------ control messages

    def _answer(self, message: dict[str, Any], shard: Shard) -> None:
        acks: dict[int, asyncio.Future[Any]] = shard.state.get("acks", {})
        waiter = acks.pop(message["id"], None) if type(message["id"]) is int else None
        error = message.get("error")
        if waiter is None:
            if error is not None:
                log.warning("binance_control_error", error=error, id=message.get("id"))
            return
        if waiter.done():
            return
        if error is not None:
            text = error.get("msg") if isinstance(error, dict) else error
            waiter.set_exception(SubscribeFailed(f"binance: {text}"))
        else:
            waiter.set_result(message.get("result"))

    async def control(self, shard: Shard, method: str, params: list[Any] | None = None) -> Any:
        """Send a control request on a shard's connection and return its `result`."""
        socket = shard.socket
        if socket is None:
            raise ConnectionLost("not connected")
        budget: Budget = shard.state["budget"]
        await budget.take()
        request_id = next(self._ids)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        acks: dict[int, asyncio.Future[Any]] = shard.state["acks"]
        acks[request_id] = waiter
        request: dict[str, Any] = {"method": method, "id": request_id}
        if params is not None:
            request["params"] = params
        try:
            await socket.send(orjson.dumps(request).decode())
            return await asyncio.wait_for(waiter, ACK_TIMEOUT)
        except TimeoutError:
            raise SubscribeFailed(
                f"binance: no answer to {method} within {ACK_TIMEOUT:g} s"
            ) from None
        finally:
            acks.pop(request_id, None)

    async def _subscribe(self, shard: Shard, symbols: list[str]) -> list[str]:
        """SUBSCRIBE symbols on a live connection; returns those Binance refused."""
        if shard.socket is None or not symbols:
            return []  # the URL of the next connection carries them
        streams = [name for symbol in symbols for name in streams_of(symbol)]
        try:
            await self.control(shard, "SUBSCRIBE", streams)
            return []
        except SubscribeFailed as exc:
            if len(symbols) == 1:
                log.warning("binance_subscribe_refused", symbol=symbols[0], error=str(exc))
                return symbols
        refused: list[str] = []
        for symbol in symbols:  # one at a time, to find the one Binance refuses
            refused += await self._subscribe(shard, [symbol])
        return refused

    async def set_symbols(self, wanted: Mapping[str, str]) -> None:
        """Follow exactly `wanted` (symbol → coin id) from now on: UNSUBSCRIBE what goes,
        SUBSCRIBE what comes on connections with room, open new connections for the rest."""
        removed = set(self.symbols) - set(wanted)
        added = [s for s in sorted(wanted) if s not in self.symbols]
        self.symbols = dict(wanted)
        for shard in self.shards:
            gone = [s for s in shard.symbols if s in removed]
            if not gone:
                continue
            shard.symbols = [s for s in shard.symbols if s not in removed]
            if shard.socket is not None:
                try:
                    streams = [n for s in gone for n in streams_of(s)]
                    await self.control(shard, "UNSUBSCRIBE", streams)
                except ExchangeError as exc:
                    log.warning("binance_unsubscribe_failed", error=str(exc))
        for shard in self.shards:
            room = self.shard_size - len(shard.symbols)
            if room <= 0 or not added:
                continue
            taken, added = added[:room], added[room:]
            shard.symbols = shard.symbols + taken
            try:
                refused = await self._subscribe(shard, taken)
            except ExchangeError as exc:  # the connection went: its next URL has them
                log.warning("binance_subscribe_failed", error=str(exc))
                refused = []
            self._refuse(shard, refused)
        for part in self.plan(added) if added else []:
            shard = Shard(len(self.shards), part)
            self.shards.append(shard)
            self._start(shard)
        self.status.connections = len(self.shards)
        self.status.symbols = sorted(self.symbols)

    def _refuse(self, shard: Shard, symbols: Iterable[str]) -> None:
        refused = set(symbols)
        if not refused:
            return
        shard.symbols = [s for s in shard.symbols if s not in refused]
        for symbol in refused:
            self.symbols.pop(symbol, None)
        self.status.rejected_symbols = sorted(set(self.status.rejected_symbols) | refused)


def _feed(settings: Settings, **kwargs: Any) -> BinanceFeed:
    quirks = FeedQuirks(
        lifetime=QUIRKS.lifetime,
        stale_after=settings.feed_stale_seconds,
        backoff_first=QUIRKS.backoff_first,
        backoff_max=QUIRKS.backoff_max,
    )
    return BinanceFeed(ws_url=settings.binance_ws_url, quirks=quirks, **kwargs)


SPEC = ExchangeSpec(
    name=SOURCE,
    rest=lambda settings: BinanceRest(settings.binance_rest_url),
    feed=_feed,
)


async def run(platform: Platform) -> None:
    """The Binance feed worker (singleton across replicas; see `market.domain`)."""
    await run_exchange(platform, SPEC)
