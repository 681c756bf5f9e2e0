"""One contract for both rate limiters: in-process buckets and the Redis Lua script."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from cryptodash.platform.ratelimit import (
    BUCKET_SCRIPT,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from tests.helpers import free_port


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    backend: RateLimiter
    if request.param == "memory":
        backend = MemoryRateLimiter()
    else:
        # Generous timeouts: these tests count exact answers, and a request that times out is
        # answered from memory (the failing request only, see `RedisRateLimiter`), which a
        # count of the shared bucket's answers cannot tell apart from a wrong one.
        backend = RedisRateLimiter(
            request.getfixturevalue("redis_url"), connect_timeout=5, socket_timeout=5
        )
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
    replicas = [RedisRateLimiter(redis_url, connect_timeout=5, socket_timeout=5) for _ in range(3)]
    try:
        decisions = await asyncio.gather(*(replicas[i % 3].hit("shared", 30) for i in range(90)))
    finally:
        for replica in replicas:
            await replica.close()
    assert sum(d.allowed for d in decisions) == 30


@pytest.mark.integration
async def test_redis_down_falls_back_to_memory_and_never_raises() -> None:
    # Product defaults: a refused connection is Redis down, degraded from the first request.
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        first = await limiter.hit("k", 3)
        assert first.allowed
        assert limiter.degraded
        decisions = [first] + [await limiter.hit("k", 3) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
    finally:
        await limiter.close()


class Gate:
    """A TCP proxy in front of the test's Redis database. Open, it forwards; closed, it
    accepts connections and swallows what clients send (a Redis that never answers, which is
    what a stalled or overloaded server looks like from the client: timeouts, no refusal)."""

    def __init__(self, redis_url: str) -> None:
        target = urlsplit(redis_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 6379)
        self._db = target.path
        self.open = True
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self._db}"

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # each pipe reads its end of file and returns
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        self._writers.append(writer)
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers.append(up_writer)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, gated: bool
        ) -> None:
            while data := await source.read(65536):
                if gated and not self.open:
                    continue
                sink.write(data)
                await sink.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        except OSError:
            pass
        finally:
            up_writer.close()
            writer.close()


def gated_limiter(url: str) -> RedisRateLimiter:
    # A closed gate accepts the connection and never answers: each failure costs one
    # socket_timeout. 1 s keeps the open gate's answers (fresh connections) well inside it on
    # a loaded machine; the connect itself never waits on the gate.
    return RedisRateLimiter(url, connect_timeout=2, socket_timeout=1, retry_after=1)


async def on_redis(redis_url: str, key: str) -> bool:
    direct = aioredis.Redis.from_url(redis_url)
    try:
        return bool(await direct.exists(f"ratelimit:{key}"))
    finally:
        await direct.aclose()


@pytest.mark.integration
async def test_one_timeout_does_not_degrade_but_consecutive_ones_do(redis_url: str) -> None:
    async with Gate(redis_url) as gate:
        gate.open = False
        limiter = gated_limiter(gate.url)
        try:
            for expected_degraded in (False, False, True):
                decision = await limiter.hit("k", 10)
                assert decision.allowed  # answered from memory, never an error
                assert limiter.degraded is expected_degraded
        finally:
            await limiter.close()


@pytest.mark.integration
async def test_a_success_resets_the_count_and_a_degraded_limiter_comes_back(
    redis_url: str,
) -> None:
    async with Gate(redis_url) as gate:
        limiter = gated_limiter(gate.url)
        try:
            assert (await limiter.hit("a", 10)).allowed
            assert await on_redis(redis_url, "a")

            gate.open = False
            await limiter.hit("b", 10)
            await limiter.hit("b", 10)
            assert not limiter.degraded
            gate.open = True
            assert (await limiter.hit("c", 10)).allowed
            assert await on_redis(redis_url, "c")  # the success was Redis's answer

            gate.open = False
            await limiter.hit("d", 10)
            await limiter.hit("d", 10)
            assert not limiter.degraded  # two in a row again, not four
            await limiter.hit("d", 10)
            assert limiter.degraded

            # Degraded: answered from memory without asking Redis, even though it is back …
            gate.open = True
            await limiter.hit("e", 10)
            assert not await on_redis(redis_url, "e")
            # … until the back-off ends: then the next request is Redis's again.
            await asyncio.sleep(1.1)
            assert not limiter.degraded
            assert (await limiter.hit("e", 10)).allowed
            assert await on_redis(redis_url, "e")
        finally:
            await limiter.close()


@pytest.mark.integration
async def test_waiting_for_a_busy_connection_is_not_a_redis_failure(redis_url: str) -> None:
    # One connection, held by a call that times out after 2 s; the second request gives up
    # waiting for it after 0.5 s and is answered from memory without counting as a failure
    # (with a threshold of two, counting it would make the limiter degraded).
    async with Gate(redis_url) as gate:
        gate.open = False
        limiter = RedisRateLimiter(
            gate.url,
            connect_timeout=0.5,
            socket_timeout=2,
            failure_threshold=2,
            max_connections=1,
        )
        try:
            decisions = await asyncio.gather(limiter.hit("k", 10), limiter.hit("k", 10))
            assert [d.allowed for d in decisions] == [True, True]
            assert not limiter.degraded
            await limiter.hit("k", 10)  # a second failure of Redis itself
            assert limiter.degraded
        finally:
            await limiter.close()


class Counted:
    """The limiter's script, counting the calls that reach Redis."""

    def __init__(self, limiter: RedisRateLimiter) -> None:
        self.calls = 0
        self._script = limiter._script
        limiter._script = self

    async def __call__(self, **kwargs: object) -> object:
        self.calls += 1
        return await self._script(**kwargs)


