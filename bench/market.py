"""Market data figures: tick pipeline throughput, and `/api/market/coins` under load.

    .venv/bin/python bench/market.py                      # everything (starts its own Tansu)
    .venv/bin/python bench/market.py --only pipeline --ticks 50000
    .venv/bin/python bench/market.py --only api --duration 10 --connections 32
    .venv/bin/python bench/market.py --kafka host:9092 --database-url postgresql://… \
        --redis-url redis://…/0                           # other backends

1. *Pipeline*: Binance-format trade frames for 20 coins go through normalize (symbol → coin,
   `Decimal` parsing) → publish (`TickPublisher`) → the persister (per-second `prices` rows,
   candles of six intervals, offsets) → the cache (`price:{coin}`), on the in-process bus and
   on Kafka (Tansu). The clock runs from the first frame until every tick is written and the
   last one is in the cache.
2. *API*: `cryptodash up --demo` (simulator ticking, persister writing) and, next to it, a
   bare FastAPI app returning the same bytes as `/api/market/coins`; each is served by one
   uvicorn process and loaded by a separate process holding N keep-alive connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    all_priced,
    clean_env,
    demo_server,
    free_port,
    process,
    quantile,
    tansu,
    timed_calls,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- pipeline


def binance_frames(count: int, symbols: list[str]) -> list[dict[str, Any]]:
    """`<symbol>@trade` payloads as Binance sends them (strings for numbers, ms times)."""
    rng = random.Random(1)
    prices = {s: 10 ** rng.uniform(-5, 5) for s in symbols}
    start_ms = int(time.time() * 1000) - count
    frames = []
    for n in range(count):
        symbol = symbols[n % len(symbols)]
        prices[symbol] *= 1 + rng.gauss(0, 0.0005)
        frames.append(
            {
                "e": "trade",
                "E": start_ms + n,
                "s": symbol,
                "t": n,
                "p": f"{prices[symbol]:.8f}",
                "q": f"{rng.uniform(0.001, 5):.8f}",
                "T": start_ms + n,
                "m": bool(n % 2),
                "M": True,
            }
        )
    return frames


async def pipeline(
    label: str,
    ticks: int,
    *,
    kafka: str | None,
    database_url: str | None,
    redis_url: str | None,
) -> dict[str, Any]:
    from cryptodash.market.coins import Universe
    from cryptodash.market.consumer import GROUP, PricePersister
    from cryptodash.market.ingest import PRICE_UPDATES, TickPublisher
    from cryptodash.market.normalize import make_tick, timestamp_from_ms
    from cryptodash.market.service import price_key
    from cryptodash.platform import schema
    from cryptodash.platform.bus import KafkaBus, MemoryBus
    from cryptodash.platform.cache import build_cache
    from cryptodash.platform.db import Database
    from cryptodash.platform.metrics import Metrics

    metrics = Metrics()
    universe = Universe.from_settings(_settings())
    symbols = sorted(universe.symbols("binance"))
    frames = binance_frames(ticks, symbols)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(database_url or f"sqlite:///{tmp}/bench.db", metrics=metrics)
        await schema.upgrade(db.engine)
        cache = build_cache(redis_url, metrics)
        prefix = f"bench{int(time.time() * 1000)}."
        bus: Any
        if kafka:
            bus = KafkaBus(kafka, metrics, topic_prefix=prefix, session_timeout_ms=2000)
        else:
            bus = MemoryBus(metrics, max_pending=100_000)
        await bus.start()
        persister = PricePersister(
            db=db,
            cache=cache,
            metrics=metrics,
            universe=universe,
            durable_offsets=bool(kafka),
            consumer=f"{prefix}{GROUP}",
        )
        subscription = await bus.subscribe([PRICE_UPDATES], GROUP, persister)
        if kafka:
            await subscription.wait_assigned()
        flusher = asyncio.create_task(persister.run())
        publisher = TickPublisher(bus, metrics)
        last = frames[-1]
        last_coin = universe.coin_for_symbol("binance", last["s"])
        assert last_coin is not None
        last_stamp = timestamp_from_ms(last["T"]).isoformat(timespec="milliseconds")

        started = time.perf_counter()
        for frame in frames:
            coin_id = universe.coin_for_symbol("binance", frame["s"])
            if coin_id is None:
                continue
            tick = make_tick(
                coin_id, "binance", frame["p"], frame["q"], timestamp_from_ms(frame["T"]), "USDT"
            )
            await publisher.publish(tick)
        await publisher.flush()
        published = time.perf_counter() - started

        def applied() -> int:
            return sum(persister._next_offset.values())  # bench: peeking is fine

        expected = ticks - publisher.failed
        deadline = time.monotonic() + 300
        while applied() < expected or not persister.settled:
            if time.monotonic() > deadline:
                raise RuntimeError(f"persisted {applied()} of {expected} ticks in 300 s")
            await asyncio.sleep(0.01)
        while not publisher.failed:  # the last tick's price is served from the cache
            raw = await cache.get(price_key(last_coin))
            entry = json.loads(raw) if raw else {}
            stamp = (entry.get("sources", {}).get("binance") or {}).get("updated_at", "")
            if stamp.replace("Z", "+00:00") == last_stamp:
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started

        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await subscription.stop()
        await bus.close()
        async with db.session() as session:
            from sqlalchemy import func, select

            from cryptodash.market.models import CandleRecord, Price

            rows = await session.scalar(select(func.count()).select_from(Price))
            candles = await session.scalar(select(func.count()).select_from(CandleRecord))
        await cache.close()
        await db.close()
    return {
        "run": label,
        "ticks": ticks,
        "publish_per_s": round(ticks / published),
        "end_to_end_per_s": round(ticks / elapsed),
        "seconds": round(elapsed, 2),
        "publish_failed": publisher.failed,
        "price_rows": rows,
        "candle_rows": candles,
    }


def _settings() -> Any:
    from cryptodash.config import Settings

    return Settings(exchanges=["binance"], coins=[], demo=False)


# --------------------------------------------------------------------------- API load


BARE_APP = """
import sys
from fastapi import FastAPI, Response
import uvicorn
body = open(sys.argv[2], "rb").read()
app = FastAPI()

