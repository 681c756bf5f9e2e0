"""Technical indicators over 1-D series of closes: pure NumPy/SciPy in float64, no I/O.

Every function takes a 1-D array of closes (anything `np.asarray` turns into float64) and
returns float64 arrays of the same length, NaN during warm-up. Conventions:

- `ema`: K = 2/(period+1), seeded with the SMA of the first `period` values (TA-Lib,
  TradingView); `rsi`: Wilder's smoothing (K = 1/period) seeded with the simple means of the
  first `period` gains and losses; a window with no movement at all (both averages 0) has
  RSI 50 (TradingView says 100, TA-Lib 0; neither is a signal on a flat market).
- `bollinger`: population standard deviation (ddof=0). `volatility`: sample standard deviation
  (ddof=1) of log returns. `correlation`: Pearson correlation of log returns.
- Gaps: a non-finite close (NaN, ±inf) is a missing value. Every window that contains it is
  NaN, and the recursive indicators (EMA, RSI, MACD) warm up again after it, exactly as if the
  series began after the gap. A close <= 0 has no log return (NaN).

Numerical care. Window sums are never differences of long running sums (the cancellation that
ruins `cumsum[i] - cumsum[i-p]` and E[x²]-E[x]² on prices): the series is cut into chunks of
`period` points, each chunk is summed forwards and the chunk before it backwards (so a window
is one prefix plus one suffix, no subtraction), and every chunk works on deviations from an
anchor inside the window (its first value), which also makes a constant series come out
exactly constant with zero spread. The recursions run in `scipy.signal.lfilter` (compiled),
the EMA on deviations from its seed. `cryptodash.analytics.streaming` performs the very same
float operations one point at a time, so batch and streaming agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache, wraps
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
NAN = math.nan
F = TypeVar("F", bound=Callable[..., Any])

# Chunks handled per block: enough to amortize NumPy's per-call cost over the p-step loops,
# few enough that a block's working arrays stay in the CPU's L2 cache.
_BLOCK_POINTS = 1 << 16
_MIN_BLOCK_CHUNKS = 1024


def quiet(fn: F) -> F:
    """Gaps and extreme inputs overflow or divide by zero on purpose: the NaN/inf that results
    is the answer, not a warning."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return cast(F, wrapper)


def as_series(values: ArrayLike) -> FloatArray:
    """A float64 1-D copy-if-needed of `values` with every non-finite value turned into NaN."""
    return _prepared(values)[0]