async def shared_tokens(redis_url: str, key: str) -> float:
    direct = aioredis.Redis.from_url(redis_url)
    try:
        return float(await direct.hget(f"ratelimit:{key}", "tokens"))
    finally:
        await direct.aclose()


@pytest.mark.integration
async def test_a_busy_key_asks_redis_once_per_lease_and_counts_every_token(
    redis_url: str,
) -> None:
    limiter = RedisRateLimiter(redis_url, connect_timeout=5, socket_timeout=5)
    counted = Counted(limiter)
    try:
        started = time.monotonic()
        decisions = [await limiter.hit("hot", 6000) for _ in range(1000)]  # 100 a second
        elapsed = time.monotonic() - started
        left = await shared_tokens(redis_url, "hot")
    finally:
        await limiter.close()
    assert all(d.allowed for d in decisions)
    # Leases of 1, 2, 4 … 64, then one second of refill (100) each: 16 calls, not 1000.
    assert counted.calls <= 20
    # Every token served was taken from the shared bucket (plus what the lease still held).
    assert left <= 6000 - 1000 + 100 * elapsed + 1
    remaining = [d.remaining for d in decisions]
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] <= 5000 + 100 * elapsed + 1


@pytest.mark.integration
async def test_replicas_leasing_one_bucket_serve_the_limit_and_no_more(redis_url: str) -> None:
    replicas = [RedisRateLimiter(redis_url, connect_timeout=5, socket_timeout=5) for _ in range(3)]

    async def client(replica: RedisRateLimiter) -> int:
        return sum([(await replica.hit("leased", 3000)).allowed for _ in range(2000)])

    try:
        started = time.monotonic()
        served = sum(await asyncio.gather(*(client(replica) for replica in replicas)))
        elapsed = time.monotonic() - started
        held = sum(lease.tokens for replica in replicas for lease in replica._leases.values())
    finally:
        for replica in replicas:
            await replica.close()
    # 3000 in the bucket plus 50 a second of refill while the clients ran, each token once
    # (served, or still held by a replica when its client stopped).
    assert 3000 <= served + held <= 3000 + 50 * elapsed + 1


@pytest.mark.integration
async def test_leftovers_go_back_when_the_lease_ends_and_when_the_replica_closes(
    redis_url: str,
) -> None:
    now = [0.0]
    holder = RedisRateLimiter(
        redis_url, connect_timeout=5, socket_timeout=5, lease_seconds=5, clock=lambda: now[0]
    )
    other = RedisRateLimiter(redis_url, connect_timeout=5, socket_timeout=5)

    async def drain() -> int:
        served = 0
        while (await other.hit("lent", 600)).allowed:  # 10 a second
            served += 1
        return served

    try:
        # Leases of 1, 2, 4, 8 and 16 used up, then one of 32: one used, 31 held.
        assert all([(await holder.hit("lent", 600)).allowed for _ in range(32)])
        started = time.monotonic()
        assert await drain() >= 600 - 63
        # The holder's lease ends: its next request gives the 31 back and leases 2 (it used
        # one token of the last lease), so 29 more are there for the other replica …
        now[0] += 6
        assert (await holder.hit("lent", 600)).allowed
        second = await drain()
        drained = time.monotonic()
        refill = 10 * (drained - started) + 1
        # … and closing gives back the one it still holds (plus the refill since the drain's
        # last call, which stored `before`).
        before = await shared_tokens(redis_url, "lent")
        await holder.close()
        after = await shared_tokens(redis_url, "lent")
        since = 10 * (time.monotonic() - drained)
    finally:
        await holder.close()
        await other.close()
    assert 29 <= second <= 29 + refill
    assert 0.999 <= after - before <= 1.001 + since


@pytest.mark.integration
async def test_a_one_argument_caller_still_takes_one_token(redis_url: str) -> None:
    # A replica running the previous script (one argument) during a rolling deploy.
    limiter = RedisRateLimiter(redis_url, connect_timeout=5, socket_timeout=5)
    try:
        granted, left, _ = await limiter.client.eval(BUCKET_SCRIPT, 1, "ratelimit:old", 3)
        assert int(granted) == 1
        assert float(left) == 2
        decisions = [await limiter.hit("old", 3) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
    finally:
        await limiter.close()
