"""Metric names and the plain-language signal rules, with plain numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptodash.analytics import catalog, streaming
from cryptodash.analytics.signals import Latest, bandwidth, summarize

NAN = math.nan


def latest(**overrides: float) -> Latest:
    values = {
        "close": 105.0,
        "sma_50": 100.0,
        "sma_200": 110.0,
        "rsi": 50.0,
        "histogram": 0.5,
        "previous_histogram": 0.2,
        "bandwidth": 0.05,
        "lowest_bandwidth": 0.04,
    }
    values.update(overrides)
    return Latest(**values)


def signals(**overrides: float) -> dict[str, str | None]:
    return {s["indicator"]: s["signal"] for s in summarize(latest(**overrides))}


def test_trend_rsi_macd_and_squeeze() -> None:
    assert signals() == {
        "sma_50": "above",
        "sma_200": "below",
        "rsi_14": "neutral",
        "macd_12_26_9": "bullish",
        "bb_20_2": "normal",
    }
    assert signals(rsi=70.0)["rsi_14"] == "overbought"
    assert signals(rsi=29.9)["rsi_14"] == "oversold"
    assert signals(previous_histogram=-0.1)["macd_12_26_9"] == "bullish_cross"
    assert signals(histogram=-0.1)["macd_12_26_9"] == "bearish_cross"
    assert signals(histogram=-0.3, previous_histogram=-0.1)["macd_12_26_9"] == "bearish"
    assert signals(bandwidth=0.04)["bb_20_2"] == "squeeze"
    assert signals(close=100.0)["sma_50"] == "at"


def test_missing_history_says_so() -> None:
    got = {s["indicator"]: s for s in summarize(latest(sma_200=NAN, rsi=NAN, histogram=NAN))}
    assert got["sma_200"]["signal"] is None
    assert "Not enough history" in got["sma_200"]["text"]
    assert got["rsi_14"]["signal"] is None
    assert got["macd_12_26_9"]["signal"] is None
    assert signals(lowest_bandwidth=NAN)["bb_20_2"] == "normal"
    assert bandwidth(110.0, 100.0, 90.0) == pytest.approx(0.2)
    assert math.isnan(bandwidth(1.0, 0.0, -1.0))


def test_metric_names_round_trip() -> None:
    for name in (
        "sma_20",
        "ema_12",
        "rsi_14",
        "macd_12_26_9",
        "bb_20_2",
        "bb_20_2.5",
        "volatility_30",
    ):
        assert catalog.parse_metric(name).name == name
    assert catalog.parse_metric("macd_12_26_9").fields == ("macd", "signal", "histogram")
    assert catalog.parse_metric("macd_12_26_9").warmup == 33
    assert catalog.parse_metric("rsi_14").warmup == 14
    assert catalog.parse_metric("sma_20").warmup == 19
    assert catalog.periods_per_year("1d") == 365
    assert catalog.periods_per_year("1h") == 365 * 24


@pytest.mark.parametrize(
    "name", ["sma", "sma_0", "sma_20_5", "wma_10", "rsi_x", "macd_26_12_9", "bb_20_0", "sma_501"]
)
def test_bad_metric_names(name: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the mistake
        catalog.parse_metric(name)


def test_warmup_matches_the_first_value() -> None:
    x = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 300)))
    for metric in catalog.DEFAULT_METRICS:
        value = metric.batch(x, "1h")
        first = value[0] if isinstance(value, tuple) else value
        if metric.kind == "macd":
            first = value[1]  # the signal line comes last
        assert np.isnan(first[: metric.warmup]).all(), metric.name
        assert not np.isnan(first[metric.warmup]), metric.name


def test_rolling_min() -> None:
    rolling = streaming.RollingMin(3)
    seen = []
    for v in [5.0, 3.0, NAN, 4.0, 6.0, 7.0, 1.0]:
        rolling.push(v)
        seen.append(rolling.minimum)
    assert seen == [5.0, 3.0, 3.0, 3.0, 4.0, 4.0, 1.0]
