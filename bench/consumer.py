"""Streaming consumer throughput: ticks per second through the analytics consumer for 20 coins
on all 6 intervals, at the live cadence (one flush of live values per simulated second).

    .venv/bin/python bench/consumer.py [--seconds S] [--rate TICKS_PER_SECOND]

Ticks are pre-built bus messages (the wire form) fed straight to the handler, one simulated
second at a time followed by a flush, so the figure is the consumer's own cost: parsing,
candle aggregation, closes, live values, cache writes and `analytics_updates` publishes.
A second figure runs the same ticks through the in-process bus.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from cryptodash.analytics.consumer import GROUP, IndicatorConsumer
from cryptodash.market.coins import DEFAULT_COINS, Universe
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.normalize import Tick, tick_to_message
from cryptodash.platform import schema
from cryptodash.platform.bus import MemoryBus, Message, partition_for
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics


def build_ticks(seconds: int, rate: int, start: float) -> list[list[Message]]:
    """`rate` ticks per second for `seconds` seconds, round-robin over the coins."""
    rng = np.random.default_rng(1)
    coins = list(DEFAULT_COINS)
    prices = {c: 10.0 ** rng.uniform(-1, 5) for c in coins}
    offsets: dict[int, int] = {}
    out = []
    for second in range(seconds):
        batch = []
        for i in range(rate):
            coin = coins[i % len(coins)]
            prices[coin] *= float(np.exp(rng.normal(0, 1e-4)))
            at = datetime.fromtimestamp(start + second + i / rate, UTC)
            tick = Tick(
                coin, "binance", Decimal(f"{prices[coin]:.6g}"), Decimal("0.01"), at, "USDT"
            )
            partition = partition_for(coin, 12)
            offset = offsets.get(partition, 0)
            offsets[partition] = offset + 1
            value = tick_to_message(tick)
            batch.append(Message(PRICE_UPDATES, coin, value, {}, partition, offset))
        out.append(batch)
    return out


async def run(seconds: int, rate: int) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp())
    db = Database(f"sqlite:///{directory / 'bench.db'}")
    await schema.upgrade(db.engine)
    universe = Universe(list(DEFAULT_COINS), ["binance"])
    # Start 5 s before the top of an hour: 1m, 5m, 15m and 1h candles all close during the run.
    start = (time.time() // 3600 + 1) * 3600 - 5
    ticks = build_ticks(seconds, rate, start)
    metrics = Metrics()
    bus = MemoryBus(metrics, max_pending=1_000_000)
    consumer = IndicatorConsumer(db=db, cache=MemoryCache(metrics), bus=bus, universe=universe)
    for message in ticks[0][: len(DEFAULT_COINS)]:  # build every coin's state first
        await consumer(message)

    began = time.perf_counter()
    flush_time = 0.0
    for second, batch in enumerate(ticks):
        for message in batch:
            await consumer(message)
        t = time.perf_counter()
        await consumer.flush(now=start + second + 1)
        flush_time += time.perf_counter() - t
    direct = time.perf_counter() - began

    # The same through the in-process bus (publish → queue → handler).
    consumer2 = IndicatorConsumer(db=db, cache=MemoryCache(metrics), bus=bus, universe=universe)
    await bus.subscribe([PRICE_UPDATES], GROUP, consumer2)
    for message in ticks[0][: len(DEFAULT_COINS)]:
        await bus.publish(PRICE_UPDATES, message.key, message.value)
    await bus.drain()
    began = time.perf_counter()
    for second, batch in enumerate(ticks):
        for message in batch:
            await bus.publish(PRICE_UPDATES, message.key, message.value)
        await bus.drain()
        await consumer2.flush(now=start + second + 1)
    via_bus = time.perf_counter() - began
    await bus.close()
    await db.close()
    total = seconds * rate
    return {
        "ticks": total,
        "ticks_per_second": total / direct,
        "flush_ms": flush_time / seconds * 1000,
        "candles_closed": consumer.candles_closed,
        "updates_published": consumer.updates_published,
        "bus_ticks_per_second": total / via_bus,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=20_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds, args.rate))
    print(
        f"consumer, {len(DEFAULT_COINS)} coins x 6 intervals, {result['ticks']:,} ticks "
        f"({args.rate:,}/s of event time for {args.seconds} s)"
    )
    print(f"| handler + flushes | {result['ticks_per_second']:,.0f} ticks/s |")
    print(f"| one flush (live values, cache, publish) | {result['flush_ms']:.1f} ms |")
    print(f"| through the in-process bus | {result['bus_ticks_per_second']:,.0f} ticks/s |")
    print(
        f"candles closed: {result['candles_closed']:,}, "
        f"analytics_updates published: {result['updates_published']:,}"
    )


if __name__ == "__main__":
    main()
