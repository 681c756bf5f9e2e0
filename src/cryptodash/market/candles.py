"""Candles (OHLCV) built from ticks: a streaming aggregator, resampling and gap filling.

Pure: no I/O, no clock reads, importable anywhere (the market persister, analytics, benches).
Prices and volumes are `Decimal` in, `Decimal` out.

Conventions, shared by everything here:

- A candle of interval `I` covers ``[time, time + I)``; ``time`` is the bucket start in Unix
  seconds (UTC). Buckets are aligned to the Unix epoch, so 1d candles run 00:00-24:00 UTC and
  4h candles start at 00, 04, 08 … UTC.
- ``open`` is the price of the earliest tick by event time and ``close`` of the latest; ticks
  with equal event times keep their arrival order. ``high``/``low`` are the extremes and
  ``volume`` the sum of the ticks' volumes (base units).
- A bucket without ticks has no candle; `fill_gaps` makes flat ones when a regular series is
  needed.

Typical use (one aggregator per series, i.e. one coin on one source)::

    agg = CandleAggregator(lateness=2.0)        # every interval in INTERVALS
    agg.add(tick_time, price, volume)           # ticks in any order
    agg.forming("1m")                           # the newest, still open 1m candle
    for interval, candle in agg.pop_closed():   # candles closed since the last call
        ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

INTERVALS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14_400,
    "1d": 86_400,
}
"""Interval name → length in seconds, smallest first."""

INTERVAL_NAMES: tuple[str, ...] = tuple(INTERVALS)
ZERO = Decimal(0)
_EARLIEST = (-math.inf, -1)  # order key of a seeded candle: older than any tick


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``time`` is the bucket start in Unix seconds (UTC)."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)


def interval_seconds(interval: str) -> int:
    """Length of a named interval; ValueError for names not in INTERVALS."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(
            f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}"
        ) from None


