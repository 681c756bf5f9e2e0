"""REST API under load: a realistic mix against `cryptodash up --demo`, side by side with a bare
FastAPI app returning the same bytes, on the same machine with the same server settings.

    .venv/bin/python bench/api_load.py                        # both mixes, 3 rounds each
    .venv/bin/python bench/api_load.py --mix reads --connections 32 --duration 10 --rounds 5
    .venv/bin/python bench/api_load.py --redis-url redis://127.0.0.1:6379/9
    .venv/bin/python bench/api_load.py --database-url postgresql://postgres@127.0.0.1/cdbench

The server is `python -m cryptodash.cli up --demo` on a free port (uvicorn as the CLI sets it
up: `cli.server_config`), its log going to a file as in production (INFO, JSON, the access
log on). Once 20 coins are priced and the simulated history is written, the bench registers
one user per connection (each with a portfolio of three coins) and runs the mix:

- *reads* (public, served from cached bodies): coins, one coin, movers, candles (1h x 500,
  1m x 500), indicators (1h, the default set), summary, sentiment of a coin, the sentiment
  overview;
- *full*: those reads, plus each connection's user reading its portfolio's performance
  (15 %) and adding a transaction (1 %, the writes).

The bare app is FastAPI with one catch-all route answering every URL of the mix with the
status and bytes our server answered it with (captured after the warm-up), served by uvicorn
through the same `server_config`. Rounds alternate ours / bare so both see the same machine;
each figure is the median over rounds and the throughput ratio is taken round by round.

The load generator is a separate process (one asyncio loop on uvloop, raw HTTP/1.1 keep-alive
connections, one request in flight per connection): the server gets one core and the load the
other, and the load process reports its own CPU (getrusage) next to the server's (from
/proc/<pid>/stat), both over the measured window. Cache hit rate is read from the server's
/metrics over the window: lookups answered from a cache, (edge hits + cache hits) / (edge hits
+ cache hits + cache misses) from `http_edge_cache_total` and `cache_requests_total` (an edge
miss goes on to the domain caches); it counts the background work's lookups too (the realtime
hub, the persister). The edge cache's own hit rate is printed as `edge_hit_pct`. The garbage
collector's passes in each round, per generation, and their mean pause come from the same
scrape (`python_gc_pause_seconds`): a full (gen-2) pass holds every request in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    DemoServer,
    all_priced,
    cpu_seconds,
    demo_server,
    free_port,
    process,
    quantile,
    rss_bytes,
    server_env,
    wait_for_port,
)

COINS = ["bitcoin", "ethereum", "solana", "cardano", "ripple", "dogecoin", "polkadot"]
PASSWORD = "load-bench-password-1"  # noqa: S105 - a bench user

# (weight, class, method, path template); {coin} rotates over COINS, {pid} is the
# connection's own portfolio.
READS: list[tuple[int, str, str, str]] = [
    (25, "read", "GET", "/api/market/coins"),
    (10, "read", "GET", "/api/market/{coin}"),
    (3, "read", "GET", "/api/market/movers"),
    (8, "read", "GET", "/api/market/{coin}/candles?interval=1h&limit=500"),
    (6, "read", "GET", "/api/market/{coin}/candles?interval=1m&limit=500"),
    (10, "read", "GET", "/api/analytics/{coin}/indicators?interval=1h"),
    (5, "read", "GET", "/api/analytics/{coin}/summary?interval=1h"),
    (9, "read", "GET", "/api/sentiment/{coin}"),
    (4, "read", "GET", "/api/sentiment/overview"),
]
PORTFOLIO: list[tuple[int, str, str, str]] = [
    (15, "portfolio", "GET", "/api/portfolio/{pid}/performance"),
    (1, "write", "POST", "/api/portfolio/{pid}/transactions"),
]
MIXES = {
    "reads": READS,
    "full": READS + PORTFOLIO,
    "full-no-writes": READS + PORTFOLIO[:1],  # what the writes cost, for comparison
    "coins": [(1, "read", "GET", "/api/market/coins")],  # one cached body, for comparison
    "performance": PORTFOLIO[:1],  # authenticated, computed per request, for comparison
}
WRITE_BUY = b'{"coin_id":"bitcoin","side":"buy","quantity":"0.001","price":"50000"}'
WRITE_SELL = b'{"coin_id":"bitcoin","side":"sell","quantity":"0.001","price":"50000"}'


def history_complete(
    log: Path | None,
) -> Callable[[httpx.Client, list[dict[str, Any]]], bool]:
    """A `demo_server` readiness: every coin priced, the simulated history all written and
    the live indicators rebuilt on it. The older part of the history is written behind the
    first ticks, chunk after chunk, for a minute or more on a slow machine (the server logs
    `simulator_history_older` when done; `log` is its output), and the analytics rebuild a
    series started short once it is there (seconds of CPU): a bench that starts before both
    measures them too. Rebuilt: every coin's hourly summary has all its values (SMA 200
    needs 200 closed candles; before the rebuild it has the last day's). `log` None: the
    server logs above INFO, so only the summaries tell."""

    def ready(http: httpx.Client, coins: list[dict[str, Any]]) -> bool:
        if not all_priced(http, coins):
            return False
        if log is not None and (
            not log.exists() or "simulator_history_older" not in log.read_text(errors="replace")
        ):
            return False
        for coin in COINS:
            summary = http.get(f"/api/analytics/{coin}/summary", params={"interval": "1h"})
            if summary.status_code != 200:
                return False
            if any(value is None for value in summary.json()["values"].values()):
                return False
        return True

    return ready


def settled_demo(data_dir: Path, env: dict[str, str]) -> AbstractContextManager[DemoServer]:
    """`demo_server` in `data_dir`, ready by `history_complete`, its output in
    `data_dir/server.log`."""
    log = data_dir / "server.log"
    logs_info = env.get("CRYPTODASH_LOG_LEVEL", "INFO").upper() in {"DEBUG", "INFO"}
    ready = history_complete(log if logs_info else None)
    return demo_server(data_dir, env, ready=ready, log=log, timeout=300)


def register_users(base: str, count: int, tag: str) -> list[dict[str, Any]]:
    """`count` users, each logged in with a portfolio holding three coins."""
    users = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for n in range(count):
            name = f"load{tag}{n}"
            http.post(
                "/api/users/register",
                json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            ).raise_for_status()
            login = http.post("/api/users/login", json={"username": name, "password": PASSWORD})
            login.raise_for_status()
            token = login.json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            created = http.post("/api/portfolio", json={"name": "load"}, headers=auth)
            created.raise_for_status()
            pid = created.json()["id"]
            for coin, qty, price in (
                ("bitcoin", "0.5", "30000"),
                ("ethereum", "4", "2000"),
                ("solana", "50", "40"),
            ):
                http.post(
                    f"/api/portfolio/{pid}/transactions",
                    json={"coin_id": coin, "side": "buy", "quantity": qty, "price": price},
                    headers=auth,
                ).raise_for_status()
            users.append({"token": token, "pid": pid, "refresh": login.json()["refresh_token"]})
    return users


def capture(base: str, users: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Every URL of the mixes, asked once: the status and bytes the bare app answers with."""
    answers: dict[str, tuple[int, str]] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for _, cls, method, template in MIXES["full"]:
            for coin in COINS:
                for user in users if cls != "read" else users[:1]:
                    path = template.format(coin=coin, pid=user["pid"])
                    if f"{method} {path}" in answers:
                        continue
                    auth = {"Authorization": f"Bearer {user['token']}"} if cls != "read" else {}
                    body = WRITE_BUY if method == "POST" else None
                    response = http.request(
                        method,
                        path,
                        content=body,
                        headers={**auth, "Content-Type": "application/json"},
                    )
                    answers[f"{method} {path}"] = (response.status_code, response.text)
    return answers


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    values: dict[str, float] = {}
    for result, value in re.findall(r'^cache_requests_total\{result="(\w+)"\} (\S+)$', text, re.M):
        values[f"cache_{result}"] = float(value)
    for result, value in re.findall(r'^http_edge_cache_total\{result="(\w+)"\} (\S+)$', text, re.M):
        values[f"edge_{result}"] = float(value)
    duration = (
        r'^http_request_duration_seconds_(sum|count)\{method="(\w+)",route="([^"]+)"\} (\S+)$'
    )
    for part, method, route, value in re.findall(duration, text, re.M):
        values[f"{part} {method} {route}"] = float(value)
    gc_pauses = r'^python_gc_pause_seconds_(sum|count)\{generation="(\d)"\} (\S+)$'
    for part, generation, value in re.findall(gc_pauses, text, re.M):
        values[f"gc{generation}_{part}"] = float(value)
    return values


