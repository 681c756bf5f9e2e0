"""End to end: the demo simulator → the bus (in-process, and Kafka with PostgreSQL and Redis)
→ the persister → `/api/market/coins` and `/candles`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.coins import DEFAULT_COINS
from tests.apps import make_settings, running
from tests.helpers import eventually


def demo_settings(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    overrides: dict[str, Any] = {
        "demo": True,
        "simulator_history_days": 0.05,  # 72 minutes of 1m candles, 36 hours of hourly ones
        "simulator_ticks_per_second": 200,
        "simulator_seed": 7,
    }
    if request.param == "kafka":
        overrides.update(
            kafka_bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
            bus_topic_prefix=request.getfixturevalue("topic_prefix"),
            kafka_session_timeout_ms=2000,
            database_url=request.getfixturevalue("pg_url"),
            redis_url=request.getfixturevalue("redis_url"),
        )
    return make_settings(data_dir, **overrides)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    return demo_settings(request, data_dir)


async def test_demo_shows_twenty_moving_coins_with_candles_at_every_interval(
    settings: Any,
) -> None:
    async with running(settings) as (_, client):
        first: dict[str, Any] = {}

        async def all_priced() -> bool:
            coins = (await client.get("/api/market/coins")).json()["coins"]
            if not all(c["price"] is not None and not c["stale"] for c in coins):
                return False
            first.update({c["coin_id"]: c for c in coins})
            return True

        await eventually(all_priced, timeout=30)
        assert list(first) == list(DEFAULT_COINS)
        assert len(first) == 20
        for coin in first.values():
            assert list(coin["sources"]) == ["simulator"]
            assert coin["change_24h_pct"] is not None
            assert coin["high_24h"] >= coin["price"] >= coin["low_24h"]
            assert coin["volume_24h"] > 0

        async def moved() -> bool:
            coins = (await client.get("/api/market/coins")).json()["coins"]
            changed = [c for c in coins if c["price"] != first[c["coin_id"]]["price"]]
            return len(changed) >= 15

        await eventually(moved, timeout=15)

        for interval in INTERVAL_NAMES:
            body = (
                await client.get(
                    "/api/market/bitcoin/candles", params={"interval": interval, "limit": 1000}
                )
            ).json()
            assert (body["source"], body["quote"]) == ("simulator", "USD")
            assert len(body["candles"]) >= 2, interval
            times = [c["time"] for c in body["candles"]]
            assert times == sorted(times)

        stats = (await client.get("/api/market/stats")).json()
        assert stats["coins_priced"] == 20
        assert stats["sources"] == {"simulator": {"coins": 20, "fresh": 20}}

        metrics = (await client.get("/metrics")).text
        assert 'bus_messages_total{direction="consumed",topic="price_updates"}' in metrics
        latency = [
            line
            for line in metrics.splitlines()
            if line.startswith("price_update_latency_seconds_count")
        ]
        assert latency
        assert float(latency[0].split()[-1]) > 0