def to_epoch(at: float | datetime) -> float:
    """Unix seconds of an aware datetime (or a number passed through)."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("naive datetime; timestamps must be timezone-aware UTC")
        return at.timestamp()
    return float(at)


def bucket_start(at: float | datetime, interval: str) -> int:
    """Start (Unix seconds) of the `interval` bucket that contains `at`."""
    size = interval_seconds(interval)
    return int(to_epoch(at) // size) * size


class _Building:
    """A bucket being built; open/close remember the order key of the tick they came from."""

    __slots__ = ("close", "close_key", "high", "low", "open", "open_key", "volume")

    def __init__(self, price: Decimal, volume: Decimal, key: tuple[float, int]) -> None:
        self.open = self.high = self.low = self.close = price
        self.volume = volume
        self.open_key = self.close_key = key

    def add(self, price: Decimal, volume: Decimal, key: tuple[float, int]) -> None:
        if key < self.open_key:
            self.open, self.open_key = price, key
        if key >= self.close_key:
            self.close, self.close_key = price, key
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.volume += volume

    def candle(self, time: int) -> Candle:
        return Candle(time, self.open, self.high, self.low, self.close, self.volume)


class CandleAggregator:
    """Candles of several intervals built from one series' ticks, fed in any order.

    Every tick updates one bucket per interval. A bucket *closes* once the watermark (the
    newest event time seen) has passed its end by `lateness` seconds; `pop_closed` hands out
    closed candles exactly once, oldest first. A tick that falls into an already closed bucket
    of the smallest interval is *late*: it is dropped (counted in `late_ticks`), so the
    intervals stay consistent with one another (a 5m candle is always the resample of its 1m
    candles). With ``lateness=math.inf`` nothing ever closes on its own: feed everything, then
    `close_all()` — the result does not depend on the order the ticks came in.
    """

    def __init__(self, intervals: Sequence[str] = INTERVAL_NAMES, *, lateness: float = 0.0) -> None:
        if not intervals:
            raise ValueError("at least one interval")
        if lateness < 0:
            raise ValueError("lateness must be >= 0")
        self.intervals: tuple[str, ...] = tuple(sorted(set(intervals), key=interval_seconds))
        self.lateness = lateness
        self.watermark = -math.inf
        self.late_ticks = 0
        self._sizes = [(name, INTERVALS[name]) for name in self.intervals]
        self._smallest = self._sizes[0][1]
        self._open: dict[str, dict[int, _Building]] = {name: {} for name in self.intervals}
        self._seq = 0

    def _cutoff(self, now: float = -math.inf) -> float:
        """Event times before this fall into closed buckets of the smallest interval."""
        edge = max(self.watermark, now) - self.lateness
        if edge == -math.inf or math.isnan(edge):
            return -math.inf
        return (edge // self._smallest) * self._smallest

    def add(self, at: float | datetime, price: Decimal, volume: Decimal = ZERO) -> bool:
        """Feed one tick (event time, price, volume). False when it was late and dropped."""
        ts = to_epoch(at)
        if ts < self._cutoff():
            self.late_ticks += 1
            return False
        key = (ts, self._seq)
        self._seq += 1
        if ts > self.watermark:
            self.watermark = ts
        for name, size in self._sizes:
            start = int(ts // size) * size
            buckets = self._open[name]
            building = buckets.get(start)
            if building is None:
                buckets[start] = _Building(price, volume, key)
            else:
                building.add(price, volume, key)
        return True

    def seed(self, interval: str, candle: Candle) -> None:
        """Start an open bucket from a stored candle, as if its ticks came before any new one.

        Used after a restart to continue the forming candle instead of overwriting it: new
        ticks extend high/low/volume and replace the close, the stored open stays.
        """
        size = interval_seconds(interval)
        if interval not in self._open or candle.time % size:
            raise ValueError(f"cannot seed {interval} with a candle at {candle.time}")
        if candle.time + size <= self._cutoff():
            return
        building = _Building(candle.open, candle.volume, _EARLIEST)
        building.high, building.low, building.close = candle.high, candle.low, candle.close
        existing = self._open[interval].get(candle.time)
        if existing is not None:  # ticks arrived before the seed: they are the newer ones
            building.add(existing.open, ZERO, existing.open_key)
            building.add(existing.close, ZERO, existing.close_key)
            building.high = max(building.high, existing.high)
            building.low = min(building.low, existing.low)
            building.volume += existing.volume
        self._open[interval][candle.time] = building

    def forming(self, interval: str) -> Candle | None:
        """The newest open candle of `interval` (the one being formed now), if any."""
        buckets = self._open[interval]
        if not buckets:
            return None
        start = max(buckets)
        return buckets[start].candle(start)

    def open_candles(self, interval: str) -> list[Candle]:
        """Every candle of `interval` not closed yet, oldest first."""
        buckets = self._open[interval]
        return [buckets[start].candle(start) for start in sorted(buckets)]

    def pop_closed(self, now: float | datetime | None = None) -> list[tuple[str, Candle]]:
        """Candles closed since the last call, per interval (smallest first), oldest first.

        `now` (the clock) also closes buckets when the series has gone quiet; without it
        only the watermark does.
        """
        cutoff = self._cutoff(-math.inf if now is None else to_epoch(now))
        closed: list[tuple[str, Candle]] = []
        for name, size in self._sizes:
            buckets = self._open[name]
            done = sorted(start for start in buckets if start + size <= cutoff)
            for start in done:
                closed.append((name, buckets.pop(start).candle(start)))
        return closed

    def close_all(self) -> list[tuple[str, Candle]]:
        """Close every open bucket (the end of a replay); same order as `pop_closed`."""
        closed: list[tuple[str, Candle]] = []
        for name, _ in self._sizes:
            buckets = self._open[name]
            for start in sorted(buckets):
                closed.append((name, buckets[start].candle(start)))
            buckets.clear()
        return closed


def resample(candles: Iterable[Candle], interval: str) -> list[Candle]:
    """Merge candles of a smaller interval into `interval` buckets (1m → 5m, 1h → 4h, …).

    Input in any order (one series, no duplicate times); output oldest first. Each output
    bucket is built from whatever inputs fall into it — whether a bucket is complete is the
    caller's concern (see `expected_parts`).
    """
    size = interval_seconds(interval)
    merged: dict[int, list[Decimal]] = {}
    firsts: dict[int, int] = {}
    lasts: dict[int, int] = {}
    for c in candles:
        start = c.time // size * size
        acc = merged.get(start)
        if acc is None:
            merged[start] = [c.open, c.high, c.low, c.close, c.volume]
            firsts[start] = lasts[start] = c.time
            continue
        if c.time < firsts[start]:
            acc[0], firsts[start] = c.open, c.time
        if c.time > lasts[start]:
            acc[3], lasts[start] = c.close, c.time
        acc[1] = max(acc[1], c.high)
        acc[2] = min(acc[2], c.low)
        acc[4] += c.volume
    return [Candle(start, *merged[start]) for start in sorted(merged)]


def expected_parts(source_interval: str, target_interval: str) -> int:
    """How many `source_interval` candles make one full `target_interval` candle."""
    small, big = interval_seconds(source_interval), interval_seconds(target_interval)
    if big % small:
        raise ValueError(f"{target_interval} is not a multiple of {source_interval}")
    return big // small


def fill_gaps(
    candles: Sequence[Candle],
    interval: str,
    *,
    end: int | None = None,
) -> list[Candle]:
    """A regular series: missing buckets between the candles (and after the last, for bucket
    starts up to `end`) become flat candles at the previous close with zero volume. Input
    oldest first, bucket-aligned."""
    if not candles:
        return []
    size = interval_seconds(interval)
    out: list[Candle] = []
    for candle in candles:
        if out:
            previous = out[-1]
            for start in range(previous.time + size, candle.time, size):
                out.append(_flat(start, previous.close))
        out.append(candle)
    if end is not None:
        last = out[-1]
        for start in range(last.time + size, end + 1, size):
            out.append(_flat(start, last.close))
    return out


def _flat(start: int, price: Decimal) -> Candle:
    return Candle(start, price, price, price, price, ZERO)


__all__ = [
    "INTERVALS",
    "INTERVAL_NAMES",
    "Candle",
    "CandleAggregator",
    "bucket_start",
    "expected_parts",
    "fill_gaps",
    "interval_seconds",
    "resample",
    "to_epoch",
]
