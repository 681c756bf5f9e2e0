"""Feed health: the `feeds` readiness check (degraded, never 503) and `/api/market/sources`
when the exchanges cannot be reached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cryptodash.market.exchanges import feed as feed_module
from cryptodash.market.exchanges.feed import FeedStatus, feeds_check, publish_status
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.metrics import Metrics
from tests.apps import make_settings, running
from tests.helpers import eventually


async def test_a_feed_counts_as_down_only_after_a_grace_period() -> None:
    cache = MemoryCache(Metrics())
    started = time.time() - 100
    up = FeedStatus("binance", connections=1, connections_open=1, state="connected")
    up.down_since = None
    reconnecting = FeedStatus("coinbase", connections=1, state="reconnecting")
    reconnecting.down_since = time.time() - 5
    await publish_status(cache, up)
    await publish_status(cache, reconnecting)

    result = await feeds_check(cache, ["binance", "coinbase"], started)
    assert result == {
        "status": "ok",
        "exchanges": {"binance": "connected", "coinbase": "reconnecting"},
    }
    later = await feeds_check(cache, ["binance", "coinbase"], started, now=time.time() + 60)
    assert later["status"] == "down"
    assert "coinbase" in later["error"]
    assert "binance" not in later["error"]
    # No status at all (no replica runs the feed): down once the process has run a while.
    assert (await feeds_check(cache, ["kraken"], time.time()))["status"] == "ok"
    assert (await feeds_check(cache, ["kraken"], started))["status"] == "down"


async def test_unreachable_exchanges_degrade_readiness_and_show_in_sources(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "DOWN_AFTER", 0.5)
    settings = make_settings(data_dir, coins="bitcoin", exchanges="binance,coinbase")
    async with running(settings) as (_, client):

        async def degraded() -> dict[str, object] | None:
            response = await client.get("/health/ready")
            assert response.status_code == 200  # never 503 for a feed
            body = response.json()
            return body if body["status"] == "degraded" else None

        body = await eventually(degraded, timeout=30)
        assert body["failing"] == ["feeds"]
        assert body["checks"]["database"]["status"] == "ok"

        async def reported() -> list[dict[str, object]] | None:
            sources = (await client.get("/api/market/sources")).json()["sources"]
            return sources if all(s["state"] == "reconnecting" for s in sources) else None

        sources = await eventually(reported, timeout=30)
        assert [s["exchange"] for s in sources] == ["binance", "coinbase"]
        for source in sources:
            assert source["connected"] is False
            assert source["last_error"]
            assert source["down_since"] is not None
        coins = (await client.get("/api/market/coins")).json()["coins"]
        assert coins[0]["price"] is None  # nothing made up meanwhile
