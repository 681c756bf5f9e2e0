"""End to end: the demo simulator → the bus → the gateway's hub → `/ws/prices`, in one process
(in-process bus), and split: two `cryptodash serve gateway` processes on the Kafka-protocol
broker, each its own consumer group, a client on each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from cryptodash.market.coins import DEFAULT_COINS
from tests.apps import make_settings, running, serving
from tests.helpers import free_port
from tests.test_cli import clean_env, server, wait_healthy


def demo(data_dir: Path, **overrides: Any) -> Any:
    return make_settings(
        data_dir,
        demo=True,
        simulator_history_days=0.05,  # 72 minutes of 1m candles, 36 hours of hourly ones
        simulator_ticks_per_second=200,
        simulator_seed=3,
        **overrides,
    )


async def collect(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """The price updates that arrive within `seconds`, each stamped with its arrival."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            break
        frame = orjson.loads(raw)
        if frame["type"] == "price_update":
            frame["_lag"] = time.time() - datetime.fromisoformat(frame["timestamp"]).timestamp()
            frames.append(frame)
    return frames


async def test_demo_prices_reach_the_browser_socket(data_dir: Path) -> None:
    async with serving(demo(data_dir)) as (_, base), connect(f"{base}/ws/prices") as ws:
        await ws.send('{"action": "subscribe", "coins": ["*"]}')
        assert orjson.loads(await ws.recv())["type"] == "subscribed"
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 30
        # Every coin moves; the 24 h change appears once the market has cached its entry.
        while time.monotonic() < deadline and (
            len(seen) < 20 or any(f["change_24h"] is None for f in seen.values())
        ):
            for frame in await collect(ws, 1.0):
                seen[frame["coin_id"]] = frame
        assert sorted(seen) == sorted(DEFAULT_COINS)
        assert all(f["change_24h"] is not None for f in seen.values())
        assert all(f["sources"] == ["simulator"] for f in seen.values())
        frames = await collect(ws, 2.0)
        assert len(frames) > 100  # 200 ticks/s
        lags = sorted(f["_lag"] for f in frames)
        assert lags[len(lags) * 99 // 100] < 2.0  # the seed's bound, far from a tight one


@pytest.fixture
def kafka_env(
    kafka_bootstrap: str, topic_prefix: str, redis_url: str, pg_url: str
) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CRYPTODASH_BUS_TOPIC_PREFIX": topic_prefix,
        "REDIS_URL": redis_url,
        "DATABASE_URL": pg_url,
        "JWT_SECRET": "s" * 48,
    }


@pytest.fixture
def gateways(kafka_env: dict[str, str]) -> Iterator[list[int]]:
    """Two split gateway processes (no database) on the shared broker and Redis."""
    env = clean_env(**{k: v for k, v in kafka_env.items() if k != "DATABASE_URL"})
    env["CRYPTODASH_LOG_LEVEL"] = "WARNING"
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        for port in ports:
            stack.enter_context(server("serve", "gateway", "--port", str(port), env=env))
        for port in ports:
            wait_healthy(port, timeout=60)
        yield ports


@pytest.mark.integration
async def test_every_gateway_replica_fans_out_every_price(
    data_dir: Path, kafka_env: dict[str, str], gateways: list[int]
) -> None:
    settings = demo(
        data_dir,
        kafka_bootstrap_servers=kafka_env["KAFKA_BOOTSTRAP_SERVERS"],
        bus_topic_prefix=kafka_env["CRYPTODASH_BUS_TOPIC_PREFIX"],
        redis_url=kafka_env["REDIS_URL"],
        database_url=kafka_env["DATABASE_URL"],
        jwt_secret=kafka_env["JWT_SECRET"],
        kafka_session_timeout_ms=2000,
    )
    wanted = [{"bitcoin", "ethereum"}, {"bitcoin", "solana", "cardano"}]
    # The market (simulator and persister) runs here; the two gateways only fan out.
    async with running(settings):
        sockets = [await connect(f"ws://127.0.0.1:{port}/ws/prices") for port in gateways]
        try:
            for ws, coins in zip(sockets, wanted, strict=True):
                request = {"action": "subscribe", "coins": sorted(coins)}
                await ws.send(orjson.dumps(request).decode())
                assert orjson.loads(await ws.recv())["type"] == "subscribed"
            got: list[dict[str, list[dict[str, Any]]]] = [{}, {}]
            deadline = time.monotonic() + 60
            # Until each socket has its coins moving, and the 24 h change is known (a gateway
            # reads the market's 24 h opens from the cache every 2 s: the very first frames
            # after the market starts may come before it has them).
            while time.monotonic() < deadline and (
                any(
                    set(g) != w or any(len(v) < 5 for v in g.values())
                    for g, w in zip(got, wanted, strict=True)
                )
                or any(f["change_24h"] is None for f in got[0]["bitcoin"][-3:])
            ):
                batches = await asyncio.gather(*(collect(ws, 1.0) for ws in sockets))
                for seen, frames in zip(got, batches, strict=True):
                    for frame in frames:
                        seen.setdefault(frame["coin_id"], []).append(frame)
            for seen, coins in zip(got, wanted, strict=True):
                assert set(seen) == coins  # only the coins asked for, each moving
                assert all(len(frames) >= 5 for frames in seen.values())
            # Both replicas saw the same bitcoin ticks (each is its own consumer group).
            stamps = [{f["timestamp"] for f in seen["bitcoin"]} for seen in got]
            assert stamps[0] & stamps[1]
            assert all(f["change_24h"] is not None for f in got[0]["bitcoin"][-3:]), got[0][
                "bitcoin"
            ][-3:]
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
