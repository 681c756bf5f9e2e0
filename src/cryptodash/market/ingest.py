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
    keeps per-key order. A failed publish (broker down) is logged and counted in
    `bus_messages_total{direction="publish_failed"}`: a tick is superseded within seconds,
    so feeds keep running rather than stall.
    """

    def __init__(self, bus: Bus, metrics: Metrics, *, max_in_flight: int = 10_000) -> None:
        self._bus = bus
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: set[asyncio.Future[None]] = set()
        # The in-process bus has the message queued when `publish` returns (waiting only
        # while a consumer is far behind: the backpressure we want): nothing to track.
        self._inline = bus.backend == "memory"
        self.failed = 0

    async def publish(self, tick: Tick) -> None:
        message = tick_to_message(tick)
        if self._inline:
            try:
                await self._bus.publish(PRICE_UPDATES, tick.coin_id, message, schema=TICK_SCHEMA)
            except Exception as exc:
                self._failed(exc)
            return
        await self._slots.acquire()
        try:
            stored = await self._bus.send(PRICE_UPDATES, tick.coin_id, message, schema=TICK_SCHEMA)
        except Exception as exc:
            self._slots.release()
            self._failed(exc)
            return
        self._pending.add(stored)
        stored.add_done_callback(self._settled)

    def _settled(self, stored: asyncio.Future[None]) -> None:
        self._pending.discard(stored)
        self._slots.release()
        if stored.cancelled():
            return
        error = stored.exception()
        if isinstance(error, Exception):
            self._failed(error)

    def _failed(self, exc: Exception) -> None:
        self.failed += 1
        self._metrics.bus_messages.labels(PRICE_UPDATES, "publish_failed").inc()
        if self.failed == 1 or self.failed % 1000 == 0:
            log.warning("tick_publish_failed", failed=self.failed, error=repr(exc))

    async def flush(self) -> None:
        """Wait until every tick published so far is stored (or failed)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.flush()
