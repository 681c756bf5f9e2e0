"""Token-bucket rate limiting: in-process buckets, or one Lua script on Redis shared by replicas.

A bucket holds up to `per_minute` tokens and refills at `per_minute / 60` tokens a second; a
request takes one. Memory buckets serve all-in-one (and any process without REDIS_URL); with
Redis every replica draws from the same bucket, atomically (the script runs alone on the
server and reads the server's clock, so replicas' clocks do not matter). When Redis fails, the
request is answered from per-process buckets (see `RedisRateLimiter` for when the limiter stops
asking Redis for a while): limits get looser, requests are never refused or failed because of
an outage.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from cryptodash.platform.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until one token is back (0 when allowed)

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


def _decide(tokens: float, per_minute: int) -> tuple[bool, float, float]:
    """Take one token if there is one: (allowed, tokens left, seconds until the next)."""
    if tokens >= 1:
        return True, tokens - 1, 0.0
    return False, tokens, (1 - tokens) / (per_minute / 60)


class RateLimiter(Protocol):
    backend: str

    async def hit(self, key: str, per_minute: int) -> Decision: ...
    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in a dict, least recently used dropped past `max_keys` (a dropped bucket would
    have refilled anyway unless it was hit within the last minute)."""

    backend = "memory"

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def hit(self, key: str, per_minute: int) -> Decision:
        # No await in here: on one event loop this is atomic.
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - stamp) * per_minute / 60)
        allowed, tokens, retry = _decide(tokens, per_minute)
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return Decision(allowed, per_minute, int(tokens), retry)

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV[1] capacity (= per minute); ARGV[2] tokens wanted (a lease, default 1);
# ARGV[3] unused leased tokens given back (default 0). Grants up to the tokens wanted but never
# more than half of what the bucket holds (at least one while it holds one), so the last tokens
# are dealt one at a time and no replica sits on them. Returns {granted, tokens, retry_after}
# with the floats as strings (a Lua number would come back truncated to an integer); a caller
# sending one argument gets the one-token answer, so replicas of either kind share buckets.
BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local want = tonumber(ARGV[2]) or 1
local back = tonumber(ARGV[3]) or 0
local rate = capacity / 60
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = capacity
  stamp = now
end
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate + back)
local granted = 0
local retry = 0
if want >= 1 then
  if tokens >= 1 then
    granted = math.min(want, math.max(1, math.floor(tokens / 2)))
    tokens = tokens - granted
  else
    retry = (1 - tokens) / rate
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 61)
return {granted, tostring(tokens), tostring(retry)}
"""


@dataclass
class _Lease:
    """Tokens this replica took from a shared bucket and has not used yet."""

    limit: int
    tokens: int  # left to hand out
    expires: float  # monotonic; after it the leftovers go back with the next request to Redis
    shared: float  # what the shared bucket held after the lease (for X-RateLimit-Remaining)
    used: int  # taken since the last lease was asked for: the next lease is twice this


def _refused_or_reset(exc: BaseException) -> bool:
    """True when the error says Redis is not there: the connection was refused (nothing
    listens) or reset (the server went away). redis-py raises its ConnectionError inside
    `except OSError`, so the socket's error is in the chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError | ConnectionResetError):
            return True
        current = current.__cause__ or current.__context__
    return False


