"""Streaming indicators: one point at a time, O(1) state updates, the batch results bit for bit.

Each class mirrors a function of `indicators` and performs the same float64 operations in the
same order (the same chunks, anchors and additions for window sums; the same recursion as the
compiled filter; the shared finishing functions), so `update` over a series returns exactly
what the batch function returns at each index, gaps and warm-up included.

`update(x)` takes the next close and returns the value(s) at it; `peek(x)` returns what
`update(x)` would return without changing anything: the live value over a forming candle.
Window indicators are amortized O(1): once per `period` points (when a chunk completes) they
sum the finished chunk backwards, O(period); every other point costs O(1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from cryptodash.analytics.indicators import (
    CORRELATION_TERMS,
    MOMENT_TERMS,
    NAN,
    Finish,
    bollinger_finish,
    check_period,
    correlation_finish,
    mean_finish,
    rsi_value,
    stdev_finish,
)


def _clean(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else NAN


def _carried(average: float, value: float) -> float:
    """The state an exponential recursion carries after `value`, as the batch side's lfilter
    carries it: NaN after an infinite value (its state adds 0·value), else the average."""
    return average + 0.0 * value


def _log_return(prev: float, cur: float) -> float:
    """As `indicators.returns(log=True)`: log1p of the relative change, NumPy's log1p."""
    if not (prev > 0.0 and cur > 0.0):
        return NAN
    with np.errstate(all="ignore"):
        return float(np.log1p(np.divide(cur - prev, prev)))


class SeedMean:
    """Mean of the first `period` values, anchored and summed in order like `seed_mean`."""

    __slots__ = ("_anchor", "_count", "_inv", "_period", "_total")

    def __init__(self, period: int) -> None:
        self._period = period
        self._inv = 1.0 / period
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._anchor = NAN
        self._total = 0.0

    def step(self, value: float) -> tuple[int, float, float, float]:
        """(count, anchor, total, mean) after `value`; mean is NaN until `period` values."""
        if self._count == 0:
            anchor, total = value, value - value
        else:
            anchor, total = self._anchor, self._total + (value - self._anchor)
        count = self._count + 1
        mean = anchor + total * self._inv if count == self._period else NAN
        return count, anchor, total, mean

    def commit(self, state: tuple[int, float, float, float]) -> None:
        self._count, self._anchor, self._total, _ = state


class WindowSums:
    """The streaming twin of `indicators.window_sums` for one or two columns."""

    __slots__ = (
        "_anchor",
        "_chunk",
        "_count",
        "_finish",
        "_period",
        "_prefix",
        "_suffix",
        "_terms",
    )

    def __init__(self, period: int, terms: Sequence[tuple[int, ...]], finish: Finish) -> None:
        self._period = period
        self._terms = tuple(terms)
        self._finish = finish
        self._count = 0
        self._anchor: tuple[float, ...] = ()
        self._chunk: list[tuple[float, ...]] = []  # the current chunk's values
        self._prefix: list[float] = []
        self._suffix: list[list[float]] | None = None  # the chunk before, summed backwards

    def _products(self, values: tuple[float, ...], anchor: tuple[float, ...]) -> list[float]:
        deviations = [v - a for v, a in zip(values, anchor, strict=True)]
        out = []
        for term in self._terms:
            product = deviations[term[0]]
            if len(term) > 1:
                product = product * deviations[term[1]]
                for k in term[2:]:
                    product = product * deviations[k]
            out.append(product)
        return out

    def _backward(
        self, chunk: list[tuple[float, ...]], anchor: tuple[float, ...]
    ) -> list[list[float]]:
        """Backward sums of a finished chunk relative to the next chunk's anchor, per term."""
        p = self._period
        products = [self._products(values, anchor) for values in chunk]
        sums = []
        for t in range(len(self._terms)):
            column = [NAN] * p
            column[p - 1] = products[p - 1][t]
            for j in range(p - 2, 0, -1):
                column[j] = column[j + 1] + products[j][t]
            sums.append(column)
        return sums

    def _step(self, values: tuple[float, ...]) -> tuple[Any, ...]:
        p = self._period
        j = self._count % p
        if j == 0:
            anchor = values
            suffix = self._backward(self._chunk, anchor) if self._count else None
            prefix = self._products(values, anchor)
        else:
            anchor, suffix = self._anchor, self._suffix
            prefix = [
                s + d for s, d in zip(self._prefix, self._products(values, anchor), strict=True)
            ]
        if j == p - 1:
            sums = prefix
        elif suffix is None:
            sums = [NAN] * len(prefix)
        else:
            sums = [s + column[j + 1] for s, column in zip(prefix, suffix, strict=True)]
        with np.errstate(all="ignore"):
            outputs = tuple(float(v) for v in self._finish(sums, anchor))
        return outputs, anchor, prefix, suffix

    def peek(self, values: tuple[float, ...]) -> tuple[float, ...]:
        outputs: tuple[float, ...] = self._step(values)[0]
        return outputs

    def update(self, values: tuple[float, ...]) -> tuple[float, ...]:
        outputs, anchor, prefix, suffix = self._step(values)
        if self._count % self._period == 0:
            self._chunk = []
        self._chunk.append(values)
        self._anchor, self._prefix, self._suffix = anchor, prefix, suffix
        self._count += 1
        result: tuple[float, ...] = outputs
        return result