def _prepared(values: ArrayLike) -> tuple[FloatArray, bool]:
    """`as_series`, and whether every value was finite (no gaps to look for)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {x.shape}")
    finite = np.isfinite(x)
    if finite.all():
        return x, True
    return np.where(finite, x, NAN), False


def check_period(period: int, *, name: str = "period", minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {period!r}")
    if period < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {period}")
    return int(period)


# --------------------------------------------------------------------------- window sums

# A finishing step turns window sums of anchored deviations into indicator values. The same
# function runs on NumPy blocks here and on Python floats in `streaming`, so both round alike.
Finish = Callable[[Sequence[Any], Sequence[Any]], tuple[Any, ...]]


def _chunk_rows(column: FloatArray, p: int, lo: int, hi: int) -> FloatArray:
    """Chunks lo..hi-1 of `column` as a (hi-lo, p) array; chunk -1 and the tail are NaN."""
    n = column.shape[0]
    start, stop = lo * p, hi * p
    if start >= 0 and stop <= n:
        return column[start:stop].reshape(hi - lo, p)
    rows = np.full((hi - lo) * p, NAN)
    src_lo, src_hi = max(start, 0), min(stop, n)
    if src_hi > src_lo:
        rows[src_lo - start : src_hi - start] = column[src_lo:src_hi]
    return rows.reshape(hi - lo, p)


def window_sums(
    columns: Sequence[FloatArray],
    period: int,
    terms: Sequence[tuple[int, ...]],
    finish: Finish,
    outputs: int,
) -> list[FloatArray]:
    """Sums over each trailing window of `period` points of products of anchored deviations.

    For the window ending at i, chunk c = i // period holds the anchor a = column[c*period]
    (always inside the window). A term (k, l) is the window sum of (x_k - a_k)(x_l - a_l),
    made of the chunk's forward sum up to i plus the previous chunk's backward sum from
    i - period + 1. `finish(sums, anchors)` maps the sums to `outputs` indicator arrays.
    Works block by block in a (position, chunk) layout, so every step is one vectorized
    operation across chunks and the block's buffers stay in cache.
    """
    p = period
    n = columns[0].shape[0]
    chunks = -(-n // p)
    results = [np.empty(chunks * p) for _ in range(outputs)]
    if n == 0:
        return results
    width = min(chunks, max(_MIN_BLOCK_CHUNKS, _BLOCK_POINTS // p))
    ahead = [np.empty((p, width)) for _ in columns]  # deviations in the block's chunks
    behind = [np.empty((p, width)) for _ in columns]  # in each chunk before, same anchors
    anchors = [np.empty(width) for _ in columns]
    multi = [term for term in terms if len(term) > 1]
    fwd_products = [np.empty((p, width)) for _ in multi]
    bwd_products = [np.empty((p, width)) for _ in multi]
    for c0 in range(0, chunks, width):
        c1 = min(chunks, c0 + width)
        m = c1 - c0
        for k, column in enumerate(columns):
            rows = _chunk_rows(column, p, c0, c1)
            anchor = anchors[k][:m]
            np.copyto(anchor, rows[:, 0])
            np.subtract(rows.T, anchor, out=ahead[k][:, :m])
            np.subtract(_chunk_rows(column, p, c0 - 1, c1 - 1).T, anchor, out=behind[k][:, :m])
        sums: list[FloatArray] = []
        products = iter(zip(fwd_products, bwd_products, strict=True))
        pairs = []
        # Every product is formed before the sums run in place over the deviations.
        for term in terms:
            if len(term) == 1:
                pairs.append((ahead[term[0]][:, :m], behind[term[0]][:, :m]))
                continue
            fwd, bwd = next(products)
            _product(ahead, term, fwd[:, :m], m)
            _product(behind, term, bwd[:, :m], m)
            pairs.append((fwd[:, :m], bwd[:, :m]))
        for fwd, bwd in pairs:
            for j in range(1, p):
                np.add(fwd[j - 1], fwd[j], out=fwd[j])
            for j in range(p - 2, 0, -1):
                np.add(bwd[j + 1], bwd[j], out=bwd[j])
            # Position j < p-1 of a chunk: its forward sum plus the previous chunk from j+1.
            np.add(fwd[: p - 1], bwd[1:], out=fwd[: p - 1])
            sums.append(fwd)
        values = finish(sums, [anchor[:m] for anchor in anchors])
        for result, value in zip(results, values, strict=True):
            result.reshape(chunks, p)[c0:c1] = value.T
    return [result[:n] for result in results]


def _product(deviations: list[FloatArray], term: tuple[int, ...], out: FloatArray, m: int) -> None:
    np.multiply(deviations[term[0]][:, :m], deviations[term[1]][:, :m], out=out)
    for k in term[2:]:
        np.multiply(out, deviations[k][:, :m], out=out)


def mean_finish(period: int) -> Finish:
    inv = 1.0 / period

    def finish(sums: Sequence[Any], anchors: Sequence[Any]) -> tuple[Any, ...]:
        return (anchors[0] + sums[0] * inv,)

    return finish


def _deviation(sums: Sequence[Any], inv: float, inv_dof: float) -> Any:
    """Standard deviation from window sums of anchored deviations (shift-invariant, so the
    anchor only removes the level that would otherwise cancel)."""
    m = sums[0] * inv
    return np.sqrt(np.maximum((sums[1] - sums[0] * m) * inv_dof, 0.0))


def stdev_finish(period: int, ddof: int, scale: float = 1.0) -> Finish:
    inv, inv_dof = 1.0 / period, 1.0 / (period - ddof)

    def finish(sums: Sequence[Any], anchors: Sequence[Any]) -> tuple[Any, ...]:
        return (_deviation(sums, inv, inv_dof) * scale,)

    return finish


def bollinger_finish(period: int, k: float) -> Finish:
    inv = 1.0 / period

    def finish(sums: Sequence[Any], anchors: Sequence[Any]) -> tuple[Any, ...]:
        middle = anchors[0] + sums[0] * inv
        spread = k * _deviation(sums, inv, inv)
        return middle + spread, middle, middle - spread

    return finish


def correlation_finish(period: int) -> Finish:
    inv = 1.0 / period

    def finish(sums: Sequence[Any], anchors: Sequence[Any]) -> tuple[Any, ...]:
        mx = sums[0] * inv
        my = sums[1] * inv
        vx = sums[2] * inv - mx * mx
        vy = sums[3] * inv - my * my
        cov = sums[4] * inv - mx * my
        r = cov / (np.sqrt(vx) * np.sqrt(vy))
        return (np.where((vx > 0.0) & (vy > 0.0), np.clip(r, -1.0, 1.0), NAN),)

    return finish


CORRELATION_TERMS = ((0,), (1,), (0, 0), (1, 1), (0, 1))
MOMENT_TERMS = ((0,), (0, 0))


# --------------------------------------------------------------------------- recursions


def finite_runs(x: FloatArray, minimum: int, *, clean: bool = False) -> list[tuple[int, int]]:
    """(start, stop) of each run of finite values at least `minimum` long (`clean`: the
    caller knows every value is finite)."""
    finite = None if clean else np.isfinite(x)
    if finite is None or finite.all():
        return [(0, x.shape[0])] if x.shape[0] >= minimum else []
    edges = np.flatnonzero(np.diff(np.concatenate(([False], finite, [False])).astype(np.int8)))
    starts, stops = edges[0::2], edges[1::2]
    keep = stops - starts >= minimum
    return list(zip(starts[keep].tolist(), stops[keep].tolist(), strict=True))


def seed_mean(values: FloatArray) -> float:
    """Mean of a short run as the streaming side computes it: anchored, summed in order."""
    anchor = values[0]
    total = np.cumsum(values - anchor)[-1]
    return float(anchor + total * (1.0 / values.shape[0]))


@cache
def _lfilter() -> Callable[..., Any]:
    """`scipy.signal.lfilter`, imported on first use: importing scipy.signal takes about a
    second, which a process should not spend before it answers /health (see `warm_up`)."""
    from scipy.signal import lfilter

    return cast(Callable[..., Any], lfilter)


def warm_up() -> None:
    """Import the compiled pieces now (call it in a thread at start-up)."""
    _lfilter()


def smooth_into(
    values: FloatArray, alpha: float, start: float, out: FloatArray, offset: float = 0.0
) -> None:
    """out[i] = offset + y[i], y[i] = alpha*(values[i] - offset) + (1-alpha)*y[i-1],
    y[-1] = start: the EMA recursion, compiled (lfilter), in cache-sized blocks."""
    b, a = [alpha], [1.0, -(1.0 - alpha)]
    zi = np.array([(1.0 - alpha) * start])
    buffer = np.empty(min(values.shape[0], _BLOCK_POINTS))
    for lo in range(0, values.shape[0], _BLOCK_POINTS):
        hi = min(values.shape[0], lo + _BLOCK_POINTS)
        block = buffer[: hi - lo]
        np.subtract(values[lo:hi], offset, out=block)
        y, zi = _lfilter()(b, a, block, zi=zi)
        np.add(y, offset, out=out[lo:hi])


def _ema_run(x: FloatArray, p: int, out: FloatArray) -> None:
    seed = seed_mean(x[:p])
    out[p - 1] = seed
    # On deviations from the seed: a flat stretch stays exactly flat.
    smooth_into(x[p:], 2.0 / (p + 1), 0.0, out[p:], offset=seed)


def _rsi_run(x: FloatArray, p: int, out: FloatArray) -> None:
    head = np.diff(x[: p + 1])
    avg_gain = seed_mean(np.maximum(head, 0.0))
    avg_loss = seed_mean(np.maximum(-head, 0.0))
    out[p] = rsi_value(avg_gain, avg_loss)
    alpha = 1.0 / p
    for lo in range(p + 1, x.shape[0], _BLOCK_POINTS):
        hi = min(x.shape[0], lo + _BLOCK_POINTS)
        change = x[lo:hi] - x[lo - 1 : hi - 1]
        gains = np.maximum(change, 0.0)
        losses = np.maximum(np.negative(change, out=change), 0.0, out=change)
        # The recursion's state after an infinite input (a change between two absurd closes
        # that overflows) is NaN, as in lfilter (0·∞), from one block to the next too.
        carry = 0.0 * float(gains[-1]), 0.0 * float(losses[-1])
        smooth_into(gains, alpha, avg_gain, gains)
        smooth_into(losses, alpha, avg_loss, losses)
        avg_gain, avg_loss = float(gains[-1]) + carry[0], float(losses[-1]) + carry[1]
        out[lo:hi] = rsi_value(gains, losses)


def rsi_value(avg_gain: Any, avg_loss: Any) -> Any:
    """100·gain/(gain+loss), 50 when nothing moved, NaN when an average is; NumPy division
    for arrays and floats. The share is taken first: 100·gain overflows for huge averages."""
    total = np.add(avg_gain, avg_loss)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where(total == 0.0, 50.0, np.multiply(100.0, np.divide(avg_gain, total)))


def _warm_up_output(n: int, warm_up: int, clean: bool) -> FloatArray:
    """The output of a recursion: all NaN where gaps may be, else only the warm-up (the
    rest is written by the run)."""
    if not clean:
        return np.full(n, NAN)
    out = np.empty(n)
    out[: min(warm_up, n)] = NAN
    return out


# --------------------------------------------------------------------------- public API


@quiet
def sma(values: ArrayLike, period: int) -> FloatArray:
    """Simple moving average; first value at index period-1."""
    x, p = as_series(values), check_period(period)
    return window_sums([x], p, ((0,),), mean_finish(p), 1)[0]


@quiet
def ema(values: ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, K = 2/(period+1), seeded with the SMA of the first
    `period` values; first value at index period-1."""
    (x, clean), p = _prepared(values), check_period(period)
    return _ema(x, p, clean)


