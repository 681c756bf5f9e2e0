"""Cache: an in-process TTL dict or Redis, chosen by REDIS_URL.

Values are bytes (callers use `get_json`/`set_json` for JSON). A cache is an optimisation, so
reads that fail are counted as errors and answered as misses, and failed writes are logged and
dropped: a Redis outage makes the product slower, never broken. `ping()` is the one call that
raises, for the readiness check.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

log = get_logger(__name__)


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...
    async def set_many(self, items: Mapping[str, bytes], ttl: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


async def get_json(cache: Cache, key: str) -> Any | None:
    raw = await cache.get(key)
    return None if raw is None else orjson.loads(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl: float) -> None:
    await cache.set(key, orjson.dumps(value), ttl)


class MemoryCache:
    """TTL dict with LRU eviction past `max_entries` or `max_bytes`; single event loop, no
    locking needed."""

    backend = "memory"

    def __init__(
        self, metrics: Metrics, *, max_entries: int = 100_000, max_bytes: int = 256 * 2**20
    ) -> None:
        self._metrics = metrics
        self._max_entries = max_entries
        # Keys come partly from request parameters (a candle range, indicator periods), so
        # a count alone would not bound memory: 100 000 chart bodies are gigabytes.
        self._max_bytes = max_bytes
        self._bytes = 0
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def _lookup(self, key: str, now: float) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= now:
            del self._data[key]
            self._bytes -= _size(key, value)
            return None
        self._data.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        value = self._lookup(key, time.monotonic())
        (self._metrics.cache_misses if value is None else self._metrics.cache_hits).inc()
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        values = [self._lookup(key, now) for key in keys]
        _count(self._metrics, values)
        return values

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        data = self._data
        old = data.get(key)
        if old is not None:
            self._bytes -= _size(key, old[1])
        data[key] = (time.monotonic() + ttl, value)
        data.move_to_end(key)
        self._bytes += _size(key, value)
        while len(data) > self._max_entries or (self._bytes > self._max_bytes and len(data) > 1):
            evicted, (_, evicted_value) = data.popitem(last=False)
            self._bytes -= _size(evicted, evicted_value)
            self._metrics.cache_evictions.inc()

    @property
    def size_bytes(self) -> int:
        """Keys and values held (what `max_bytes` bounds)."""
        return self._bytes

    async def set_many(self, items: Mapping[str, bytes], ttl: float) -> None:
        for key, value in items.items():
            await self.set(key, value, ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            entry = self._data.pop(key, None)
            if entry is not None:
                self._bytes -= _size(key, entry[1])

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
        self._bytes = 0


def _count(metrics: Metrics, values: Sequence[bytes | None]) -> None:
    """Count a lookup's hits and misses (`cache_requests_total`)."""
    hits = sum(value is not None for value in values)
    if hits:
        metrics.cache_hits.inc(hits)
    if hits < len(values):
        metrics.cache_misses.inc(len(values) - hits)


def _size(key: str, value: bytes) -> int:
    """An entry's bytes: its key and value plus the dict slot and tuple around them."""
    return len(key) + len(value) + 100