class RedisRateLimiter:
    """Buckets in Redis, leased a few tokens at a time, with the process's own buckets when
    Redis fails.

    Leases: asking Redis for every request would cost each one a round trip and, on this
    event loop, about as much CPU as the rest of a cached read. So a replica takes tokens in
    batches: the first request for a key takes one, and each time a lease runs out the next one
    asks for twice what the last one served, up to one second of the bucket's refill
    (`lease_seconds`); the script never grants more than half the bucket, so the last tokens go
    out one by one. A lease lives `lease_seconds`; what is left of it then goes back to the
    bucket with this replica's next request to Redis for the key (and at `close`). A bucket of
    under 60 a minute per `lease_seconds` leases single tokens: every request asks Redis, exactly
    as without leases. The cost: a replica may hold up to one lease per key that other
    replicas cannot draw on until it is used or given back — at most one second of refill per
    replica — and `X-RateLimit-Remaining` counts the shared bucket as it was when the lease
    was taken.

    Failures: a call that fails (a timeout, an error) is answered from the process's buckets —
    that request only. The limiter goes *degraded* (answers every request from memory, without
    asking Redis, for `retry_after` seconds) only when Redis is plainly down — connection
    refused or reset — or after `failure_threshold` failures in a row; any success resets the
    count. So one slow connect on a loaded machine costs one request its shared bucket, not
    the whole replica 5 s of per-process limits. After the back-off the next requests probe
    Redis again: a success puts the limiter back on Redis, a failure (the count is still at
    the threshold) backs off again. Tokens already leased are served either way.

    Timeouts: `connect_timeout` bounds opening a connection (TCP and handshake) and waiting
    for a free one in the pool; `socket_timeout` bounds each command (the script runs in well
    under a millisecond). Waiting for a pooled connection past `connect_timeout` means this
    replica is saturated, not that Redis failed: that request is answered from memory and
    the failure count is left alone.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ratelimit:",
        socket_timeout: float = 0.5,
        connect_timeout: float = 1.0,
        failure_threshold: int = 3,
        retry_after: float = 5.0,
        max_connections: int = 50,
        lease_seconds: float = 1.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The semaphore is the pool's wait (so a saturated pool is told apart from a failing
        # Redis); the blocking pool behind it never has to wait.
        self._slots = asyncio.Semaphore(max_connections)
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=connect_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
        )
        self.client = redis.Redis(connection_pool=self._pool)
        self._script: Any = self.client.register_script(BUCKET_SCRIPT)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()
        self._connect_timeout = connect_timeout
        self._failure_threshold = failure_threshold
        self._retry_after = retry_after
        self._failures = 0
        self._down_until = 0.0
        self._lease_seconds = lease_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._leases: OrderedDict[str, _Lease] = OrderedDict()

    @property
    def degraded(self) -> bool:
        """True while the limiter skips Redis (down, or failing call after call)."""
        return time.monotonic() < self._down_until

    async def hit(self, key: str, per_minute: int) -> Decision:
        now = self._clock()
        lease = self._leases.get(key)
        if (
            lease is not None
            and lease.tokens > 0
            and now < lease.expires
            and lease.limit == per_minute
        ):
            lease.tokens -= 1
            lease.used += 1
            return Decision(True, per_minute, int(lease.shared) + lease.tokens, 0.0)
        if self.degraded:
            return await self._fallback.hit(key, per_minute)
        want, back = 1, 0
        if lease is not None:
            if lease.limit == per_minute:
                ceiling = max(1, int(per_minute * self._lease_seconds / 60))
                want = min(ceiling, max(1, 2 * lease.used))
            if now >= lease.expires or lease.limit != per_minute:
                back, lease.tokens = lease.tokens, 0
            lease.used = 0
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            log.warning("rate_limit_redis_saturated", fallback="memory")
            self._unreturned(key, per_minute, back)
            return await self._fallback.hit(key, per_minute)
        try:
            if self.degraded:  # it went down while this request waited for a connection
                self._unreturned(key, per_minute, back)
                return await self._fallback.hit(key, per_minute)
            granted, shared, retry = await self._script(
                keys=[self._prefix + key], args=[per_minute, want, back]
            )
        except (RedisError, OSError) as exc:
            # Whether the script ran is unknown: the leftovers count as given back.
            self._failed(exc)
            return await self._fallback.hit(key, per_minute)
        finally:
            self._slots.release()
        self._failures = 0
        granted = int(granted)
        shared = float(shared)
        if granted < 1:
            return Decision(False, per_minute, int(shared), float(retry))
        return self._leased(key, per_minute, granted, shared)

    def _leased(self, key: str, per_minute: int, granted: int, shared: float) -> Decision:
        """Keep all but one of `granted` tokens (the request that asked takes that one), with
        whatever concurrent requests for the key leased meanwhile."""
        expires = self._clock() + self._lease_seconds
        lease = self._leases.get(key)
        if lease is None or lease.limit != per_minute:
            lease = _Lease(per_minute, 0, expires, shared, 0)
            self._leases[key] = lease
            while len(self._leases) > self._max_keys:
                self._leases.popitem(last=False)
        else:
            self._leases.move_to_end(key)
            lease.expires = expires
            lease.shared = shared
        lease.tokens += granted - 1
        lease.used += 1
        return Decision(True, per_minute, int(shared) + lease.tokens, 0.0)

    def _unreturned(self, key: str, per_minute: int, back: int) -> None:
        """Leftovers taken out to give back on a call that never reached Redis: keep them."""
        lease = self._leases.get(key)
        if back and lease is not None and lease.limit == per_minute:
            lease.tokens += back

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        down = _refused_or_reset(exc)
        if down or self._failures >= self._failure_threshold:
            self._down_until = time.monotonic() + self._retry_after
        log.warning(
            "rate_limit_redis_unavailable",
            error=str(exc) or repr(exc),
            failures=self._failures,
            degraded=self.degraded,
            fallback="memory",
        )

    async def _give_back(self) -> None:
        """Every lease's leftovers back to the shared buckets (a replica shutting down)."""
        leases = [(key, lease) for key, lease in self._leases.items() if lease.tokens > 0]
        self._leases.clear()
        if not leases or self.degraded:
            return
        try:
            async with asyncio.timeout(self._connect_timeout):
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, lease in leases:
                        await self._script(
                            keys=[self._prefix + key],
                            args=[lease.limit, 0, lease.tokens],
                            client=pipe,
                        )
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate_limit_leases_not_returned", keys=len(leases), error=repr(exc))

    async def close(self) -> None:
        await self._give_back()
        await self.client.aclose()
        await self._pool.disconnect()
        await self._fallback.close()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()
