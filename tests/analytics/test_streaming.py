"""Streaming indicators give exactly the batch results: bit for bit, at every index, over
random walks, constant stretches, gaps (NaN, ±inf, non-positive closes) and extreme values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cryptodash.analytics import indicators as ind
from cryptodash.analytics import streaming

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A series is built from segments: random walks at some price level, constant stretches, and
# gaps; the levels run from dust (1e-12) to absurd (1e12) and beyond to the extremes.
level = st.sampled_from([1e-12, 1e-6, 0.1, 1.0, 42.0, 3e4, 1e12])
walk = st.builds(
    lambda start, steps: list(start * np.exp(np.cumsum(steps))),
    level,
    st.lists(st.floats(-0.05, 0.05), min_size=1, max_size=40),
)
flat = st.builds(lambda v, n: [v] * n, level, st.integers(1, 40))
gap = st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]), min_size=1, max_size=3)
extreme = st.lists(
    st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None),
    min_size=1,
    max_size=5,
)
series = st.lists(st.one_of(walk, walk, flat, gap, extreme), min_size=1, max_size=8).map(
    lambda parts: [v for part in parts for v in part]
)
period = st.integers(1, 30)


def run(indicator: Any, values: list[float], *, peek: bool = True) -> np.ndarray:
    """Feed the series one point at a time; every peek must equal the update that follows."""
    out = []
    for v in values:
        if peek:
            ahead = indicator.peek(v)
        got = indicator.update(v)
        if peek:
            np.testing.assert_array_equal(np.asarray(ahead), np.asarray(got))
        out.append(got)
    return np.asarray(out, dtype=np.float64)


def assert_identical(stream: np.ndarray, batch: Any) -> None:
    batch = np.column_stack(batch) if isinstance(batch, tuple) else np.asarray(batch)
    if stream.size == 0:
        stream = stream.reshape(batch.shape)
    # Bit-identical values; NaN where the batch has NaN. (±0 compare equal.)
    np.testing.assert_array_equal(stream, batch, strict=True)


@PROPERTY
@given(series, period)
def test_sma(values: list[float], p: int) -> None:
    assert_identical(run(streaming.SMA(p), values), ind.sma(values, p))


@PROPERTY
@given(series, period)
# A change between absurd closes that overflows: the recursion's state is NaN from then on.
@example([-1.7e308, -1.7e308, 1.7e308, 1.0, 2.0, 3.0], 2)
def test_ema(values: list[float], p: int) -> None:
    assert_identical(run(streaming.EMA(p), values), ind.ema(values, p))


@PROPERTY
@given(series, period)
@example([1e-12, 0.0, 4.1329911025852716e298, -1.7976931344490167e308, 0.0], 2)  # found once
@example([1.0, 2.0, 1e307, 1e307], 1)  # 100·gain would overflow: the share is taken first
def test_rsi(values: list[float], p: int) -> None:
    assert_identical(run(streaming.RSI(p), values), ind.rsi(values, p))


@PROPERTY
@given(series, st.integers(1, 15), st.integers(1, 30), st.integers(1, 12))
def test_macd(values: list[float], fast: int, slow: int, signal: int) -> None:
    got = run(streaming.MACD(fast, slow, signal), values)
    assert_identical(got, ind.macd(values, fast, slow, signal))


@PROPERTY
@given(series, period, st.sampled_from([0.0, 1.0, 2.0, 2.5]))
def test_bollinger(values: list[float], p: int, k: float) -> None:
    assert_identical(run(streaming.Bollinger(p, k), values), ind.bollinger(values, p, k))


@PROPERTY
@given(series, period, st.sampled_from([0, 1]))
def test_stdev(values: list[float], p: int, ddof: int) -> None:
    p = max(p, 2) if ddof else p
    assert_identical(run(streaming.Stdev(p, ddof), values), ind.stdev(values, p, ddof))


@PROPERTY
@given(series, st.integers(2, 30), st.sampled_from([None, 365.0, 8760.0]))
def test_volatility(values: list[float], p: int, per_year: float | None) -> None:
    got = run(streaming.Volatility(p, per_year), values)
    assert_identical(got, ind.volatility(values, p, per_year))


@PROPERTY
@given(series, series, st.integers(2, 30))
def test_correlation(xs: list[float], ys: list[float], p: int) -> None:
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    corr = streaming.Correlation(p)
    got = []
    for x, y in zip(xs, ys, strict=True):
        ahead = corr.peek(x, y)
        got.append(corr.update(x, y))
        np.testing.assert_array_equal(ahead, got[-1])
    assert_identical(np.asarray(got, dtype=np.float64), ind.correlation(xs, ys, p))


@pytest.mark.parametrize(
    "make",
    [
        lambda: (streaming.SMA(20), lambda x: ind.sma(x, 20)),
        lambda: (streaming.EMA(26), lambda x: ind.ema(x, 26)),
        lambda: (streaming.RSI(14), lambda x: ind.rsi(x, 14)),
        lambda: (streaming.Bollinger(20, 2.0), lambda x: ind.bollinger(x, 20, 2.0)),
        lambda: (streaming.Volatility(30, 365.0), lambda x: ind.volatility(x, 30, 365.0)),
    ],
)
def test_long_random_walk(make: Callable[[], tuple[Any, Callable[[Any], Any]]]) -> None:
    """Thousands of points through many chunks, blocks and warm-ups."""
    rng = np.random.default_rng(17)
    x = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-3, 20_000)))
    x[rng.integers(0, x.size, 5)] = np.nan
    indicator, batch = make()
    assert_identical(run(indicator, list(x), peek=False), batch(x))


def test_constant_series_stay_exact() -> None:
    sma, ema, bands, vol = (
        streaming.SMA(5),
        streaming.EMA(5),
        streaming.Bollinger(5),
        streaming.Volatility(5),
    )
    for _ in range(50):
        for indicator in (sma, ema, bands, vol):
            indicator.update(0.1)
    assert sma.peek(0.1) == 0.1
    assert ema.peek(0.1) == 0.1
    assert bands.peek(0.1) == (0.1, 0.1, 0.1)
    assert vol.peek(0.1) == 0.0


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        streaming.SMA(0)
    with pytest.raises(ValueError, match="period"):
        streaming.Volatility(1)
    with pytest.raises(TypeError):
        streaming.EMA(2.0)  # type: ignore[arg-type]
