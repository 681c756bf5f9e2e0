"""Candle history from an exchange's REST API into the candle store: at start, after every
reconnect or sequence gap, and on demand (`cryptodash backfill --days N`).

Work is planned as *pages* — one request each, at most the exchange's page size of buckets,
for one coin and interval — and fetched by a few workers through the exchange's rate-limited
client, stored with `service.ingest_candles` (closed candles only, idempotent; Coinbase's 4h
rebuilt from 1h there).

A page is due once its newest bucket has closed and `settle` seconds have passed: by then the
live persister has written its own (possibly partial) candle of that bucket, and the REST one
replaces it. So a gap in the middle of an hour is repaired at once at 1m, and its 1h candle
when the hour ends. Among due pages the newest come first, smallest interval first: after a
fresh start every coin's last hours of 1m candles are there before the older pages are asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from cryptodash.market import service
from cryptodash.market.candles import INTERVALS, Candle
from cryptodash.market.exchanges.feed import (
    Backoff,
    ExchangeError,
    ExchangeRequestError,
    FeedStatus,
)
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

SETTLE = 10.0
"""Seconds after a bucket closes before its REST candle is asked for."""
MAX_ATTEMPTS = 8
MAX_WAIT = 30.0
"""`run_until_done` waits for pages due within this many seconds (retries after a 429)."""


class CandleSource(Protocol):
    """An exchange's REST candles, as each exchange module provides them."""

    source: str
    page_size: int
    intervals: tuple[str, ...]
    """The intervals asked of the exchange (its native ones)."""

    async def candles(self, symbol: str, interval: str, first: int, last: int) -> list[Candle]:
        """Candles whose bucket starts in [first, last] (Unix seconds), oldest first."""
        ...

    def pause_left(self) -> float:
        """Seconds the exchange asked us to wait (429/418), 0 when requests may go."""
        ...


def pages(first: int, last: int, interval: str, page_size: int) -> list[tuple[int, int]]:
    """Bucket ranges [lo, hi] of at most `page_size` buckets covering [first, last], newest
    first. `first` and `last` are bucket starts."""
    size = INTERVALS[interval]
    out = []
    hi = last
    while hi >= first:
        lo = max(first, hi - (page_size - 1) * size)
        out.append((lo, hi))
        hi = lo - size
    return out


@dataclass(eq=False)
class _Gap:
    pending: int = 0


@dataclass(eq=False)
class Page:
    coin_id: str
    interval: str
    first: int
    last: int
    due: float
    rank: int
    seq: int
    gaps: list[_Gap] = field(default_factory=list)
    attempts: int = 0

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.coin_id, self.interval, self.first, self.last)

    def order(self) -> tuple[int, int, int]:
        return (self.rank, INTERVALS[self.interval], self.seq)


