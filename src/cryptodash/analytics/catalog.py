"""The metrics analytics serves, by name (`sma_20`, `rsi_14`, `macd_12_26_9`, `bb_20_2`,
`volatility_30`): how to compute each over a series of closes in batch and streaming, and
how its values look on the wire. Pure: no I/O.

A metric's name is its cache-key part (`analytics:{metric}:{coin_id}:{interval}`) and its key
in `series`. Values are float64 (NaN in warm-up, `null` in JSON).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cryptodash.analytics import indicators, streaming
from cryptodash.market.candles import INTERVALS

MAX_PERIOD = 500
"""Largest period a request may ask for: with at most 1000 stored candles per read, a
longer window would be all warm-up."""
MAX_BAND_WIDTH = 10.0
DAY_SECONDS = 86_400
CRYPTO_DAYS_PER_YEAR = 365  # crypto trades every day


class Streaming(Protocol):
    def update(self, value: float) -> Any: ...
    def peek(self, value: float) -> Any: ...


def periods_per_year(interval: str) -> float:
    return CRYPTO_DAYS_PER_YEAR * DAY_SECONDS / INTERVALS[interval]


@dataclass(frozen=True, slots=True)
class Metric:
    """One indicator with its parameters, e.g. Metric("macd", (12, 26, 9))."""

    kind: str
    params: tuple[float, ...]

    @property
    def name(self) -> str:
        return "_".join([self.kind, *(f"{p:g}" for p in self.params)])

    @property
    def fields(self) -> tuple[str, ...] | None:
        """Names of the parts of a multi-valued metric (None: one number)."""
        return FIELDS.get(self.kind)

    @property
    def warmup(self) -> int:
        """Points before the first value."""
        p = [int(v) for v in self.params]
        if self.kind == "macd":
            return max(p[0], p[1]) + p[2] - 2
        if self.kind in ("rsi", "volatility"):
            return p[0]
        return p[0] - 1

    def batch(self, closes: np.ndarray[Any, Any], interval: str) -> Any:
        p = [int(v) for v in self.params]
        if self.kind == "sma":
            return indicators.sma(closes, p[0])
        if self.kind == "ema":
            return indicators.ema(closes, p[0])
        if self.kind == "rsi":
            return indicators.rsi(closes, p[0])
        if self.kind == "macd":
            return indicators.macd(closes, p[0], p[1], p[2])
        if self.kind == "bb":
            return indicators.bollinger(closes, p[0], self.params[1])
        return indicators.volatility(closes, p[0], periods_per_year(interval))

    def stream(self, interval: str) -> Streaming:
        p = [int(v) for v in self.params]
        if self.kind == "sma":
            return streaming.SMA(p[0])
        if self.kind == "ema":
            return streaming.EMA(p[0])
        if self.kind == "rsi":
            return streaming.RSI(p[0])
        if self.kind == "macd":
            return streaming.MACD(p[0], p[1], p[2])
        if self.kind == "bb":
            return streaming.Bollinger(p[0], self.params[1])
        return streaming.Volatility(p[0], periods_per_year(interval))

    def wire(self, value: Any) -> Any:
        """A value (float or tuple of floats) as JSON: NaN → None, parts by name."""
        fields = self.fields
        if fields is None:
            return _json_number(value)
        return {name: _json_number(v) for name, v in zip(fields, value, strict=True)}


FIELDS: dict[str, tuple[str, ...]] = {
    "macd": ("macd", "signal", "histogram"),
    "bb": ("upper", "middle", "lower"),
}
ARITY: dict[str, int] = {"sma": 1, "ema": 1, "rsi": 1, "macd": 3, "bb": 2, "volatility": 1}


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def check_metric(kind: str, params: tuple[float, ...]) -> Metric:
    """A Metric from a kind and its parameters; ValueError naming what is wrong."""
    if kind not in ARITY:
        raise ValueError(f"unknown indicator {kind!r}")
    if len(params) != ARITY[kind]:
        raise ValueError(f"{kind} takes {ARITY[kind]} parameter(s), got {len(params)}")
    periods = params
    if kind == "bb":
        periods, k = params[:1], params[1]
        if not (math.isfinite(k) and 0 < k <= MAX_BAND_WIDTH):
            raise ValueError(f"bb width must be > 0 and <= {MAX_BAND_WIDTH:g}, got {k:g}")
    lowest = 2 if kind == "volatility" else 1
    for period in periods:
        if period != int(period) or not lowest <= period <= MAX_PERIOD:
            raise ValueError(f"{kind} periods must be whole numbers {lowest}..{MAX_PERIOD}")
    if kind == "macd" and not params[0] < params[1]:
        raise ValueError("macd fast period must be shorter than the slow one")
    return Metric(kind, tuple(float(p) for p in params))


def parse_metric(name: str) -> Metric:
    """`rsi_14` → Metric("rsi", (14.0,)); ValueError for anything else."""
    kind, *parts = name.split("_")
    try:
        params = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"bad metric name {name!r}") from None
    return check_metric(kind, params)


DEFAULT_METRICS: tuple[Metric, ...] = tuple(
    parse_metric(name)
    for name in (
        "sma_20",
        "sma_50",
        "sma_200",
        "ema_12",
        "ema_26",
        "rsi_14",
        "macd_12_26_9",
        "bb_20_2",
        "volatility_30",
    )
)
"""What the consumer keeps live for every coin and interval."""

SUMMARY_METRICS = {
    "sma_50": parse_metric("sma_50"),
    "sma_200": parse_metric("sma_200"),
    "rsi_14": parse_metric("rsi_14"),
    "macd_12_26_9": parse_metric("macd_12_26_9"),
    "bb_20_2": parse_metric("bb_20_2"),
}