def _ema(x: FloatArray, p: int, clean: bool) -> FloatArray:
    out = _warm_up_output(x.shape[0], p - 1, clean)
    for start, stop in finite_runs(x, p, clean=clean):
        _ema_run(x[start:stop], p, out[start:stop])
    return out


@quiet
def rsi(values: ArrayLike, period: int = 14) -> FloatArray:
    """Relative strength index with Wilder's smoothing; first value at index `period`."""
    (x, clean), p = _prepared(values), check_period(period)
    out = _warm_up_output(x.shape[0], p, clean)
    for start, stop in finite_runs(x, p + 1, clean=clean):
        _rsi_run(x[start:stop], p, out[start:stop])
    return out


@quiet
def macd(
    values: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, histogram): macd = EMA(fast) - EMA(slow) from index slow-1 (when
    slow >= fast), signal = EMA(signal) of the macd line, histogram = macd - signal."""
    x, clean = _prepared(values)
    check_period(fast, name="fast")
    check_period(slow, name="slow")
    check_period(signal, name="signal")
    line = _ema(x, fast, clean)
    np.subtract(line, _ema(x, slow, clean), out=line)
    if clean:  # the line is NaN only in its warm-up: one run after it, no gaps to find
        warm = min(max(fast, slow) - 1, x.shape[0])
        signal_line = np.full(x.shape[0], NAN)
        signal_line[warm:] = _ema(line[warm:], signal, True)
    else:
        signal_line = _ema(line, signal, False)
    return line, signal_line, line - signal_line


@quiet
def bollinger(
    values: ArrayLike, period: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) = SMA ± k population standard deviations."""
    x, p = as_series(values), check_period(period)
    if not math.isfinite(k) or k < 0:
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    upper, middle, lower = window_sums([x], p, MOMENT_TERMS, bollinger_finish(p, float(k)), 3)
    return upper, middle, lower


