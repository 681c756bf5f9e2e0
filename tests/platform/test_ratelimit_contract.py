"""One contract for both rate limiters: in-process buckets and the Redis Lua script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cryptodash.platform.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.helpers import free_port


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    backend: RateLimiter
    if request.param == "memory":
        backend = MemoryRateLimiter()
    else:
        backend = RedisRateLimiter(request.getfixturevalue("redis_url"), socket_timeout=5)
    try:
        yield backend
    finally:
        await backend.close()


async def test_allows_the_burst_then_refuses(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("k", 5) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    refused = decisions[-1]
    assert 0 < refused.retry_after <= 12  # one token every 12 s at 5 a minute
    assert refused.retry_after_header in {str(n) for n in range(1, 13)}


async def test_buckets_refill_over_time(limiter: RateLimiter) -> None:
    await asyncio.gather(*(limiter.hit("slow", 120) for _ in range(120)))  # 2 tokens a second
    assert not (await limiter.hit("slow", 120)).allowed
    await asyncio.sleep(0.6)
    assert (await limiter.hit("slow", 120)).allowed


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", 1)).allowed
    assert not (await limiter.hit("a", 1)).allowed
    assert (await limiter.hit("b", 1)).allowed


async def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit("busy", 20) for _ in range(60)))
    assert sum(d.allowed for d in decisions) == 20


@pytest.mark.integration
async def test_replicas_share_one_bucket_through_redis(redis_url: str) -> None:
    # A generous timeout: this is about sharing, and a loaded machine connects slowly.
    replicas = [RedisRateLimiter(redis_url, socket_timeout=5) for _ in range(3)]
    try:
        decisions = await asyncio.gather(*(replicas[i % 3].hit("shared", 30) for i in range(90)))
    finally:
        for replica in replicas:
            await replica.close()
    assert sum(d.allowed for d in decisions) == 30


@pytest.mark.integration
async def test_redis_down_falls_back_to_memory_and_never_raises() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.3)
    try:
        decisions = [await limiter.hit("k", 3) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert limiter.degraded
    finally:
        await limiter.close()
