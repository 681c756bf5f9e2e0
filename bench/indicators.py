"""Indicator speed: ns per point of each batch indicator on 1,000,000 closes, next to a tiny C
reference (bench/indicators_ref.c, the single-pass running-sum algorithms TA-Lib uses, built
with `cc -O2`), and the streaming consumer's throughput.

    .venv/bin/python bench/indicators.py [--points N] [--repeat R]

Timings are the best of R runs (the machine is shared; the best run is the least disturbed).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cryptodash.analytics import indicators as ind

HERE = Path(__file__).resolve().parent
DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def build_reference() -> ctypes.CDLL | None:
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        return None
    out = Path(tempfile.mkdtemp()) / "libindref.so"
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(out), str(HERE / "indicators_ref.c")],
        check=True,
    )
    return ctypes.CDLL(str(out))


def ptr(a: np.ndarray[Any, Any]) -> Any:
    return a.ctypes.data_as(DOUBLE_P)


def c_calls(lib: ctypes.CDLL, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> dict[str, Any]:
    n = x.shape[0]
    bufs = [np.empty(n) for _ in range(4)]
    size, i32, f64 = ctypes.c_size_t, ctypes.c_int, ctypes.c_double
    return {
        "sma(20)": lambda: lib.sma(ptr(x), size(n), i32(20), ptr(bufs[0])),
        "sma(20), same algorithm": lambda: lib.sma_anchored(
            ptr(x), size(n), i32(20), ptr(bufs[0]), ptr(bufs[1])
        ),
        "ema(20)": lambda: lib.ema(ptr(x), size(n), i32(20), ptr(bufs[0])),
        "rsi(14)": lambda: lib.rsi(ptr(x), size(n), i32(14), ptr(bufs[0])),
        "macd(12,26,9)": lambda: lib.macd(
            ptr(x), size(n), i32(12), i32(26), i32(9), *(ptr(b) for b in bufs)
        ),
        "bollinger(20,2)": lambda: lib.bollinger(
            ptr(x), size(n), i32(20), f64(2.0), *(ptr(b) for b in bufs[:3])
        ),
        "volatility(30)": lambda: lib.volatility(
            ptr(x), size(n), i32(30), f64(1.0), ptr(bufs[0]), ptr(bufs[1])
        ),
        "correlation(50)": lambda: lib.correlation(
            ptr(x), ptr(y), size(n), i32(50), *(ptr(b) for b in bufs[:3])
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    n = args.points
    x = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    y = 2_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    ours: dict[str, Callable[[], Any]] = {
        "sma(20)": lambda: ind.sma(x, 20),
        "sma(20), same algorithm": lambda: ind.sma(x, 20),
        "sma(200)": lambda: ind.sma(x, 200),
        "ema(20)": lambda: ind.ema(x, 20),
        "rsi(14)": lambda: ind.rsi(x, 14),
        "macd(12,26,9)": lambda: ind.macd(x, 12, 26, 9),
        "bollinger(20,2)": lambda: ind.bollinger(x, 20, 2.0),
        "volatility(30)": lambda: ind.volatility(x, 30),
        "correlation(50)": lambda: ind.correlation(x, y, 50),
        "returns(log)": lambda: ind.returns(x, log=True),
        "max_drawdown": lambda: ind.max_drawdown(x),
    }
    lib = build_reference()
    reference = c_calls(lib, x, y) if lib is not None else {}
    if lib is None:
        print("no C compiler found: C column left empty", file=sys.stderr)

    print(f"batch indicators, {n:,} points, best of {args.repeat}")
    print("| indicator | cryptodash ns/point | C reference ns/point | ratio |")
    print("|---|---|---|---|")
    for name, fn in ours.items():
        fn()  # warm up
        mine = best_of(args.repeat, fn) / n * 1e9
        if name in reference:
            reference[name]()
            theirs = best_of(args.repeat, reference[name]) / n * 1e9
            print(f"| {name} | {mine:.1f} | {theirs:.1f} | {mine / theirs:.1f}x |")
        else:
            print(f"| {name} | {mine:.1f} | - | - |")


if __name__ == "__main__":
    main()