def gc_passes(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The collector's passes over the window per generation: how many, and their mean pause
    in ms (`python_gc_pause_seconds`, timed by the loop watch)."""
    passes: dict[str, Any] = {}
    for generation in "012":
        count = after.get(f"gc{generation}_count", 0) - before.get(f"gc{generation}_count", 0)
        total = after.get(f"gc{generation}_sum", 0) - before.get(f"gc{generation}_sum", 0)
        mean = round(1000 * total / count, 2) if count else None
        passes[f"gen{generation}"] = {"passes": int(count), "mean_ms": mean}
    return passes


def server_times(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean time in the server per route over the window, ms (http_request_duration_seconds:
    from the request reaching the gateway middleware to the response leaving it)."""
    times = {}
    for key, count in after.items():
        if not key.startswith("count ") or key.endswith(("/metrics", "/health")):
            continue
        label = key[6:]
        n = count - before.get(key, 0)
        if n > 0:
            total = after[f"sum {label}"] - before.get(f"sum {label}", 0)
            times[label] = round(1000 * total / n, 2)
    return times


# --------------------------------------------------------------------------- the load process


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader = self.reader
        assert reader is not None
        self.writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                body += await reader.readexactly(size + 2)
                if size == 0:
                    break
            return status, bytes(body)
        return status, await reader.readexactly(max(0, length))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def build_request(method: str, path: str, token: str | None, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def plan(mix: str, users: list[dict[str, Any]], connection: int, seed: int) -> Iterator[Any]:
    """The endless request sequence of one connection: (class, label, raw request)."""
    rng = random.Random(seed * 1000 + connection)
    table = MIXES[mix]
    weights = [w for w, *_ in table]
    user = users[connection % len(users)] if users else None
    n = 0
    while True:
        n += 1
        _, cls, method, template = rng.choices(table, weights)[0]
        coin = COINS[rng.randrange(len(COINS))]
        path = template.format(coin=coin, pid=user["pid"] if user else 0)
        body = None
        if method == "POST":
            body = WRITE_BUY if n % 2 else WRITE_SELL
        token = user["token"] if user and cls != "read" else None
        yield cls, f"{method} {template}", build_request(method, path, token, body)


async def _drive(
    port: int,
    mix: str,
    users: list[dict[str, Any]],
    connections: int,
    duration: float,
    warmup: float,
    seed: int,
) -> dict[str, Any]:
    samples: dict[str, array[float]] = {}
    statuses: dict[str, int] = {}
    failures = 0
    start = time.perf_counter() + warmup
    stop = start + duration

    async def worker(index: int) -> None:
        nonlocal failures
        conn = Connection(port)
        requests = plan(mix, users, index, seed)
        try:
            while True:
                cls, label, raw = next(requests)
                began = time.perf_counter()
                if began >= stop:
                    return
                try:
                    status, _ = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    conn.close()
                    if began >= start:
                        failures += 1
                    continue
                ended = time.perf_counter()
                if began < start:
                    continue
                samples.setdefault(cls, array("d")).append(ended - began)
                samples.setdefault("all", array("d")).append(ended - began)
                if status >= 400:
                    name = f"{status} {label}"
                    statuses[name] = statuses.get(name, 0) + 1
        finally:
            conn.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(worker(i)) for i in range(connections)]
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*tasks)
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    del cpu_before

    def quantiles(values: array[float]) -> dict[str, float]:
        ordered = sorted(values)

        def q(p: float) -> float:
            return round(quantile(ordered, p) * 1000, 2)

        return {
            "n": len(ordered),
            "p50": q(0.5),
            "p95": q(0.95),
            "p99": q(0.99),
            "max": round(ordered[-1] * 1000, 2),
        }

    total = len(samples.get("all", ()))
    errors = sum(statuses.values()) + failures
    return {
        "requests": total,
        "rps": round(total / duration, 1),
        "errors": errors,
        "error_pct": round(100 * errors / max(1, total + failures), 3),
        "error_kinds": statuses,
        "latency_ms": {cls: quantiles(values) for cls, values in samples.items() if values},
        "loadgen_cpu_pct": round(
            100
            * (cpu_end.ru_utime + cpu_end.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime)
            / duration,
            1,
        ),
    }


