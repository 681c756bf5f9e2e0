"""CPU per cached read: the app called in-process (no sockets), demo running, timed with the
event-loop thread's CPU clock (`time.thread_time`), so other processes on a shared machine do
not inflate it; background work that runs on the loop while a request awaits is included.

    .venv/bin/python bench/api_cpu.py [--calls 500] [--rounds 5]

Prints microseconds per request for the routes of `bench/api_load.py`'s read mix, best of the
rounds. The access log goes to /dev/null at the production settings (INFO, sampled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import timed_calls

PATHS = [
    "/api/market/coins",
    "/api/market/bitcoin",
    "/api/market/movers",
    "/api/market/bitcoin/candles?interval=1h&limit=500",
    "/api/market/bitcoin/candles?interval=1m&limit=500",
    "/api/analytics/bitcoin/indicators?interval=1h",
    "/api/analytics/bitcoin/summary?interval=1h",
    "/api/sentiment/bitcoin",
    "/api/sentiment/overview",
    "/health",
]


async def call(app: Any, target: str, n: int) -> tuple[float, list[dict[str, Any]]]:
    """µs of the loop thread's CPU per call, and the last call's messages."""
    return await timed_calls(app, target, n, clock=time.thread_time)


async def main(calls: int, rounds: int) -> None:
    from cryptodash.app import create_app
    from cryptodash.config import Settings
    from cryptodash.platform.logging import configure_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    real = sys.stdout
    with open(os.devnull, "w") as null:  # noqa: ASYNC230 - once, before anything runs
        sys.stderr = null
        configure_logging(service="bench", level="INFO", json=True)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                demo=True,
                data_dir=Path(tmp),
                simulator_history_days=0.02,
                rate_limit_anon_per_min=10**9,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                while True:  # priced, and every route of the mix answers
                    _, sent = await call(app, PATHS[0], 1)
                    if all(c["price"] is not None for c in json.loads(sent[1]["body"])["coins"]):
                        break
                    await asyncio.sleep(0.2)
                for path in PATHS:
                    _, sent = await call(app, path, 3)
                    assert sent[0]["status"] == 200, (path, sent[0])
                best: dict[str, float] = {}
                for _ in range(rounds):
                    for path in PATHS:
                        us, _ = await call(app, path, calls)
                        best[path] = min(best.get(path, us), us)
        sys.stderr = sys.__stderr__
    for path in PATHS:
        print(f"{path:55s} {best[path]:7.1f} µs", file=real)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
