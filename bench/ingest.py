"""Ingest figures: websocket frames per second through the Binance connector (receive, parse,
normalize, publish) on the in-process bus and on Kafka, and `price_update_latency_seconds`
(exchange event time → price in the cache) at that load.

    .venv/bin/python bench/ingest.py                       # both buses (starts its own Tansu)
    .venv/bin/python bench/ingest.py --only memory --frames 300000 --rate 50000
    .venv/bin/python bench/ingest.py --kafka host:9092     # another broker

A separate process plays the exchange: a bare websocket server (handshake, then unmasked text
frames written in batches, pings answered) sending Binance combined-stream `trade` frames for
the 20 default coins, so the server costs the measured process nothing.

1. *Throughput*: the server sends `--frames` frames as fast as it can; the clock runs from the
   first frame received to the last tick handed over — on the in-process bus delivered to a
   consumer group (a counting handler: the bus's whole cost, not the persister's), on Kafka
   acknowledged by the broker.
2. *Latency at load*: the server paces `--rate` frames/s (Kafka: `--kafka-rate`), then lower
   rates (`--also`), for `--seconds` each, stamping each trade with the send time; the market
   persister consumes in the same process (SQLite, in-process cache, the default 0.25 s flush)
   and observes `price_update_latency_seconds` when it writes a price to the cache. Exact
   p50/p99 of those observations (the first `--warmup` seconds left out), the rate received
   and whether the whole pipeline kept up (a backlog makes the latency grow without bound).

Throughput runs `--rounds` times; the median and the best are reported (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from _common import free_port, process, quantile, tansu, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --------------------------------------------------------------------------- the exchange


def ws_frame(payload: bytes) -> bytes:
    """An unmasked server text frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", size) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", size) + payload


def trade_frame(symbol: str, trade_id: int, price: float, at_ms: int) -> bytes:
    payload = (
        f'{{"stream":"{symbol.lower()}@trade","data":{{"e":"trade","E":{at_ms},"s":"{symbol}",'
        f'"t":{trade_id},"p":"{price:.8f}","q":"0.01500000","T":{at_ms},"m":false,"M":true}}}}'
    )
    return ws_frame(payload.encode())


async def _answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the client's (masked) frames; answer pings, ignore the rest."""
    while True:
        head = await reader.readexactly(2)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(size)))
        if opcode == 0x9:
            writer.write(bytes((0x8A, len(data))) + data)
        elif opcode == 0x8:
            return


