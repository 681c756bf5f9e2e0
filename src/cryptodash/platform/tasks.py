"""Cancellation that sticks.

A library can lose a cancellation: when an `anyio` connect attempt (httpx) fails in the same
step as the task is cancelled, the connection error wins and the `CancelledError` is gone,
so a worker cancelled at shutdown sleeps on and the process never stops. Code that catches
network errors calls `raise_if_cancelled()` in its handler, and whoever stops tasks uses
`cancel_and_wait`, which repeats the cancellation until the tasks are really gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cryptodash.platform.logging import get_logger

log = get_logger(__name__)


def raise_if_cancelled() -> None:
    """Raise `CancelledError` when the current task has a cancellation pending (one that a
    library swallowed on its way here)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, timeout: float = 15.0, every: float = 0.5
) -> None:
    """Cancel `tasks` and wait until every one has finished, cancelling again every `every`
    seconds a task that swallowed the cancellation; after `timeout` seconds the stragglers
    are logged and left behind. Never raises what the tasks raise."""
    every_task = list(tasks)
    pending = {task for task in every_task if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            names = sorted(getattr(task, "get_name", lambda: "?")() for task in pending)
            log.error("tasks_would_not_stop", tasks=names)
            break
        _, pending = await asyncio.wait(pending, timeout=min(every, left))
    for task in every_task:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure while stopping is not worth a warning
