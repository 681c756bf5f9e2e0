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


# KEYS[1] bucket; ARGV[1] capacity (= per minute). Returns {allowed, tokens, retry_after} with
# the floats as strings (a Lua number would come back truncated to an integer).
BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
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
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 61)
return {allowed, tostring(tokens), tostring(retry)}
"""


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
    """Buckets in Redis, with the process's own buckets when Redis fails.

    A call that fails (a timeout, an error) is answered from the process's buckets — that
    request only. The limiter goes *degraded* (answers every request from memory, without
    asking Redis, for `retry_after` seconds) only when Redis is plainly down — connection
    refused or reset — or after `failure_threshold` failures in a row; any success resets the
    count. So one slow connect on a loaded machine costs one request its shared bucket, not
    the whole replica 5 s of per-process limits. After the back-off the next requests probe
    Redis again: a success puts the limiter back on Redis, a failure (the count is still at
    the threshold) backs off again.

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

    @property
    def degraded(self) -> bool:
        """True while the limiter skips Redis (down, or failing call after call)."""
        return time.monotonic() < self._down_until

    async def hit(self, key: str, per_minute: int) -> Decision:
        if self.degraded:
            return await self._fallback.hit(key, per_minute)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            log.warning("rate_limit_redis_saturated", fallback="memory")
            return await self._fallback.hit(key, per_minute)
        try:
            if self.degraded:  # it went down while this request waited for a connection
                return await self._fallback.hit(key, per_minute)
            allowed, tokens, retry = await self._script(
                keys=[self._prefix + key], args=[per_minute]
            )
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self._fallback.hit(key, per_minute)
        finally:
            self._slots.release()
        self._failures = 0
        return Decision(bool(int(allowed)), per_minute, int(float(tokens)), float(retry))

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

    async def close(self) -> None:
        await self.client.aclose()
        await self._pool.disconnect()
        await self._fallback.close()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()
