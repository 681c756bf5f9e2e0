"""Plain-language signals from the latest indicator values: trend against SMA 50 and 200, RSI
overbought/oversold, MACD crosses and the Bollinger squeeze. Pure: no I/O.

The rules are the textbook ones: RSI >= 70 overbought and <= 30 oversold (Wilder); a MACD
cross is the histogram changing sign between the previous candle and this one; a squeeze is
the Bollinger bandwidth ((upper - lower) / middle) at its lowest of the last
`SQUEEZE_LOOKBACK` candles (Bollinger's own rule, on whatever timeframe is asked).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RSI_OVERBOUGHT = 70.0
RSI_OVERSOLD = 30.0
SQUEEZE_LOOKBACK = 120


@dataclass(frozen=True, slots=True)
class Latest:
    """What the signals are read from; NaN where there is not enough history yet."""

    close: float
    sma_50: float
    sma_200: float
    rsi: float
    histogram: float
    previous_histogram: float
    bandwidth: float
    lowest_bandwidth: float  # over the SQUEEZE_LOOKBACK - 1 candles before this one


def bandwidth(upper: float, middle: float, lower: float) -> float:
    return (upper - lower) / middle if middle > 0 else math.nan


def _missing(*values: float) -> bool:
    return any(not math.isfinite(v) for v in values)


def _trend(close: float, average: float, period: int) -> dict[str, Any]:
    name = f"sma_{period}"
    if _missing(close, average):
        return {"indicator": name, "signal": None, "text": f"Not enough history for SMA {period}"}
    side = "above" if close > average else "below" if close < average else "at"
    return {
        "indicator": name,
        "signal": side,
        "text": f"Price is {side} its {period}-period SMA",
    }


def _rsi(value: float) -> dict[str, Any]:
    if _missing(value):
        return {"indicator": "rsi_14", "signal": None, "text": "Not enough history for RSI"}
    if value >= RSI_OVERBOUGHT:
        signal, text = "overbought", f"RSI {value:.1f}: overbought (>= {RSI_OVERBOUGHT:g})"
    elif value <= RSI_OVERSOLD:
        signal, text = "oversold", f"RSI {value:.1f}: oversold (<= {RSI_OVERSOLD:g})"
    else:
        signal, text = "neutral", f"RSI {value:.1f}: neutral"
    return {"indicator": "rsi_14", "signal": signal, "text": text}


def _macd(histogram: float, previous: float) -> dict[str, Any]:
    if _missing(histogram):
        return {"indicator": "macd_12_26_9", "signal": None, "text": "Not enough history for MACD"}
    if not _missing(previous) and previous < 0.0 <= histogram and histogram > previous:
        signal, text = "bullish_cross", "MACD crossed above its signal line"
    elif not _missing(previous) and previous > 0.0 >= histogram and histogram < previous:
        signal, text = "bearish_cross", "MACD crossed below its signal line"
    elif histogram >= 0.0:
        signal, text = "bullish", "MACD is above its signal line"
    else:
        signal, text = "bearish", "MACD is below its signal line"
    return {"indicator": "macd_12_26_9", "signal": signal, "text": text}


def _squeeze(width: float, lowest: float) -> dict[str, Any]:
    if _missing(width):
        return {"indicator": "bb_20_2", "signal": None, "text": "Not enough history for bands"}
    if not _missing(lowest) and width <= lowest:
        signal = "squeeze"
        text = f"Bollinger squeeze: the bands are the narrowest of {SQUEEZE_LOOKBACK} candles"
    else:
        signal, text = "normal", "Bollinger bands are not in a squeeze"
    return {"indicator": "bb_20_2", "signal": signal, "text": text}


def summarize(latest: Latest) -> list[dict[str, Any]]:
    """The signals, in a fixed order; `signal` is None where history is too short."""
    return [
        _trend(latest.close, latest.sma_50, 50),
        _trend(latest.close, latest.sma_200, 200),
        _rsi(latest.rsi),
        _macd(latest.histogram, latest.previous_histogram),
        _squeeze(latest.bandwidth, latest.lowest_bandwidth),
    ]
