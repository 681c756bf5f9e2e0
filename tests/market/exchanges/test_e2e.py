"""End to end: fake Binance and Coinbase → the connectors → the bus (in-process, and Kafka
with PostgreSQL and Redis) → the persister → `/api/market/coins`, `/candles`, `/sources`,
readiness and metrics; then a dropped connection heals and is reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import make_settings, running
from tests.fakes import FakeBinance, FakeCoinbase
from tests.helpers import eventually

COINS = ["bitcoin", "ethereum", "solana"]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeBinance, FakeCoinbase]]:
    async with (
        FakeBinance(symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], trades_per_second=4) as binance,
        FakeCoinbase(products=["BTC-USD", "ETH-USD", "SOL-USD", "USDT-USD"]) as coinbase,
    ):
        yield binance, coinbase


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def settings(
    request: pytest.FixtureRequest, data_dir: Path, fakes: tuple[FakeBinance, FakeCoinbase]
) -> Any:
    binance, coinbase = fakes
    overrides: dict[str, Any] = {
        "coins": COINS,
        "exchanges": ["binance", "coinbase"],
        "binance_ws_url": binance.ws_url,
        "binance_rest_url": binance.rest_url,
        "coinbase_ws_url": coinbase.ws_url,
        "coinbase_rest_url": coinbase.rest_url,
        "backfill_days": 0.05,
        "feed_stale_seconds": 10,
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


async def test_live_prices_history_health_and_a_healed_drop(
    settings: Any, fakes: tuple[FakeBinance, FakeCoinbase]
) -> None:
    binance, coinbase = fakes
    async with running(settings) as (_, client):

        async def all_priced() -> list[dict[str, Any]] | None:
            coins = (await client.get("/api/market/coins")).json()["coins"]
            ok = all(
                c["price"] is not None
                and not c["stale"]
                and set(c["sources"]) == {"binance", "coinbase"}
                and not c["usdt_rate_assumed"]  # Coinbase's USDT-USD converts Binance's USDT
                for c in coins
            )
            return coins if ok else None

        coins = await eventually(all_priced, timeout=60)
        assert [c["coin_id"] for c in coins] == COINS
        btc = coins[0]
        assert btc["sources"]["binance"]["quote"] == "USDT"
        assert btc["sources"]["coinbase"]["quote"] == "USD"
        assert 60_000 < btc["price"] < 75_000

        async def hour_of_minutes() -> bool:
            for source in ("binance", "coinbase"):
                body = (
                    await client.get(
                        "/api/market/bitcoin/candles",
                        params={"interval": "1m", "limit": 1000, "source": source},
                    )
                ).json()
                times = [c["time"] for c in body["candles"]]
                if len(times) < 61 or times[-61:] != list(range(times[-61], times[-1] + 1, 60)):
                    return False
            return True

        await eventually(hour_of_minutes, timeout=60)

        async def four_hours() -> bool:  # built from Coinbase's 1h history
            body = (
                await client.get(
                    "/api/market/ethereum/candles",
                    params={"interval": "4h", "source": "coinbase", "limit": 1000},
                )
            ).json()
            return len(body["candles"]) >= 60

        await eventually(four_hours, timeout=60)

        async def sources() -> dict[str, Any]:
            body = (await client.get("/api/market/sources")).json()
            return {s["exchange"]: s for s in body["sources"]}

        listed = await eventually(
            lambda: _when(sources(), lambda s: all(v["connected"] for v in s.values())), 30
        )
        assert list(listed) == ["binance", "coinbase"]
        for status in listed.values():
            assert status["state"] == "connected"
            assert status["messages"] > 0
            assert status["last_message_at"] is not None
            assert status["candles_backfilled"] > 0
            assert status["reconnects"] == 0
        assert listed["coinbase"]["symbols"] == 4  # the three coins and USDT-USD

        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["feeds"]["status"] == "ok"
        assert ready["checks"]["feeds"]["exchanges"] == {
            "binance": "connected",
            "coinbase": "connected",
        }
        metrics = (await client.get("/metrics")).text
        assert 'exchange_connection_up{exchange="binance"} 1.0' in metrics
        assert 'exchange_connection_up{exchange="coinbase"} 1.0' in metrics
        assert 'exchange_messages_total{exchange="coinbase"}' in metrics

        await binance.drop_all()
        await coinbase.drop_all(1001, "going away")
        healed = await eventually(
            lambda: _when(
                sources(),
                lambda s: (
                    all(v["connected"] and v["reconnects"] >= 1 for v in s.values())
                    and all(v["gaps_found"] >= 1 for v in s.values())
                ),
            ),
            timeout=60,
        )
        assert binance.connects >= 2
        assert coinbase.connects >= 2
        assert healed["binance"]["last_disconnect_at"] is not None
        before = {c["coin_id"]: c["sources"]["binance"]["updated_at"] for c in coins}

        async def moving_again() -> bool:
            now = (await client.get("/api/market/coins")).json()["coins"]
            return all(c["sources"]["binance"]["updated_at"] > before[c["coin_id"]] for c in now)

        await eventually(moving_again, timeout=30)


async def _when(value: Any, check: Any) -> Any:
    result = await value
    return result if check(result) else None