class SMA:
    """Streaming `indicators.sma`."""

    def __init__(self, period: int) -> None:
        p = check_period(period)
        self._sums = WindowSums(p, ((0,),), mean_finish(p))

    def update(self, value: float) -> float:
        return self._sums.update((_clean(value),))[0]

    def peek(self, value: float) -> float:
        return self._sums.peek((_clean(value),))[0]


class EMA:
    """Streaming `indicators.ema`: warms up on the SMA seed, then runs the recursion on
    deviations from the seed; a gap starts the warm-up again."""

    __slots__ = ("_alpha", "_base", "_deviation", "_seed")

    def __init__(self, period: int) -> None:
        p = check_period(period)
        self._alpha = 2.0 / (p + 1)
        self._seed = SeedMean(p)
        self._base = NAN  # the seed once warm
        self._deviation = 0.0

    def _step(self, value: float) -> tuple[float, Any, float, float]:
        x = _clean(value)
        if math.isnan(x):
            return NAN, None, NAN, 0.0
        if math.isnan(self._base):
            state = self._seed.step(x)
            mean = state[3]
            return mean, state, mean, 0.0
        alpha = self._alpha
        change = x - self._base
        deviation = alpha * change + (1.0 - alpha) * self._deviation
        return deviation + self._base, False, self._base, _carried(deviation, change)

    def update(self, value: float) -> float:
        result, seed_state, base, deviation = self._step(value)
        if seed_state is None:
            self._seed.reset()
        elif seed_state is not False:
            self._seed.commit(seed_state)
        self._base, self._deviation = base, deviation
        return result

    def peek(self, value: float) -> float:
        return self._step(value)[0]


class RSI:
    """Streaming `indicators.rsi` (Wilder's smoothing seeded with simple means)."""

    __slots__ = ("_alpha", "_gain", "_gain_seed", "_loss", "_loss_seed", "_prev")

    def __init__(self, period: int = 14) -> None:
        p = check_period(period)
        self._alpha = 1.0 / p
        self._gain_seed = SeedMean(p)
        self._loss_seed = SeedMean(p)
        self._prev = NAN
        self._gain = NAN
        self._loss = NAN

    def _step(self, value: float) -> tuple[float, tuple[Any, ...]]:
        x = _clean(value)
        if math.isnan(x) or math.isnan(self._prev):
            # A gap (or the first close): no change yet, everything warms up again.
            return NAN, (x, NAN, NAN, None, None)
        change = x - self._prev
        gain = float(np.maximum(change, 0.0))
        loss = float(np.maximum(-change, 0.0))
        if math.isnan(self._gain):
            gain_state = self._gain_seed.step(gain)
            loss_state = self._loss_seed.step(loss)
            avg_gain, avg_loss = gain_state[3], loss_state[3]
            result = NAN if math.isnan(avg_gain) else float(rsi_value(avg_gain, avg_loss))
            return result, (x, avg_gain, avg_loss, gain_state, loss_state)
        alpha = self._alpha
        avg_gain = alpha * gain + (1.0 - alpha) * self._gain
        avg_loss = alpha * loss + (1.0 - alpha) * self._loss
        result = float(rsi_value(avg_gain, avg_loss))
        return result, (x, _carried(avg_gain, gain), _carried(avg_loss, loss), False, False)

    def update(self, value: float) -> float:
        result, (prev, gain, loss, gain_state, loss_state) = self._step(value)
        if gain_state is None:
            self._gain_seed.reset()
            self._loss_seed.reset()
        elif gain_state is not False:
            self._gain_seed.commit(gain_state)
            self._loss_seed.commit(loss_state)
        self._prev, self._gain, self._loss = prev, gain, loss
        return result

    def peek(self, value: float) -> float:
        return self._step(value)[0]


