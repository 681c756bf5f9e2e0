"""WebSocket fan-out: N clients on `/ws/prices`, all subscribed to every coin, against
`cryptodash up --demo` at the demo tick rate.

    .venv/bin/python bench/ws_fanout.py [--clients 100,1000,5000] [--seconds 20]

For each N: a fresh all-in-one server (one process, demo simulator at
CRYPTODASH_SIMULATOR_TICKS_PER_SECOND, 40 by default), N clients spread over client processes,
then a measured window. Reports the exchange timestamp → client receive latency (p50, p99,
max, over every price frame received in the window), the server's own view of it (the
ws_send_latency_seconds histogram: exchange timestamp → frame written, as a bucket bound),
the frames delivered per second, the frames the server wrote and conflated per second, the
server process's CPU over the window, and the time its threads were runnable but waited for a
CPU (`srv wait`, from /proc/<pid>/task/*/schedstat: on a shared machine, latency that other
processes cause).

The clients are a minimal WebSocket implementation on raw asyncio protocols (handshake,
frame parsing, masked client frames), so the client side costs little next to the server;
they still share the machine's cores with it. Frame timestamps have millisecond resolution
(truncated), so latencies read up to 1 ms high.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import re
import statistics
import struct
import sys
import tempfile
import time
from array import array
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    cli_up,
    cpu_seconds,
    free_port,
    process,
    quantile,
    server_env,
    wait_for_health,
)

SUBSCRIBE = b'{"action": "subscribe", "coins": ["*"]}'
TIMESTAMP = b'"timestamp":"'


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


# --------------------------------------------------------------------------- one client


class Stats:
    def __init__(self) -> None:
        self.latencies = array("d")
        self.frames = 0
        self.measuring = False
        self.connected = 0
        self.closed = 0
        self.stamps: dict[bytes, float] = {}

    def stamp(self, text: bytes) -> float:
        found = self.stamps.get(text)
        if found is None:
            if len(self.stamps) > 10_000:
                self.stamps.clear()
            found = self.stamps[text] = datetime.fromisoformat(text.decode()).timestamp()
        return found


class Client(asyncio.Protocol):
    def __init__(self, stats: Stats, host: str) -> None:
        self.stats = stats
        self.host = host
        self.buffer = bytearray()
        self.open = False
        self.transport: Any = None  # asyncio.Transport, or uvloop's (not a subclass)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16))
        self.transport.write(
            b"GET /ws/prices HTTP/1.1\r\nHost: " + self.host.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed += 1

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buffer[:end]).decode())
            del buffer[: end + 4]
            self.open = True
            self.stats.connected += 1
            assert self.transport is not None
            self.transport.write(masked(0x1, SUBSCRIBE))
        stats = self.stats
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            opcode, length = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, head = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
            if size - offset < head + length:
                break
            start = offset + head
            offset = start + length
            if opcode == 0x1:
                if stats.measuring:
                    at = buffer.find(TIMESTAMP, start, offset)
                    if at >= 0:
                        stats.frames += 1
                        text = bytes(buffer[at + 13 : at + 37])
                        stats.latencies.append(now - stats.stamp(text))
            elif opcode == 0x9 and self.transport is not None:  # ping
                self.transport.write(masked(0xA, bytes(buffer[start:offset])))
        if offset:
            del buffer[:offset]


# --------------------------------------------------------------------------- the server


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (/proc schedstat):
    on a shared machine, the part of the latency that is other processes' doing."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return total / 1e9


def scrape(port: int) -> dict[str, float]:
    """The server's ws_* counters and its ws_send_latency_seconds buckets (prices)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    values: dict[str, float] = {}
    pattern = re.compile(r'^(ws_messages_\w+_total)\{channel="prices"\} (\S+)$', re.M)
    for name, value in pattern.findall(text):
        values[name] = float(value)
    buckets = re.compile(
        r'^ws_send_latency_seconds_bucket\{channel="prices",le="([^"]+)"\} (\S+)$', re.M
    )
    for bound, value in buckets.findall(text):
        values[f"le:{bound}"] = float(value)
    return values


def bucket_quantile(before: dict[str, float], after: dict[str, float], q: float) -> str:
    """The histogram bucket bound under which a fraction q of the window's samples fall."""
    bounds = sorted((float(k[3:]), k) for k in after if k.startswith("le:"))
    total = after.get("le:+Inf", 0) - before.get("le:+Inf", 0)
    if not total:
        return "-"
    for bound, key in bounds:
        if after[key] - before.get(key, 0) >= q * total:
            return f"≤{bound * 1000:g}" if bound != float("inf") else ">10000"
    return "-"


def fanout_env() -> dict[str, str]:
    """`_common.server_env` (rate limits lifted: every client here connects from one IP, and
    a thousand handshakes a minute is past the per-IP WebSocket limit) with a quiet log."""
    return server_env(
        CRYPTODASH_LOG_LEVEL="WARNING",
        # A short history: the first start writes it, and writing days of it would share the
        # measured window with the fan-out.
        CRYPTODASH_SIMULATOR_HISTORY_DAYS="0.05",
    )


