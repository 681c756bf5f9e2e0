"""Redis stopped and started under a running app (a private `redis-server`, never the shared
one): reads fall through to the database, rate limiting falls back to per-process buckets,
`/health/ready` says degraded and names the cache, nothing answers 5xx; when Redis is back
everything returns to it by itself within seconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from cryptodash.market import service
from cryptodash.market.candles import Candle
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.fakes.binance import FakeBinance
from tests.faults.servers import PrivateRedis
from tests.helpers import eventually
from tests.users.accounts import new_account

# Far back, where the feed's backfill never writes: these candles are only the test's.
HOUR = (int(datetime.now(UTC).timestamp()) - 800 * 86_400) // 3600 * 3600
ANON_LIMIT = 40


def history(shift: int) -> list[Candle]:
    return [
        Candle(HOUR - 3600 * k, D(90000 + k + shift), D(91000 + k), D(89000), D(90500), D(10))
        for k in range(1, 25)
    ]


async def seed(platform: Platform, shift: int) -> None:
    assert platform.db is not None
    await asyncio.wait_for(platform.schema_ready.wait(), 60)  # migrated (a slow start)
    async with platform.db.session() as session:
        await service.ingest_candles(
            session, coin_id="bitcoin", source="binance", interval="1h", candles=history(shift)
        )


async def first_open(client: httpx.AsyncClient) -> float:
    response = await client.get(
        "/api/market/bitcoin/candles",
        params={"interval": "1h", "source": "binance", "start": HOUR - 24 * 3600, "end": HOUR},
    )
    assert response.status_code == 200, response.text
    candles = response.json()["candles"]
    assert len(candles) == 24
    return float(candles[-1]["open"])


async def cache_keys(redis: aioredis.Redis) -> list[bytes]:
    return [key async for key in redis.scan_iter("candles:*")]


def metric(text: str, line_start: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(line_start):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_redis_outage_degrades_and_recovers(
    private_redis: PrivateRedis, pg_url: str, data_dir: Path
) -> None:
    async with FakeBinance(symbols=["BTCUSDT", "ETHUSDT"], trades_per_second=2) as exchange:
        await outage(private_redis, pg_url, data_dir, exchange)


async def outage(
    private_redis: PrivateRedis, pg_url: str, data_dir: Path, exchange: FakeBinance
) -> None:
    settings = make_settings(
        data_dir,
        sentiment_model="vader",  # no model download in the background
        database_url=pg_url,
        redis_url=private_redis.url,
        exchanges=["binance"],
        coins=["bitcoin", "ethereum"],
        binance_ws_url=exchange.ws_url,
        binance_rest_url=exchange.rest_url,
        rate_limit_anon_per_min=ANON_LIMIT,
    )
    direct = aioredis.Redis.from_url(private_redis.url)
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform
        await seed(platform, 0)
        account = await new_account(client)
        portfolio_before = await client.get("/api/portfolio", headers=account.headers)
        assert portfolio_before.status_code == 200, portfolio_before.text

        # Healthy: the candle body is cached in Redis and served from there.
        assert await first_open(client) == 90001
        assert await cache_keys(direct)
        ready = await client.get("/health/ready")
        assert ready.json()["checks"]["cache"]["status"] == "ok"

        # ------------------------------------------------------------ Redis down
        private_redis.stop()
        await direct.aclose()
        # New data in the database: a read that answers it came from the database, not from
        # a copy of the cache somewhere.
        await seed(platform, 1000)
        errors_before = metric(
            (await client.get("/metrics")).text, 'cache_requests_total{result="error"}'
        )

        # (Candle bodies are served stale while one refresh runs: the new data comes next.)
        async def from_database() -> bool:
            return await first_open(client) == 91001

        await eventually(from_database, timeout=10, interval=0.1)

        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert "cache" in body["failing"]
        assert body["checks"]["cache"]["status"] == "down"
        assert body["checks"]["database"]["status"] == "ok"

        # Signed-in routes keep working (session state falls through to the database) …
        portfolio = await client.get("/api/portfolio", headers=account.headers)
        assert portfolio.status_code == 200, portfolio.text
        again = await new_account(client)
        assert (await client.get("/api/users/me", headers=again.headers)).status_code == 200

        # … and rate limiting still limits, in this process's own buckets: a fresh address
        # gets its limit (plus what refills during the burst), then 429 with our error body.
        limited = await burst(app, "10.9.9.9", ANON_LIMIT + 30)
        assert limited[:ANON_LIMIT] == [200] * ANON_LIMIT, limited
        assert 429 in limited[ANON_LIMIT:], limited
        assert set(limited) == {200, 429}, limited
        metrics_text = (await client.get("/metrics")).text
        assert metric(metrics_text, 'cache_requests_total{result="error"}') > errors_before

        # ------------------------------------------------------------ Redis back (empty)
        private_redis.start()
        direct = aioredis.Redis.from_url(private_redis.url)

        async def recovered() -> bool:
            response = await client.get("/health/ready")
            return response.status_code == 200 and response.json()["status"] == "ok"

        await eventually(recovered, timeout=15, interval=0.2)

        async def cached_again() -> bool:
            await first_open(client)
            return bool(await cache_keys(direct))

        await eventually(cached_again, timeout=10, interval=0.2)
        assert await first_open(client) == 91001
        # Served from Redis now: change the database under it and the cached body stays
        # (twice: a stale body is only ever served once before its refresh lands).
        await seed(platform, 2000)
        assert await first_open(client) == 91001
        await asyncio.sleep(0.2)
        assert await first_open(client) == 91001

        # The limiter is back on Redis (shared buckets: keys appear there).
        async def limiter_on_redis() -> bool:
            await burst(app, "10.8.8.8", 1)
            return bool([key async for key in direct.scan_iter("ratelimit:*")])

        await eventually(limiter_on_redis, timeout=15, interval=0.5)
        await direct.aclose()


async def burst(app: Any, ip: str, count: int) -> list[int]:
    """`count` requests from one client address; the status codes, in order."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(count):
            response = await client.get("/api/market/coins")
            if response.status_code == 429:
                assert response.json()["error"]["code"]
                assert response.headers["retry-after"]
            statuses.append(response.status_code)
    return statuses
