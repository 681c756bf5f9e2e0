"""One contract for both cache backends: the in-process TTL dict and the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cryptodash.platform import cache as cache_module
from cryptodash.platform.cache import Cache, MemoryCache, RedisCache, get_json, set_json
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.metrics import Metrics
from tests.helpers import free_port


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    metrics = Metrics()
    backend: Cache
    if request.param == "memory":
        backend = MemoryCache(metrics)
    else:
        backend = RedisCache(request.getfixturevalue("redis_url"), metrics)
    try:
        yield backend
    finally:
        await backend.close()


async def test_get_missing_is_none(cache: Cache) -> None:
    assert await cache.get("nope") is None


async def test_set_then_get(cache: Cache) -> None:
    await cache.set("price:bitcoin", b'{"price": 1}', ttl=10)
    assert await cache.get("price:bitcoin") == b'{"price": 1}'


async def test_overwrite(cache: Cache) -> None:
    await cache.set("k", b"1", ttl=10)
    await cache.set("k", b"2", ttl=10)
    assert await cache.get("k") == b"2"


async def test_entries_expire(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=0.2)
    await cache.set("long", b"y", ttl=10)
    await asyncio.sleep(0.35)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"y"


async def test_many(cache: Cache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"}, ttl=10)
    assert await cache.get_many(["a", "missing", "b"]) == [b"1", None, b"2"]
    assert await cache.get_many([]) == []


async def test_many_in_chunks_with_their_ttl(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "SET_MANY_CHUNK", 3)
    items = {f"k{i}": str(i).encode() for i in range(8)}
    await cache.set_many(items, ttl=0.3)
    assert await cache.get_many(list(items)) == list(items.values())
    await asyncio.sleep(0.45)
    assert await cache.get_many(list(items)) == [None] * 8


@pytest.mark.integration
async def test_redis_set_many_survives_a_flushed_script_cache(redis_url: str) -> None:
    cache = RedisCache(redis_url, Metrics())
    try:
        await cache.set_many({"a": b"1"}, ttl=10)
        await cache.client.script_flush()  # as after a Redis restart
        await cache.set_many({"a": b"2", "b": b"3"}, ttl=10)
        assert await cache.get_many(["a", "b"]) == [b"2", b"3"]
    finally:
        await cache.close()


async def test_delete(cache: Cache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"}, ttl=10)
    await cache.delete("a", "b", "never-there")
    assert await cache.get_many(["a", "b"]) == [None, None]


async def test_json_round_trip(cache: Cache) -> None:
    value = {"coin_id": "bitcoin", "price": 67123.45, "sources": {"binance": {"quote": "USDT"}}}
    await set_json(cache, "price:bitcoin", value, ttl=10)
    assert await get_json(cache, "price:bitcoin") == value
    assert await get_json(cache, "price:ether") is None


async def test_ping(cache: Cache) -> None:
    await cache.ping()


def test_memory_cache_evicts_least_recently_used() -> None:
    metrics = Metrics()
    cache = MemoryCache(metrics, max_entries=2)

    async def scenario() -> None:
        await cache.set("a", b"1", 10)
        await cache.set("b", b"2", 10)
        assert await cache.get("a") == b"1"  # a is now the most recent
        await cache.set("c", b"3", 10)
        assert await cache.get("b") is None
        assert await cache.get("a") == b"1"

    asyncio.run(scenario())
    assert metrics.registry.get_sample_value("cache_evictions_total") == 1


async def test_memory_cache_is_bounded_in_bytes() -> None:
    """Keys partly come from request parameters: whatever the keys, the values held stay
    under the byte bound, the newest kept."""
    metrics = Metrics()
    cache = MemoryCache(metrics, max_bytes=10_000)
    for n in range(100):
        await cache.set(f"candles:{n}", bytes(1000), 10)
    assert cache.size_bytes <= 10_000
    assert await cache.get("candles:99") == bytes(1000)
    assert await cache.get("candles:0") is None
    assert metrics.registry.get_sample_value("cache_evictions_total") >= 90
    await cache.set("candles:99", b"small", 10)  # a replaced value is not counted twice
    await cache.delete("candles:99", "candles:98")
    assert cache.size_bytes <= 10_000 - 2 * 1000
    assert await cache.get("candles:99") is None


async def test_hits_and_misses_are_counted() -> None:
    metrics = Metrics()
    cache = MemoryCache(metrics)
    await cache.set("a", b"1", 10)
    await cache.get("a")
    await cache.get_many(["a", "b"])
    sample = metrics.registry.get_sample_value
    assert sample("cache_requests_total", {"result": "hit"}) == 2
    assert sample("cache_requests_total", {"result": "miss"}) == 1


@pytest.mark.integration
async def test_redis_down_reads_miss_writes_drop_ping_raises() -> None:
    metrics = Metrics()
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", metrics, socket_timeout=0.5)
    try:
        assert await cache.get("a") is None
        assert await cache.get_many(["a", "b"]) == [None, None]
        await cache.set("a", b"1", 10)
        await cache.set_many({"a": b"1"}, 10)
        await cache.delete("a")
        with pytest.raises(BackendUnavailable):
            await cache.ping()
        assert metrics.registry.get_sample_value("cache_requests_total", {"result": "error"}) == 5
    finally:
        await cache.close()


@pytest.mark.integration
async def test_redis_reads_in_one_turn_go_as_one_mget(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads made in the same turn of the loop share one MGET, each getting its own keys'
    values (overlapping keys included) and counted as its own hits and misses."""
    metrics = Metrics()
    cache = RedisCache(redis_url, metrics)
    sent: list[list[str]] = []
    mget = cache.client.mget

    async def counted(keys: list[str]) -> object:
        sent.append(list(keys))
        return await mget(keys)

    monkeypatch.setattr(cache.client, "mget", counted)
    try:
        await cache.set_many({"a": b"1", "b": b"2", "c": b"3"}, ttl=10)
        answers = await asyncio.gather(
            cache.get("a"),
            cache.get_many(["b", "missing", "a"]),
            cache.get_many(["c"]),
            cache.get("missing"),
        )
        assert answers == [b"1", [b"2", None, b"1"], [b"3"], None]
        assert sent == [["a", "b", "missing", "c"]]
        sample = metrics.registry.get_sample_value
        assert sample("cache_requests_total", {"result": "hit"}) == 4
        assert sample("cache_requests_total", {"result": "miss"}) == 2
        # The next turn's reads are the next batch, and see the writes before them.
        await cache.set("a", b"changed", ttl=10)
        assert await cache.get_many(["a", "b"]) == [b"changed", b"2"]
        assert sent[1:] == [["a", "b"]]
    finally:
        await cache.close()


