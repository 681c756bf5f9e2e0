"""End to end with the demo simulator (in-process, and Kafka with PostgreSQL and Redis): every
coin of the demo answers at every interval, the consumer keeps live values, the correlation job
fills its matrix, and the consumer's live values agree with the REST computation over the
candles the market stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from cryptodash.analytics import indicators as ind
from cryptodash.analytics import service
from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.coins import DEFAULT_COINS
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.helpers import eventually


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    overrides: dict[str, Any] = {
        "demo": True,
        "simulator_history_days": 0.05,  # 72 minutes of 1m candles, 36 hours of hourly ones
        "simulator_ticks_per_second": 200,
        "simulator_seed": 11,
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


async def test_demo_analytics_for_every_coin_and_interval(settings: Any) -> None:
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform

        async def live_summary() -> Any:
            raw = await platform.cache.get(service.metric_key("summary", "bitcoin", "1m"))
            return raw and orjson.loads(raw)["live"]

        await eventually(live_summary, timeout=30)

        for coin in DEFAULT_COINS:
            for interval in INTERVAL_NAMES:

                async def indicators(coin: str = coin, interval: str = interval) -> Any:
                    r = await client.get(
                        f"/api/analytics/{coin}/indicators",
                        params={"interval": interval, "limit": 50},
                    )
                    assert r.status_code == 200, (coin, interval, r.text)
                    # The simulator writes older history in the background after its first tick.
                    return r.json() if r.json()["candles"] else None

                body = await eventually(indicators, timeout=60)
                assert body["source"] == "simulator"
                assert body["candles"], (coin, interval)
                assert len(body["series"]["sma_20"]) == len(body["candles"])
                s = await client.get(
                    f"/api/analytics/{coin}/summary", params={"interval": interval}
                )
                assert s.status_code == 200, (coin, interval, s.text)
                assert len(s.json()["signals"]) == 5

        # The consumer's live SMA over the forming minute is the batch SMA over the stored
        # closed candles and the forming one's close.
        async def consistent() -> bool:
            entry = orjson.loads(
                await platform.cache.get(service.metric_key("sma_20", "ethereum", "1m")) or b"{}"
            )
            assert platform.db is not None
            async with platform.db.read_session() as session:
                series = await service.load_series(
                    session, service_universe(platform), "ethereum", "1m", live=True
                )
            if not entry.get("live"):
                return False
            # The stored candles up to the consumer's forming one (a loaded consumer may lag the
            # persister by a bucket), with the consumer's own close for it: the stored forming
            # candle may already hold ticks the consumer publishes next second.
            times = [c.time for c in series.candles]
            at = _epoch(entry["time"])
            if at not in times:
                return False
            closes = series.closes()[: times.index(at) + 1]
            closes[-1] = entry["close"]
            return bool(entry["value"] == pytest.approx(ind.sma(closes, 20)[-1], rel=1e-12))

        await eventually(consistent, timeout=60, interval=0.3)

        async def correlated() -> bool:
            body = (await client.get("/api/analytics/correlation?interval=1m")).json()
            matrix = np.array(body["matrix"], dtype=float)
            return bool(body["coins"] == list(DEFAULT_COINS) and np.isfinite(matrix).all())

        await eventually(correlated, timeout=20)
        vol = (await client.get("/api/analytics/volatility?interval=1h&window=24")).json()
        assert len(vol["coins"]) == 20
        assert all(c["volatility"] and c["volatility"] > 0 for c in vol["coins"])


def service_universe(platform: Platform) -> Any:
    from cryptodash.market.coins import Universe

    return Universe.from_settings(platform.settings)


def _epoch(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp())
