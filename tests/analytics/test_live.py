"""End to end in an all-in-one app: ticks published on `price_updates` reach the analytics
consumer worker, whose live values the summary and the metric entries serve."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson

from cryptodash.analytics import service
from cryptodash.analytics.consumer import ANALYTICS_UPDATES, GROUP
from cryptodash.market.ingest import publish_tick
from cryptodash.market.normalize import Tick
from cryptodash.platform.bus import MemoryBus, Message
from cryptodash.runtime import Platform
from tests.analytics.conftest import away_from_a_minute_boundary, store, walk_candles
from tests.apps import make_settings, running
from tests.helpers import eventually


async def test_published_ticks_become_live_values(data_dir: Path) -> None:
    settings = make_settings(data_dir, coins=["bitcoin", "ethereum"], exchanges=["binance"])
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform
        bus = platform.bus
        assert isinstance(bus, MemoryBus)
        assert platform.db is not None
        await platform.schema_ready.wait()
        await away_from_a_minute_boundary()  # a tick then moves the live values at once
        minute = int(time.time() // 60) * 60
        await store(platform.db, "bitcoin", "1m", walk_candles(minute - 60 * 60, "1m", 60, seed=3))
        updates: list[Message] = []

        async def collect(message: Message) -> None:
            updates.append(message)

        await bus.subscribe([ANALYTICS_UPDATES], "test-listener", collect)
        await eventually(lambda: GROUP in bus._groups)
        await publish_tick(
            bus,
            Tick(
                "bitcoin", "binance", Decimal("31000.5"), Decimal("0.2"), datetime.now(UTC), "USDT"
            ),
        )
        raw = await eventually(
            lambda: platform.cache.get(service.metric_key("sma_20", "bitcoin", "1m")), timeout=15
        )
        entry = orjson.loads(raw)
        assert entry["live"] is True
        assert entry["close"] == 31000.5
        summary = (await client.get("/api/analytics/bitcoin/summary?interval=1m")).json()
        assert summary["live"] is True
        assert summary["close"] == 31000.5
        assert (
            summary["values"]["sma_50"]
            == orjson.loads(
                await platform.cache.get(service.metric_key("sma_50", "bitcoin", "1m")) or b""
            )["value"]
        )
        await eventually(lambda: {m.value["interval"] for m in updates} >= {"1m", "1d"})