def one(
    clients: int, seconds: float, settle: float, existing: tuple[int, int] | None = None
) -> dict[str, Any]:
    processes: list[Any] = []
    with tempfile.TemporaryDirectory() as data_dir, ExitStack() as stack:
        log = Path(data_dir) / "server.log"
        if existing is None:
            port = free_port()
            server = stack.enter_context(process(cli_up(port, data_dir), fanout_env(), log))
            wait_for_health(port, timeout=60)
            pid = server.pid
        else:
            port, pid = existing
        try:
            time.sleep(settle)  # start-up work (history, caches) out of the way
            workers = 1 if clients <= 500 else 2
            shares = [clients // workers + (i < clients % workers) for i in range(workers)]
            ctx = mp.get_context("spawn")
            pipes, readies = [], []
            start_at = time.time() + 3600  # replaced once everyone is connected
            shared_start = ctx.Value("d", start_at)
            for share in shares:
                receive, send = ctx.Pipe(duplex=False)
                ready = ctx.Event()
                client = ctx.Process(
                    target=_client_entry,
                    args=(port, share, shared_start, seconds, send, ready),
                    daemon=True,
                )
                client.start()
                pipes.append(receive)
                processes.append(client)
                readies.append(ready)
            connect_started = time.monotonic()
            for ready in readies:
                if not ready.wait(300):
                    raise RuntimeError("clients did not connect within 300 s")
            connect_seconds = time.monotonic() - connect_started
            start_at = time.time() + 2.0  # every client has its snapshot; then measure
            shared_start.value = start_at
            time.sleep(max(0.0, start_at - time.time()))
            cpu_before, metrics_before = cpu_seconds(pid), scrape(port)
            wait_before = runqueue_wait_seconds(pid)
            time.sleep(seconds)
            cpu_after, metrics_after = cpu_seconds(pid), scrape(port)
            wait_after = runqueue_wait_seconds(pid)
            results = []
            for pipe in pipes:
                if not pipe.poll(120):
                    raise RuntimeError("a client process sent no results")
                results.append(pipe.recv())
            for client in processes:
                client.join(30)
        except BaseException:
            if existing is None and server.poll() is not None:
                sys.stderr.write(log.read_bytes()[-5000:].decode(errors="replace"))
                sys.stderr.write(f"\nthe server exited with {server.returncode}\n")
            raise
        finally:
            for client in processes:
                if client.is_alive():
                    client.kill()
    latencies = array("d")
    frames = connected = closed = 0
    for count, raw, ok, lost in results:
        frames += count
        connected += ok
        closed += lost
        part = array("d")
        part.frombytes(raw)
        latencies.extend(part)
    ordered = sorted(latencies)

    sent = metrics_after.get("ws_messages_sent_total", 0) - metrics_before.get(
        "ws_messages_sent_total", 0
    )
    conflated = metrics_after.get("ws_messages_conflated_total", 0) - metrics_before.get(
        "ws_messages_conflated_total", 0
    )
    return {
        "clients": clients,
        "connected": connected,
        "dropped": closed,
        "connect_s": connect_seconds,
        "p50_ms": quantile(ordered, 0.50, 0.0) * 1000,
        "p99_ms": quantile(ordered, 0.99, 0.0) * 1000,
        "max_ms": ordered[-1] * 1000 if ordered else 0.0,
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else 0.0,
        "delivered_per_s": frames / seconds,
        "sent_per_s": sent / seconds,
        "conflated_per_s": conflated / seconds,
        "server_cpu_pct": (cpu_after - cpu_before) / seconds * 100,
        "server_wait_pct": (wait_after - wait_before) / seconds * 100,
        "server_p50": bucket_quantile(metrics_before, metrics_after, 0.50),
        "server_p99": bucket_quantile(metrics_before, metrics_after, 0.99),
    }


def _client_entry(
    port: int, count: int, shared_start: Any, seconds: float, out: Any, ready: Any
) -> None:
    """One client process: connect `count` clients, then measure from the shared start time
    (set once every process has connected its clients)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stats = Stats()
        host = f"127.0.0.1:{port}"
        for batch in range(0, count, 100):
            await asyncio.gather(
                *(
                    loop.create_connection(lambda: Client(stats, host), "127.0.0.1", port)
                    for _ in range(min(100, count - batch))
                )
            )
        while stats.connected < count:  # noqa: ASYNC110 - handshakes finish in callbacks
            await asyncio.sleep(0.05)
        ready.set()
        while shared_start.value > time.time() + 1800:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, shared_start.value - time.time()))
        stats.measuring = True
        await asyncio.sleep(seconds)
        stats.measuring = False
        out.send((stats.frames, stats.latencies.tobytes(), stats.connected, stats.closed))

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000,5000", help="comma-separated N")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after start-up")
    parser.add_argument(
        "--server", metavar="PORT:PID", help="measure a running server instead of starting one"
    )
    args = parser.parse_args()
    existing = None
    if args.server:
        port, pid = args.server.split(":")
        existing = (int(port), int(pid))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    header = (
        f"{'clients':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'srv p50':>8} {'srv p99':>8} "
        f"{'recv/s':>9} {'sent/s':>9} {'confl/s':>8} {'srv CPU':>8} {'srv wait':>8} "
        f"{'connect':>8} {'dropped':>7}"
    )
    print(header, flush=True)
    for n in (int(part) for part in args.clients.split(",")):
        r = one(n, args.seconds, args.settle, existing)
        print(
            f"{r['clients']:>8} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} "
            f"{r['server_p50']:>8} {r['server_p99']:>8} "
            f"{r['delivered_per_s']:>9.0f} {r['sent_per_s']:>9.0f} {r['conflated_per_s']:>8.0f} "
            f"{r['server_cpu_pct']:>7.0f}% {r['server_wait_pct']:>7.0f}% "
            f"{r['connect_s']:>7.1f}s {r['dropped']:>7}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
