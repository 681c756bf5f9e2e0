"""How long the event loop was held up, and by what.

Every request, WebSocket frame and worker of a process shares one event loop: a callback that
runs for 50 ms delays everything else by 50 ms. `LoopWatch` measures it and names the culprit:

- a heartbeat task sleeps `block_after / 2` and records how late it woke
  (`event_loop_lag_seconds`);
- a watchdog thread checks the heartbeat; when the loop has not come back for `block_after`,
  it takes the loop thread's stack (`sys._current_frames`) and logs `event_loop_blocked` with
  the innermost frames once the block ends, with how long it lasted;
- the garbage collector's pauses are timed too (`gc.callbacks`): a long pause is logged as
  `gc_pause` with its generation.

The stack is taken when the watchdog thread gets the GIL. A loop thread that is busy (not
blocked in one call) gives the GIL up mostly inside C calls that release it, such as SQLite
or socket calls. So under saturation the reported frames point at those calls, not at what
made the turn long. Trust them for one long call; for long turns made of many short
callbacks, profile instead.

`CRYPTODASH_LOOP_BLOCK_MS` sets `block_after` (100 ms; 0 turns it off): 20 wake-ups a second
and a thread check every 25 ms cost well under 1 % of a core.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import traceback
from typing import Any

from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

log = get_logger("cryptodash.loop")

STACK_FRAMES = 12


class LoopWatch:
    def __init__(self, metrics: Metrics, *, block_after: float = 0.1) -> None:
        self.metrics = metrics
        self.block_after = block_after
        # A block shows when it covers a wake-up: half the threshold catches every block
        # longer than the threshold.
        self.interval = block_after / 2
        self._beat = time.monotonic()
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._gc_started = 0.0

    async def run(self) -> None:
        """The heartbeat; starts the watchdog thread and the GC timing, stops both when
        cancelled."""
        self._loop_thread = threading.get_ident()
        thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._stop.clear()
        thread.start()
        gc.callbacks.append(self._on_gc)
        lag = self.metrics.event_loop_lag
        try:
            while True:
                before = time.monotonic()
                self._beat = before
                await asyncio.sleep(self.interval)
                now = time.monotonic()
                self._beat = now
                lag.observe(max(0.0, now - before - self.interval))
        finally:
            self._stop.set()
            gc.callbacks.remove(self._on_gc)

    def _watch(self) -> None:
        blocked_since: float | None = None
        stack: list[str] = []
        while not self._stop.wait(self.block_after / 4):
            now = time.monotonic()
            late = now - self._beat - self.interval
            if late > self.block_after:
                if blocked_since is None:
                    blocked_since = self._beat + self.interval
                    frame = sys._current_frames().get(self._loop_thread or 0)
                    stack = _innermost(frame)
            elif blocked_since is not None:
                log.warning(
                    "event_loop_blocked",
                    blocked_ms=round((self._beat - blocked_since) * 1000, 1),
                    frames=stack,  # not `stack`: the console renderer takes that for a traceback
                )
                blocked_since = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        paused = time.perf_counter() - self._gc_started
        self.metrics.gc_pause.labels(str(info.get("generation", "?"))).observe(paused)
        if paused > self.block_after:
            log.warning(
                "gc_pause",
                generation=info.get("generation"),
                paused_ms=round(paused * 1000, 1),
                collected=info.get("collected"),
            )


def _innermost(frame: Any) -> list[str]:
    if frame is None:
        return []
    entries = traceback.extract_stack(frame)[-STACK_FRAMES:]
    return [f"{e.filename.rsplit('/', 2)[-1]}:{e.lineno} {e.name}" for e in entries]
