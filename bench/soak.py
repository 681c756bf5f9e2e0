"""Soak: `cryptodash up --demo` for an hour with WebSocket clients connected and periodic REST
reads; does anything grow without bound, does latency drift?

    .venv/bin/python bench/soak.py                  # 60 minutes, a line per period
    .venv/bin/python bench/soak.py --minutes 10 --period 60

The server is the demo all-in-one (simulated market at the default tick rate, demo news,
analytics, portfolio), as `bench/api_load.py` starts it. Connected for the whole run: price
clients on `/ws/prices` (every coin), analytics clients on `/ws/analytics` and sentiment clients
on `/ws/sentiment`; besides them a few clients connect, subscribe and leave every period
(churn: per-client state must go away with the client). REST: a steady trickle of the
`api_load` read mix plus four users reading their portfolio's performance and now and then
adding a transaction.

Each period prints the server's RSS, CPU, open file descriptors and threads, the number of
series /metrics exposes (label cardinality), the WebSocket clients the server counts, REST
p50/p99 and errors, price frames delivered with their exchange-time → receive latency, and
how many connected price clients got no frame in the period (`idle`) and analytics clients
none (`quiet`); both must stay 0. Sentiment updates come with the news, so those clients are
only expected to get some over the run.
The summary compares the first and last periods after the warm-up (the first period: history
written, caches filled): RSS growth (and the slope over the second half of the run), latency
drift, and whether every connected client kept receiving in every period.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from array import array
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import cpu_seconds, quantile, rss_bytes, server_env, status_field
from api_load import COINS, MIXES, Connection, build_request, register_users, settled_demo
from ws_fanout import Client as PriceClient
from ws_fanout import Stats, masked

CHANNELS = {
    "analytics": b'{"action": "subscribe", "coins": ["*"], "interval": "1m"}',
    "sentiment": b'{"action": "subscribe", "coins": ["*"]}',
}


class CountingClient(PriceClient):
    """A price client that also counts its own frames (every socket must keep getting
    updates)."""

    def __init__(self, stats: Stats, host: str) -> None:
        super().__init__(stats, host)
        self.frames = 0

    def data_received(self, data: bytes) -> None:
        before = self.stats.frames
        super().data_received(data)
        self.frames += self.stats.frames - before


class ChannelClient(CountingClient):
    """A client of another channel: same framing, another path and subscription; counts
    every text frame."""

    def __init__(self, stats: Stats, host: str, channel: str) -> None:
        super().__init__(stats, host)
        self.channel = channel

    def connection_made(self, transport: Any) -> None:
        import base64

        self.transport = transport
        key = base64.b64encode(os.urandom(16))
        transport.write(
            f"GET /ws/{self.channel} HTTP/1.1\r\nHost: {self.host}\r\n".encode()
            + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[: end + 4]
            self.open = True
            self.transport.write(masked(0x1, CHANNELS[self.channel]))
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            opcode, length = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            if size - offset < head + length:
                break
            start = offset + head
            offset = start + length
            if opcode == 0x1:
                self.frames += 1
            elif opcode == 0x9:
                self.transport.write(masked(0xA, bytes(buffer[start:offset])))
        if offset:
            del buffer[:offset]


def scrape(port: int) -> dict[str, Any]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    series = [
        line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")
    ]
    clients = sum(float(v) for v in re.findall(r"^ws_clients\{[^}]*\} (\S+)$", text, re.M))
    disconnects = {
        reason: float(v)
        for reason, v in re.findall(r'^ws_disconnects_total\{reason="([^"]+)"\} (\S+)$', text, re.M)
    }
    return {
        "series": len(series),
        "names": set(series),
        "ws_clients": clients,
        "disconnects": disconnects,
    }


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def ms(values: list[float] | array[float], q: float) -> float:
    """The q-quantile of latencies in seconds, in ms (nan when there are none)."""
    return quantile(sorted(values), q) * 1000


async def rest_reader(
    port: int,
    users: list[dict[str, Any]],
    rate: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    """`rate` requests a second, one at a time per connection, from the full mix."""
    table = MIXES["full"]
    weights = [w for w, *_ in table]
    rng = random.Random(7)
    conns = [Connection(port) for _ in range(4)]

    async def one(conn: Connection, n: int) -> None:
        _, cls, method, template = rng.choices(table, weights)[0]
        user = users[n % len(users)]
        path = template.format(coin=rng.choice(COINS), pid=user["pid"])
        body = None
        if method == "POST":
            body = b'{"coin_id":"ethereum","side":"buy","quantity":"0.01","price":"2000"}'
        raw = build_request(method, path, user["token"] if cls != "read" else None, body)
        began = time.perf_counter()
        try:
            status, _ = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            errors.append(f"{type(exc).__name__} {method} {template}")
            return
        latencies.append(time.perf_counter() - began)
        if status >= 400:
            errors.append(f"{status} {method} {template}")

    n = 0
    while True:
        tasks = [asyncio.create_task(one(conn, n + i)) for i, conn in enumerate(conns)]
        n += len(conns)
        await asyncio.sleep(len(conns) / rate)
        await asyncio.gather(*tasks)


async def soak(args: argparse.Namespace, port: int, pid: int, users: list[dict[str, Any]]) -> None:
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{port}"
    stats = Stats()
    stats.measuring = True
    other = Stats()
    prices: list[CountingClient] = []
    for _ in range(args.price_clients):
        _, client = await loop.create_connection(
            lambda: CountingClient(stats, host), "127.0.0.1", port
        )
        prices.append(client)
    channel_clients: list[ChannelClient] = []
    for channel, count in (("analytics", args.analytics_clients), ("sentiment", 5)):
        for _ in range(count):
            _, client = await loop.create_connection(
                lambda c=channel: ChannelClient(other, host, c), "127.0.0.1", port
            )
            channel_clients.append(client)
    latencies: list[float] = []
    errors: list[str] = []
    reader = asyncio.create_task(rest_reader(port, users, args.rest_rate, latencies, errors))
    periods: list[dict[str, Any]] = []
    first_names: set[str] | None = None  # metric series after the warm-up period
    last_names: set[str] = set()
    started = time.monotonic()
    total = args.minutes * 60
    header = (
        f"{'min':>5} {'RSS MiB':>8} {'CPU %':>6} {'fds':>5} {'thr':>4} {'series':>7} "
        f"{'ws':>5} {'REST p50':>9} {'p99 ms':>8} {'n':>6} {'err':>4} "
        f"{'WS p50':>7} {'p99 ms':>7} {'frames/s':>9} {'idle':>5} {'quiet':>6}"
    )
    print(header, flush=True)
    cpu_before = cpu_seconds(pid)
    while time.monotonic() - started < total:
        seen = {id(c): c.frames for c in prices + channel_clients}
        period_started = time.monotonic()
        # Churn: clients that come, subscribe, take a few frames and go.
        churn = []
        for _ in range(args.churn):
            _, client = await loop.create_connection(
                lambda: CountingClient(Stats(), host), "127.0.0.1", port
            )
            churn.append(client)
        await asyncio.sleep(min(args.period, total - (time.monotonic() - started)) / 2)
        for client in churn:
            if client.transport is not None:
                client.transport.close()
        await asyncio.sleep(max(0.0, period_started + args.period - time.monotonic()))
        elapsed = time.monotonic() - period_started
        cpu_after = cpu_seconds(pid)
        metrics = await asyncio.to_thread(scrape, port)
        ws_lat, stats.latencies = stats.latencies, array("d")
        rest_lat, latencies[:] = list(latencies), []
        period_errors, errors[:] = list(errors), []
        idle = sum(1 for c in prices if c.frames == seen[id(c)])
        quiet_other = sum(
            1 for c in channel_clients if c.channel == "analytics" and c.frames == seen[id(c)]
        )
        if first_names is None and len(periods) == 1:
            first_names = metrics["names"]
        last_names = metrics["names"]
        row = {
            "minute": round((time.monotonic() - started) / 60, 1),
            "rss_mib": round(rss_bytes(pid) / 2**20, 1),
            "cpu_pct": round(100 * (cpu_after - cpu_before) / elapsed, 1),
            "fds": open_fds(pid),
            "threads": status_field(pid, "Threads"),
            "series": metrics["series"],
            "ws_clients": metrics["ws_clients"],
            "disconnects": metrics["disconnects"],
            "rest_p50_ms": round(ms(rest_lat, 0.5), 2),
            "rest_p99_ms": round(ms(rest_lat, 0.99), 2),
            "rest_n": len(rest_lat),
            "rest_errors": len(period_errors),
            "error_kinds": sorted(set(period_errors))[:5],
            "ws_p50_ms": round(ms(ws_lat, 0.5), 1),
            "ws_p99_ms": round(ms(ws_lat, 0.99), 1),
            "price_frames_per_s": round(len(ws_lat) / elapsed),
            "idle_price_clients": idle,
            "quiet_other_clients": quiet_other,
            "closed": stats.closed + other.closed,
        }
        cpu_before = cpu_after
        periods.append(row)
        print(
            f"{row['minute']:>5} {row['rss_mib']:>8} {row['cpu_pct']:>6} {row['fds']:>5} "
            f"{row['threads']:>4} {row['series']:>7} {row['ws_clients']:>5.0f} "
            f"{row['rest_p50_ms']:>9} {row['rest_p99_ms']:>8} {row['rest_n']:>6} "
            f"{row['rest_errors']:>4} {row['ws_p50_ms']:>7} {row['ws_p99_ms']:>7} "
            f"{row['price_frames_per_s']:>9} {idle:>5} {quiet_other:>6}",
            flush=True,
        )
        if period_errors:
            print(f"#   errors: {row['error_kinds']}", flush=True)
    reader.cancel()
    sentiment = [c.frames for c in channel_clients if c.channel == "sentiment"]
    for client in prices + channel_clients:
        if client.transport is not None:
            client.transport.close()
    summarize(periods, args)
    new = sorted(last_names - (first_names or last_names))
    print(f"# metric series new since the end of the warm-up: {len(new)}")
    for name in new[:30]:
        print(f"#   {name}")
    print(f"# sentiment clients' frames over the run (updates come with the news): {sentiment}")


def summarize(periods: list[dict[str, Any]], args: argparse.Namespace) -> None:
    steady = periods[1:] if len(periods) > 2 else periods
    first, last = steady[0], steady[-1]
    half = steady[len(steady) // 2 :]
    slope = 0.0
    if len(half) >= 2:
        xs = [p["minute"] for p in half]
        ys = [p["rss_mib"] for p in half]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0
    summary = {
        "minutes": args.minutes,
        "period_s": args.period,
        "warm_up_period_excluded": len(periods) > 2,
        "rss_mib_first_last_max": [
            first["rss_mib"],
            last["rss_mib"],
            max(p["rss_mib"] for p in steady),
        ],
        "rss_growth_mib": round(last["rss_mib"] - first["rss_mib"], 1),
        "rss_slope_mib_per_hour_second_half": round(slope * 60, 1),
        "fds_first_last": [first["fds"], last["fds"]],
        "threads_first_last": [first["threads"], last["threads"]],
        "metric_series_first_last": [first["series"], last["series"]],
        "rest_p50_ms_first_last": [first["rest_p50_ms"], last["rest_p50_ms"]],
        "rest_p99_ms_first_last": [first["rest_p99_ms"], last["rest_p99_ms"]],
        "ws_p50_ms_first_last": [first["ws_p50_ms"], last["ws_p50_ms"]],
        "ws_p99_ms_first_last": [first["ws_p99_ms"], last["ws_p99_ms"]],
        "rest_requests": sum(p["rest_n"] for p in periods),
        "rest_errors": sum(p["rest_errors"] for p in periods),
        "periods_with_an_idle_price_client": sum(1 for p in steady if p["idle_price_clients"]),
        "periods_with_a_quiet_analytics_client": sum(1 for p in steady if p["quiet_other_clients"]),
        "client_sockets_closed_by_the_server": periods[-1]["closed"],
        "disconnects_by_reason": periods[-1]["disconnects"],
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--period", type=float, default=60.0, help="seconds per report line")
    parser.add_argument("--price-clients", type=int, default=100)
    parser.add_argument("--analytics-clients", type=int, default=10)
    parser.add_argument("--churn", type=int, default=20, help="clients that come and go")
    parser.add_argument("--rest-rate", type=float, default=20.0, help="REST requests a second")
    parser.add_argument("--redis-url", help="default: the in-process cache")
    args = parser.parse_args()
    print(
        f"# bench/soak.py {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}; {args.minutes:g} min, "
        f"{args.price_clients} price + {args.analytics_clients} analytics + 5 sentiment "
        f"clients, {args.churn} coming and going per period, {args.rest_rate:g} REST req/s",
        flush=True,
    )
    # Tokens outlive the run (the longest a setting allows).
    env = server_env(args.redis_url, CRYPTODASH_ACCESS_TOKEN_TTL_SECONDS="86400")  # noqa: S106
    with (
        tempfile.TemporaryDirectory() as tmp,
        settled_demo(Path(tmp), env) as server,
    ):
        port = server.port
        users = register_users(server.base, 4, f"soak{os.getpid()}x")
        with suppress(ImportError):
            import uvloop

            uvloop.install()
        asyncio.run(soak(args, port, server.pid, users))
        log = Path(tmp) / "server.log"
        errors = [line for line in log.read_text().splitlines() if '"level":"error"' in line]
        last = f"; last: {errors[-1][:300]}" if errors else ""
        print(f"# server log: {len(errors)} error lines{last}")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