@quiet
def stdev(values: ArrayLike, period: int, ddof: int = 0) -> FloatArray:
    """Rolling standard deviation over `period` values (population by default, ddof=1 for the
    sample); first value at index period-1."""
    p = check_period(period, minimum=2 if ddof else 1)
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    return window_sums([as_series(values)], p, MOMENT_TERMS, stdev_finish(p, ddof), 1)[0]


@quiet
def returns(values: ArrayLike, *, log: bool = False) -> FloatArray:
    """Simple returns x[i]/x[i-1] - 1 (or log returns); NaN at 0 and where a close is <= 0."""
    x = as_series(values)
    out = np.full(x.shape[0], NAN)
    if x.shape[0] < 2:
        return out
    prev, cur, change = x[:-1], x[1:], out[1:]
    np.subtract(cur, prev, out=change)
    np.divide(change, prev, out=change)
    change[(prev <= 0.0) | (cur <= 0.0)] = NAN
    if log:
        # log1p of the relative change keeps small returns accurate.
        np.log1p(change, out=change)
    return out


@quiet
def volatility(closes: ArrayLike, period: int, periods_per_year: float | None = None) -> FloatArray:
    """Sample standard deviation (ddof=1) of the last `period` log returns, times
    sqrt(periods_per_year) when given (365 for daily candles: crypto trades every day);
    first value at index `period`."""
    p = check_period(period, minimum=2)
    if periods_per_year is not None and not (
        math.isfinite(periods_per_year) and periods_per_year > 0
    ):
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    scale = 1.0 if periods_per_year is None else math.sqrt(periods_per_year)
    r = returns(closes, log=True)
    return window_sums([r], p, MOMENT_TERMS, stdev_finish(p, 1, scale), 1)[0]


