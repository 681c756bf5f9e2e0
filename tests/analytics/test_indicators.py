"""Batch indicators against independent references: pandas rolling/ewm (with the stated SMA
seeding), NumPy's two-pass std and corrcoef over every window, and hand-worked cases from the
literature. Tolerance: relative error 1e-9; for values that are differences of large terms
(MACD, correlation near 0) the error is relative to the size of those terms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from cryptodash.analytics import indicators as ind

RTOL = 1e-9


def random_walk(n: int, *, seed: int, start: float = 30_000.0, sigma: float = 2e-3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    return random_walk(200_000, seed=11)


def assert_close(
    actual: np.ndarray, expected: np.ndarray, *, scale: float | None = None, atol: float = 0.0
) -> None:
    """Same NaN pattern; |actual - expected| <= RTOL * (|expected| or the given scale) + atol."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    bound = RTOL * (np.abs(expected[ok]) if scale is None else scale) + atol
    worst = np.max(np.abs(actual[ok] - expected[ok]) - bound, initial=-1.0)
    assert worst <= 0.0, f"error exceeds the tolerance by {worst}"


def seeded_ewm(values: pd.Series, period: int, alpha: float) -> np.ndarray:
    """pandas' recursive EWM started from the SMA of the first `period` values."""
    seeded = values.copy()
    seeded.iloc[: period - 1] = np.nan
    seeded.iloc[period - 1] = values.iloc[:period].mean()
    return seeded.ewm(alpha=alpha, adjust=False).mean().to_numpy()


def window_std(values: np.ndarray, period: int, ddof: int) -> np.ndarray:
    out = np.full(values.shape[0], np.nan)
    out[period - 1 :] = sliding_window_view(values, period).std(axis=1, ddof=ddof)
    return out


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("period", [1, 2, 7, 20, 200, 1000])
def test_sma_matches_pandas_rolling_mean(walk: np.ndarray, period: int) -> None:
    expected = pd.Series(walk).rolling(period).mean().to_numpy()
    assert_close(ind.sma(walk, period), expected)


@pytest.mark.parametrize("period", [1, 2, 12, 26, 200])
def test_ema_matches_pandas_ewm_seeded_with_sma(walk: np.ndarray, period: int) -> None:
    expected = seeded_ewm(pd.Series(walk), period, 2.0 / (period + 1))
    assert_close(ind.ema(walk, period), expected)


@pytest.mark.parametrize("period", [2, 14, 50])
def test_rsi_matches_wilder_smoothing_in_pandas(walk: np.ndarray, period: int) -> None:
    change = pd.Series(walk).diff().iloc[1:].reset_index(drop=True)
    gain = seeded_ewm(change.clip(lower=0.0), period, 1.0 / period)
    loss = seeded_ewm((-change).clip(lower=0.0), period, 1.0 / period)
    expected = np.concatenate(([np.nan], 100.0 * gain / (gain + loss)))
    assert_close(ind.rsi(walk, period), expected)


def test_macd_matches_pandas(walk: np.ndarray) -> None:
    s = pd.Series(walk)
    line = seeded_ewm(s, 12, 2 / 13) - seeded_ewm(s, 26, 2 / 27)
    signal = np.full_like(line, np.nan)
    signal[25:] = seeded_ewm(pd.Series(line[25:]), 9, 2 / 10)
    got = ind.macd(walk, 12, 26, 9)
    # Differences of EMAs near 30,000: the error is relative to the price level.
    for actual, expected in zip(got, (line, signal, line - signal), strict=True):
        assert_close(actual, expected, scale=float(np.max(walk)))
    assert np.isnan(got[0][24])
    assert not np.isnan(got[0][25])
    assert np.isnan(got[1][32])
    assert not np.isnan(got[1][33])


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.5), (100, 3.0)])
def test_bollinger_matches_two_pass_population_std(walk: np.ndarray, period: int, k: float) -> None:
    middle = pd.Series(walk).rolling(period).mean().to_numpy()
    spread = k * window_std(walk, period, ddof=0)
    upper, mid, lower = ind.bollinger(walk, period, k)
    assert_close(mid, middle)
    # The bands differ from the middle by k standard deviations: that is the quantity to get right.
    assert_close(upper - mid, spread)
    assert_close(mid - lower, spread)


@pytest.mark.parametrize(("period", "per_year"), [(30, 365.0), (2, None), (168, 24 * 365.0)])
def test_volatility_matches_sample_std_of_log_returns(
    walk: np.ndarray, period: int, per_year: float | None
) -> None:
    log_returns = np.log(walk[1:] / walk[:-1])
    expected = np.concatenate(([np.nan], window_std(log_returns, period, ddof=1)))
    expected *= math.sqrt(per_year or 1.0)
    # Over 2 returns the deviation is |r1 - r2|/√2, itself a difference that the two-pass
    # reference rounds at the returns' size (~2e-3): 1e-9 of that is the absolute floor.
    floor = RTOL * 2e-3 * math.sqrt(per_year or 1.0) if period == 2 else 0.0
    assert_close(ind.volatility(walk, period, per_year), expected, atol=floor)


