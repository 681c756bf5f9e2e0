"""The event loop's CPU for one `RedisCache.set_many` (the analytics flush writes one coin's
metrics with one: ~52 keys), against the pipeline of SETs it replaced, on a real Redis.

    .venv/bin/python bench/cache_write.py [--redis-url redis://127.0.0.1:6379/7] [--keys 52]

Each way is timed over `--calls` calls, twice, alternating, with the process's CPU clock
(`time.process_time`: this process only runs the event loop and redis-py) and the wall clock.
Redis's own time per command is not in these figures. The database `--redis-url` names is
emptied at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from cryptodash.platform.cache import RedisCache
from cryptodash.platform.metrics import Metrics

VALUE = (
    b'{"coin_id":"bitcoin","interval":"1h","metric":"rsi_14","value":55.123456,'
    b'"time":"2026-11-29T04:00:00Z","close":97123.45,"live":true}'
)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--keys", type=int, default=52)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    cache = RedisCache(args.redis_url, Metrics())
    items = {f"analytics:metric_{i}:bitcoin:1h": VALUE for i in range(args.keys)}

    async def pipeline() -> None:
        async with cache.client.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(key, value, px=60_000)
            await pipe.execute()

    async def set_many() -> None:
        await cache.set_many(items, 60.0)

    try:
        for _ in range(2):
            for name, call in (("pipeline of SETs", pipeline), ("set_many (script)", set_many)):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(args.calls):
                    await call()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                row = {
                    "way": name,
                    "keys": args.keys,
                    "cpu_ms_per_call": round(cpu * 1000 / args.calls, 3),
                    "wall_ms_per_call": round(wall * 1000 / args.calls, 3),
                }
                print(json.dumps(row), flush=True)
    finally:
        await cache.client.flushdb()
        await cache.close()


if __name__ == "__main__":
    asyncio.run(main())
