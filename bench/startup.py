"""Startup time of `cryptodash up`: seconds from process start to the first 200 on /health.

    .venv/bin/python bench/startup.py [--runs 5]

Each run uses a fresh data dir, so it includes creating and migrating the SQLite file.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_run() -> float:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTODASH_")}
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.monotonic()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cryptodash.cli",
                "up",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).is_success:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > 60:
                    raise RuntimeError("no /health within 60 s")
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


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