def test_correlation_matches_numpy_corrcoef_over_every_window() -> None:
    n, period = 20_000, 50
    rng = np.random.default_rng(5)
    common = rng.normal(0.0, 1e-3, n)
    x = 30_000.0 * np.exp(np.cumsum(common + rng.normal(0.0, 1e-3, n)))
    y = 2_000.0 * np.exp(np.cumsum(0.6 * common + rng.normal(0.0, 1e-3, n)))
    rx, ry = np.log(x[1:] / x[:-1]), np.log(y[1:] / y[:-1])
    wx, wy = sliding_window_view(rx, period), sliding_window_view(ry, period)
    wx = wx - wx.mean(axis=1, keepdims=True)
    wy = wy - wy.mean(axis=1, keepdims=True)
    corr = (wx * wy).sum(axis=1) / np.sqrt((wx * wx).sum(axis=1) * (wy * wy).sum(axis=1))
    expected = np.concatenate((np.full(period, np.nan), corr))
    for i in range(period, n, 997):  # spot-check the vectorized reference with corrcoef
        assert expected[i] == pytest.approx(
            np.corrcoef(rx[i - period : i], ry[i - period : i])[0, 1]
        )
    got = ind.correlation(x, y, period)
    assert_close(got, expected, scale=1.0)
    assert 0.2 < np.nanmean(got) < 0.5


def test_correlation_matrix_matches_corrcoef_and_the_pairwise_series() -> None:
    coins = np.vstack([random_walk(400, seed=s, start=10.0**s) for s in range(5)])
    period = 168
    got = ind.correlation_matrix(coins, period)
    log_returns = np.log(coins[:, -period:] / coins[:, -period - 1 : -1])
    assert_close(got, np.corrcoef(log_returns), scale=1.0)
    assert_close(got[1, 3], ind.correlation(coins[1], coins[3], period)[-1], scale=1.0)
    np.testing.assert_array_equal(np.diag(got), 1.0)


# --------------------------------------------------------------------------- textbook cases

# Wilder's worked example as StockCharts ChartSchool reproduces it (14 periods). Their table
# shows 70.53, 66.32, ... because it rounds the averages to two places; from the raw changes
# the first average gain is 3.34/14 and the first average loss 1.40/14.
WILDER_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
    46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64,
]  # fmt: skip
STOCKCHARTS_RSI = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97]


def test_rsi_reproduces_wilders_worked_example() -> None:
    got = ind.rsi(WILDER_CLOSES, 14)
    assert np.isnan(got[:14]).all()
    assert got[14] == pytest.approx(100 * 3.34 / (3.34 + 1.40), rel=RTOL)
    gain, loss = 3.34 / 14, 1.40 / 14
    for i in range(15, len(WILDER_CLOSES)):  # Wilder's form: (previous * 13 + today) / 14
        change = WILDER_CLOSES[i] - WILDER_CLOSES[i - 1]
        gain = (gain * 13 + max(change, 0.0)) / 14
        loss = (loss * 13 + max(-change, 0.0)) / 14
        assert got[i] == pytest.approx(100 - 100 / (1 + gain / loss), rel=RTOL)
    np.testing.assert_allclose(got[14:], STOCKCHARTS_RSI, atol=0.1)


def test_small_cases_worked_by_hand() -> None:
    nan = np.nan
    np.testing.assert_array_equal(ind.sma([1, 2, 3, 4, 5], 2), [nan, 1.5, 2.5, 3.5, 4.5])
    # K = 0.5: seed (1+2+3)/3 = 2, then halfway towards each new value.
    np.testing.assert_array_equal(ind.ema([1, 2, 3, 4, 5, 6], 3), [nan, nan, 2, 3, 4, 5])
    # The textbook population-std example: mean 5, sigma 2.
    upper, middle, lower = ind.bollinger([2, 4, 4, 4, 5, 5, 7, 9], 8, 2.0)
    assert (upper[-1], middle[-1], lower[-1]) == (9.0, 5.0, 1.0)
    r1, r2 = math.log(1.1), math.log(0.9)
    assert ind.volatility([100, 110, 99], 2)[-1] == pytest.approx(abs(r1 - r2) / math.sqrt(2))
    x = random_walk(60, seed=3)
    assert ind.correlation(x, x**2, 20)[-1] == pytest.approx(1.0)
    assert ind.correlation(x, 1.0 / x, 20)[-1] == pytest.approx(-1.0)
    # Only gains: 100; only losses: 0.
    assert ind.rsi(np.arange(1.0, 20.0), 14)[-1] == 100.0
    assert ind.rsi(np.arange(20.0, 1.0, -1.0), 14)[-1] == 0.0