SET_MANY_SCRIPT = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'PX', ttl)
end
return #KEYS
"""
"""`set_many` as one command: a pipeline of 52 SETs (one coin's analytics flush) cost the
event loop ~2.3 ms of redis-py's CPU, this script ~0.6 ms."""
SET_MANY_CHUNK = 256
"""Keys per script call: a call holds Redis for its SETs (~2 µs each in `INFO commandstats`)."""


_Read = tuple[Sequence[str], "asyncio.Future[list[bytes | None] | None]"]
"""A coalesced read: its keys, and where its values go (None when Redis failed)."""


class RedisCache:
    """redis.asyncio on a blocking pool of at most `max_connections` connections.

    Reads are coalesced: the `get`s and `get_many`s made in one turn of the event loop go to
    Redis as one `MGET`, sent at the next turn. Through redis-py a command costs the loop
    ~100 µs of CPU whatever its size (the pool, its timeouts, the reply), and under load several
    requests check their caller's auth state in the same turn. Each read still sees every
    write that completed before it was made: the `MGET` leaves after it.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        metrics: Metrics,
        *,
        max_connections: int = 50,
        socket_timeout: float = 2.0,
    ) -> None:
        self._metrics = metrics
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=30,
        )
        self.client = redis.Redis(connection_pool=self._pool)
        # Sent by hash; loaded again by redis-py when Redis answers NOSCRIPT (a restart).
        self._set_many = self.client.register_script(SET_MANY_SCRIPT)
        self._reads: list[_Read] | None = None
        """The reads of the batch not yet sent, if one is open."""
        self._batches: set[asyncio.Task[None]] = set()

    async def warm(self, connections: int) -> None:
        """Open pooled connections up front so the first burst does not pay for them."""
        held = []
        try:
            for _ in range(min(connections, self._pool.max_connections)):
                held.append(await self._pool.get_connection())  # type: ignore[no-untyped-call]
        except (RedisError, OSError) as exc:
            log.warning("cache_warm_failed", error=str(exc))
        finally:
            for conn in held:
                await self._pool.release(conn)

    def _failed(self, op: str, exc: Exception) -> None:
        self._metrics.cache_errors.inc()
        log.warning("cache_error", op=op, error=str(exc))

    async def get(self, key: str) -> bytes | None:
        return (await self.get_many((key,)))[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        future: asyncio.Future[list[bytes | None] | None] = (
            asyncio.get_running_loop().create_future()
        )
        batch = self._reads
        if batch is None:
            # The task's first step runs at the next turn, after this turn's other reads.
            batch = self._reads = []
            task = asyncio.ensure_future(self._read_batch(batch))
            self._batches.add(task)
            task.add_done_callback(functools.partial(self._batch_done, batch))
        batch.append((keys, future))
        values = await future
        if values is None:  # Redis failed: counted once for the batch, answered as misses
            return [None] * len(keys)
        _count(self._metrics, values)
        return values

    async def _read_batch(self, batch: list[_Read]) -> None:
        self._reads = None  # reads from now on go in the next batch
        keys = list(dict.fromkeys(key for wanted, _ in batch for key in wanted))
        try:
            found = cast(list[bytes | None], await self.client.mget(keys))
        except (RedisError, OSError) as exc:
            self._failed("mget", exc)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            return
        values = dict(zip(keys, found, strict=True))
        for wanted, future in batch:
            if not future.done():  # a reader cancelled meanwhile (its client went away)
                future.set_result([values[key] for key in wanted])

    def _batch_done(self, batch: list[_Read], task: asyncio.Task[None]) -> None:
        """A batch cancelled (shutdown), even before its first step, cancels its readers; one
        that failed unexpectedly raises its error in each of them."""
        self._batches.discard(task)
        if self._reads is batch:
            self._reads = None
        error = None if task.cancelled() else task.exception()
        for _, future in batch:
            if future.done():  # answered
                continue
            if error is None:
                future.cancel()
            else:
                future.set_exception(error)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.client.set(key, value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def set_many(self, items: Mapping[str, bytes], ttl: float) -> None:
        if not items:
            return
        keys, values = list(items), list(items.values())
        px = max(1, int(ttl * 1000))
        try:
            for first in range(0, len(keys), SET_MANY_CHUNK):
                chunk = slice(first, first + SET_MANY_CHUNK)
                await self._set_many(keys=keys[chunk], args=[*values[chunk], px])
        except (RedisError, OSError) as exc:
            self._failed("set_many", exc)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self.client.delete(*keys)
        except (RedisError, OSError) as exc:
            self._failed("delete", exc)

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable("redis", str(exc)) from exc

    async def close(self) -> None:
        for task in list(self._batches):
            task.cancel()
        await self.client.aclose()
        await self._pool.disconnect()


def build_cache(redis_url: str | None, metrics: Metrics, *, max_connections: int = 50) -> Cache:
    if redis_url:
        return RedisCache(redis_url, metrics, max_connections=max_connections)
    return MemoryCache(metrics)
