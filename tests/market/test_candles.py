"""The pure candle aggregator: boundaries, gaps, out-of-order and late ticks, seeding, and
property tests against a brute-force reference aggregator."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptodash.market.candles import (
    INTERVAL_NAMES,
    INTERVALS,
    Candle,
    CandleAggregator,
    bucket_start,
    expected_parts,
    fill_gaps,
    interval_seconds,
    resample,
)

T0 = 1_718_000_000 - 1_718_000_000 % 86_400  # a UTC midnight
D = Decimal

Tick = tuple[float, Decimal, Decimal]


def reference(
    ticks: list[Tick], intervals: tuple[str, ...], lateness: float
) -> dict[str, list[Candle]]:
    """Brute force: decide which ticks are late, then group, sort and reduce per bucket."""
    smallest = min(INTERVALS[name] for name in intervals)
    accepted: list[tuple[float, int, Decimal, Decimal]] = []
    watermark = -math.inf
    for index, (ts, price, volume) in enumerate(ticks):
        edge = watermark - lateness
        cutoff = -math.inf if edge == -math.inf else (edge // smallest) * smallest
        if ts < cutoff:
            continue
        accepted.append((ts, index, price, volume))
        watermark = max(watermark, ts)
    result: dict[str, list[Candle]] = {}
    for name in intervals:
        size = INTERVALS[name]
        groups: dict[int, list[tuple[float, int, Decimal, Decimal]]] = defaultdict(list)
        for tick in accepted:
            groups[int(tick[0] // size) * size].append(tick)
        candles = []
        for start in sorted(groups):
            group = sorted(groups[start], key=lambda t: (t[0], t[1]))
            prices = [t[2] for t in group]
            candles.append(
                Candle(
                    start,
                    prices[0],
                    max(prices),
                    min(prices),
                    prices[-1],
                    sum((t[3] for t in group), Decimal(0)),
                )
            )
        result[name] = candles
    return result


def run(
    ticks: list[Tick], intervals: tuple[str, ...] = INTERVAL_NAMES, lateness: float = 0.0
) -> tuple[dict[str, list[Candle]], CandleAggregator]:
    """Feed the aggregator, collecting closed candles as it goes, then close the rest."""
    agg = CandleAggregator(intervals, lateness=lateness)
    out: dict[str, list[Candle]] = defaultdict(list)
    for ts, price, volume in ticks:
        agg.add(ts, price, volume)
        for name, candle in agg.pop_closed():
            out[name].append(candle)
    for name, candle in agg.close_all():
        out[name].append(candle)
    return {name: sorted(out.get(name, []), key=lambda c: c.time) for name in intervals}, agg


# --------------------------------------------------------------------------- examples


def test_interval_table_and_alignment() -> None:
    assert list(INTERVALS) == ["1m", "5m", "15m", "1h", "4h", "1d"]
    assert interval_seconds("4h") == 14_400
    with pytest.raises(ValueError, match="unknown interval"):
        interval_seconds("2h")
    at = datetime(2024, 6, 10, 6, 13, 21, 456_000, tzinfo=UTC)
    assert bucket_start(at, "1m") == int(datetime(2024, 6, 10, 6, 13, tzinfo=UTC).timestamp())
    assert bucket_start(at, "4h") == int(datetime(2024, 6, 10, 4, tzinfo=UTC).timestamp())
    assert bucket_start(at, "1d") == int(datetime(2024, 6, 10, tzinfo=UTC).timestamp())
    with pytest.raises(ValueError, match="naive"):
        bucket_start(datetime(2024, 6, 10), "1m")


def test_bucket_boundaries_are_half_open() -> None:
    agg = CandleAggregator(("1m",), lateness=math.inf)
    agg.add(T0 + 59.999, D("1"), D("1"))
    agg.add(T0 + 60.0, D("2"), D("1"))
    agg.add(T0 + 0.0, D("3"), D("1"))
    first, second = agg.open_candles("1m")
    assert first == Candle(T0, D("3"), D("3"), D("1"), D("1"), D("2"))
    assert second == Candle(T0 + 60, D("2"), D("2"), D("2"), D("2"), D("1"))


def test_ohlcv_and_forming_candle() -> None:
    agg = CandleAggregator(("1m", "5m"))
    for offset, price in [(1, "10"), (2, "12"), (3, "9"), (4, "11")]:
        agg.add(T0 + offset, D(price), D("0.5"))
    assert agg.forming("1m") == Candle(T0, D("10"), D("12"), D("9"), D("11"), D("2.0"))
    assert agg.forming("5m") == agg.forming("1m")
    assert agg.pop_closed() == []


def test_watermark_closes_buckets_and_gaps_make_no_candles() -> None:
    agg = CandleAggregator(("1m", "5m"))
    agg.add(T0 + 10, D("1"), D("1"))
    agg.add(T0 + 250, D("2"), D("1"))  # minutes 1-3 have no ticks
    closed = agg.pop_closed()
    assert closed == [("1m", Candle(T0, D("1"), D("1"), D("1"), D("1"), D("1")))]
    agg.add(T0 + 301, D("3"), D("1"))
    closed = agg.pop_closed()
    assert [(name, c.time) for name, c in closed] == [("1m", T0 + 240), ("5m", T0)]
    assert closed[1][1] == Candle(T0, D("1"), D("2"), D("1"), D("2"), D("2"))


def test_clock_closes_a_quiet_series() -> None:
    agg = CandleAggregator(("1m",), lateness=2)
    agg.add(T0 + 5, D("1"))
    assert agg.pop_closed(now=T0 + 61) == []  # within the lateness
    assert [c.time for _, c in agg.pop_closed(now=T0 + 62)] == [T0]
    assert agg.forming("1m") is None


def test_out_of_order_ticks_set_open_and_close_by_event_time() -> None:
    agg = CandleAggregator(("1m",), lateness=60)
    agg.add(T0 + 30, D("30"))
    agg.add(T0 + 10, D("10"))
    agg.add(T0 + 50, D("50"))
    agg.add(T0 + 40, D("40"))
    candle = agg.forming("1m")
    assert candle is not None
    assert (candle.open, candle.close, candle.high, candle.low) == (D(10), D(50), D(50), D(10))


def test_equal_event_times_keep_arrival_order() -> None:
    agg = CandleAggregator(("1m",))
    agg.add(T0 + 1, D("1"))
    agg.add(T0 + 1, D("2"))
    agg.add(T0 + 1, D("3"))
    candle = agg.forming("1m")
    assert candle is not None
    assert (candle.open, candle.close) == (D(1), D(3))


def test_late_tick_is_dropped_and_counted() -> None:
    agg = CandleAggregator(("1m", "1h"), lateness=1)
    agg.add(T0 + 30, D("1"))
    agg.add(T0 + 62, D("2"))
    closed = agg.pop_closed()
    assert [c.time for _, c in closed] == [T0]
    assert agg.add(T0 + 59, D("99")) is False
    assert agg.late_ticks == 1
    hour = agg.forming("1h")
    assert hour is not None
    assert hour.high == D("2")  # the late tick touched no interval


def test_seed_continues_a_stored_candle() -> None:
    stored = Candle(T0, D("100"), D("110"), D("95"), D("105"), D("7"))
    agg = CandleAggregator(("1h",))
    agg.add(T0 + 1800, D("120"), D("1"))  # a tick that arrived before the seed
    agg.seed("1h", stored)
    agg.add(T0 + 1900, D("90"), D("2"))
    assert agg.forming("1h") == Candle(T0, D("100"), D("120"), D("90"), D("90"), D("10"))
    with pytest.raises(ValueError, match="cannot seed"):
        agg.seed("1h", Candle(T0 + 60, D(1), D(1), D(1), D(1), D(0)))


def test_accepts_aware_datetimes() -> None:
    agg = CandleAggregator(("1m",))
    agg.add(datetime.fromtimestamp(T0, UTC) + timedelta(seconds=5), D("1"), D("1"))
    candle = agg.forming("1m")
    assert candle is not None
    assert candle.start == datetime.fromtimestamp(T0, UTC)


def test_resample_and_fill_gaps() -> None:
    hours = [
        Candle(T0 + 3 * 3600, D("4"), D("4.5"), D("3.5"), D("4.2"), D("1")),
        Candle(T0, D("1"), D("2"), D("0.5"), D("1.5"), D("1")),
        Candle(T0 + 3600, D("1.5"), D("3"), D("1.4"), D("2.5"), D("2")),
        Candle(T0 + 4 * 3600, D("5"), D("5"), D("5"), D("5"), D("1")),
    ]
    four = resample(hours, "4h")
    assert four == [
        Candle(T0, D("1"), D("4.5"), D("0.5"), D("4.2"), D("4")),
        Candle(T0 + 4 * 3600, D("5"), D("5"), D("5"), D("5"), D("1")),
    ]
    assert expected_parts("1h", "4h") == 4
    with pytest.raises(ValueError, match="multiple"):
        expected_parts("15m", "1m")
    filled = fill_gaps(sorted(hours, key=lambda c: c.time), "1h", end=T0 + 6 * 3600)
    assert [c.time for c in filled] == [T0 + h * 3600 for h in range(7)]
    assert filled[2] == Candle(T0 + 7200, D("2.5"), D("2.5"), D("2.5"), D("2.5"), D("0"))
    assert filled[-1].close == D("5")
    assert fill_gaps([], "1h") == []


# --------------------------------------------------------------------------- properties

timestamps = st.integers(min_value=0, max_value=3 * 3600 * 1000).map(lambda ms: T0 + ms / 1000)
prices = st.integers(min_value=1, max_value=10**7).map(lambda n: Decimal(n) / 100)
volumes = st.integers(min_value=0, max_value=10**6).map(lambda n: Decimal(n) / 1000)
tick_lists = st.lists(st.tuples(timestamps, prices, volumes), max_size=120)
interval_sets = st.sets(st.sampled_from(INTERVAL_NAMES), min_size=1).map(
    lambda names: tuple(sorted(names, key=INTERVALS.__getitem__))
)


@settings(max_examples=150, deadline=None)
@given(
    ticks=tick_lists,
    intervals=interval_sets,
    lateness=st.sampled_from([0.0, 1.0, 30.0, 600.0, math.inf]),
)
def test_matches_brute_force_reference(
    ticks: list[Tick], intervals: tuple[str, ...], lateness: float
) -> None:
    got, agg = run(ticks, intervals, lateness)
    want = reference(ticks, intervals, lateness)
    assert got == want
    kept = _accepted(ticks, intervals, lateness)
    assert agg.late_ticks == len(ticks) - len(kept)
    for name in intervals:  # no volume lost or counted twice
        assert sum((c.volume for c in got[name]), Decimal(0)) == sum(
            (v for _, _, v in kept), Decimal(0)
        )


def _accepted(ticks: list[Tick], intervals: tuple[str, ...], lateness: float) -> list[Tick]:
    smallest = min(INTERVALS[name] for name in intervals)
    kept, watermark = [], -math.inf
    for tick in ticks:
        edge = watermark - lateness
        if edge == -math.inf or tick[0] >= (edge // smallest) * smallest:
            kept.append(tick)
            watermark = max(watermark, tick[0])
    return kept


@settings(max_examples=100, deadline=None)
@given(data=st.data(), ticks=st.lists(st.tuples(timestamps, prices, volumes), max_size=80))
def test_order_does_not_matter_without_lateness_limit(
    data: st.DataObject, ticks: list[Tick]
) -> None:
    distinct = list({ts: (ts, p, v) for ts, p, v in ticks}.values())
    shuffled = data.draw(st.permutations(distinct))
    assert run(distinct, lateness=math.inf)[0] == run(shuffled, lateness=math.inf)[0]


@settings(max_examples=100, deadline=None)
@given(ticks=tick_lists)
def test_larger_intervals_are_the_resample_of_1m(ticks: list[Tick]) -> None:
    got, _ = run(ticks, lateness=math.inf)
    for name in INTERVAL_NAMES[1:]:
        assert resample(got["1m"], name) == got[name]


@settings(max_examples=100, deadline=None)
@given(ticks=tick_lists, lateness=st.sampled_from([0.0, 5.0, 120.0]))
def test_closed_candles_are_handed_out_once_and_stay_final(
    ticks: list[Tick], lateness: float
) -> None:
    agg = CandleAggregator(("1m", "15m"), lateness=lateness)
    seen: set[tuple[str, int]] = set()
    for ts, price, volume in ticks:
        agg.add(ts, price, volume)
        for name, candle in agg.pop_closed():
            assert (name, candle.time) not in seen
            seen.add((name, candle.time))
            assert all(c.time != candle.time for c in agg.open_candles(name))
    for name, candle in agg.close_all():
        assert (name, candle.time) not in seen