@pytest.mark.integration
async def test_redis_coalesced_read_cancelled_leaves_the_others_answered(redis_url: str) -> None:
    cache = RedisCache(redis_url, Metrics())
    try:
        await cache.set("a", b"1", ttl=10)
        gone = asyncio.ensure_future(cache.get("a"))
        kept = asyncio.ensure_future(cache.get("a"))
        await asyncio.sleep(0)  # both joined the batch; its MGET is on its way
        gone.cancel()
        assert await kept == b"1"
        with pytest.raises(asyncio.CancelledError):
            await gone
    finally:
        await cache.close()


@pytest.mark.integration
async def test_redis_close_cancels_reads_not_yet_sent(redis_url: str) -> None:
    cache = RedisCache(redis_url, Metrics())
    pending = asyncio.ensure_future(cache.get_many(["a", "b"]))
    await asyncio.sleep(0)  # joined a batch whose task has not run yet
    await cache.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, 2)


@pytest.mark.integration
async def test_redis_down_fails_a_batch_once_and_every_reader_misses() -> None:
    metrics = Metrics()
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", metrics, socket_timeout=0.5)
    try:
        answers = await asyncio.gather(cache.get("a"), cache.get_many(["a", "b"]))
        assert answers == [None, [None, None]]
        sample = metrics.registry.get_sample_value
        assert sample("cache_requests_total", {"result": "error"}) == 1
        assert not sample("cache_requests_total", {"result": "miss"})
    finally:
        await cache.close()


@pytest.mark.integration
async def test_redis_batch_failing_unexpectedly_raises_in_its_readers(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a Redis error (those read as misses): each reader gets the error, as a direct
    call would have raised it, and the next batch works."""
    cache = RedisCache(redis_url, Metrics())
    mget = cache.client.mget

    async def broken(keys: list[str]) -> object:
        raise ValueError("a bug")

    try:
        monkeypatch.setattr(cache.client, "mget", broken)
        answers = await asyncio.gather(cache.get("a"), cache.get("b"), return_exceptions=True)
        assert [type(a) for a in answers] == [ValueError, ValueError]
        monkeypatch.setattr(cache.client, "mget", mget)
        await cache.set("a", b"1", ttl=10)
        assert await cache.get("a") == b"1"
    finally:
        await cache.close()