async def serve(port: int, symbols: list[str], frames: int, rate: float, seconds: float) -> None:
    """Accept one client; send `frames` as fast as possible (rate 0) or `rate` per second
    for `seconds`, then keep the socket open until the client goes."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 - RFC 6455
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        pings = asyncio.create_task(_answer_pings(reader, writer))
        prices = {s: 10.0 ** (1 + n % 5) for n, s in enumerate(symbols)}
        sent = 0
        if rate <= 0:
            now_ms = int(time.time() * 1000)
            batch = []
            for n in range(frames):
                symbol = symbols[n % len(symbols)]
                batch.append(trade_frame(symbol, n, prices[symbol] * (1 + n % 7 / 1e4), now_ms))
                if len(batch) == 500:
                    writer.write(b"".join(batch))
                    batch.clear()
                    await writer.drain()
            writer.write(b"".join(batch))
            await writer.drain()
        else:
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate) - sent
                if due > 0:
                    now_ms = int(time.time() * 1000)
                    chunk = [
                        trade_frame(
                            symbols[(sent + i) % len(symbols)],
                            sent + i,
                            prices[symbols[(sent + i) % len(symbols)]],
                            now_ms,
                        )
                        for i in range(due)
                    ]
                    writer.write(b"".join(chunk))
                    sent += due
                    await writer.drain()
                await asyncio.sleep(0.001)
        with suppress(Exception):
            await pings

    server = await asyncio.start_server(client, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- the client


def _setup() -> tuple[Any, dict[str, str]]:
    from cryptodash.config import Settings
    from cryptodash.market.coins import Universe

    universe = Universe.from_settings(Settings(exchanges=["binance"], coins=[]))
    symbols = {s: c for s, c in universe.symbols("binance").items() if c in universe.ids}
    return universe, symbols


def _server(port: int, symbols: dict[str, str], frames: int, rate: float, seconds: float) -> Any:
    return process(
        [
            sys.executable,
            __file__,
            "--serve",
            str(port),
            "--frames",
            str(frames),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--symbols",
            ",".join(sorted(symbols)),
        ],
        grace=15,
    )


def _bus(kafka: str | None, metrics: Any) -> Any:
    from cryptodash.platform.bus import KafkaBus, MemoryBus

    if kafka:
        prefix = f"bench{int(time.time() * 1000)}."
        return KafkaBus(kafka, metrics, topic_prefix=prefix, session_timeout_ms=2000)
    return MemoryBus(metrics, max_pending=100_000)


def _feed(port: int, symbols: dict[str, str], publisher: Any) -> Any:
    from cryptodash.market.exchanges.binance import BinanceFeed
    from cryptodash.market.exchanges.feed import FeedQuirks

    return BinanceFeed(
        ws_url=f"ws://127.0.0.1:{port}",
        symbols=symbols,
        publisher=publisher,
        quirks=FeedQuirks(lifetime=3600, stale_after=60),
    )


async def throughput(frames: int, kafka: str | None) -> dict[str, Any]:
    from cryptodash.market.ingest import PRICE_UPDATES, TickPublisher
    from cryptodash.platform.metrics import Metrics

    _, symbols = _setup()
    metrics = Metrics()
    bus = _bus(kafka, metrics)
    await bus.start()
    delivered = 0

    async def count(_message: Any) -> None:
        nonlocal delivered
        delivered += 1

    subscription = None
    if not kafka:
        subscription = await bus.subscribe([PRICE_UPDATES], "bench.count", count)
    publisher = TickPublisher(bus, metrics, max_in_flight=5000)
    port = free_port()
    feed = _feed(port, symbols, publisher)
    with _server(port, symbols, frames, 0, 0):
        wait_for_port(port, 30)
        task = asyncio.create_task(feed.run())
        while feed.status.messages == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.0005)
        started = time.perf_counter()
        while feed.status.messages < frames:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        await publisher.flush()
        while not kafka and delivered < frames:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if subscription is not None:
        await subscription.stop()
    await bus.close()
    return {
        "bus": "kafka" if kafka else "memory",
        "frames": frames,
        "frames_per_s": round(frames / elapsed),
        "seconds": round(elapsed, 2),
        "ticks": feed.status.ticks,
        "failed_publishes": publisher.failed,
    }


async def latency(rate: float, seconds: float, kafka: str | None, warmup: float) -> dict[str, Any]:
    from cryptodash.market.consumer import GROUP, PricePersister
    from cryptodash.market.ingest import PRICE_UPDATES, TickPublisher
    from cryptodash.platform import schema
    from cryptodash.platform.cache import MemoryCache
    from cryptodash.platform.db import Database
    from cryptodash.platform.metrics import Metrics

    universe, symbols = _setup()
    metrics = Metrics()
    observed: list[tuple[float, float]] = []
    histogram_observe = metrics.price_update_latency.observe

    def observe(value: float) -> None:
        observed.append((time.monotonic(), value))
        histogram_observe(value)

    metrics.price_update_latency.observe = observe  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db", metrics=metrics)
        await schema.upgrade(db.engine)
        cache = MemoryCache(metrics)
        bus = _bus(kafka, metrics)
        await bus.start()
        persister = PricePersister(
            db=db,
            cache=cache,
            metrics=metrics,
            universe=universe,
            durable_offsets=bool(kafka),
            consumer=f"{getattr(bus, 'prefix', '')}{GROUP}",
        )
        subscription = await bus.subscribe([PRICE_UPDATES], GROUP, persister)
        if kafka:
            await subscription.wait_assigned()
        flusher = asyncio.create_task(persister.run())
        publisher = TickPublisher(bus, metrics, max_in_flight=5000)
        port = free_port()
        feed = _feed(port, symbols, publisher)
        with _server(port, symbols, 0, rate, seconds):
            wait_for_port(port, 30)
            task = asyncio.create_task(feed.run())
            while feed.status.messages == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            began = time.monotonic()
            await asyncio.sleep(seconds + 1.0)
            received = feed.status.messages
            await publisher.flush()
            deadline = time.monotonic() + 30
            while not persister.settled and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await subscription.stop()
        await bus.close()
        await db.close()
    # Every tick sent after the warm-up, the backlog drained after the end included.
    values = sorted(v for at, v in observed if at - began >= warmup)
    window = [v for at, v in observed if warmup <= at - began <= seconds]
    if not values:
        raise RuntimeError("no latency observed")

    def pick(q: float) -> float:
        return round(quantile(values, q) * 1000, 1)

    return {
        "bus": "kafka" if kafka else "memory",
        "offered_per_s": rate,
        "received_per_s": round(received / seconds),
        "persisted_per_s": round(len(window) / max(seconds - warmup, 1e-9)),
        "kept_up": len(window) >= 0.95 * rate * (seconds - warmup),
        "seconds": seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
    }


def rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = sorted(r["frames_per_s"] for r in runs)
    return {
        **runs[0],
        "rounds": len(runs),
        "frames_per_s": round(statistics.median(rates)),
        "best_per_s": rates[-1],
        "per_round": [r["frames_per_s"] for r in runs],
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["memory", "kafka"])
    parser.add_argument("--kafka", help="bootstrap servers (default: start a Tansu)")
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--kafka-frames", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--kafka-rate", type=float, default=20_000)
    parser.add_argument("--also", type=float, nargs="*", default=[5000, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--symbols", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(
            serve(args.serve, args.symbols.split(","), args.frames, args.rate, args.seconds)
        )
        return
    sys.path.insert(0, str(ROOT / "src"))
    from cryptodash.platform.logging import configure_logging

    configure_logging(service="bench", level="WARNING", json=True)
    print(f"# bench/ingest.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"cores={os.cpu_count()}", flush=True)  # fmt: skip

    def run(bus: str | None, frames: int, rate: float) -> None:
        runs = [asyncio.run(throughput(frames, bus)) for _ in range(args.rounds)]
        print(json.dumps({"run": "throughput", **rounds(runs)}), flush=True)
        for offered in [rate, *args.also]:
            row = asyncio.run(latency(offered, args.seconds, bus, args.warmup))
            print(json.dumps({"run": "latency", **row}), flush=True)

    if args.only in (None, "memory"):
        run(None, args.frames, args.rate)
    if args.only in (None, "kafka"):
        with tansu() if not args.kafka else _given(args.kafka) as kafka:
            run(kafka, args.kafka_frames, args.kafka_rate)


@contextmanager
def _given(value: str) -> Iterator[str]:
    yield value


if __name__ == "__main__":
    main()