@quiet
def correlation(x: ArrayLike, y: ArrayLike, period: int) -> FloatArray:
    """Pearson correlation of the two series' log returns over the last `period` returns;
    first value at index `period`; NaN where either series is flat over the window."""
    p = check_period(period, minimum=2)
    rx, ry = returns(x, log=True), returns(y, log=True)
    if rx.shape != ry.shape:
        raise ValueError(f"series lengths differ: {rx.shape[0]} != {ry.shape[0]}")
    missing = np.isnan(rx) | np.isnan(ry)
    rx[missing] = NAN
    ry[missing] = NAN
    return window_sums([rx, ry], p, CORRELATION_TERMS, correlation_finish(p), 1)[0]


@quiet
def correlation_matrix(closes: ArrayLike, period: int) -> FloatArray:
    """Pearson correlation of log returns over the latest `period` returns, between the rows
    of `closes` (one row per coin, aligned in time). A coin without `period` clean returns in
    the window, or flat over it, has a NaN row and column."""
    p = check_period(period, minimum=2)
    c = np.asarray(closes, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"expected a 2-D array (coins x points), got shape {c.shape}")
    coins = c.shape[0]
    out = np.full((coins, coins), NAN)
    if coins == 0 or c.shape[1] < p + 1:
        return out
    r = np.vstack([returns(row[-(p + 1) :], log=True)[1:] for row in c])
    ok = np.isfinite(r).all(axis=1)
    centered = r[ok] - r[ok].mean(axis=1, keepdims=True)
    cov = centered @ centered.T
    scale = np.sqrt(np.diag(cov))
    corr = np.clip(cov / np.outer(scale, scale), -1.0, 1.0)
    flat = scale == 0.0
    corr[flat, :] = NAN
    corr[:, flat] = NAN
    np.fill_diagonal(corr, np.where(flat, NAN, 1.0))
    index = np.flatnonzero(ok)
    out[np.ix_(index, index)] = corr
    return out


@quiet
def drawdown(values: ArrayLike) -> FloatArray:
    """Fall from the running peak as a fraction (0.25 = 25 % below the best close so far)."""
    x = as_series(values)
    peak = np.fmax.accumulate(x)  # NaN-skipping running maximum
    out: FloatArray = np.subtract(peak, x)
    np.divide(out, peak, out=out)
    out[~(peak > 0.0)] = NAN
    return out


@quiet
def max_drawdown(values: ArrayLike) -> float:
    """The largest `drawdown` of the series; 0.0 for a series with fewer than two closes."""
    dd = drawdown(values)
    worst = float(np.fmax.reduce(dd)) if dd.size else NAN  # NaN-skipping maximum
    return worst if math.isfinite(worst) else 0.0
