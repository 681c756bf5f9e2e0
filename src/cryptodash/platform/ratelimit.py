"""Token-bucket rate limiting: in-process buckets, or one Lua script on Redis shared by replicas.

A bucket holds up to `per_minute` tokens and refills at `per_minute / 60` tokens a second; a
request takes one. Memory buckets serve all-in-one (and any process without REDIS_URL); with
Redis every replica draws from the same bucket, atomically (the script runs alone on the
server and reads the server's clock, so replicas' clocks do not matter). When Redis fails the
limiter falls back to per-process buckets for `retry_after` seconds and then tries Redis again:
limits get looser for a while, requests are never refused or failed because of the outage.
"""

from __future__ import annotations

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


class RedisRateLimiter:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ratelimit:",
        socket_timeout: float = 0.5,
        retry_after: float = 5.0,
        max_connections: int = 50,
    ) -> None:
        # A blocking pool: a burst waits for a connection instead of failing over to memory.
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )
        self.client = redis.Redis(connection_pool=self._pool)
        self._script: Any = self.client.register_script(BUCKET_SCRIPT)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()
        self._retry_after = retry_after
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._down_until

    async def hit(self, key: str, per_minute: int) -> Decision:
        if self.degraded:
            return await self._fallback.hit(key, per_minute)
        try:
            allowed, tokens, retry = await self._script(
                keys=[self._prefix + key], args=[per_minute]
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self._retry_after
            log.warning("rate_limit_redis_unavailable", error=str(exc), fallback="memory")
            return await self._fallback.hit(key, per_minute)
        return Decision(bool(int(allowed)), per_minute, int(float(tokens)), float(retry))

    async def close(self) -> None:
        await self.client.aclose()
        await self._pool.disconnect()
        await self._fallback.close()


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()
