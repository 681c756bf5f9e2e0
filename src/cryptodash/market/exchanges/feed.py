"""What every live exchange connector shares: its errors (exchange and library failures are
translated into these at the boundary), the reconnect backoff, the socket wrapper, the health
record behind `/api/market/sources`, and `ExchangeFeed` — connections kept open forever.

An exchange module (`binance.py`, `coinbase.py`) subclasses `ExchangeFeed` with its URLs, its
handshake and its frame parser; this module owns the loop around them:

    connect ─► handshake ─► read frames ─► (closed, stale, lifetime reached, error)
       ▲                                              │
       └──── backoff with jitter, 1 s → 60 s ◄────────┘   (no wait after a planned rotation)

Nothing an exchange does ends the loop: every failure is logged, counted and retried. After a
reconnect the time without data becomes a gap for the backfiller, noted when the first frame
of the new connection arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from cryptodash.market.normalize import Tick, iso_z
from cryptodash.platform.cache import Cache
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics
from cryptodash.platform.tasks import cancel_and_wait

log = get_logger(__name__)

STATUS_TTL = 15.0
"""Seconds a published feed status lives in the cache; the feed rewrites it every second."""
STATUS_EVERY = 1.0
PLANNED = frozenset({"lifetime", "server_shutdown"})
"""Reasons a connection ends that call for reconnecting at once, without backoff."""


def status_key(exchange: str) -> str:
    return f"market:source:{exchange}"


# --------------------------------------------------------------------------- errors


class ExchangeError(Exception):
    """Something an exchange did (or failed to do). Feeds recover from every one of these."""


class ConnectionLost(ExchangeError):
    """The socket closed, could not be opened, or was closed by us (stale, lifetime)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} (close code {code})")
        self.reason = reason
        self.code = code


class SubscribeFailed(ExchangeError):
    """The exchange refused or did not confirm a subscription."""


class ExchangeUnavailable(ExchangeError):
    """A REST call failed for reasons of the exchange or the network (5xx, timeouts, ...)."""


