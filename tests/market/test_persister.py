"""The persister on SQLite and PostgreSQL: per-second rows, candles, cache entries, and
idempotence when the bus delivers a message again."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select

from cryptodash.market import consumer, service
from cryptodash.market.coins import Universe
from cryptodash.market.consumer import PricePersister
from cryptodash.market.ingest import PRICE_UPDATES
from cryptodash.market.models import CandleRecord, ConsumerOffset, Price
from cryptodash.market.normalize import Tick, tick_to_message
from cryptodash.platform.bus import Message, partition_for
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics
from tests.helpers import eventually

D = Decimal
UNIVERSE = Universe(["bitcoin", "ethereum"], ["binance", "coinbase"])


def now_second() -> datetime:
    """A recent whole second with two more seconds in the same minute."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    return at - timedelta(seconds=3) if at.second > 57 else at


def messages(ticks: list[Tick], first_offset: int = 0) -> list[Message]:
    offsets: dict[int, int] = {}
    out = []
    for tick in ticks:
        partition = partition_for(tick.coin_id, 12)
        offset = offsets.get(partition, first_offset)
        offsets[partition] = offset + 1
        out.append(
            Message(PRICE_UPDATES, tick.coin_id, tick_to_message(tick), {}, partition, offset)
        )
    return out


def persister(db: Database, cache: MemoryCache | None = None, **kw: object) -> PricePersister:
    return PricePersister(
        db=db,
        cache=cache or MemoryCache(Metrics()),
        metrics=Metrics(),
        universe=UNIVERSE,
        **kw,  # type: ignore[arg-type]
    )


def sample_ticks(base: datetime) -> list[Tick]:
    at = base
    return [
        Tick("bitcoin", "binance", D("100"), D("1.5"), at, "USDT"),
        Tick("bitcoin", "binance", D("101"), D("0.5"), at + timedelta(milliseconds=400), "USDT"),
        Tick("bitcoin", "binance", D("99"), D("1"), at + timedelta(milliseconds=200), "USDT"),
        Tick("bitcoin", "coinbase", D("100.5"), D("2"), at, "USD"),
        Tick("bitcoin", "binance", D("102"), D("1"), at + timedelta(seconds=1), "USDT"),
        Tick("ethereum", "coinbase", D("3500.25"), D("10"), at, "USD"),
    ]


