"""The edge cache (`cryptodash.edge`): the store's bounds and expiry, and the gateway answering
public reads marked `fresh_for` from it — the same bytes, for no longer than the route allows,
with the gateway's own work (request id, CORS, security headers, rate limit, metrics) done on
every request, and nothing cached that is not a whole 200 of a marked public GET."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cryptodash.edge import EdgeCache, edge_ttl, fresh_for
from cryptodash.gateway.middleware import Gateway
from cryptodash.market.consumer import GROUP
from cryptodash.market.ingest import publish_tick
from cryptodash.market.normalize import Tick
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.helpers import eventually

D = Decimal
ALLOWED = "https://dash.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(cache: EdgeCache, path: str, body: bytes, ttl: float = 1.0, query: bytes = b"") -> None:
    cache.put(path, query, status=200, headers=[], body=body, route=path, ttl=ttl)


# --------------------------------------------------------------------------- the store


def test_an_answer_is_served_until_it_expires() -> None:
    clock = Clock()
    cache = EdgeCache(clock=clock)
    put(cache, "/a", b"one", ttl=0.5)
    clock.now += 0.49
    answer = cache.get("/a", b"")
    assert answer is not None
    assert answer.body == b"one"
    clock.now += 0.01
    assert cache.get("/a", b"") is None
    assert len(cache) == 0
    assert cache.size_bytes == 0


def test_the_query_string_is_part_of_the_key() -> None:
    cache = EdgeCache(clock=Clock())
    put(cache, "/c", b"hourly", query=b"interval=1h")
    put(cache, "/c", b"minutely", query=b"interval=1m")
    assert cache.get("/c", b"interval=1h").body == b"hourly"  # type: ignore[union-attr]
    assert cache.get("/c", b"interval=1m").body == b"minutely"  # type: ignore[union-attr]
    assert cache.get("/c", b"") is None


def test_entries_and_bytes_are_bounded_oldest_stored_first() -> None:
    cache = EdgeCache(max_entries=3, max_bytes=10, clock=Clock())
    for name in "abcd":
        put(cache, f"/{name}", b"xx")
    assert len(cache) == 3
    assert cache.get("/a", b"") is None
    put(cache, "/e", b"123456")  # four entries (one too many) and 12 bytes: b goes
    assert [p for p in "abcde" if cache.get(f"/{p}", b"")] == ["c", "d", "e"]
    assert cache.size_bytes == 10
    put(cache, "/e", b"1")  # replacing an answer counts its new size only
    assert cache.size_bytes == 5
    put(cache, "/f", b"12345678")  # 13 bytes in three entries: c and d go
    assert [p for p in "abcdef" if cache.get(f"/{p}", b"")] == ["e", "f"]
    assert cache.size_bytes == 9
    put(cache, "/big", b"x" * 11)  # larger than the whole cache: never stored
    assert cache.get("/big", b"") is None
    assert cache.size_bytes == 9


async def test_an_expired_public_url_is_refreshed_once_and_waited_for() -> None:
    clock = Clock()
    cache = EdgeCache(clock=clock)
    assert cache.follow("/never-kept", b"") == (None, False)  # unknown: everyone asks the app
    put(cache, "/a", b"one", ttl=0.5)
    clock.now += 1
    assert cache.get("/a", b"") is None
    assert cache.follow("/a", b"") == (None, True)  # the first request after expiry refreshes
    waiting, leads = cache.follow("/a", b"")  # the next ones wait for it
    assert waiting is not None
    assert not leads
    assert cache.follow("/a", b"") == (waiting, False)
    put(cache, "/a", b"two", ttl=0.5)  # the refresh kept its answer: they all get it
    assert waiting.done()
    assert waiting.result().body == b"two"  # type: ignore[union-attr]
    cache.refreshed("/a", b"", None)  # the refresher's own end: a no-op now

    clock.now += 1
    assert cache.follow("/a", b"") == (None, True)
    waiting, _ = cache.follow("/a", b"")
    cache.refreshed("/a", b"", None)  # not kept (an error): the waiting ones ask the app
    assert waiting is not None
    assert waiting.result() is None
    assert cache.follow("/a", b"") == (None, True)  # and the next miss refreshes again
    waiting, _ = cache.follow("/a", b"")
    cache.clear()
    assert waiting is not None
    assert waiting.result() is None
    assert cache.follow("/a", b"") == (None, False)


def test_fresh_for_marks_the_endpoint_and_refuses_silly_ttls() -> None:
    @fresh_for(0.5)
    async def endpoint() -> None: ...

    assert edge_ttl(endpoint) == 0.5
    assert edge_ttl(lambda: None) is None
    for bad in (0, -1, 61):
        with pytest.raises(ValueError, match="edge TTL"):
            fresh_for(bad)


# --------------------------------------------------------------------------- through the app


@pytest.fixture
async def edge_app(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Platform, Clock]]:
    settings = make_settings(
        tmp_path,
        coins="bitcoin,ethereum",
        exchanges="binance",
        price_stale_seconds=3600,
        edge_cache=True,
        cors_origins=ALLOWED,
        rate_limit_anon_per_min=40,
    )
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform
        await eventually(lambda: GROUP in platform.bus._groups)  # type: ignore[attr-defined]
        gateway = app.gateway
        assert isinstance(gateway, Gateway)
        assert gateway.edge is not None
        clock = Clock()
        gateway.edge = EdgeCache(clock=clock)
        await tick(platform, "bitcoin", "100000")
        await tick(platform, "ethereum", "3000")

        async def priced() -> bool:
            return None not in await platform.cache.get_many(["price:bitcoin", "price:ethereum"])

        await eventually(priced)
        clock.now += 10
        yield client, platform, clock


async def tick(platform: Platform, coin: str, price: str) -> None:
    at = datetime.now(UTC) - timedelta(milliseconds=10)
    await publish_tick(platform.bus, Tick(coin, "binance", D(price), D("1"), at, "USDT"))


def counter(platform: Platform, metric: Any, *labels: str) -> float:
    value: float = metric.labels(*labels)._value.get()
    return value


async def test_a_marked_read_is_answered_from_the_edge_until_its_ttl(edge_app: Any) -> None:
    client, platform, clock = edge_app
    metrics = platform.metrics
    first = await client.get("/api/market/bitcoin")
    assert first.status_code == 200
    assert first.json()["price"] == 100000
    lookups = counter(platform, metrics.cache_requests, "hit")
    hits = counter(platform, metrics.edge_cache, "hit")
    routed = counter(platform, metrics.http_requests, "GET", "/api/market/{coin_id}", "200")

    await tick(platform, "bitcoin", "101000")

    async def moved() -> bool:  # the price behind the route has changed...
        entry = await platform.cache.get("price:bitcoin")
        return entry is not None and orjson.loads(entry)["price"] == 101000

    await eventually(moved)
    lookups = counter(platform, metrics.cache_requests, "hit")
    clock.now += 0.4  # ...but within the route's 0.5 s the edge answers the same bytes
    second = await client.get("/api/market/bitcoin")
    assert second.status_code == 200
    assert second.content == first.content
    assert counter(platform, metrics.cache_requests, "hit") == lookups  # the app was not asked
    assert counter(platform, metrics.edge_cache, "hit") == hits + 1
    # Routed or not, a request is counted under its route template.
    assert (
        counter(platform, metrics.http_requests, "GET", "/api/market/{coin_id}", "200")
        == routed + 1
    )
    # The gateway's own headers are made per request, not replayed.
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    for name in ("content-type", "x-content-type-options", "content-security-policy"):
        assert second.headers[name] == first.headers[name]

    clock.now += 0.1  # expired: the app answers again, with the new price
    third = await client.get("/api/market/bitcoin")
    assert third.json()["price"] == 101000


async def test_the_query_string_selects_the_answer(edge_app: Any) -> None:
    client, _, _ = edge_app
    hourly = await client.get("/api/market/bitcoin/candles", params={"interval": "1h"})
    minutely = await client.get("/api/market/bitcoin/candles", params={"interval": "1m"})
    assert hourly.json()["interval"] == "1h"
    assert minutely.json()["interval"] == "1m"
    again = await client.get("/api/market/bitcoin/candles", params={"interval": "1h"})
    assert again.content == hourly.content


async def test_errors_unmarked_and_authenticated_routes_are_not_kept(edge_app: Any) -> None:
    client, platform, _ = edge_app
    stores = counter(platform, platform.metrics.edge_cache, "miss")
    for _ in range(2):
        assert (await client.get("/api/market/nocoin")).status_code == 404
        bad = await client.get("/api/market/bitcoin/candles", params={"interval": "7m"})
        assert bad.status_code == 422
        assert (await client.get("/api/market/sources")).status_code == 200  # not marked
        assert (await client.get("/api/portfolio")).status_code == 401
    assert counter(platform, platform.metrics.edge_cache, "miss") == stores
    # A marked route's 200 is kept once, then served.
    await client.get("/api/market/coins")
    await client.get("/api/market/coins")
    assert counter(platform, platform.metrics.edge_cache, "miss") == stores + 1


async def test_cors_headers_follow_each_request_not_the_cached_one(edge_app: Any) -> None:
    client, _, _ = edge_app
    allowed = await client.get("/api/market/coins", headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    other = await client.get("/api/market/coins", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert other.content == allowed.content
    assert "access-control-allow-origin" not in other.headers
    plain = await client.get("/api/market/coins")
    assert "access-control-allow-origin" not in plain.headers


async def test_the_rate_limit_applies_to_cached_answers(edge_app: Any) -> None:
    client, _, _ = edge_app
    statuses = [(await client.get("/api/market/coins")).status_code for _ in range(60)]
    assert statuses[0] == 200
    assert 429 in statuses
    limited = await client.get("/api/market/coins")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"


async def test_concurrent_misses_of_an_expired_url_reach_the_app_once(
    edge_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a cache that answers after a round trip (Redis), the requests arriving while one
    refreshes an expired answer wait for it: the route runs once, every request gets the new
    price. When the refresh fails, each waiting request is answered by the app itself."""
    client, platform, clock = edge_app
    assert (await client.get("/api/market/bitcoin")).status_code == 200
    await tick(platform, "bitcoin", "102000")

    async def moved() -> bool:
        entry = await platform.cache.get("price:bitcoin")
        return entry is not None and orjson.loads(entry)["price"] == 102000

    await eventually(moved)
    cache = platform.cache
    real_get_many = cache.get_many
    asked: list[str] = []

    async def slow_get_many(keys: Any) -> list[bytes | None]:
        asked.append(",".join(keys))
        await asyncio.sleep(0.05)  # a round trip, during which the other requests arrive
        return await real_get_many(keys)

    async def slow_get(key: str) -> bytes | None:
        return (await slow_get_many([key]))[0]

    monkeypatch.setattr(cache, "get_many", slow_get_many)
    monkeypatch.setattr(cache, "get", slow_get)
    routed = counter(platform, platform.metrics.edge_cache, "miss")
    clock.now += 1
    answers = await asyncio.gather(*(client.get("/api/market/bitcoin") for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert {a.json()["price"] for a in answers} == {102000}
    assert len({a.headers["x-request-id"] for a in answers}) == 8
    assert counter(platform, platform.metrics.edge_cache, "miss") == routed + 1  # one store
    assert len(asked) == 1  # one pass through the route

    async def failing_get_many(keys: Any) -> list[bytes | None]:
        asked.append(",".join(keys))
        await asyncio.sleep(0.05)
        raise RuntimeError("the cache broke")

    monkeypatch.setattr(cache, "get_many", failing_get_many)
    asked.clear()
    clock.now += 1
    answers = await asyncio.gather(*(client.get("/api/market/bitcoin") for _ in range(3)))
    assert [a.status_code for a in answers] == [500] * 3
    assert [a.json()["error"]["code"] for a in answers] == ["internal_error"] * 3
    assert len(asked) == 3  # the refresh failed: each waiting request went to the app