class MACD:
    """Streaming `indicators.macd`: (macd, signal, histogram)."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast = EMA(check_period(fast, name="fast"))
        self._slow = EMA(check_period(slow, name="slow"))
        self._signal = EMA(check_period(signal, name="signal"))

    def update(self, value: float) -> tuple[float, float, float]:
        line = self._fast.update(value) - self._slow.update(value)
        signal = self._signal.update(line)
        return line, signal, line - signal

    def peek(self, value: float) -> tuple[float, float, float]:
        line = self._fast.peek(value) - self._slow.peek(value)
        signal = self._signal.peek(line)
        return line, signal, line - signal


class Bollinger:
    """Streaming `indicators.bollinger`: (upper, middle, lower)."""

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        p = check_period(period)
        if not math.isfinite(k) or k < 0:
            raise ValueError(f"k must be a finite number >= 0, got {k!r}")
        self._sums = WindowSums(p, MOMENT_TERMS, bollinger_finish(p, float(k)))

    def update(self, value: float) -> tuple[float, float, float]:
        upper, middle, lower = self._sums.update((_clean(value),))
        return upper, middle, lower

    def peek(self, value: float) -> tuple[float, float, float]:
        upper, middle, lower = self._sums.peek((_clean(value),))
        return upper, middle, lower


class Stdev:
    """Streaming `indicators.stdev`."""

    def __init__(self, period: int, ddof: int = 0) -> None:
        p = check_period(period, minimum=2 if ddof else 1)
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
        self._sums = WindowSums(p, MOMENT_TERMS, stdev_finish(p, ddof))

    def update(self, value: float) -> float:
        return self._sums.update((_clean(value),))[0]

    def peek(self, value: float) -> float:
        return self._sums.peek((_clean(value),))[0]


class Volatility:
    """Streaming `indicators.volatility`."""

    def __init__(self, period: int, periods_per_year: float | None = None) -> None:
        p = check_period(period, minimum=2)
        if periods_per_year is not None and not (
            math.isfinite(periods_per_year) and periods_per_year > 0
        ):
            raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
        scale = 1.0 if periods_per_year is None else math.sqrt(periods_per_year)
        self._sums = WindowSums(p, MOMENT_TERMS, stdev_finish(p, 1, scale))
        self._prev = NAN

    def update(self, value: float) -> float:
        x = _clean(value)
        result = self._sums.update((_log_return(self._prev, x),))[0]
        self._prev = x
        return result

    def peek(self, value: float) -> float:
        return self._sums.peek((_log_return(self._prev, _clean(value)),))[0]


class Correlation:
    """Streaming `indicators.correlation` of two aligned series."""

    def __init__(self, period: int) -> None:
        p = check_period(period, minimum=2)
        self._sums = WindowSums(p, CORRELATION_TERMS, correlation_finish(p))
        self._prev = (NAN, NAN)

    def _returns(self, x: float, y: float) -> tuple[float, float]:
        rx, ry = _log_return(self._prev[0], x), _log_return(self._prev[1], y)
        return (NAN, NAN) if math.isnan(rx) or math.isnan(ry) else (rx, ry)

    def update(self, x: float, y: float) -> float:
        x, y = _clean(x), _clean(y)
        result = self._sums.update(self._returns(x, y))[0]
        self._prev = (x, y)
        return result

    def peek(self, x: float, y: float) -> float:
        return self._sums.peek(self._returns(_clean(x), _clean(y)))[0]


class RollingMin:
    """Minimum of the last `size` values pushed (NaN ignored): a monotonic deque, amortized
    O(1) per push."""

    __slots__ = ("_count", "_queue", "_size")

    def __init__(self, size: int) -> None:
        self._size = check_period(size, name="size")
        self._count = 0
        self._queue: deque[tuple[int, float]] = deque()

    def push(self, value: float) -> None:
        index = self._count
        self._count += 1
        queue = self._queue
        if not math.isnan(value):
            while queue and queue[-1][1] >= value:
                queue.pop()
            queue.append((index, value))
        while queue and queue[0][0] <= index - self._size:
            queue.popleft()

    @property
    def minimum(self) -> float:
        return self._queue[0][1] if self._queue else NAN
