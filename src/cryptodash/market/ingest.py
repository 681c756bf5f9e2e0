"""Live ticks in: how an exchange connector (or the simulator) hands normalized ticks to the
platform. Every tick becomes a `price_update.v1` message on `price_updates`, keyed by coin id
(ARCHITECTURE §5b); the market persister, analytics and the WebSocket hub consume from there.

A connector does::

    publisher = TickPublisher(platform.bus, platform.metrics)
    tick = make_tick(coin_id, "binance", frame["p"], frame["q"], timestamp_from_ms(frame["T"]),
                     "USDT")
    await publisher.publish(tick)       # returns at once unless too many are in flight
    ...
    await publisher.close()             # on shutdown: waits for what is in flight

`publish_tick(bus, tick)` is the same one tick at a time, waiting for the broker's
acknowledgement. REST history (backfill) does not go through the bus: see
`cryptodash.market.service.ingest_candles`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from cryptodash.market.normalize import TICK_SCHEMA, Tick, tick_to_message
from cryptodash.platform.bus import Bus
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

log = get_logger(__name__)

PRICE_UPDATES = "price_updates"


async def publish_tick(bus: Bus, tick: Tick) -> None:
    """Publish one tick and wait until the bus has it (raises `BackendUnavailable`)."""
    await bus.publish(PRICE_UPDATES, tick.coin_id, tick_to_message(tick), schema=TICK_SCHEMA)


class TickPublisher:
    """Publishes ticks without waiting for each acknowledgement.

    Each tick is handed to the bus with `Bus.send` (Kafka: appended to the producer's batch)
    and up to `max_in_flight` wait for their acknowledgement at once; past that `publish`
    waits — backpressure, not an unbounded queue. Ticks are sent in call order and the bus
    keeps per-key order.

    A tick the bus could not store (broker down or restarting) is *held*, not dropped: up to
    `max_held` of them, oldest first, and while any is held new ticks queue behind them, so
    a coin's ticks still reach the bus in order. A resender waits for the bus to answer again
    (`Bus.ping`, with backoff) and sends the held ticks. Past `max_held` the oldest are
    dropped, logged and counted in `bus_messages_total{direction="publish_failed"}`: a bound
    on memory during a long outage, where the REST backfill of the exchanges refills the
    candles.
    """

    def __init__(
        self,
        bus: Bus,
        metrics: Metrics,
        *,
        max_in_flight: int = 10_000,
        max_held: int = 200_000,
        retry_delay: float = 0.5,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: dict[asyncio.Future[None], Tick] = {}
        self._held: deque[Tick] = deque()
        self._max_held = max_held
        self._retry_delay = retry_delay
        self._resender: asyncio.Task[None] | None = None
        # The in-process bus has the message queued when `publish` returns (waiting only
        # while a consumer is far behind: the backpressure we want): nothing to track.
        self._inline = bus.backend == "memory"
        self.failed = 0
        self.resent = 0

    @property
    def held(self) -> int:
        """Ticks waiting for the bus to come back."""
        return len(self._held)

    async def publish(self, tick: Tick) -> None:
        if self._inline:
            try:
                await self._bus.publish(
                    PRICE_UPDATES, tick.coin_id, tick_to_message(tick), schema=TICK_SCHEMA
                )
            except Exception as exc:
                self._failed(exc)
            return
        if self._held:  # an outage is being caught up: behind the ticks it held
            self._hold(tick)
            return
        await self._send(tick)

    async def _send(self, tick: Tick, *, resending: bool = False) -> bool:
        """Hand one tick to the bus; False (and the tick held) when the bus refused it."""
        await self._slots.acquire()
        try:
            stored = await self._bus.send(
                PRICE_UPDATES, tick.coin_id, tick_to_message(tick), schema=TICK_SCHEMA
            )
        except Exception as exc:
            self._slots.release()
            if resending:  # back where it was: first in line
                self._held.appendleft(tick)
            else:
                self._hold(tick, exc)
            return False
        self._pending[stored] = tick
        stored.add_done_callback(self._settled)
        return True

    def _settled(self, stored: asyncio.Future[None]) -> None:
        tick = self._pending.pop(stored, None)
        self._slots.release()
        if stored.cancelled():
            return
        error = stored.exception()
        if isinstance(error, Exception) and tick is not None:
            self._hold(tick, error)

    def _hold(self, tick: Tick, error: Exception | None = None) -> None:
        if error is not None and not self._held and not self._resending:
            log.warning("tick_publish_held", error=repr(error))
        self._held.append(tick)
        while len(self._held) > self._max_held:
            self._held.popleft()
            self._failed(OverflowError(f"more than {self._max_held} ticks held"))
        if not self._resending:
            self._resender = asyncio.get_running_loop().create_task(
                self._resend(), name="ticks:resend"
            )

    @property
    def _resending(self) -> bool:
        return self._resender is not None and not self._resender.done()

    async def _resend(self) -> None:
        delay = self._retry_delay
        while self._held:
            # Wait for what is in flight to settle first: a tick failing later is held too,
            # and goes out in the order the bus refused them.
            if self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)
            try:
                await self._bus.ping()
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = self._retry_delay
            sent = 0
            while self._held:
                tick = self._held.popleft()
                if not await self._send(tick, resending=True):
                    break
                sent += 1
            self.resent += sent
            log.info("tick_publish_resent", resent=sent, total=self.resent, held=len(self._held))
            if self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _failed(self, exc: Exception) -> None:
        self.failed += 1
        self._metrics.bus_messages.labels(PRICE_UPDATES, "publish_failed").inc()
        if self.failed == 1 or self.failed % 1000 == 0:
            log.warning("tick_publish_failed", failed=self.failed, error=repr(exc))

    async def flush(self) -> None:
        """Wait until every tick published so far is stored (or failed)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout` s) for what is in flight and held to be stored; what is
        still held then is dropped, counted as failed."""
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._drained(), timeout)
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
            self._resender = None
        while self._held:
            self._held.popleft()
            self._failed(ConnectionError("closed with ticks held"))

    async def _drained(self) -> None:
        while self._pending or self._held:
            await self.flush()
            if self._held:
                await asyncio.sleep(0.05)