def run_load(
    port: int,
    mix: str,
    users: list[dict[str, Any]],
    connections: int,
    duration: float,
    warmup: float,
    seed: int,
) -> dict[str, Any]:
    """One round in a load process of its own (the server gets the other core)."""
    job = json.dumps(
        {
            "port": port,
            "mix": mix,
            "users": users,
            "connections": connections,
            "duration": duration,
            "warmup": warmup,
            "seed": seed,
        }
    )
    result = subprocess.run(
        [sys.executable, __file__, "--load-job", "-"],
        input=job,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def _load_main(job: dict[str, Any]) -> None:
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(
        _drive(
            job["port"],
            job["mix"],
            job["users"],
            job["connections"],
            job["duration"],
            job["warmup"],
            job["seed"],
        )
    )
    print(json.dumps(result))


# --------------------------------------------------------------------------- the bare app

BARE_APP = """
import json, sys
from fastapi import FastAPI, Request, Response
from cryptodash.cli import server_config
import uvicorn

answers = {key: (status, body.encode()) for key, (status, body) in
           json.load(open(sys.argv[2])).items()}
app = FastAPI()

@app.api_route("/{path:path}", methods=["GET", "POST"])
async def anything(request: Request) -> Response:
    scope = request.scope
    query = scope["query_string"].decode()
    key = f"{scope['method']} {scope['path']}" + (f"?{query}" if query else "")
    status, body = answers[key]
    return Response(body, status_code=status, media_type="application/json")

uvicorn.Server(server_config(app, "127.0.0.1", int(sys.argv[1]))).run()
"""


# --------------------------------------------------------------------------- rounds


def measure(
    port: int,
    pid: int,
    mix: str,
    users: list[dict[str, Any]],
    args: argparse.Namespace,
    seed: int,
    *,
    ours: bool,
) -> dict[str, Any]:
    before = scrape(port) if ours else {}
    cpu_before = cpu_seconds(pid)
    began = time.monotonic()
    result = run_load(port, mix, users, args.connections, args.duration, args.warmup, seed)
    elapsed = time.monotonic() - began
    cpu_after = cpu_seconds(pid)
    # The server's CPU over the whole load process (warm-up included), per second of it.
    result["server_cpu_pct"] = round(100 * (cpu_after - cpu_before) / elapsed, 1)
    if ours:
        after = scrape(port)
        hits = after.get("cache_hit", 0) - before.get("cache_hit", 0)
        misses = after.get("cache_miss", 0) - before.get("cache_miss", 0)
        edge_hits = after.get("edge_hit", 0) - before.get("edge_hit", 0)
        edge_stores = after.get("edge_miss", 0) - before.get("edge_miss", 0)
        # Lookups answered from a cache: the edge's answers plus the domain caches' hits (an
        # edge miss goes on to the domain cache, where it is counted).
        result["cache_hit_pct"] = round(
            100 * (hits + edge_hits) / max(1.0, hits + misses + edge_hits), 1
        )
        result["edge_hit_pct"] = round(100 * edge_hits / max(1.0, edge_hits + edge_stores), 1)
        result["server_ms_by_route"] = server_times(before, after)
        result["gc"] = gc_passes(before, after)
    return result


def summarize(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Any) -> float:
        return round(float(statistics.median(get(r) for r in rounds)), 2)

    row: dict[str, Any] = {
        "server": name,
        "rounds": len(rounds),
        "rps": med(lambda r: r["rps"]),
        "rps_per_round": [r["rps"] for r in rounds],
        "error_pct": med(lambda r: r["error_pct"]),
        "server_cpu_pct": med(lambda r: r["server_cpu_pct"]),
        "loadgen_cpu_pct": med(lambda r: r["loadgen_cpu_pct"]),
    }
    for cls in rounds[0]["latency_ms"]:
        row[cls] = {
            key: med(lambda r, k=key, c=cls: r["latency_ms"].get(c, {}).get(k, 0))
            for key in ("p50", "p95", "p99")
        }
        row[cls]["p99_per_round"] = [r["latency_ms"].get(cls, {}).get("p99") for r in rounds]
    if "cache_hit_pct" in rounds[0]:
        row["cache_hit_pct"] = med(lambda r: r["cache_hit_pct"])
        row["edge_hit_pct"] = med(lambda r: r["edge_hit_pct"])
        routes = rounds[0]["server_ms_by_route"]
        row["server_mean_ms_by_route"] = {
            route: med(lambda r, x=route: r["server_ms_by_route"].get(x, 0)) for route in routes
        }
        row["gc_passes_per_round"] = {
            gen: [r["gc"][gen]["passes"] for r in rounds] for gen in rounds[0]["gc"]
        }
        row["gc_mean_pause_ms_per_round"] = {
            gen: [r["gc"][gen]["mean_ms"] for r in rounds] for gen in rounds[0]["gc"]
        }
    kinds: dict[str, int] = {}
    for r in rounds:
        for kind, count in r["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    if kinds:
        row["error_kinds"] = kinds
    return row


def verdict(ours: dict[str, Any], ratio: float) -> list[str]:
    overall = ours["all"]
    cached = ours.get("read", overall)
    checks = [
        ("seed: p95 < 100 ms", overall["p95"] < 100),
        ("seed: p99 < 200 ms", overall["p99"] < 200),
        ("seed: errors < 0.5 %", ours["error_pct"] < 0.5),
        ("seed: cache hits > 80 %", ours.get("cache_hit_pct", 0) > 80),
        ("ours: p99 < 20 ms on cached reads", cached["p99"] < 20),
        ("ours: throughput >= 1/2 of bare FastAPI", ratio >= 0.5),
    ]
    return [f"{'PASS' if ok else 'FAIL'}  {label}" for label, ok in checks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", choices=[*MIXES, "both"], default="both")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server and mix")
    parser.add_argument("--redis-url", help="default: the in-process cache")
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database for ours (default: SQLite in a temporary data dir)",
    )
    parser.add_argument("--log-level", default="INFO", help="CRYPTODASH_LOG_LEVEL of ours")
    parser.add_argument("--load-job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_job:
        _load_main(json.loads(sys.stdin.read()))
        return

    print(
        f"# bench/api_load.py {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}; {args.connections} connections, "
        f"{args.rounds} x {args.duration:g} s rounds",
        flush=True,
    )
    mixes = ["reads", "full"] if args.mix == "both" else [args.mix]
    env = server_env(args.redis_url, CRYPTODASH_LOG_LEVEL=args.log_level)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    with (
        tempfile.TemporaryDirectory() as tmp,
        settled_demo(Path(tmp), env) as server,
    ):
        port, base = server.port, server.base
        print(
            f"# ours ready (history written, indicators rebuilt) {server.ready_after:.0f} s "
            "after launch",
            flush=True,
        )
        users = register_users(base, args.connections, f"{os.getpid()}x")
        answers = capture(base, users)
        run_load(port, "full", users, args.connections, 3.0, 0.0, 0)  # warm every cache
        answers_file = Path(tmp) / "answers.json"
        answers_file.write_text(json.dumps(answers))
        bare_port = free_port()
        bare_args = [sys.executable, "-c", BARE_APP, str(bare_port), str(answers_file)]
        with process(bare_args, server_env(), Path(tmp) / "bare.log") as bare:
            wait_for_port(bare_port)
            for mix in mixes:
                ours_rounds, bare_rounds, ratios = [], [], []
                for n in range(args.rounds):
                    seed = n + 1
                    o = measure(port, server.pid, mix, users, args, seed, ours=True)
                    b = measure(bare_port, bare.pid, mix, users, args, seed, ours=False)
                    missing = [k for k in b["error_kinds"] if k.startswith("5")]
                    if missing:
                        print(f"# bare app errors (URLs not captured): {missing}", flush=True)
                    ours_rounds.append(o)
                    bare_rounds.append(b)
                    ratios.append(o["rps"] / b["rps"])
                    print(
                        f"# {mix} round {n + 1}: ours {o['rps']:.0f} req/s p99 "
                        f"{o['latency_ms']['all']['p99']} ms, bare {b['rps']:.0f} req/s p99 "
                        f"{b['latency_ms']['all']['p99']} ms",
                        flush=True,
                    )
                ours_row = summarize(f"cryptodash ({mix} mix)", ours_rounds)
                bare_row = summarize(f"bare FastAPI, same bytes ({mix} mix)", bare_rounds)
                ratio = statistics.median(ratios)
                print(json.dumps(ours_row))
                print(json.dumps(bare_row))
                print(
                    json.dumps(
                        {
                            "mix": mix,
                            "throughput_ratio_ours_to_bare": round(ratio, 3),
                            "per_round": [round(r, 3) for r in ratios],
                        }
                    )
                )
                for line in verdict(ours_row, ratio):
                    print(f"# {mix}: {line}")
                sys.stdout.flush()
        print(f"# server RSS at the end: {rss_bytes(server.pid) / 2**20:.0f} MiB")
        errors = [
            line
            for line in (Path(tmp) / "server.log").read_text().splitlines()
            if '"level":"error"' in line
        ]
        last = f"; last: {errors[-1][:400]}" if errors else ""
        print(f"# server log: {len(errors)} error lines{last}")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
