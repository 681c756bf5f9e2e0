"""The market persister: consumes `price_updates` (group `cryptodash.market.persister`) and
turns ticks into what the market serves —

- `prices` rows, one per coin, source and second (the last price, the volume summed);
- candles of every interval per coin and source (`candles.CandleAggregator`), the forming
  ones rewritten as they grow;
- the `price:{coin_id}` cache entries (consolidated USD price and 24 h statistics).

Ticks are buffered and written in batches: every `flush_interval` seconds on the in-process
bus, and before Kafka commits a batch's offsets (the bus awaits `flush()`), so a committed
offset always means written. The next offset of every partition is stored in the same
transaction as the rows, so a message Kafka redelivers (after a crash or a rebalance) is
recognised and skipped: each tick is applied once, which is what makes adding volumes safe.
When the database is down the cache keeps being served from memory and the writes wait,
merged, until it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from cryptodash.market import service
from cryptodash.market.candles import Candle, CandleAggregator
from cryptodash.market.coins import Universe
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.normalize import (
    USDT_RATE_COIN,
    CoinBook,
    InvalidTick,
    Tick,
    consolidate,
    tick_from_message,
)
from cryptodash.platform.bus import Message
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

log = get_logger(__name__)

GROUP = "cryptodash.market.persister"
LATENESS = 2.0
"""Seconds a candle bucket stays open for out-of-order ticks after its end."""
MAX_FUTURE = timedelta(minutes=5)
"""Ticks stamped further ahead than this are refused (a broken exchange clock)."""
REBASE_EVERY = 60.0
REBASE_LAG = 120
"""The 24 h base stops this many seconds before now: the last minutes stay live ticks, so a
tick whose candle is not written yet is never left out."""
KEEPALIVE_EVERY = 2.0
MAX_BACKLOG = 200_000
LINGER_BELOW = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


WRITE_ROWS = 32
"""Rows per transaction of an in-process write. A write transaction runs inline on the event
loop (`platform.db`), and SQLite upserts cost up to ~0.3 ms a row under load: a write of a
hundred candles in one held every request in flight for 10-20 ms."""
WRITE_EVERY = 1.0
"""Seconds between the in-process timer's database writes (its flushes to the cache and the
bus stay every `flush_interval`): written every 0.25 s, each candle of 20 ticking coins was
upserted four times a second, the persister's largest cost under load."""


@dataclass
class _Unwritten:
    """Writes not yet in the database, merged so a retry writes each row once."""

    prices: dict[tuple[str, str, datetime], service.PriceRow] = field(default_factory=dict)
    candles: dict[tuple[str, str, str, int], Candle] = field(default_factory=dict)
    offsets: dict[int, tuple[int, int | None]] = field(default_factory=dict)

    def add_prices(self, rows: Sequence[service.PriceRow]) -> None:
        for row in rows:
            key = (row.coin_id, row.source, row.timestamp)
            old = self.prices.get(key)
            if old is not None:
                row = replace(row, volume=old.volume + row.volume)
            self.prices[key] = row

    def __len__(self) -> int:
        return len(self.prices) + len(self.candles)

    def split(self, rows: int | None) -> tuple[_Unwritten, _Unwritten]:
        """(the first `rows` rows, the rest with the offsets); None: (all, nothing)."""
        if rows is None or len(self) <= rows:
            return self, _Unwritten()
        head, rest = _Unwritten(), _Unwritten(offsets=self.offsets)
        for key, price in self.prices.items():
            (head if len(head) < rows else rest).prices[key] = price
        for candle_key, candle in self.candles.items():
            (head if len(head) < rows else rest).candles[candle_key] = candle
        return head, rest


