"""The indicator consumer: publish ticks, then assert the cache entries, the
`analytics_updates` messages, and that its values are the batch values over the candles the
market persister stores from the same ticks."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import orjson
import pytest

from cryptodash.analytics import indicators as ind
from cryptodash.analytics import service
from cryptodash.analytics.consumer import ANALYTICS_UPDATES, IndicatorConsumer
from cryptodash.market import service as market
from cryptodash.market.consumer import LATENESS, PricePersister
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.normalize import Tick, tick_to_message
from cryptodash.platform.bus import MemoryBus, Message, partition_for
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics
from tests.analytics.conftest import UNIVERSE, away_from_a_minute_boundary, store, walk_candles

D = Decimal


class Feed:
    """Bus messages with per-partition offsets, as the bus would number them."""

    def __init__(self) -> None:
        self.offsets: dict[int, int] = {}

    def message(self, tick: Tick) -> Message:
        partition = partition_for(tick.coin_id, 12)
        offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        return Message(PRICE_UPDATES, tick.coin_id, tick_to_message(tick), {}, partition, offset)


def minute_ticks(coin: str, start: int, closes: list[float], source: str = "binance") -> list[Tick]:
    """Three ticks per minute from `start`; the last of each minute is its close."""
    ticks = []
    for i, close in enumerate(closes):
        base = start + 60 * i
        for j, price in enumerate((close * 1.001, close * 0.999, close)):
            at = datetime.fromtimestamp(base + 10 + 15 * j, UTC)
            ticks.append(Tick(coin, source, D(f"{price:.2f}"), D("0.1"), at, "USDT"))
    return ticks


@pytest.fixture
def consumer_parts(db: Database) -> tuple[IndicatorConsumer, MemoryCache, MemoryBus]:
    metrics = Metrics()
    cache = MemoryCache(metrics)
    bus = MemoryBus(metrics)
    consumer = IndicatorConsumer(db=db, cache=cache, bus=bus, universe=UNIVERSE)
    return consumer, cache, bus


async def entry(cache: MemoryCache, metric: str, coin: str, interval: str) -> dict[str, object]:
    raw = await cache.get(service.metric_key(metric, coin, interval))
    assert raw is not None, metric
    value: dict[str, object] = orjson.loads(raw)
    return value


async def test_values_are_the_batch_values_over_the_stored_candles(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    consumer, cache, bus = consumer_parts
    now = time.time()
    first = int(now // 60) * 60 - 60 * 90  # 90 minutes ago
    # History the market stored before this process started, then live ticks.
    history = walk_candles(first - 60 * 300, "1m", 300, seed=1)
    await store(db, "bitcoin", "1m", history)
    rng = np.random.default_rng(2)
    closes = list(float(history[-1].close) * np.exp(np.cumsum(rng.normal(0, 2e-3, 91))))
    ticks = minute_ticks("bitcoin", first, closes)
    received: list[Message] = []

    async def collect(message: Message) -> None:
        received.append(message)

    await bus.subscribe([ANALYTICS_UPDATES], "test", collect)
    persister = PricePersister(db=db, cache=cache, metrics=Metrics(), universe=UNIVERSE)
    feed = Feed()
    for tick in ticks:
        message = feed.message(tick)
        await consumer(message)
        await persister(message)
    await persister.flush()
    await consumer.flush(now)
    await bus.drain()

    # The market stored the same candles the consumer closed: compare with batch over them.
    async with db.read_session() as session:
        series = await service.load_series(session, UNIVERSE, "bitcoin", "1m", live=True, now=now)
    assert series.live
    stored = series.closes()
    assert stored[-1] == pytest.approx(closes[-1], rel=1e-6)
    got = await entry(cache, "sma_20", "bitcoin", "1m")
    assert got["live"] is True
    assert got["value"] == pytest.approx(ind.sma(stored, 20)[-1], rel=1e-12)
    assert (await entry(cache, "ema_12", "bitcoin", "1m"))["value"] == pytest.approx(
        ind.ema(stored, 12)[-1], rel=1e-9
    )
    assert (await entry(cache, "rsi_14", "bitcoin", "1m"))["value"] == pytest.approx(
        ind.rsi(stored, 14)[-1], rel=1e-9
    )
    macd = (await entry(cache, "macd_12_26_9", "bitcoin", "1m"))["value"]
    assert isinstance(macd, dict)
    assert macd["histogram"] == pytest.approx(ind.macd(stored)[2][-1], rel=1e-6, abs=1e-9)
    bands = (await entry(cache, "bb_20_2", "bitcoin", "1m"))["value"]
    assert isinstance(bands, dict)
    assert bands["upper"] == pytest.approx(ind.bollinger(stored)[0][-1], rel=1e-12)
    vol = (await entry(cache, "volatility_30", "bitcoin", "1m"))["value"]
    assert vol == pytest.approx(ind.volatility(stored, 30, 365 * 1440)[-1], rel=1e-9)

    # The summary is there too, and the REST path computes the same from the store.
    live = orjson.loads(await cache.get(service.metric_key("summary", "bitcoin", "1m")) or b"")
    computed = service.summary_from_series(series)
    assert live["time"] == computed["time"]
    assert [s["signal"] for s in live["signals"]] == [s["signal"] for s in computed["signals"]]
    assert live["values"]["rsi_14"] == pytest.approx(computed["values"]["rsi_14"], rel=1e-9)

    # One update per interval, then nothing while nothing changes.
    assert {m.value["interval"] for m in received} == {"1m", "5m", "15m", "1h", "4h", "1d"}
    assert all(m.headers["schema"] == "analytics_update.v1" for m in received)
    assert all(m.key == "bitcoin" for m in received)
    before = len(received)
    await consumer.flush(now + 0.5)
    await bus.drain()
    assert len(received) == before


async def test_a_tick_moves_the_live_values_and_publishes(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    consumer, cache, bus = consumer_parts
    await away_from_a_minute_boundary()
    now = time.time()
    minute = int(now // 60) * 60
    await store(db, "ethereum", "1m", walk_candles(minute - 60 * 40, "1m", 40, seed=5))
    received: list[Message] = []

    async def collect(message: Message) -> None:
        received.append(message)

    await bus.subscribe([ANALYTICS_UPDATES], "test", collect)
    feed = Feed()
    at = datetime.fromtimestamp(now, UTC)
    await consumer(feed.message(Tick("ethereum", "binance", D("3000"), D("1"), at, "USDT")))
    await consumer.flush(now)
    first = (await entry(cache, "sma_20", "ethereum", "1m"))["value"]
    await consumer(feed.message(Tick("ethereum", "binance", D("3100"), D("1"), at, "USDT")))
    await consumer.flush(now)
    second = (await entry(cache, "sma_20", "ethereum", "1m"))["value"]
    assert isinstance(first, float)
    assert second == pytest.approx(first + 100 / 20)
    await bus.drain()
    one_minute = [m for m in received if m.value["interval"] == "1m"]
    assert [m.value["values"]["sma_20"] for m in one_minute] == [first, second]


async def test_other_sources_redeliveries_and_bad_messages_are_ignored(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    consumer, _, _ = consumer_parts
    now = datetime.now(UTC)
    feed = Feed()
    primary = feed.message(Tick("bitcoin", "binance", D("100"), D("1"), now, "USDT"))
    await consumer(primary)
    await consumer(primary)  # redelivered
    await consumer(feed.message(Tick("bitcoin", "coinbase", D("200"), D("1"), now, "USD")))
    await consumer(Message(PRICE_UPDATES, "bitcoin", {"coin_id": "bitcoin"}, {}, 0, 10_000))
    assert consumer.ticks == 1
    assert consumer.skipped == 2
    forming = consumer.coins["bitcoin"].aggregator.forming("1m")
    assert forming is not None
    assert forming.close == D("100")


async def test_state_is_rebuilt_when_the_partition_was_consumed_elsewhere(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    consumer, _, _ = consumer_parts
    now = datetime.now(UTC)
    feed = Feed()
    await consumer(feed.message(Tick("solana", "binance", D("150"), D("1"), now, "USDT")))
    held = consumer.coins["solana"]
    feed.message(Tick("solana", "binance", D("151"), D("1"), now, "USDT"))  # another member's
    await consumer(feed.message(Tick("solana", "binance", D("152"), D("1"), now, "USDT")))
    assert consumer.coins["solana"] is not held
    forming = consumer.coins["solana"].aggregator.forming("1m")
    assert forming is not None
    assert forming.close == D("152")


async def test_rebuild_counts_stored_history_and_fills_gaps(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    consumer, _, _ = consumer_parts
    now = time.time()
    hour = int(now // 3600) * 3600
    candles = walk_candles(hour - 3600 * 60, "1h", 60, seed=9)
    del candles[30:33]  # three hours without trades
    await store(db, "bitcoin", "1h", candles)
    state = (await consumer._build("bitcoin", now)).series["1h"]
    closes = np.array([float(c.close) for c in service.regular(candles, "1h")])
    assert len(closes) == 60
    assert state.last_time == candles[-1].time
    assert state.values[0] == ind.sma(closes, 20)[-1]
    assert math.isnan(state.values[2])  # sma_200: not enough history


async def test_history_is_read_once_per_coin(db: Database) -> None:
    cache = MemoryCache(Metrics())
    consumer = IndicatorConsumer(db=db, cache=cache, bus=MemoryBus(Metrics()), universe=UNIVERSE)
    feed = Feed()
    calls = 0
    real = consumer._build

    async def counting(coin_id: str, now: float) -> object:
        nonlocal calls
        calls += 1
        return await real(coin_id, now)

    consumer._build = counting  # type: ignore[method-assign,assignment]
    at = datetime.now(UTC)
    for price in ("1", "2", "3"):
        await consumer(feed.message(Tick("bitcoin", "binance", D(price), D("1"), at, "USDT")))
    assert calls == 1
    assert market.MAX_CANDLES == service.HISTORY


async def test_the_correlation_job_skips_matrices_without_data(db: Database) -> None:
    from cryptodash.analytics.jobs import refresh_correlations

    cache = MemoryCache(Metrics())
    assert await refresh_correlations(db, cache, UNIVERSE) == 0  # nothing stored yet
    hour = int(time.time() // 3600) * 3600
    for seed, coin in enumerate(("bitcoin", "ethereum", "solana")):
        await store(db, coin, "1h", walk_candles(hour - 3600 * 200, "1h", 200, seed=seed))
    assert await refresh_correlations(db, cache, UNIVERSE) == 1  # only 1h has data
    body = orjson.loads(await cache.get(service.correlation_key(168, None, "1h")) or b"")
    assert body["coins"] == ["bitcoin", "ethereum", "solana"]
    assert body["as_of"] == service.iso(hour)


async def test_the_correlation_job_recomputes_a_matrix_only_when_a_candle_closed(
    db: Database,
) -> None:
    """Between two closes of its interval a matrix cannot change, so the job writes it again
    as it was (keeping it alive) without reading the store; a new closed bucket, or
    RECOMPUTE_EVERY seconds, recomputes it (taking in a corrected candle)."""
    from cryptodash.analytics.jobs import RECOMPUTE_EVERY, Computed, refresh_correlations

    cache = MemoryCache(Metrics())
    key = service.correlation_key(168, None, "1h")
    hour = int(time.time() // 3600) * 3600 - 3600  # a past hour: nothing else closes in it
    history = {}
    for seed, coin in enumerate(("bitcoin", "ethereum", "solana")):
        history[coin] = walk_candles(hour - 3600 * 200, "1h", 200, seed=seed)
        await store(db, coin, "1h", history[coin])

    async def fresh(now: float) -> bytes:
        async with db.read_session() as session:
            body = await service.correlation_body(
                session, UNIVERSE, list(UNIVERSE.ids), "1h", 168, now=now
            )
        return orjson.dumps(body)

    computed: dict[str, Computed] = {}
    now = hour + 100.0
    assert await refresh_correlations(db, cache, UNIVERSE, now=now, computed=computed) == 1
    first = await cache.get(key)
    assert first == await fresh(now)
    assert orjson.loads(first or b"")["as_of"] == service.iso(hour)

    old = history["ethereum"][-10]  # a correction inside the window, as a backfill makes
    await store(db, "ethereum", "1h", [dataclasses.replace(old, close=old.close * 2)])
    corrected = await fresh(now + 60)
    assert corrected != first
    await cache.close()  # drop the entry: the next run writes it again
    assert await refresh_correlations(db, cache, UNIVERSE, now=now + 60, computed=computed) == 1
    assert await cache.get(key) == first  # the same bucket: not recomputed

    later = now + RECOMPUTE_EVERY
    assert await refresh_correlations(db, cache, UNIVERSE, now=later, computed=computed) == 1
    assert await cache.get(key) == corrected

    nxt = walk_candles(hour, "1h", 1, seed=5, price=float(history["bitcoin"][-1].close))
    await store(db, "bitcoin", "1h", nxt)  # the hour closes
    after = hour + 3600 + 100.0
    assert await refresh_correlations(db, cache, UNIVERSE, now=after, computed=computed) == 1
    assert await cache.get(key) == await fresh(after)
    assert orjson.loads(await cache.get(key) or b"")["as_of"] == service.iso(hour + 3600)


async def test_coins_split_across_group_members(db: Database) -> None:
    """Two members of the group: each coin's state lives in the member that owns its
    partition, and the live values of every coin still reach the cache."""
    from cryptodash.analytics.consumer import GROUP
    from cryptodash.market.ingest import publish_tick

    metrics = Metrics()
    cache = MemoryCache(metrics)
    bus = MemoryBus(metrics)
    members = [IndicatorConsumer(db=db, cache=cache, bus=bus, universe=UNIVERSE) for _ in range(2)]
    for member in members:
        await bus.subscribe([PRICE_UPDATES], GROUP, member)
    at = datetime.now(UTC)
    coins = ["bitcoin", "ethereum", "solana"]
    for coin in coins:
        await publish_tick(bus, Tick(coin, "binance", D("10"), D("1"), at, "USDT"))
    await bus.drain()
    held = [set(member.coins) for member in members]
    assert held[0] | held[1] == set(coins)
    assert not held[0] & held[1]
    for member in members:
        await member.flush()
    for coin in coins:
        assert (await entry(cache, "sma_20", coin, "1m"))["close"] == 10.0
    await bus.close()


async def test_older_history_written_after_the_first_tick_is_taken_in(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    """A fresh demo: the simulator's first ticks come before it has written the older
    history. The state built at the first tick is short; a recheck builds it again from the
    store, so SMA 200 on hours gets its value instead of waiting 200 hours."""
    consumer, cache, _ = consumer_parts
    hour = 3600
    if time.time() % hour > hour - 90:  # the recheck below must see the same closed hour
        await asyncio.sleep(hour - time.time() % hour + LATENESS + 1)
    now = time.time()
    last_closed = int(now // hour) * hour - hour
    history = walk_candles(last_closed - 299 * hour, "1h", 300, seed=9)
    await store(db, "ethereum", "1h", history[-30:])  # the recent part first
    feed = Feed()
    at = datetime.fromtimestamp(now, UTC)
    await consumer(feed.message(Tick("ethereum", "binance", D("3000"), D("1"), at, "USDT")))
    await consumer.flush(now)
    assert (await entry(cache, "sma_200", "ethereum", "1h"))["value"] is None
    state = consumer.coins["ethereum"]
    assert "1h" in state.short

    await store(db, "ethereum", "1h", history[:-30])  # the older part, a moment later
    await consumer.flush(now + 1)  # too early for a recheck
    assert state.series["1h"].count == 30
    await consumer.flush(now + 16)
    assert state.series["1h"].count == 300
    assert "1h" not in state.short
    closes = np.array([float(c.close) for c in history])
    live = (await entry(cache, "sma_200", "ethereum", "1h"))["value"]
    assert isinstance(live, float)
    # The live value is over the forming hour's close (the tick): the batch SMA over the
    # stored closes and that close.
    expected = ind.sma(np.append(closes, 3000.0), 200)[-1]
    assert live == pytest.approx(expected, rel=1e-9)


async def test_an_interval_with_no_history_at_the_first_tick_takes_it_in_later(
    db: Database, consumer_parts: tuple[IndicatorConsumer, MemoryCache, MemoryBus]
) -> None:
    """A fresh demo writes the longer intervals' history last: at the first tick the 4h
    series has no stored candle at all. The recheck takes in the whole history then (an
    empty series has no last candle to line up with)."""
    consumer, cache, _ = consumer_parts
    size = 4 * 3600
    if time.time() % size > size - 90:  # the recheck below must see the same closed bucket
        await asyncio.sleep(size - time.time() % size + LATENESS + 1)
    now = time.time()
    last_closed = int(now // size) * size - size
    history = walk_candles(last_closed - 259 * size, "4h", 260, seed=4)
    feed = Feed()
    at = datetime.fromtimestamp(now, UTC)
    await consumer(feed.message(Tick("solana", "binance", D("150"), D("1"), at, "USDT")))
    await consumer.flush(now)
    state = consumer.coins["solana"]
    assert state.series["4h"].count == 0
    assert "4h" in state.short

    await store(db, "solana", "4h", history)
    await consumer.flush(now + 16)
    assert state.series["4h"].count == 260
    assert state.series["4h"].last_time == last_closed
    assert "4h" not in state.short
    closes = np.array([float(c.close) for c in history])
    live = (await entry(cache, "sma_200", "solana", "4h"))["value"]
    assert live == pytest.approx(ind.sma(np.append(closes, 150.0), 200)[-1], rel=1e-9)
