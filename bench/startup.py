"""Startup time of `cryptodash up`: seconds from process start to the first 200 on /health.

    .venv/bin/python bench/startup.py [--runs 5]

Each run uses a fresh data dir, so it includes creating and migrating the SQLite file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import clean_env, cli_up, free_port, process, wait_for_health


def one_run() -> float:
    port = free_port()
    env = clean_env()
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.monotonic()
        with process(cli_up(port, data_dir, demo=False), env, grace=15):
            wait_for_health(port, timeout=60, poll=0.02, started=started)
            return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = [one_run() for _ in range(args.runs)]
    print(f"cryptodash up → /health 200, fresh data dir, {args.runs} runs")
    print(
        f"  median {statistics.median(times):.2f} s   min {min(times):.2f} s   "
        f"max {max(times):.2f} s"
    )


if __name__ == "__main__":
    main()