def test_warm_up_lengths() -> None:
    x = random_walk(100, seed=1)
    assert np.isnan(ind.sma(x, 10)[:9]).all()
    assert not np.isnan(ind.sma(x, 10)[9:]).any()
    assert np.isnan(ind.ema(x, 10)[:9]).all()
    assert not np.isnan(ind.ema(x, 10)[9:]).any()
    assert np.isnan(ind.rsi(x, 14)[:14]).all()
    assert not np.isnan(ind.rsi(x, 14)[14:]).any()
    for got in (ind.volatility(x, 30), ind.correlation(x, x[::-1], 30)):
        assert np.isnan(got[:30]).all()
        assert not np.isnan(got[30:]).any()
    assert all(v.shape == x.shape for v in (*ind.macd(x), *ind.bollinger(x)))
    assert np.isnan(ind.sma(x, 101)).all()
    assert ind.sma([], 3).shape == (0,)


# --------------------------------------------------------------------------- numerical care


def test_constant_series_are_exact() -> None:
    c = np.full(500, 0.1)
    for values in (ind.sma(c, 7), ind.ema(c, 12), *ind.bollinger(c, 20, 2.0)):
        np.testing.assert_array_equal(values[~np.isnan(values)], 0.1)
    line, signal, histogram = ind.macd(c)
    for values in (line, signal, histogram):
        np.testing.assert_array_equal(values[~np.isnan(values)], 0.0)
    assert set(ind.rsi(c, 14)[14:]) == {50.0}
    assert set(ind.volatility(c, 30)[30:]) == {0.0}
    assert np.isnan(ind.correlation(c, random_walk(500, seed=2), 30)).all()


def test_no_cancellation_on_a_long_series_at_a_high_price_level() -> None:
    """A tiny spread on a huge level over millions of points: running sums of x and x²
    would lose every digit of the variance here."""
    n, period = 2_000_000, 20
    rng = np.random.default_rng(9)
    x = 1e9 + rng.normal(0.0, 1e-2, n)
    tail = slice(n - 5000, n)
    expected = window_std(x[tail], period, ddof=0)[period - 1 :]
    assert_close(ind.stdev(x, period)[tail][period - 1 :], expected)
    assert_close(ind.stdev(x, period, ddof=1)[-1:], window_std(x[-period:], period, ddof=1)[-1:])
    means = pd.Series(x[tail]).rolling(period).mean().to_numpy()
    assert_close(ind.sma(x, period)[tail][period - 1 :], means[period - 1 :])


def test_gaps_restart_the_warm_up() -> None:
    x = random_walk(300, seed=4)
    x[100] = np.nan
    x[200] = np.inf
    after = x[101:200]
    np.testing.assert_array_equal(ind.ema(x, 12)[101:200], ind.ema(after, 12))
    np.testing.assert_array_equal(ind.rsi(x, 14)[101:200], ind.rsi(after, 14))
    assert_close(ind.sma(x, 12)[101:200], ind.sma(after, 12))
    assert np.isnan(ind.sma(x, 12)[100:112]).all()
    assert not np.isnan(ind.sma(x, 12)[112])
    # The returns at 100 and 101 are missing: 10 returns again from 102 to 111.
    assert np.isnan(ind.volatility(x, 10)[100:111]).all()
    assert not np.isnan(ind.volatility(x, 10)[111])


def test_returns_and_drawdown() -> None:
    np.testing.assert_allclose(ind.returns([100, 110, 99]), [np.nan, 0.1, -0.1])
    np.testing.assert_allclose(ind.returns([1, math.e], log=True), [np.nan, 1.0], rtol=1e-15)
    np.testing.assert_array_equal(ind.returns([1, 0, 2]), [np.nan, np.nan, np.nan])
    np.testing.assert_allclose(ind.drawdown([100, 120, 90, 130, 65]), [0, 0, 0.25, 0, 0.5])
    assert ind.max_drawdown([100, 120, 90, 130, 65]) == 0.5
    assert ind.max_drawdown([100, np.nan, 50]) == 0.5
    assert ind.max_drawdown([1.0]) == 0.0
    assert ind.max_drawdown([]) == 0.0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: ind.sma([1, 2], 0), ValueError),
        (lambda: ind.ema([1, 2], -3), ValueError),
        (lambda: ind.rsi([1, 2], 2.5), TypeError),
        (lambda: ind.volatility([1, 2], 1), ValueError),
        (lambda: ind.volatility([1, 2], 2, periods_per_year=0), ValueError),
        (lambda: ind.bollinger([1, 2], 2, -1.0), ValueError),
        (lambda: ind.correlation([1, 2], [1, 2, 3], 2), ValueError),
        (lambda: ind.sma([[1, 2]], 1), ValueError),
        (lambda: ind.correlation_matrix([1, 2], 2), ValueError),
    ],
)
def test_bad_arguments_are_refused(call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()  # type: ignore[operator]
