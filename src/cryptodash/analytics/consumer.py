"""The analytics consumer: reads `price_updates` (group `cryptodash.analytics.indicators`) and
keeps every indicator of `catalog.DEFAULT_METRICS` live per coin and interval.

- Only ticks of a coin's primary source count (§5b). Per coin, the market's pure candle
  aggregator keeps the forming candle of every interval, with the market persister's lateness
  and clock, so the candles closing here are the candles it stores.
- A closed candle advances the streaming indicators once (O(1)). Every `flush_interval` the
  coins that had ticks get their live values over the forming candle (`peek`, nothing per tick),
  written to `analytics:{metric}:{coin_id}:{interval}` and `analytics:summary:{…}`; when a value
  changed, one `analytics_update.v1` message per coin and interval goes to `analytics_updates`.
- State is per coin, so it follows the coin's partition across consumer-group members. It is
  (re)built from the stored candles when a coin's first tick arrives here, and again when the
  partition's offsets jump (another member consumed it meanwhile); a redelivered message
  (offset already seen) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from cryptodash.analytics import service
from cryptodash.analytics.catalog import DEFAULT_METRICS, SUMMARY_METRICS, Metric, Streaming
from cryptodash.analytics.signals import SQUEEZE_LOOKBACK, Latest, bandwidth
from cryptodash.analytics.streaming import RollingMin
from cryptodash.market import service as market
from cryptodash.market.candles import INTERVAL_NAMES, Candle, CandleAggregator, interval_seconds
from cryptodash.market.coins import Universe
from cryptodash.market.consumer import LATENESS
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.normalize import InvalidTick, tick_from_message
from cryptodash.platform.bus import (
    DEFAULT_PARTITIONS,
    TOPIC_PARTITIONS,
    Bus,
    Message,
    partition_for,
)
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

GROUP = "cryptodash.analytics.indicators"
ANALYTICS_UPDATES = "analytics_updates"
UPDATE_SCHEMA = "analytics_update.v1"
FLUSH_INTERVAL = 1.0


class SeriesState:
    """One coin on one interval: the streaming indicators over its closed candles."""

    def __init__(self, interval: str, metrics: Sequence[Metric]) -> None:
        self.interval = interval
        self.size = interval_seconds(interval)
        self.metrics = tuple(metrics)
        self.names = tuple(m.name for m in self.metrics)  # a name is formatted on each call
        self.streams: list[Streaming] = [m.stream(interval) for m in self.metrics]
        self.last_time: int | None = None
        self.last_close = math.nan
        self.count = 0
        """Buckets advanced over (closed candles and the flat ones filling gaps)."""
        self.values: tuple[Any, ...] = tuple(
            math.nan if m.fields is None else (math.nan,) * len(m.fields) for m in self.metrics
        )
        # Signal history: the MACD histogram one candle back, the narrowest bands before.
        self.histogram = math.nan
        self.previous_histogram = math.nan
        self.widths = RollingMin(SQUEEZE_LOOKBACK - 1)
        self.lowest_before_last = math.nan
        self._macd = _index(self.metrics, "macd_12_26_9")
        self._bands = _index(self.metrics, "bb_20_2")

    def close(self, candle: Candle) -> bool:
        """Advance over a closed candle (and the empty buckets before it); False for a
        candle already counted."""
        if self.last_time is not None and candle.time <= self.last_time:
            return False
        self._fill_to(candle.time)
        self._advance(candle.time, float(candle.close))
        return True

    def _fill_to(self, start: int) -> None:
        """Empty buckets before `start` count as flat candles at the last close (capped at a
        series' length, like the batch side)."""
        if self.last_time is None:
            return
        missing = (start - self.last_time) // self.size - 1
        first = max(self.last_time + self.size, start - self.size * service.HISTORY)
        for bucket in range(first, first + self.size * min(missing, service.HISTORY), self.size):
            self._advance(bucket, self.last_close)

    def _advance(self, start: int, close: float) -> None:
        self.values = tuple(stream.update(close) for stream in self.streams)
        self.count += 1
        self.last_time = start
        self.last_close = close
        if self._macd is not None:
            self.previous_histogram = self.histogram
            self.histogram = self.values[self._macd][2]
        if self._bands is not None:
            self.lowest_before_last = self.widths.minimum
            self.widths.push(bandwidth(*self.values[self._bands]))

    def live(
        self, forming: Candle | None
    ) -> tuple[int | None, float, bool, tuple[Any, ...], Latest]:
        """(time, close, live, values, signal inputs) over the forming candle when there is a
        new one, else at the last closed candle."""
        if forming is None or (self.last_time is not None and forming.time <= self.last_time):
            return (
                self.last_time,
                self.last_close,
                False,
                self.values,
                self._latest(self.values, self.previous_histogram, self.lowest_before_last),
            )
        self._fill_to(forming.time)
        close = float(forming.close)
        values = tuple(stream.peek(close) for stream in self.streams)
        return (
            forming.time,
            close,
            True,
            values,
            self._latest(values, self.histogram, self.widths.minimum, close),
        )

    def _latest(
        self,
        values: tuple[Any, ...],
        previous_histogram: float,
        lowest: float,
        close: float | None = None,
    ) -> Latest:
        by_name = dict(zip(self.names, values, strict=True))
        macd = by_name.get("macd_12_26_9", (math.nan,) * 3)
        bands = by_name.get("bb_20_2", (math.nan,) * 3)
        return Latest(
            close=self.last_close if close is None else close,
            sma_50=by_name.get("sma_50", math.nan),
            sma_200=by_name.get("sma_200", math.nan),
            rsi=by_name.get("rsi_14", math.nan),
            histogram=macd[2],
            previous_histogram=previous_histogram,
            bandwidth=bandwidth(*bands),
            lowest_bandwidth=lowest,
        )


def _index(metrics: Sequence[Metric], name: str) -> int | None:
    return next((i for i, m in enumerate(metrics) if m.name == name), None)


REPLAY_SLICE = 32
"""Candles a replay closes between two turns of the event loop: a history of 1,000 candles is
tens of milliseconds of indicator steps, which would hold up every request meanwhile."""


async def replay(state: SeriesState, candles: Iterable[Candle]) -> None:
    """Close stored candles into a series, letting the event loop run every REPLAY_SLICE."""
    for n, candle in enumerate(candles, 1):
        state.close(candle)
        if n % REPLAY_SLICE == 0:
            await asyncio.sleep(0)


WARM_CANDLES = 250
"""Closed candles a series needs for every indicator (SMA 200 the longest) to have a value."""
HISTORY_RECHECKS = (15.0, 60.0, 300.0)
"""Seconds after a coin's state was built from a short history at which the short series are
built again from the store (older history may still have been on its way)."""


@dataclass
class CoinState:
    coin_id: str
    partition: int
    aggregator: CandleAggregator
    series: dict[str, SeriesState]
    ticked: bool = False
    published: dict[str, Any] = field(default_factory=dict)
    built_at: float = 0.0
    short: set[str] = field(default_factory=set)
    """Intervals built from fewer than WARM_CANDLES stored candles: rechecked later."""
    rechecks: int = 0


class IndicatorConsumer:
    """A bus handler (`await consumer(message)`); `run()` closes candles and publishes."""

    def __init__(
        self,
        *,
        db: Database,
        cache: Cache,
        bus: Bus,
        universe: Universe,
        metrics: Sequence[Metric] = DEFAULT_METRICS,
        flush_interval: float = FLUSH_INTERVAL,
        intervals: Sequence[str] = INTERVAL_NAMES,
    ) -> None:
        self.db = db
        self.cache = cache
        self.bus = bus
        self.universe = universe
        self.metrics = tuple(metrics)
        self.names = tuple(m.name for m in self.metrics)
        self.flush_interval = flush_interval
        self.intervals = tuple(intervals)
        self.coins: dict[str, CoinState] = {}
        self.ticks = 0
        self.skipped = 0
        self.candles_closed = 0
        self.updates_published = 0
        self._next_offset: dict[int, int] = {}
        self._max_time: dict[int, int] = {}
        self._partitions = TOPIC_PARTITIONS.get(PRICE_UPDATES, DEFAULT_PARTITIONS)

    # ------------------------------------------------------------------ bus side

    async def __call__(self, message: Message) -> None:
        expected = self._next_offset.get(message.partition)
        # Behind the offset but newer than anything applied: not a redelivery but a log that
        # started over (a broker back without its data).
        if (
            expected is not None
            and message.offset < expected
            and message.timestamp <= self._max_time.get(message.partition, 0)
        ):
            self.skipped += 1  # redelivered: already applied here
            return
        self._max_time[message.partition] = max(
            message.timestamp, self._max_time.get(message.partition, 0)
        )
        if expected is not None and message.offset > expected:
            self._forget_partition(message.partition)  # consumed elsewhere meanwhile
        self._next_offset[message.partition] = message.offset + 1
        try:
            tick = tick_from_message(message.value)
        except InvalidTick:
            self.skipped += 1
            return
        if self.universe.primary_source(tick.coin_id) != tick.source:
            return
        coin = self.coins.get(tick.coin_id)
        if coin is None:
            coin = await self._build(tick.coin_id, time.time())
            self.coins[tick.coin_id] = coin
        coin.aggregator.add(tick.timestamp, tick.price, tick.volume)
        coin.ticked = True
        self.ticks += 1

    def _forget_partition(self, partition: int) -> None:
        for coin_id in [c for c, state in self.coins.items() if state.partition == partition]:
            del self.coins[coin_id]

    async def _build(self, coin_id: str, now: float) -> CoinState:
        """A coin's state from its stored candles: buckets the aggregator would have closed
        by now advance the indicators; the newer ones seed the aggregator, as the market
        persister seeds its own."""
        source = self.universe.primary_source(coin_id) or ""
        aggregator = CandleAggregator(self.intervals, lateness=LATENESS)
        series: dict[str, SeriesState] = {}
        stored: dict[str, list[Candle]] = {}
        try:
            async with self.db.read_session() as session:
                for interval in self.intervals:
                    stored[interval] = await market.list_candles(
                        session,
                        coin_id=coin_id,
                        interval=interval,
                        source=source,
                        limit=service.HISTORY,
                        closed_only=False,
                        now=datetime.fromtimestamp(now, UTC),
                    )
        except Exception as exc:  # no history: start from the ticks
            log.warning("analytics_history_unavailable", coin_id=coin_id, error=repr(exc))
        for interval in self.intervals:
            size = interval_seconds(interval)
            state = SeriesState(interval, self.metrics)
            candles = stored.get(interval, [])
            done = [c for c in candles if c.time + size <= now - LATENESS]
            await replay(state, service.regular(done, interval))
            for candle in candles[len(done) :]:
                aggregator.seed(interval, candle)
            series[interval] = state
        short = {i for i in self.intervals if series[i].count < WARM_CANDLES}
        return CoinState(
            coin_id,
            partition_for(coin_id, self._partitions),
            aggregator,
            series,
            built_at=now,
            short=short,
        )

    async def _deepen(self, coin: CoinState, now: float) -> bool:
        """Build the short series again from the store, where its older history may have
        arrived since (a simulator writing it after its first ticks, a backfill): a series is
        replaced when the store now holds more of it, ending at the same closed candle (any
        history, for a series with no closed candle yet)."""
        coin.rechecks += 1
        source = self.universe.primary_source(coin.coin_id) or ""
        changed = False
        try:
            async with self.db.read_session() as session:
                for interval in sorted(coin.short):
                    size = interval_seconds(interval)
                    old = coin.series[interval]
                    stored = await market.list_candles(
                        session,
                        coin_id=coin.coin_id,
                        interval=interval,
                        source=source,
                        limit=service.HISTORY,
                        closed_only=False,
                        now=datetime.fromtimestamp(now, UTC),
                    )
                    done = [c for c in stored if c.time + size <= now - LATENESS]
                    fresh = SeriesState(interval, self.metrics)
                    await replay(fresh, service.regular(done, interval))
                    # An empty series takes any history; one with candles only a history
                    # ending at its own last candle (the store may lag the ticks by one).
                    same_end = old.last_time is None or fresh.last_time == old.last_time
                    if same_end and fresh.count > old.count:
                        coin.series[interval] = fresh
                        changed = True
                    if coin.series[interval].count >= WARM_CANDLES:
                        coin.short.discard(interval)
        except Exception as exc:
            log.warning("analytics_history_unavailable", coin_id=coin.coin_id, error=repr(exc))
        return changed

    # ------------------------------------------------------------------ timer side

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception as exc:  # the timer must survive anything one flush does
                log.exception("analytics_flush_failed", error=repr(exc))

    async def flush(self, now: float | None = None) -> None:
        """Close due candles, then write and publish the live values of the coins that had
        ticks since the last flush."""
        now = time.time() if now is None else now
        entries: dict[str, bytes] = {}
        updates: list[tuple[str, dict[str, Any]]] = []
        for coin in list(self.coins.values()):
            for interval, candle in coin.aggregator.pop_closed(now):
                self.candles_closed += coin.series[interval].close(candle)
            if (
                coin.short
                and coin.rechecks < len(HISTORY_RECHECKS)
                and now - coin.built_at >= HISTORY_RECHECKS[coin.rechecks]
                and await self._deepen(coin, now)
            ):
                coin.ticked = True  # publish the deeper values
            if not coin.ticked:
                continue  # quiet, or its partition moved: the owner publishes
            coin.ticked = False
            for interval in self.intervals:
                self._render(coin, interval, entries, updates)
            # A flush of every coin is tens of milliseconds of CPU: write this coin's values
            # (they match its state now) and yield, so that the requests and WebSocket frames
            # sharing this event loop are not held up meanwhile.
            if entries:
                await self.cache.set_many(entries, service.METRIC_TTL)
                entries = {}
            await asyncio.sleep(0)
        for coin_id, update in updates:
            try:
                await self.bus.publish(ANALYTICS_UPDATES, coin_id, update, schema=UPDATE_SCHEMA)
                self.updates_published += 1
            except BackendUnavailable as exc:
                log.warning("analytics_publish_failed", error=exc.detail)
                break

    def _render(
        self,
        coin: CoinState,
        interval: str,
        entries: dict[str, bytes],
        updates: list[tuple[str, dict[str, Any]]],
    ) -> None:
        state = coin.series[interval]
        # The oldest bucket still open: a just-ended one waits out its lateness first.
        open_candles = coin.aggregator.open_candles(interval)
        at, close, live, values, latest = state.live(open_candles[0] if open_candles else None)
        if at is None:
            return
        wire = {
            name: m.wire(v) for name, m, v in zip(self.names, self.metrics, values, strict=True)
        }
        update = {
            "coin_id": coin.coin_id,
            "interval": interval,
            "time": service.iso(at),
            "close": close,
            "live": live,
            "values": wire,
        }
        if coin.published.get(interval) == update:
            return
        coin.published[interval] = update
        updates.append((coin.coin_id, update))
        for name, value in wire.items():
            entries[service.metric_key(name, coin.coin_id, interval)] = orjson.dumps(
                service.metric_entry(
                    coin.coin_id, interval, name, value, time_=at, close=close, live=live
                )
            )
        summary_values = {name: wire[name] for name in SUMMARY_METRICS if name in wire}
        entries[service.metric_key("summary", coin.coin_id, interval)] = orjson.dumps(
            service.summary_body(
                coin.coin_id,
                interval,
                time_=at,
                close=close,
                live=live,
                values=summary_values,
                latest=latest,
            )
        )


async def run_consumer(
    *,
    db: Database,
    cache: Cache,
    bus: Bus,
    universe: Universe,
    flush_interval: float = FLUSH_INTERVAL,
) -> None:
    """Subscribe and run until cancelled (the analytics domain's worker)."""
    consumer = IndicatorConsumer(
        db=db, cache=cache, bus=bus, universe=universe, flush_interval=flush_interval
    )
    # A new group starts at the newest ticks: history comes from the stored candles.
    subscription = await bus.subscribe([PRICE_UPDATES], GROUP, consumer, from_latest=True)
    try:
        await consumer.run()
    finally:
        with contextlib.suppress(Exception):
            await subscription.stop()