async def rows(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async with db.session() as session:
        prices = (
            await session.execute(
                select(
                    Price.coin_id, Price.source, Price.quote, Price.timestamp,
                    Price.price, Price.volume,
                ).order_by(Price.coin_id, Price.source, Price.timestamp)
            )
        ).all()  # fmt: skip
        candles = (
            await session.execute(
                select(
                    CandleRecord.coin_id, CandleRecord.source, CandleRecord.interval,
                    CandleRecord.time, CandleRecord.open, CandleRecord.high, CandleRecord.low,
                    CandleRecord.close, CandleRecord.volume,
                ).order_by(
                    CandleRecord.coin_id, CandleRecord.source, CandleRecord.interval,
                    CandleRecord.time,
                )
            )
        ).all()  # fmt: skip
    return [tuple(r) for r in prices], [tuple(r) for r in candles]


async def deliver(p: PricePersister, batch: list[Message]) -> None:
    for message in batch:
        await p(message)
    await p.flush()


async def test_ticks_become_per_second_rows_candles_and_cache_entries(db: Database) -> None:
    base = now_second()
    cache = MemoryCache(Metrics())
    p = persister(db, cache)
    await deliver(p, messages(sample_ticks(base)))
    prices, candles = await rows(db)
    assert prices == [
        ("bitcoin", "binance", "USDT", base, D("101"), D("3.0")),  # latest by event time
        ("bitcoin", "binance", "USDT", base + timedelta(seconds=1), D("102"), D("1")),
        ("bitcoin", "coinbase", "USD", base, D("100.5"), D("2")),
        ("ethereum", "coinbase", "USD", base, D("3500.25"), D("10")),
    ]
    minute = datetime.fromtimestamp(int(base.timestamp()) // 60 * 60, UTC)
    btc_binance_1m = [c for c in candles if c[:3] == ("bitcoin", "binance", "1m")]
    assert btc_binance_1m == [
        ("bitcoin", "binance", "1m", minute, D("100"), D("102"), D("99"), D("102"), D("4.0"))
    ]
    assert {c[2] for c in candles} == {"1m", "5m", "15m", "1h", "4h", "1d"}
    entry = orjson.loads(await cache.get(service.price_key("bitcoin")) or b"{}")
    assert entry["coin_id"] == "bitcoin"
    assert entry["price"] == 101.25  # median of 102 (USDT taken 1:1) and 100.5
    assert entry["usdt_rate_assumed"] is True
    assert set(entry["sources"]) == {"binance", "coinbase"}
    assert entry["volume_24h"] == 6.0


async def test_a_backlog_older_than_the_24h_base_counts_at_once(db: Database) -> None:
    """A consumer catching up after an outage gets ticks from before the 24 h base's boundary
    (a few minutes ago): they count in the figures of the very flush that writes them, not
    only after the next rebase a minute later."""
    base = now_second()
    cache = MemoryCache(Metrics())
    p = persister(db, cache)
    backlog = [
        Tick("bitcoin", "binance", D("98"), D("2"), base - timedelta(minutes=30), "USDT"),
        Tick("bitcoin", "binance", D("99"), D("5"), base - timedelta(minutes=10), "USDT"),
    ]
    await deliver(p, messages(backlog))
    entry = orjson.loads(await cache.get(service.price_key("bitcoin")) or b"{}")
    assert entry["volume_24h"] == 7.0
    assert entry["low_24h"] == 98.0
    assert entry["high_24h"] == 99.0


async def test_a_redelivered_message_is_applied_once(db: Database) -> None:
    base = now_second()
    batch = messages(sample_ticks(base))
    p = persister(db)
    await deliver(p, batch)
    once = await rows(db)
    await deliver(p, batch)  # the same partition and offsets again (a rebalance back)
    assert await rows(db) == once
    assert p.duplicates == len(batch)


@pytest.mark.parametrize("late", [0, 70], ids=["same-minute", "minute-ended"])
async def test_redelivery_to_a_new_consumer_uses_the_stored_offsets(
    db: Database, late: int
) -> None:
    """Kafka redelivers from the last commit to whoever owns the partition next: the rows, the
    forming candles and the offsets were written together, so it continues exactly; also when
    the minute of the redelivered ticks has ended by the time they come (the successor
    continues the stored candles of every bucket from its first tick's on, not only now's)."""
    base = now_second()
    first = sample_ticks(base)
    later = [
        Tick("bitcoin", "binance", D("103"), D("2"), base + timedelta(seconds=1.5), "USDT"),
        Tick("ethereum", "coinbase", D("3499"), D("1"), base + timedelta(seconds=0.001), "USD"),
    ]
    all_messages = messages(first + later)
    # One wall clock for all three, so that buckets closing while a slow machine runs this do
    # not make the runs differ.
    clock = lambda: base + timedelta(seconds=3 + late)  # noqa: E731

    reference = persister(db, durable_offsets=True, consumer="reference", clock=clock)
    await deliver(reference, all_messages)
    expected = await rows(db)

    async with db.session() as session:  # start again from an empty store
        await session.execute(Price.__table__.delete())
        await session.execute(CandleRecord.__table__.delete())

    crashed = persister(db, durable_offsets=True, clock=clock)
    await deliver(crashed, all_messages[: len(first)])
    successor = persister(db, durable_offsets=True, clock=clock)
    await deliver(successor, all_messages)  # everything again, from offset 0
    assert await rows(db) == expected
    assert successor.duplicates == len(first)
    async with db.session() as session:
        stored = (await session.scalars(select(ConsumerOffset))).all()
    assert {o.next_offset for o in stored if o.consumer == crashed.consumer} == {2, 6}


def stamped(batch: list[Message], at_ms: int) -> list[Message]:
    """The messages with Kafka record times from `at_ms` on, one millisecond apart."""
    return [replace(m, timestamp=at_ms + i) for i, m in enumerate(batch)]


async def test_a_log_that_started_over_is_applied_and_redelivery_still_is_not(
    db: Database,
) -> None:
    """A broker back without its data numbers messages from 0 again: they are behind the stored
    offsets but newer than anything applied, so they are new (not redeliveries)."""
    base = now_second()
    clock = lambda: base + timedelta(seconds=3)  # noqa: E731
    old_log = stamped(messages(sample_ticks(base)), 1_000)
    later = [Tick("bitcoin", "binance", D("104"), D("3"), base + timedelta(seconds=1.2), "USDT")]
    new_log = stamped(messages(later), 5_000)  # offset 0 again, produced after
    first = persister(db, durable_offsets=True, clock=clock)
    await deliver(first, old_log)
    before = await rows(db)
    successor = persister(db, durable_offsets=True, clock=clock)  # loads the stored offsets
    await deliver(successor, old_log[:2])  # a redelivery: still skipped
    assert await rows(db) == before
    assert successor.duplicates == 2
    await deliver(successor, new_log)
    assert successor.log_resets == 1
    prices, _ = await rows(db)
    second = [r for r in prices if r[1] == "binance" and r[3] == base + timedelta(seconds=1)]
    assert second[0][4:] == (D("104"), D("4"))  # 1 from the old log + 3 from the new one
    await deliver(successor, new_log)  # and the new log's redelivery is skipped in turn
    assert (await rows(db))[0] == prices


async def test_invalid_untracked_and_far_future_ticks_are_skipped(db: Database) -> None:
    base = now_second()
    good = Tick("bitcoin", "binance", D("1"), D("1"), base, "USDT")
    batch = messages(
        [
            good,
            Tick("dogecoin", "binance", D("1"), D("1"), base, "USDT"),  # not in this universe
            Tick("bitcoin", "binance", D("1"), D("1"), base + timedelta(days=1), "USDT"),
        ]
    )
    batch.append(Message(PRICE_UPDATES, "bitcoin", {"coin_id": "bitcoin"}, {}, 0, 99))
    p = persister(db)
    await deliver(p, batch)
    prices, _ = await rows(db)
    assert len(prices) == 1
    assert p.rejected == 3


async def test_writes_wait_while_the_database_is_down_and_cache_keeps_serving(
    db: Database,
) -> None:
    base = now_second()
    cache = MemoryCache(Metrics())
    p = persister(db, cache)
    await db.engine.dispose()
    real = p.db.session

    def broken() -> object:
        raise OSError("database down")

    p.db.session = broken  # type: ignore[method-assign]
    for message in messages(sample_ticks(base)):
        await p(message)
    with pytest.raises(RuntimeError, match="writes pending"):
        await p.flush()
    assert await cache.get(service.price_key("bitcoin")) is not None
    p.db.session = real  # type: ignore[method-assign]
    await p.flush()
    prices, candles = await rows(db)
    assert len(prices) == 4
    assert candles


def counting_sessions(p: PricePersister, fail_at: int | None = None) -> list[int]:
    """Count the database's write transactions (the `fail_at`-th one raises)."""
    real = p.db.session
    calls: list[int] = []
    begun = 0

    def session(*args: object, **kw: object) -> object:
        nonlocal begun
        calls.append(1)
        begun += 1
        if begun == fail_at:
            raise OSError("database down")
        return real(*args, **kw)  # type: ignore[arg-type]

    p.db.session = session  # type: ignore[method-assign]
    return calls


async def test_a_large_write_goes_in_parts_and_a_failed_part_waits(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "WRITE_ROWS", 5)
    base = now_second()
    p = persister(db)
    calls = counting_sessions(p, fail_at=3)
    for message in messages(sample_ticks(base)):
        await p(message)
    with pytest.raises(RuntimeError, match="writes pending"):
        await p.flush()
    assert len(calls) == 3
    prices, candles = await rows(db)
    assert len(prices) + len(candles) == 10  # two parts of 5 rows each, then the failure
    del calls[:]
    await p.flush()
    assert len(calls) == 3  # the 12 rows left: parts of 5, 5 and 2
    prices, candles = await rows(db)
    assert len(prices) == 4
    assert len(candles) == 18  # 3 coin-sources x 6 intervals: nothing lost, nothing twice


async def test_the_timer_writes_the_database_once_a_second_and_the_cache_every_flush(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer, "WRITE_EVERY", 0.5)
    cache = MemoryCache(Metrics())
    p = persister(db, cache, flush_interval=0.05)
    calls = counting_sessions(p)
    timer = asyncio.create_task(p.run())
    began = asyncio.get_running_loop().time()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        for i in range(30):
            at = start + timedelta(seconds=i)
            tick = Tick("bitcoin", "binance", D(100 + i), D("1"), at, "USDT")
            await p(messages([tick], first_offset=i)[0])
            await asyncio.sleep(0.05)

        async def cached_last() -> bool:  # the cache follows every flush
            entry = orjson.loads(await cache.get(service.price_key("bitcoin")) or b"{}")
            return entry.get("price") == 129

        await eventually(cached_last, timeout=5)
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    elapsed = asyncio.get_running_loop().time() - began
    # A flush every 0.05 s (30 and more) but a database write every 0.5 s at most.
    assert 2 <= len(calls) <= elapsed / 0.5 + 1, (calls, elapsed)
    await p.flush()
    prices, _ = await rows(db)
    assert len(prices) == 30