class PricePersister:
    """A bus handler (`await persister(message)`) with a `flush()`; `run()` is its timer."""

    def __init__(
        self,
        *,
        db: Database,
        cache: Cache,
        metrics: Metrics,
        universe: Universe,
        stale_after: float = 30.0,
        flush_interval: float = 0.25,
        price_retention_days: int = 30,
        durable_offsets: bool = False,
        consumer: str = GROUP,
        max_batch: int = 20_000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or _utc_now
        self.cache = cache
        self.metrics = metrics
        self.universe = universe
        self.stale_after = stale_after
        self.flush_interval = flush_interval
        self.price_retention = timedelta(days=price_retention_days)
        self.durable_offsets = durable_offsets
        self.consumer = consumer
        self.max_batch = max_batch
        self.books: dict[str, CoinBook] = {
            coin_id: service.new_book(universe, coin_id)
            for coin_id in (*universe.ids, USDT_RATE_COIN)
        }
        self.aggregators: dict[tuple[str, str], CandleAggregator] = {}
        self.rejected = 0
        self.duplicates = 0
        self._pending: list[Message] = []
        self._unwritten = _Unwritten()
        self._next_offset: dict[int, int] = {}
        # Newest message time (ms) applied per partition: tells a redelivery from a new log.
        self._max_time: dict[int, int] = {}
        self.log_resets = 0
        self._offsets_loaded = not durable_offsets
        self._lock = asyncio.Lock()
        self._last_flush = 0.0
        self._last_write = 0.0
        self._last_rebase = -float("inf")
        self._last_keepalive = 0.0
        self._usdt_usd: Decimal | None = None
        self._touched: set[str] = set()

    @property
    def settled(self) -> bool:
        """Nothing received is waiting: every tick so far is in the cache and the database."""
        return not self._pending and not self._unwritten and not self._lock.locked()

    # ------------------------------------------------------------------ bus side

    async def __call__(self, message: Message) -> None:
        self._pending.append(message)
        if len(self._pending) >= self.max_batch:
            await self._flush_now()
        while len(self._unwritten) > MAX_BACKLOG:  # database down for long: hold the partition
            await asyncio.sleep(1.0)
            await self._flush_now()

    async def flush(self) -> None:
        """Write everything received so far (the Kafka bus awaits this before committing).
        A small batch within `flush_interval` of the last write waits for the next one, so
        batches stay batches at low message rates; a big one is written at once."""
        wait = self._last_flush + self.flush_interval - time.monotonic()
        if wait > 0 and len(self._pending) < LINGER_BELOW:
            await asyncio.sleep(wait)
        await self._flush_now()
        if self._unwritten:
            raise RuntimeError("market persister: writes pending, database unavailable")

    async def run(self) -> None:
        """Flush on a timer (what drives the in-process bus; Kafka also calls `flush`). The
        cache and the bus get every flush; without offsets to store (in-process), the database
        gets a write every `WRITE_EVERY` seconds, so a candle ticked in between is written
        once (`flush` still writes everything at once)."""
        while True:
            await asyncio.sleep(self.flush_interval)
            due = time.monotonic() - self._last_write >= WRITE_EVERY
            try:
                await self._flush_now(write=due or self.durable_offsets)
            except Exception as exc:  # the timer must survive anything one flush does
                log.exception("market_flush_failed", error=repr(exc))

    # ------------------------------------------------------------------ one flush

    async def _flush_now(self, *, write: bool = True) -> None:
        async with self._lock:
            self._last_flush = time.monotonic()
            batch, self._pending = self._pending, []
            now = self.clock()
            ticks: list[Tick] = []
            if batch:
                if self.durable_offsets and (not self._offsets_loaded or self._gap(batch)):
                    await self._load_offsets()
                ticks = self._accept(batch, now)
                if ticks:
                    await self._apply(ticks, now)
            if ticks and self._behind_the_base(ticks) and self._unwritten:
                # Ticks older than the 24 h base's boundary (a backlog after an outage) count
                # only through their stored candles: write them, then take a fresh base, so
                # the 24 h figures published below include them.
                await self._write()
                if not self._unwritten:
                    await self._rebase(now)
            await self._publish_entries(now, ticks)
            if self._unwritten and (write or len(self._unwritten) >= LINGER_BELOW):
                await self._write()

    def _behind_the_base(self, ticks: Sequence[Tick]) -> bool:
        for tick in ticks:
            boundary = self.books[tick.coin_id].window.boundary
            if boundary is not None and tick.timestamp.timestamp() < boundary:
                return True
        return False

    def _gap(self, batch: Sequence[Message]) -> bool:
        """A partition that jumps ahead was consumed elsewhere meanwhile (a rebalance): its
        stored offset is newer than what this process remembers."""
        return any(m.offset > self._next_offset.get(m.partition, m.offset) for m in batch)

    async def _load_offsets(self) -> None:
        try:
            async with self.db.session() as session:
                stored = await service.load_offsets(session, self.consumer, PRICE_UPDATES)
        except Exception as exc:
            log.warning("market_offsets_unavailable", error=repr(exc))
            return
        for partition, (offset, at) in stored.items():
            self._next_offset[partition] = offset
            if at is not None:
                self._max_time[partition] = at
            else:
                self._max_time.pop(partition, None)
        self._offsets_loaded = True

    def _accept(self, batch: Sequence[Message], now: datetime) -> list[Tick]:
        """Ticks not seen before, valid, for a coin we track and of a sane time."""
        oldest = now - self.price_retention
        newest = now + MAX_FUTURE
        ticks: list[Tick] = []
        for message in batch:
            partition = message.partition
            expected = self._next_offset.get(partition, 0)
            applied = self._max_time.get(partition)
            if message.offset < expected:
                if applied is None or message.timestamp <= applied:
                    self.duplicates += 1
                    continue
                # Behind the offset yet newer than anything applied: not a redelivery but a
                # log that started over (a broker that lost its data recreated the topic).
                self.log_resets += 1
                log.warning(
                    "market_log_reset",
                    partition=partition,
                    offset=message.offset,
                    expected=expected,
                )
            self._next_offset[partition] = message.offset + 1
            seen = message.timestamp if applied is None else max(applied, message.timestamp)
            self._max_time[partition] = seen
            self._unwritten.offsets[partition] = (message.offset + 1, seen)
            try:
                tick = tick_from_message(message.value)
            except InvalidTick as exc:
                self._reject("invalid", message, str(exc))
                continue
            if tick.coin_id not in self.books:
                self._reject("untracked", message, tick.coin_id)
                continue
            if not oldest <= tick.timestamp <= newest:
                self._reject("out_of_range", message, tick.timestamp.isoformat())
                continue
            ticks.append(tick)
        return ticks

    def _reject(self, reason: str, message: Message, detail: str) -> None:
        self.rejected += 1
        if self.rejected <= 10 or self.rejected % 1000 == 0:
            log.warning(
                "tick_rejected",
                reason=reason,
                detail=detail,
                partition=message.partition,
                offset=message.offset,
                rejected=self.rejected,
            )

    async def _apply(self, ticks: Sequence[Tick], now: datetime) -> None:
        if time.monotonic() - self._last_rebase >= REBASE_EVERY:
            await self._rebase(now)
        new_series = {(t.coin_id, t.source) for t in ticks} - self.aggregators.keys()
        if new_series:
            first: dict[tuple[str, str], datetime] = {}
            for t in ticks:
                key = (t.coin_id, t.source)
                if key in new_series and (key not in first or t.timestamp < first[key]):
                    first[key] = t.timestamp
            await self._seed(first, now)
        for tick in ticks:
            self.books[tick.coin_id].apply(tick)
            self.aggregators[(tick.coin_id, tick.source)].add(
                tick.timestamp, tick.price, tick.volume
            )
            self._touched.add(tick.coin_id)
        self._unwritten.add_prices(service.price_rows(ticks))
        touched_series = {(t.coin_id, t.source) for t in ticks}
        now_epoch = now.timestamp()
        for series, aggregator in self.aggregators.items():
            coin_id, source = series
            for interval, candle in aggregator.pop_closed(now_epoch):
                self._unwritten.candles[(coin_id, source, interval, candle.time)] = candle
            if series in touched_series:
                for interval in aggregator.intervals:
                    for candle in aggregator.open_candles(interval):
                        self._unwritten.candles[(coin_id, source, interval, candle.time)] = candle

    async def _rebase(self, now: datetime) -> None:
        """Refresh every coin's 24 h base from the stored candles (history counts too)."""
        boundary = service.minute_boundary(now) - REBASE_LAG
        primary = {coin_id: book.primary_source for coin_id, book in self.books.items()}
        try:
            async with self.db.read_session() as session:
                stats = await service.window_stats(session, primary, boundary)
        except Exception as exc:
            log.warning("market_rebase_failed", error=repr(exc))
            return
        for coin_id, book in self.books.items():
            book.window.rebase(boundary, stats[coin_id])
        self._last_rebase = time.monotonic()

    async def _seed(self, first: dict[tuple[str, str], datetime], now: datetime) -> None:
        """New aggregators continue the stored candles (after a restart or when a partition
        moves here) instead of overwriting them: every bucket from the one holding a series'
        first tick (`first`) to now's, since a redelivered tick's bucket may have ended."""
        seeds: dict[tuple[str, str], list[tuple[str, Candle]]] = {}
        try:
            async with self.db.read_session() as session:
                for (coin_id, source), since in first.items():
                    seeds[(coin_id, source)] = await service.forming_candles(
                        session, coin_id, source, since, now
                    )
        except Exception as exc:
            log.warning("market_seed_failed", error=repr(exc))
        for key in first:
            aggregator = CandleAggregator(lateness=LATENESS)
            for interval, candle in seeds.get(key, []):
                aggregator.seed(interval, candle)
            self.aggregators[key] = aggregator

    def _usdt_rate(self, now: datetime) -> Decimal | None:
        tether = self.books[USDT_RATE_COIN]
        usd_sources = {n: sp for n, sp in tether.sources.items() if sp.quote == "USD"}
        consolidated = consolidate(usd_sources, now=now, stale_after=self.stale_after)
        if consolidated is not None and not consolidated.stale:
            return consolidated.price
        return self._usdt_usd  # from the cache: another replica owns tether

    async def _publish_entries(self, now: datetime, ticks: Sequence[Tick]) -> None:
        """Write the cache entries of the coins that moved, and every so often of all coins
        this process holds (keeps them alive and their freshness flags true)."""
        keepalive = time.monotonic() - self._last_keepalive >= KEEPALIVE_EVERY
        if keepalive:
            self._last_keepalive = time.monotonic()
            self._usdt_usd = await service.cached_usdt_rate(self.cache)
        coins = set(self._touched)
        self._touched.clear()
        if keepalive:
            coins |= await self._still_ours(now)
        if not coins:
            return
        rate = self._usdt_rate(now)
        values = {
            service.price_key(coin_id): orjson.dumps(
                self.books[coin_id].entry(now=now, stale_after=self.stale_after, usdt_usd=rate)
            )
            for coin_id in coins
        }
        await self.cache.set_many(values, service.PRICE_TTL)
        served = time.time()
        observe = self.metrics.price_update_latency.observe
        for tick in ticks:
            observe(max(0.0, served - tick.timestamp.timestamp()))

    async def _still_ours(self, now: datetime) -> set[str]:
        """Coins with data here whose cached entry is not newer (another replica may have
        taken the coin's partition; its fresher entry wins)."""
        held = [c for c, book in self.books.items() if book.sources]
        if not held:
            return set()
        cached = await self.cache.get_many([service.price_key(c) for c in held])
        ours = set()
        for coin_id, raw in zip(held, cached, strict=True):
            if raw is None:
                ours.add(coin_id)
                continue
            theirs = _updated_at(raw)
            mine = max(sp.updated_at for sp in self.books[coin_id].sources.values())
            if theirs is None or theirs <= mine:
                ours.add(coin_id)
        return ours

    async def _write(self) -> None:
        """Write what is unwritten; kept for the next flush when the database fails. Without
        offsets to store along (the in-process bus), in parts of `WRITE_ROWS` rows, one
        transaction each, serving the event loop in between."""
        self._last_write = time.monotonic()
        while self._unwritten:
            part, self._unwritten = self._unwritten.split(
                None if self.durable_offsets else WRITE_ROWS
            )
            if not await self._write_part(part):
                return
            if self._unwritten:
                await asyncio.sleep(0)

    async def _write_part(self, unwritten: _Unwritten) -> bool:
        try:
            async with self.db.session() as session:
                await service.upsert_prices(session, list(unwritten.prices.values()))
                await service.upsert_candles(
                    session,
                    (
                        ((coin_id, source, interval), candle)
                        for (coin_id, source, interval, _), candle in unwritten.candles.items()
                    ),
                )
                if self.durable_offsets:
                    await service.save_offsets(
                        session, self.consumer, PRICE_UPDATES, unwritten.offsets
                    )
        except Exception as exc:
            # Keep it for the next flush, merged under whatever arrived meanwhile.
            newer = self._unwritten
            self._unwritten = unwritten
            self._unwritten.add_prices(list(newer.prices.values()))
            self._unwritten.candles.update(newer.candles)
            self._unwritten.offsets.update(newer.offsets)
            log.warning("market_write_failed", pending=len(self._unwritten), error=repr(exc))
            return False
        return True


def _updated_at(raw: bytes) -> datetime | None:
    try:
        value: Any = orjson.loads(raw).get("updated_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except (orjson.JSONDecodeError, AttributeError, ValueError):
        return None
