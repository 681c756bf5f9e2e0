"""The simulator: the correlation structure and volatilities of its walks, its generated
history (aligned, continuous, ending at the reference prices), gap filling after a restart,
and a steady tick rate."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
from decimal import Decimal

from sqlalchemy import func, select

from cryptodash.market.candles import INTERVALS, bucket_start
from cryptodash.market.coins import DEFAULT_COINS
from cryptodash.market.exchanges.simulator import (
    PROFILES,
    MarketModel,
    Simulator,
    first_history,
    prepare_history,
    price_decimals,
    quantize,
)
from cryptodash.market.ingest import PRICE_UPDATES, TickPublisher
from cryptodash.market.models import CandleRecord
from cryptodash.platform.bus import MemoryBus, Message
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually


def test_prices_are_quoted_like_an_exchange() -> None:
    assert quantize(95_123.456789) == Decimal("95123.46")
    assert quantize(2.2003456) == Decimal("2.20035")
    assert quantize(0.0000123456789) == Decimal("0.0000123457")
    assert price_decimals(0) == 2


def test_walks_are_btc_led_with_realistic_correlations_and_volatility() -> None:
    model = MarketModel(["bitcoin", "ethereum", "solana", "tron"], seed=42)
    draws = [model.returns(86_400) for _ in range(4000)]
    series = {c: [d[c] for d in draws] for c in model.coin_ids}
    corr = statistics.correlation
    assert abs(corr(series["bitcoin"], series["ethereum"]) - 0.85) < 0.04
    assert abs(corr(series["ethereum"], series["solana"]) - (0.85 * 0.78 + 0.30 * 0.35)) < 0.05
    assert abs(corr(series["bitcoin"], series["tron"]) - 0.50) < 0.05
    daily = 0.50 / math.sqrt(365.25)
    assert abs(statistics.stdev(series["bitcoin"]) / daily - 1) < 0.06


def test_first_history_is_aligned_continuous_and_ends_at_the_reference_prices() -> None:
    model = MarketModel(["bitcoin", "pepe"], seed=1)
    now = 1_795_836_930.0
    history = first_history(model, now, days=0.5)
    btc = history["bitcoin"]
    assert set(btc) == set(INTERVALS)
    for interval, candles in btc.items():
        size = INTERVALS[interval]
        assert all(c.time % size == 0 for c in candles), interval
        assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    minutes = btc["1m"]
    steps = {b.time - a.time for a, b in itertools.pairwise(minutes)}
    assert steps == {60}
    assert minutes[-1].time == bucket_start(now, "1m") - 60  # the last closed minute
    assert minutes[0].time == bucket_start(now - 43_200, "1h")
    assert abs(float(minutes[-1].close) / PROFILES["bitcoin"].price - 1) < 1e-6
    hours = btc["1h"]
    assert hours[0].time <= now - 15 * 86_400
    older = [h for h in hours if h.time < minutes[0].time]
    assert older[-1].close == minutes[0].open  # hourly and minute history join up
    assert btc["1d"][-1].close == minutes[-1].close
    assert history["pepe"]["1m"][-1].close == quantize(PROFILES["pepe"].price)


async def count(db: Database, interval: str) -> int:
    async with db.session() as session:
        return int(
            await session.scalar(select(func.count()).where(CandleRecord.interval == interval)) or 0
        )


async def test_history_at_first_start_and_the_gap_after_a_restart(db: Database) -> None:
    now = time.time()
    model = MarketModel(["bitcoin", "ethereum"], seed=3)
    background = await prepare_history(db, model, days=0.05, now=now)
    assert background is not None
    await background
    minutes_first = await count(db, "1m")
    assert minutes_first == 2 * ((int(now) // 60 * 60 - int(now - 4320) // 3600 * 3600) // 60)
    assert await count(db, "1d") >= 2 * 2

    later = now + 600
    restarted = MarketModel(["bitcoin", "ethereum"], seed=4)
    assert await prepare_history(db, restarted, days=0.05, now=later) is None
    assert await count(db, "1m") == minutes_first + 2 * (int(later) // 60 - int(now) // 60)
    async with db.session() as session:
        last = await session.scalar(
            select(CandleRecord.close)
            .where(CandleRecord.coin_id == "bitcoin", CandleRecord.interval == "1m")
            .order_by(CandleRecord.time.desc())
            .limit(1)
        )
    assert quantize(restarted.prices["bitcoin"]) == last


async def test_ticks_come_at_a_steady_rate_round_robin() -> None:
    bus = MemoryBus(Metrics())
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    await bus.subscribe([PRICE_UPDATES], "test", handler)
    model = MarketModel(list(DEFAULT_COINS), seed=5)
    simulator = Simulator(model, TickPublisher(bus, Metrics()), ticks_per_second=400)
    task = asyncio.create_task(simulator.run())
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await simulator.publisher.flush()
    await eventually(lambda: len(got) == simulator.sent)
    assert 120 <= simulator.sent <= 260
    assert {m.key for m in got} == set(DEFAULT_COINS)
    first = got[0].value
    assert first["source"] == "simulator"
    assert first["quote"] == "USD"
    assert first["volume"] > 0
    await bus.close()