@app.get("/api/market/coins")
async def coins() -> Response:
    return Response(body, media_type="application/json")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


async def _load_worker(
    port: int, path: str, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


async def _load(
    port: int, path: str, connections: int, duration: float, warmup: float
) -> dict[str, Any]:
    warm: list[float] = []
    await asyncio.gather(
        *(
            _load_worker(port, path, time.perf_counter() + warmup, warm, [])
            for _ in range(connections)
        )
    )
    latencies: list[float] = []
    errors: list[int] = []
    began = time.perf_counter()
    await asyncio.gather(
        *(_load_worker(port, path, began + duration, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": round(len(latencies) / elapsed),
        "p50_ms": round(quantile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(quantile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def load(port: int, path: str, connections: int, duration: float) -> dict[str, Any]:
    """Run the load generator in its own process (the server gets the other core)."""
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load-port",
            str(port),
            "--load-path",
            path,
            "--connections",
            str(connections),
            "--duration",
            str(duration),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def _history_complete(http: httpx.Client, coins: list[dict[str, Any]]) -> bool:
    """Every coin priced, and the older history written: it is written coin by coin, so done
    when the last coin has its three days of 5m candles and 1000+ hourly ones."""
    if not all_priced(http, coins):
        return False
    url = f"/api/market/{coins[-1]['coin_id']}/candles"
    fives = http.get(url, params={"interval": "5m", "limit": 1000}).json()["candles"]
    hours = http.get(url, params={"interval": "1h", "limit": 1000}).json()["candles"]
    return len(fives) >= 860 and len(hours) == 1000


def _median_row(endpoint: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in rounds))

    return {
        "endpoint": endpoint,
        "rounds": len(rounds),
        "rps": round(median("rps")),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(r["errors"] for r in rounds),
        "rps_per_round": [r["rps"] for r in rounds],
        "p99_per_round": [r["p99_ms"] for r in rounds],
    }


def api(
    connections: int,
    duration: float,
    rounds: int,
    redis_url: str | None,
    log_level: str | None = None,
) -> list[dict[str, Any]]:
    """Both servers up at once (the idle one costs nothing); loads alternate between them so
    both see the same machine, and the medians over the rounds are reported."""
    env = clean_env()
    if redis_url:
        env["REDIS_URL"] = redis_url
    if log_level:
        env["CRYPTODASH_LOG_LEVEL"] = log_level
    # One client IP makes every call here: lift the per-IP limit, or the bench measures 429s.
    env["CRYPTODASH_RATE_LIMIT_ANON_PER_MIN"] = "100000000"
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo_server(Path(tmp), env, ready=_history_complete, timeout=120, poll=0.1) as server,
    ):
        port = server.port
        priced_after, history_after = server.priced_after, server.ready_after
        body = httpx.get(f"{server.base}/api/market/coins").content
        body_file = Path(tmp) / "coins.json"
        body_file.write_bytes(body)
        bare_port = free_port()
        bare = [sys.executable, "-c", BARE_APP, str(bare_port), str(body_file)]
        with process(bare, env):
            wait_for_port(bare_port)
            ours: list[dict[str, Any]] = []
            plain: list[dict[str, Any]] = []
            floor: list[dict[str, Any]] = []
            for _ in range(rounds):
                ours.append(load(port, "/api/market/coins", connections, duration))
                plain.append(load(bare_port, "/api/market/coins", connections, duration))
                floor.append(load(port, "/health", connections, duration))
            candles = "/api/market/bitcoin/candles?interval=1m&limit=500"
            chart = [load(port, candles, connections, duration)]
    backend = "Redis" if redis_url else "in-process"
    return [
        {
            "demo_start_to_20_coins_priced_s": round(priced_after, 2),
            "demo_start_to_all_history_s": round(history_after, 2),
            "coins_body_bytes": len(body),
        },
        _median_row(f"/api/market/coins (demo running, {backend} cache)", ours),
        _median_row("bare FastAPI, same bytes", plain),
        _median_row("/health of the same server (the request pipeline alone)", floor),
        _median_row("/api/market/bitcoin/candles 1m x500", chart),
    ]


async def asgi(rounds: int = 7, calls: int = 1000) -> list[dict[str, Any]]:
    """CPU per request with no network and no load generator: the app called directly, best
    of `rounds` (robust to a busy machine). Request logging goes to a null stream."""
    from fastapi import FastAPI, Response

    from cryptodash.app import create_app
    from cryptodash.config import Settings
    from cryptodash.platform.logging import configure_logging

    with open(os.devnull, "w") as null:  # noqa: ASYNC230 - once, before anything runs
        sys.stdout = null
        configure_logging(service="bench", level="INFO", json=True)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                app = create_app(
                    Settings(
                        demo=True,
                        data_dir=Path(tmp),
                        simulator_history_days=0.02,
                        # Lifted (the limiter still runs): every call here is one client, and
                        # the figures are of answers, not of 429s.
                        rate_limit_anon_per_min=100_000_000,
                    )
                )
                async with app.router.lifespan_context(app):
                    while True:
                        _, sent = await timed_calls(app, "/api/market/coins", 1)
                        coins = json.loads(sent[1]["body"])["coins"]
                        if all(c["price"] is not None for c in coins):
                            break
                        await asyncio.sleep(0.2)
                    body = sent[1]["body"]
                    bare = FastAPI()

                    @bare.get("/api/market/coins")
                    async def coins_route() -> Response:
                        return Response(body, media_type="application/json")

                    best: dict[str, float] = {}
                    targets = {
                        "/api/market/coins": (app, "/api/market/coins"),
                        "bare FastAPI, same bytes": (bare, "/api/market/coins"),
                        "/health (the request pipeline alone)": (app, "/health"),
                    }
                    for _ in range(rounds):
                        for name, (target, path) in targets.items():
                            us, _ = await timed_calls(target, path, calls)
                            best[name] = min(best.get(name, us), us)
        finally:
            sys.stdout = sys.__stdout__
    return [{"in_process": name, "us_per_request": round(us, 1)} for name, us in best.items()]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["pipeline", "api", "asgi"])
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--kafka", help="bootstrap servers (default: start a Tansu)")
    parser.add_argument("--database-url", help="default: a SQLite file")
    parser.add_argument("--redis-url", help="default: the in-process cache")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-log-level", help="CRYPTODASH_LOG_LEVEL of the served app")
    parser.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-path", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.load_port:
        job = _load(args.load_port, args.load_path, args.connections, args.duration, 2.0)
        print(json.dumps(asyncio.run(job)))
        return

    print(f"# bench/market.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  cores={os.cpu_count()}")
    if args.only in (None, "pipeline"):
        common = {"database_url": args.database_url, "redis_url": args.redis_url}
        db = "PostgreSQL" if args.database_url else "SQLite"
        result = asyncio.run(pipeline(f"in-process bus, {db}", args.ticks, kafka=None, **common))
        print(json.dumps(result))
        if args.kafka:
            result = asyncio.run(pipeline(f"Kafka, {db}", args.ticks, kafka=args.kafka, **common))
        else:
            with tansu() as bootstrap:
                result = asyncio.run(
                    pipeline(f"Kafka (Tansu), {db}", args.ticks, kafka=bootstrap, **common)
                )
        print(json.dumps(result))
    if args.only in (None, "asgi"):
        for row in asyncio.run(asgi()):
            print(json.dumps(row))
    if args.only in (None, "api"):
        rows = api(
            args.connections, args.duration, args.rounds, args.redis_url, args.server_log_level
        )
        for row in rows:
            print(json.dumps(row))


if __name__ == "__main__":
    main()
