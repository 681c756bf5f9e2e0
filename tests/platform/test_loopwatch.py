"""`LoopWatch`: a callback that holds the event loop is measured and named in the log; GC
pauses are timed."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import pytest

from cryptodash.platform.logging import configure_logging
from cryptodash.platform.loopwatch import LoopWatch
from cryptodash.platform.metrics import Metrics


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call in a coroutine: what the watch is for


def histogram(metrics: Metrics, name: str, **labels: str) -> tuple[float, float]:
    """(count, sum) of a histogram's samples."""
    values = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name in (f"{name}_count", f"{name}_sum") and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                values[sample.name.rsplit("_", 1)[1]] = sample.value
    return values.get("count", 0.0), values.get("sum", 0.0)


async def test_a_blocked_loop_is_logged_with_the_culprit_and_measured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = Metrics()
    watch = LoopWatch(metrics, block_after=0.05)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(0.2)  # a quiet loop: no lag worth a line
        capsys.readouterr()
        hold_the_loop(0.3)
        await asyncio.sleep(0.2)  # the watchdog sees the loop come back
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    blocked = [line for line in lines if line["message"] == "event_loop_blocked"]
    assert len(blocked) == 1, lines
    assert 250 <= blocked[0]["blocked_ms"] < 1000
    assert any("hold_the_loop" in frame for frame in blocked[0]["frames"])
    count, total = histogram(metrics, "event_loop_lag_seconds")
    assert count >= 5
    assert total >= 0.25  # the held 0.3 s minus the sleep it overlapped
    assert watch._on_gc not in gc.callbacks  # stopped with its task


async def test_the_console_log_takes_the_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    """`make run` in a terminal logs for people: the watchdog's line must not kill its thread
    (a `stack` field is a traceback to the console renderer, and a list of frames is not)."""
    configure_logging(service="test", level="INFO", json=False)
    watch = LoopWatch(Metrics(), block_after=0.05)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(0.1)
        for _ in range(2):  # the watchdog survives the first line and reports the second
            hold_the_loop(0.2)
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        configure_logging(service="test", level="INFO", json=True)
    assert capsys.readouterr().err.count("event_loop_blocked") == 2


async def test_gc_pauses_are_timed_by_generation() -> None:
    metrics = Metrics()
    task = asyncio.create_task(LoopWatch(metrics, block_after=0.1).run())
    await asyncio.sleep(0.01)
    try:
        before, _ = histogram(metrics, "python_gc_pause_seconds", generation="2")
        gc.collect()
        after, _ = histogram(metrics, "python_gc_pause_seconds", generation="2")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert after == before + 1