class Backfiller:
    """Plans and runs the REST history of one exchange for the coins in `symbols`
    (coin id → exchange symbol)."""

    def __init__(
        self,
        source: CandleSource,
        db: Database,
        symbols: Mapping[str, str],
        *,
        status: FeedStatus | None = None,
        settle: float = SETTLE,
        workers: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.db = db
        self.symbols = dict(symbols)
        self.status = status or FeedStatus(source.source)
        self.settle = settle
        self.workers = workers
        self.clock = clock
        self.written = 0
        self.done_pages = 0
        self.failed_pages = 0
        self.on_page: Callable[[Page, int], None] | None = None
        self._pending: dict[tuple[str, str, int, int], Page] = {}
        self._running = 0
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ planning

    def note_gap(self, coin_ids: Iterable[str], since: float, until: float) -> None:
        """Data may be missing between `since` and `until` (Unix seconds) for these coins:
        refetch every bucket that overlaps, each once it has closed."""
        gap = _Gap()
        self.status.gaps_found += 1
        for coin_id in coin_ids:
            for interval in self.source.intervals:
                self._plan(coin_id, interval, since, until, gap=gap)
        if gap.pending == 0:
            self.status.gaps_backfilled += 1
        self._changed()

    async def plan_history(
        self,
        days: float,
        coin_ids: Sequence[str] | None = None,
        *,
        forming: bool = True,
    ) -> int:
        """Plan the history of the last `days` days at every interval (at least one page per
        interval reaching back), resuming after the newest stored candle of each series.
        With `forming`, buckets still open are refetched when they close. Returns the number
        of pages planned."""
        coins = [c for c in (coin_ids or self.symbols) if c in self.symbols]
        now = self.clock()
        newest: dict[str, dict[str, int]] = {}
        async with self.db.read_session() as session:
            for interval in self.source.intervals:
                newest[interval] = await service.newest_candle_times(
                    session, source=self.source.source, interval=interval, coin_ids=coins
                )
        before = len(self._pending)
        for interval in self.source.intervals:
            depth = max(days * 86_400, self.source.page_size * INTERVALS[interval])
            for coin_id in coins:
                since = max(now - depth, newest[interval].get(coin_id, -1))
                self._plan(coin_id, interval, since, now, forming=forming)
        self._changed()
        return len(self._pending) - before

    def _plan(
        self,
        coin_id: str,
        interval: str,
        since: float,
        until: float,
        *,
        gap: _Gap | None = None,
        forming: bool = True,
    ) -> None:
        if coin_id not in self.symbols:
            return
        size = INTERVALS[interval]
        now = self.clock()
        first = int(since // size) * size
        last = int(until // size) * size
        last_closed = int(now // size) * size - size
        ranges = [
            (r, lo, hi)
            for r, (lo, hi) in enumerate(
                pages(first, min(last, last_closed), interval, self.source.page_size)
            )
        ]
        if forming:  # buckets still open: one page each, when they close
            ranges += [(0, b, b) for b in range(max(first, last_closed + size), last + 1, size)]
        for rank, lo, hi in ranges:
            closed = hi + size <= now
            due = max(now, hi + size + self.settle)
            page = self._pending.get((coin_id, interval, lo, hi))
            if page is None:
                page = Page(coin_id, interval, lo, hi, due, rank, next(self._seq))
                self._pending[page.key] = page
            if gap is not None and (closed or interval == "1m"):
                gap.pending += 1
                page.gaps.append(gap)
        self.status.backfill_pending = len(self._pending)

    def _changed(self) -> None:
        self.status.backfill_pending = len(self._pending)
        self._wake.set()

    # ------------------------------------------------------------------ running

    @property
    def idle(self) -> bool:
        return not self._pending and not self._running

    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Fetch due pages forever (the feed's companion task)."""
        await asyncio.gather(*(self._work(forever=True) for _ in range(self.workers)))

    async def run_until_done(self) -> None:
        """Fetch until nothing is due (the command line, tests); pages due later (buckets
        still forming) stay planned."""
        await asyncio.gather(*(self._work(forever=False) for _ in range(self.workers)))

    def _take(self) -> Page | float | None:
        """The best due page, else seconds until the next is due (None: nothing pending)."""
        if not self._pending:
            return None
        now = self.clock()
        due = [p for p in self._pending.values() if p.due <= now]
        if not due:
            return min(p.due for p in self._pending.values()) - now
        page = min(due, key=Page.order)
        del self._pending[page.key]
        self.status.backfill_pending = len(self._pending)
        return page

    async def _work(self, *, forever: bool) -> None:
        while True:
            taken = self._take()
            if isinstance(taken, Page):
                self._running += 1
                try:
                    await self._fetch(taken)
                finally:
                    self._running -= 1
                    self._wake.set()
                continue
            if not forever and not self._running and (taken is None or taken > MAX_WAIT):
                return
            self._wake.clear()
            timeout = 60.0 if taken is None else min(max(taken, 0.01), 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _fetch(self, page: Page) -> None:
        symbol = self.symbols[page.coin_id]
        try:
            candles = await self.source.candles(symbol, page.interval, page.first, page.last)
            async with self.db.session() as session:
                written = await service.ingest_candles(
                    session,
                    coin_id=page.coin_id,
                    source=self.source.source,
                    interval=page.interval,
                    candles=candles,
                    now=datetime.fromtimestamp(self.clock(), UTC),
                )
        except asyncio.CancelledError:
            self._pending.setdefault(page.key, page)
            raise
        except ExchangeRequestError as exc:  # the exchange says the request is wrong
            log.warning(
                "backfill_refused",
                exchange=self.source.source,
                symbol=symbol,
                interval=page.interval,
                error=str(exc),
            )
            self.failed_pages += 1
            self._finish(page, 0)
            return
        except (ExchangeError, Exception) as exc:  # exchange or database down: later
            page.attempts += 1
            if page.attempts >= MAX_ATTEMPTS:
                log.warning(
                    "backfill_gave_up",
                    exchange=self.source.source,
                    symbol=symbol,
                    interval=page.interval,
                    error=repr(exc),
                )
                self.failed_pages += 1
                self._finish(page, 0)
                return
            backoff = Backoff(2.0, 300.0)
            backoff.attempt = page.attempts - 1
            page.due = self.clock() + max(backoff.next(), self.source.pause_left())
            log.info(
                "backfill_retry",
                exchange=self.source.source,
                symbol=symbol,
                interval=page.interval,
                attempt=page.attempts,
                error=repr(exc),
            )
            self._pending.setdefault(page.key, page)
            self.status.backfill_pending = len(self._pending)
            return
        self.written += written
        self.status.candles_backfilled += written
        self._finish(page, written)

    def _finish(self, page: Page, written: int) -> None:
        self.done_pages += 1
        for gap in page.gaps:
            gap.pending -= 1
            if gap.pending == 0:
                self.status.gaps_backfilled += 1
        if self.on_page is not None:
            self.on_page(page, written)
