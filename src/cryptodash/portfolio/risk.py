"""Risk of a portfolio's current mix, from the analytics indicators: pure, float64, no I/O.

The series measured is the value of the *current* holdings over past closes (quantities held
fixed), so deposits and withdrawals do not pass for returns. Statistics are floats (NumPy);
money stays `Decimal` elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cryptodash.analytics import indicators

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Risk:
    volatility: float | None
    """Annualized sample standard deviation of the mix's log returns over the window."""
    max_drawdown: float | None
    """Largest fall from a running peak of the mix's value over the window (0.25 = 25 %)."""
    beta: float | None
    """Beta to the benchmark: corr(mix, benchmark) * vol(mix) / vol(benchmark)."""
    coin_volatility: list[float | None]
    correlation: list[list[float | None]]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def measure(
    closes: FloatArray,
    quantities: Sequence[float],
    benchmark: FloatArray | None,
    *,
    window: int,
    periods_per_year: float,
) -> Risk:
    """`closes[coin, point]` aligned in time (NaN where a coin has no close), `window + 1`
    points or more; `quantities` per coin; `benchmark` the benchmark's closes on the same grid."""
    coins = closes.shape[0]
    if coins == 0 or closes.shape[1] < window + 1:
        return Risk(None, None, None, [None] * coins, [[None] * coins for _ in range(coins)])
    recent = closes[:, -(window + 1) :]
    mix: FloatArray = np.asarray(quantities, dtype=np.float64) @ recent
    volatility = float(indicators.volatility(mix, window, periods_per_year)[-1])
    drawdown = indicators.max_drawdown(mix) if np.isfinite(mix).all() else math.nan
    beta = math.nan
    if benchmark is not None:
        bench = benchmark[-(window + 1) :]
        bench_vol = float(indicators.volatility(bench, window, periods_per_year)[-1])
        corr = float(indicators.correlation(mix, bench, window)[-1])
        if bench_vol > 0:
            # A flat mix has no correlation (NaN) but plainly no beta either.
            beta = 0.0 if volatility == 0 else corr * volatility / bench_vol
    coin_vol = [
        _finite(float(indicators.volatility(row, window, periods_per_year)[-1])) for row in recent
    ]
    matrix = indicators.correlation_matrix(recent, window)
    return Risk(
        volatility=_finite(volatility),
        max_drawdown=_finite(drawdown),
        beta=_finite(beta),
        coin_volatility=coin_vol,
        correlation=[[_finite(v) for v in row] for row in matrix.tolist()],
    )