class ExchangeRequestError(ExchangeError):
    """A REST call the exchange refused as wrong (4xx other than rate limits)."""

    def __init__(self, status: int, message: str, code: int | str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- backoff


class Backoff:
    """Exponential backoff with jitter: the n-th wait is uniform in [c/2, c] with
    c = min(maximum, first * 2**n) — never zero (no reconnect storms), never above the cap."""

    def __init__(
        self,
        first: float = 1.0,
        maximum: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.first = first
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng

    def next(self) -> float:
        ceiling = min(self.maximum, self.first * 2.0 ** min(self.attempt, 64))
        self.attempt += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0


class Budget:
    """A token bucket: `capacity` units, refilled at `rate` units per second. `take(n)` waits
    until n units are there."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._clock = clock
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now

    async def take(self, units: float = 1.0) -> None:
        units = min(units, self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.tokens >= units:
                    self.tokens -= units
                    return
                await asyncio.sleep((units - self.tokens) / self.rate)

    def drain(self) -> None:
        """Spend everything (the exchange says we are over its limit)."""
        self._refill()
        self.tokens = 0.0


# --------------------------------------------------------------------------- socket


class Socket:
    """A websocket with our errors: `websockets` exceptions never leave this class."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.closing_reason: str | None = None

    async def recv(self) -> str | bytes:
        """The next message; text frames come as their UTF-8 bytes (JSON parsers take them
        as they are, so decoding to `str` first would be wasted)."""
        try:
            return await self._ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise _lost(exc, self.closing_reason) from None

    async def send(self, message: str) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise _lost(exc, self.closing_reason) from None

    async def close(self, reason: str | None = None, code: int = 1000) -> None:
        """Close; a `reason` set here is what the reader's `ConnectionLost` reports."""
        if reason is not None and self.closing_reason is None:
            self.closing_reason = reason
        with contextlib.suppress(Exception):
            await self._ws.close(code, reason or "")


def _lost(exc: ConnectionClosed, ours: str | None) -> ConnectionLost:
    frame = exc.rcvd or exc.sent
    code = frame.code if frame is not None else None
    if ours is not None:
        return ConnectionLost(ours, code)
    if exc.rcvd is not None:
        text = exc.rcvd.reason or "no reason"
        return ConnectionLost(f"closed by the exchange: {text}", code)
    return ConnectionLost("connection dropped", code)


async def open_socket(url: str, *, open_timeout: float = 10.0) -> Socket:
    """Open a websocket (pings answered by the library; our own ping every 20 s)."""
    try:
        ws = await connect(
            url,
            open_timeout=open_timeout,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            max_size=2**23,
            max_queue=4096,
            user_agent_header="cryptodash",
        )
    except InvalidStatus as exc:
        raise ConnectionLost(f"cannot connect: HTTP {exc.response.status_code}") from None
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise ConnectionLost(f"cannot connect: {exc!r}") from None
    return Socket(ws)


# --------------------------------------------------------------------------- status


@dataclass
class FeedStatus:
    """One exchange feed's health, as `/api/market/sources` shows it."""

    exchange: str
    state: str = "starting"
    """starting, connecting, connected, partial (some connections down), reconnecting."""
    connections: int = 0
    connections_open: int = 0
    symbols: list[str] = field(default_factory=list)
    rejected_symbols: list[str] = field(default_factory=list)
    connected_since: float | None = None
    last_message_at: float | None = None
    last_disconnect_at: float | None = None
    last_error: str | None = None
    reconnects: int = 0
    messages: int = 0
    ticks: int = 0
    ignored: int = 0
    malformed: int = 0
    gaps_found: int = 0
    gaps_backfilled: int = 0
    candles_backfilled: int = 0
    backfill_pending: int = 0
    started_at: float = field(default_factory=time.time)
    down_since: float | None = None
    """Since when not every connection is open (the start, before the first connect)."""

    def __post_init__(self) -> None:
        self.down_since = self.started_at

    @property
    def connected(self) -> bool:
        return self.connections > 0 and self.connections_open == self.connections

    def to_dict(self) -> dict[str, Any]:
        def at(value: float | None) -> str | None:
            return None if value is None else iso_z(datetime.fromtimestamp(value, UTC))

        return {
            "exchange": self.exchange,
            "connected": self.connected,
            "state": self.state,
            "connections": self.connections,
            "connections_open": self.connections_open,
            "symbols": len(self.symbols),
            "rejected_symbols": self.rejected_symbols,
            "connected_since": at(self.connected_since),
            "last_message_at": at(self.last_message_at),
            "last_disconnect_at": at(self.last_disconnect_at),
            "last_error": self.last_error,
            "reconnects": self.reconnects,
            "messages": self.messages,
            "ticks": self.ticks,
            "ignored": self.ignored,
            "malformed": self.malformed,
            "gaps_found": self.gaps_found,
            "gaps_backfilled": self.gaps_backfilled,
            "candles_backfilled": self.candles_backfilled,
            "backfill_pending": self.backfill_pending,
            "started_at": at(self.started_at),
            "down_since": None if self.connected else at(self.down_since),
            "updated_at": at(time.time()),
        }


async def publish_status(cache: Cache, status: FeedStatus) -> None:
    await cache.set(status_key(status.exchange), orjson.dumps(status.to_dict()), STATUS_TTL)


async def read_statuses(cache: Cache, exchanges: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The published status of each exchange; an exchange whose feed runs nowhere (or not
    yet) gets a stub with ``state: "unknown"``."""
    raw = await cache.get_many([status_key(e) for e in exchanges])
    found: dict[str, dict[str, Any]] = {}
    for exchange, value in zip(exchanges, raw, strict=True):
        if value is None:
            found[exchange] = {"exchange": exchange, "connected": False, "state": "unknown"}
        else:
            found[exchange] = orjson.loads(value)
    return found


DOWN_AFTER = 30.0
"""Seconds a feed may be disconnected (reconnecting, or not started anywhere) before the
readiness check calls it down: a reconnect blip does not flap readiness."""


async def feeds_check(
    cache: Cache, exchanges: Sequence[str], started_at: float, now: float | None = None
) -> dict[str, Any]:
    """The `feeds` readiness check: "down" (→ degraded) when a feed has not been connected
    for `DOWN_AFTER` seconds."""
    now = time.time() if now is None else now
    statuses = await read_statuses(cache, exchanges)
    states: dict[str, str] = {}
    down = []
    for name, status in statuses.items():
        state = str(status.get("state", "unknown"))
        states[name] = state
        if status.get("connected") or state == "idle":
            continue
        since = _epoch(status.get("down_since")) or started_at
        if now - max(since, started_at) > DOWN_AFTER:
            down.append(name)
    result: dict[str, Any] = {"status": "down" if down else "ok", "exchanges": states}
    if down:
        result["error"] = f"not connected for over {DOWN_AFTER:g} s: {', '.join(down)}"
    return result


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


# --------------------------------------------------------------------------- the feed


class GapSink(Protocol):
    def note_gap(self, coin_ids: Iterable[str], since: float, until: float) -> None: ...


class TickSink(Protocol):
    async def publish(self, tick: Tick) -> None: ...


@dataclass(frozen=True, slots=True)
class FeedQuirks:
    """Connection rules of an exchange (each exchange module declares its own)."""

    lifetime: float
    """Seconds after which a connection is replaced (before the exchange drops it)."""
    stale_after: float = 15.0
    """No frame for this long ⇒ the connection is dead: reconnect."""
    backoff_first: float = 1.0
    backoff_max: float = 60.0
    healthy_after: float = 30.0
    """A connection that lived this long with data resets the backoff."""


@dataclass
class Shard:
    """One connection of a feed and the symbols it carries."""

    index: int
    symbols: list[str]
    socket: Socket | None = None
    opened_at: float = 0.0  # monotonic
    last_frame: float = 0.0  # monotonic
    last_data_at: float | None = None  # wall clock, for gaps
    gap_since: float | None = None  # wall clock: data stopped here, not yet resumed
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    state: dict[str, Any] = field(default_factory=dict)
    """Per-connection protocol state of the exchange module (request ids, sequences…)."""


class ExchangeFeed:
    """Base of the live connectors: keeps each shard connected and reports health.

    Subclasses set `exchange` and implement `url`, `handshake` (optional) and `on_frame`.
    """

    exchange = ""

    def __init__(
        self,
        *,
        symbols: Mapping[str, str],
        publisher: TickSink,
        quirks: FeedQuirks,
        status: FeedStatus | None = None,
        gaps: GapSink | None = None,
        metrics: Metrics | None = None,
        shard_size: int = 1_000_000,
    ) -> None:
        self.symbols: dict[str, str] = dict(symbols)
        """Exchange symbol → coin id of everything this feed follows."""
        self.publisher = publisher
        self.quirks = quirks
        self.status = status or FeedStatus(self.exchange)
        self.gaps = gaps
        self.metrics = metrics
        self.shard_size = shard_size
        self.shards: list[Shard] = []
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._counted = 0  # messages already added to exchange_messages_total
        self.status.symbols = sorted(self.symbols)

    # ------------------------------------------------------------------ exchange specifics

    def url(self, shard: Shard) -> str:
        raise NotImplementedError

    async def handshake(self, socket: Socket, shard: Shard) -> None:
        """Subscribe and wait for the confirmation, where the protocol asks for it."""

    async def on_frame(self, raw: str | bytes, shard: Shard) -> None:
        raise NotImplementedError

    async def set_symbols(self, wanted: Mapping[str, str]) -> None:
        """Follow exactly `wanted` (symbol → coin id) from now on, on the open connections."""
        raise NotImplementedError

    def on_close(self, shard: Shard) -> None:
        """The shard's connection ended (fail what waits for an answer on it)."""

    # ------------------------------------------------------------------ running

    def plan(self, symbols: Sequence[str]) -> list[list[str]]:
        """Symbols per connection: `shard_size` at most each."""
        ordered = list(symbols)
        size = max(1, self.shard_size)
        return [ordered[i : i + size] for i in range(0, len(ordered), size)] or [[]]

    async def run(self) -> None:
        """Connect every shard and keep them connected, forever."""
        self.shards = [Shard(i, part) for i, part in enumerate(self.plan(sorted(self.symbols)))]
        self.status.connections = len(self.shards)
        self.status.state = "connecting"
        for shard in self.shards:
            self._start(shard)
        try:
            await asyncio.gather(*self._tasks.values())
        finally:
            await self.stop()

    def _start(self, shard: Shard) -> None:
        self._tasks[shard.index] = asyncio.create_task(
            self._keep(shard), name=f"{self.exchange}-shard-{shard.index}"
        )

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await cancel_and_wait(tasks)
        self.status.connections_open = 0
        self._set_up()

    async def _keep(self, shard: Shard) -> None:
        backoff = Backoff(self.quirks.backoff_first, self.quirks.backoff_max)
        first = True
        while True:
            if not first:
                self.status.reconnects += 1
            first = False
            planned = False
            opened = time.monotonic()
            try:
                socket = await open_socket(self.url(shard))
                try:
                    await self._session(socket, shard)
                finally:
                    await socket.close()
            except ConnectionLost as exc:
                planned = exc.reason in PLANNED
                self._down(shard, exc)
            except ExchangeError as exc:
                self._down(shard, exc)
            except Exception as exc:  # a bug in a parser must not end the feed
                log.exception("feed_session_failed", exchange=self.exchange, error=repr(exc))
                self._down(shard, exc)
            lived = time.monotonic() - opened
            if lived >= self.quirks.healthy_after and shard.last_data_at is not None:
                backoff.reset()
            delay = 0.0 if planned else backoff.next()
            log.info(
                "feed_reconnect",
                exchange=self.exchange,
                shard=shard.index,
                delay=round(delay, 2),
                error=self.status.last_error,
            )
            await asyncio.sleep(delay)

    async def _session(self, socket: Socket, shard: Shard) -> None:
        shard.socket = socket
        shard.state = {}
        shard.opened_at = shard.last_frame = time.monotonic()
        await self.handshake(socket, shard)
        shard.ready.set()
        self.status.connections_open += 1
        self.status.connected_since = self.status.connected_since or time.time()
        self._set_up()
        log.info("feed_connected", exchange=self.exchange, shard=shard.index)
        watchdog = asyncio.create_task(self._watch(socket, shard))
        status = self.status
        try:
            while True:
                raw = await socket.recv()
                shard.last_frame = time.monotonic()
                status.messages += 1
                if shard.gap_since is not None:
                    self._resumed(shard)
                await self.on_frame(raw, shard)
        finally:
            watchdog.cancel()
            shard.ready.clear()
            shard.socket = None
            self.on_close(shard)
            self.status.connections_open -= 1
            if self.status.connections_open == 0:
                self.status.connected_since = None
            self._set_up()

    async def _watch(self, socket: Socket, shard: Shard) -> None:
        """Close the connection when it goes quiet or reaches its lifetime."""
        quirks = self.quirks
        tick = min(1.0, quirks.stale_after / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - shard.last_frame > quirks.stale_after:
                log.warning("feed_stale", exchange=self.exchange, shard=shard.index)
                await socket.close("stale", 4000)
                return
            if now - shard.opened_at > quirks.lifetime:
                log.info("feed_rotate", exchange=self.exchange, shard=shard.index)
                await socket.close("lifetime", 1000)
                return

    def mark_data(self, shard: Shard, at: float | None = None) -> None:
        """A frame carrying market data arrived (the exchange modules call this)."""
        now = time.time() if at is None else at
        shard.last_data_at = now
        self.status.last_message_at = now

    def _down(self, shard: Shard, exc: BaseException) -> None:
        self.status.last_error = str(exc) or repr(exc)
        self.status.last_disconnect_at = time.time()
        if shard.last_data_at is not None and shard.gap_since is None:
            shard.gap_since = shard.last_data_at
        self.status.state = "reconnecting"
        self._set_up()

    def _resumed(self, shard: Shard) -> None:
        since, shard.gap_since = shard.gap_since, None
        if since is None or self.gaps is None:
            return
        coins = {self.symbols[s] for s in shard.symbols if s in self.symbols}
        log.info(
            "feed_gap",
            exchange=self.exchange,
            shard=shard.index,
            seconds=round(time.time() - since, 1),
            coins=len(coins),
        )
        self.gaps.note_gap(coins, since, time.time())

    def _set_up(self) -> None:
        status = self.status
        if status.connected:
            status.state = "connected"
            status.down_since = None
        else:
            if status.down_since is None:
                status.down_since = time.time()
            if status.connections_open:
                status.state = "partial"
        if self.metrics is not None:
            self.metrics.exchange_connection_up.labels(self.exchange).set(int(status.connected))

    def count_messages(self) -> None:
        """Add the frames received since the last call to `exchange_messages_total` (one
        counter update a second instead of one per frame)."""
        if self.metrics is None:
            return
        delta = self.status.messages - self._counted
        if delta > 0:
            self.metrics.exchange_messages.labels(self.exchange).inc(delta)
            self._counted = self.status.messages


async def report(feed: ExchangeFeed, cache: Cache, *, every: float = STATUS_EVERY) -> None:
    """Publish the feed's status to the cache and its counters to Prometheus, forever."""
    while True:
        feed.count_messages()
        await publish_status(cache, feed.status)
        await asyncio.sleep(every)
