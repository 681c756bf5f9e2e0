"""Service functions on SQLite and PostgreSQL: the candle read API for other domains, the
REST-history ingestion path (Coinbase 4h from 1h), 24 h statistics and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import func, select, text

from cryptodash.market import service
from cryptodash.market.candles import Candle
from cryptodash.market.models import CandleRecord, Price
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics

D = Decimal
NOW = datetime(2026, 11, 28, 12, 30, 30, tzinfo=UTC)
T = int(NOW.timestamp())
HOUR = T // 3600 * 3600


def bar(time: int, price: int, volume: int = 1) -> Candle:
    return Candle(time, D(price), D(price + 1), D(price - 1), D(price), D(volume))


async def stored(db: Database, coin: str, source: str, interval: str) -> list[Candle]:
    async with db.session() as session:
        return await service.list_candles(
            session,
            coin_id=coin,
            source=source,
            interval=interval,
            limit=1000,
            closed_only=False,
            now=NOW,
        )


def test_derived_intervals_per_source() -> None:
    assert service.derived_intervals("coinbase", "1h") == ("4h",)
    assert service.derived_intervals("coinbase", "1m") == ()
    assert service.derived_intervals("binance", "1h") == ()
    assert service.derived_intervals("simulator", "1m") == ("5m", "15m", "1h", "4h", "1d")
    assert service.derived_intervals("coinbase", "4h") == ()


async def test_ingest_stores_closed_candles_once_and_builds_coinbase_4h(db: Database) -> None:
    four = HOUR // 14_400 * 14_400  # the current 4h bucket, still forming at NOW
    hours = [bar(four - 3600 * k, 100 + k) for k in range(1, 9)]  # two whole 4h buckets
    hours.append(bar(HOUR, 1))  # the forming hour: left to the live persister
    async with db.session() as session:
        written = await service.ingest_candles(
            session, coin_id="bitcoin", source="coinbase", interval="1h", candles=hours, now=NOW
        )
    assert written == 8 + 2
    again = list(reversed(hours))  # overlapping pages, any order: nothing doubles
    async with db.session() as session:
        await service.ingest_candles(
            session, coin_id="bitcoin", source="coinbase", interval="1h", candles=again, now=NOW
        )
    assert [c.time for c in await stored(db, "bitcoin", "coinbase", "1h")] == sorted(
        c.time for c in hours[:-1]
    )
    four_h = await stored(db, "bitcoin", "coinbase", "4h")
    assert four_h == [
        Candle(four - 8 * 3600, D(108), D(109), D(104), D(105), D(4)),
        Candle(four - 4 * 3600, D(104), D(105), D(100), D(101), D(4)),
    ]


async def test_an_incomplete_4h_bucket_is_completed_by_a_later_page(db: Database) -> None:
    four = HOUR // 14_400 * 14_400 - 14_400
    async with db.session() as session:
        await service.ingest_candles(
            session,
            coin_id="ethereum",
            source="coinbase",
            interval="1h",
            candles=[bar(four + 7200, 10), bar(four + 10_800, 11)],
            now=NOW,
        )
    assert (await stored(db, "ethereum", "coinbase", "4h"))[0].volume == 2
    async with db.session() as session:
        await service.ingest_candles(
            session,
            coin_id="ethereum",
            source="coinbase",
            interval="1h",
            candles=[bar(four, 8), bar(four + 3600, 9)],
            now=NOW,
        )
    assert await stored(db, "ethereum", "coinbase", "4h") == [
        Candle(four, D(8), D(12), D(7), D(11), D(4))
    ]


async def test_list_candles_gives_back_the_exact_decimals_stored(db: Database) -> None:
    """NUMERIC(38,18) in, the same Decimals out: 18 places, 20 integer digits, tiny volumes."""
    at = T // 60 * 60 - 3600
    exact = Candle(
        at,
        D("64000.123456789012345678"),
        D("99999999999999999999.999999999999999999"),
        D("0.000000000000000001"),
        D("64001.5"),
        D("0"),
    )
    async with db.session() as session:
        await service.upsert_candles(session, [(("bitcoin", "coinbase", "1h"), exact)])
    (back,) = await stored(db, "bitcoin", "coinbase", "1h")
    assert back == exact
    assert [type(v) for v in (back.open, back.high, back.low, back.close, back.volume)] == [D] * 5
    assert str(back.open) == "64000.123456789012345678"


async def test_list_candles_for_other_domains(db: Database) -> None:
    minutes = [bar(T // 60 * 60 - 60 * k, 100 + k) for k in range(0, 10)]
    async with db.session() as session:
        await service.upsert_candles(session, ((("bitcoin", "binance", "1m"), c) for c in minutes))
    async with db.session() as session:
        closed = await service.list_candles(
            session, coin_id="bitcoin", source="binance", interval="1m", now=NOW
        )
        last3 = await service.list_candles(
            session, coin_id="bitcoin", source="binance", interval="1m", limit=3, now=NOW
        )
        start = datetime.fromtimestamp(minutes[-1].time, UTC)
        first2 = await service.list_candles(
            session,
            coin_id="bitcoin",
            source="binance",
            interval="1m",
            start=start,
            limit=2,
            now=NOW,
        )
        ranged = await service.list_candles(
            session,
            coin_id="bitcoin",
            source="binance",
            interval="1m",
            start=start,
            end=start + timedelta(minutes=1),
            now=NOW,
        )
        with pytest.raises(ValueError, match="limit"):
            await service.list_candles(
                session, coin_id="bitcoin", source="binance", interval="1m", limit=0
            )
        with pytest.raises(ValueError, match="interval"):
            await service.list_candles(session, coin_id="bitcoin", source="binance", interval="2m")
    # The bucket of NOW is still forming: closed candles stop before it.
    assert [c.time for c in closed] == sorted(c.time for c in minutes[1:])
    assert [c.time for c in last3] == sorted(c.time for c in minutes[1:4])
    assert [c.time for c in first2] == [minutes[-1].time, minutes[-2].time]
    assert [c.time for c in ranged] == [minutes[-1].time, minutes[-2].time]
    assert closed[0] == minutes[-1]  # exact decimals back


async def test_window_stats_from_hours_and_ragged_minutes(db: Database) -> None:
    boundary = T // 60 * 60
    start = boundary - 86_400
    first_hour = -(-start // 3600) * 3600
    items = []
    # Whole hours inside the window (primary binance) and a coinbase hour (volume only).
    for k in range(0, 23):
        items.append((("bitcoin", "binance", "1h"), bar(first_hour + 3600 * k, 1000 + k, 10)))
    items.append((("bitcoin", "coinbase", "1h"), bar(first_hour, 5, 7)))
    # Ragged ends in 1m candles, and one minute just outside the window.
    items.append((("bitcoin", "binance", "1m"), bar(start, 900, 1)))
    items.append((("bitcoin", "binance", "1m"), bar(start - 60, 1, 1000)))
    items.append((("bitcoin", "binance", "1m"), bar(boundary - 60, 2000, 2)))
    async with db.session() as session:
        await service.upsert_candles(session, items)
    async with db.session() as session:
        stats = await service.window_stats(
            session, {"bitcoin": "binance", "ethereum": "binance"}, boundary
        )
    btc = stats["bitcoin"]
    assert btc.open == D(900)
    assert btc.high == D(2001)
    assert btc.low == D(899)
    assert btc.volume == D(1 + 23 * 10 + 7 + 2)
    assert stats["ethereum"].open is None


async def test_prune_keeps_what_retention_allows(db: Database) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    async with db.session() as session:
        if db.dialect == "postgresql":
            await session.execute(text("SELECT cryptodash_ensure_price_partitions(3, 3)"))
        for at in (old, recent):
            session.add(Price(coin_id="bitcoin", source="binance", price=D(1), timestamp=at))
        ancient = int((now - timedelta(days=100)).timestamp())
        await service.upsert_candles(
            session,
            [
                (("bitcoin", "binance", "1m"), bar(ancient // 60 * 60, 1)),
                (("bitcoin", "binance", "1m"), bar(int(recent.timestamp()) // 60 * 60, 1)),
                (("bitcoin", "binance", "5m"), bar(ancient // 300 * 300, 1)),
            ],
        )
    pruned = await service.prune(db, price_retention_days=30, candle_1m_retention_days=90, now=now)
    async with db.session() as session:
        prices = (await session.scalars(select(Price.timestamp))).all()
        candles = (
            await session.execute(
                select(CandleRecord.interval, func.count()).group_by(CandleRecord.interval)
            )
        ).all()
    assert dict(candles) == {"1m": 1, "5m": 1}
    assert pruned.candles_1m == 1
    if db.dialect == "postgresql":
        # Whole months go: the 40-day-old row stays while its month is not yet past the cutoff.
        assert all(
            name < f"prices_{(now - timedelta(days=30)):%Y_%m}" for name in pruned.price_partitions
        )
        assert recent in prices
    else:
        assert prices == [recent]
        assert pruned.price_rows == 1


async def test_rebuild_forming_from_hours_and_minutes(db: Database) -> None:
    day = T // 86_400 * 86_400
    items = [(("sol", "simulator", "1h"), bar(day + 3600 * k, 10 + k, 60)) for k in range(12)]
    items += [(("sol", "simulator", "1m"), bar(HOUR + 60 * k, 50 + k)) for k in range(31)]
    async with db.session() as session:
        await service.upsert_candles(session, items)
        await service.rebuild_forming(session, "sol", "simulator", NOW)
    day_candle = (await stored(db, "sol", "simulator", "1d"))[-1]
    assert day_candle == Candle(day, D(10), D(81), D(9), D(80), D(12 * 60 + 31))
    (five,) = await stored(db, "sol", "simulator", "5m")
    assert five == Candle(T // 300 * 300, D(80), D(81), D(79), D(80), D(1))


async def test_a_latest_candles_body_is_refreshed_from_its_tail(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between whole reads (every FULL_REFRESH_SECONDS) the chart body is refreshed from the
    last candle on: the same bytes as a whole read, except a change further back (a backfill),
    which shows at the next whole read."""
    cache = MemoryCache(Metrics())
    minute = T // 60 * 60
    query = {"coin_id": "bitcoin", "source": "binance", "interval": "1m", "start": None}

    async def write(*candles: Candle) -> None:
        async with db.session() as session:
            await service.upsert_candles(
                session, ((("bitcoin", "binance", "1m"), c) for c in candles)
            )

    async def refreshed(limit: int = 5) -> bytes:
        key = f"candles:test:{limit}"  # as the route's keys: one per query
        return await service._candles_body(cache, db, key, end=None, limit=limit, **query)

    async def whole(limit: int = 5) -> bytes:
        async with db.session() as session:
            candles = await service.list_candles(
                session, **query, limit=limit, closed_only=False, now=NOW
            )
        return orjson.dumps(
            {
                "coin_id": "bitcoin",
                "interval": "1m",
                "source": "binance",
                "quote": "USDT",
                "candles": [
                    {
                        "time": c.time,
                        "open": float(c.open),
                        "high": float(c.high),
                        "low": float(c.low),
                        "close": float(c.close),
                        "volume": float(c.volume),
                    }
                    for c in candles
                ],
            }
        )

    await write(*(bar(minute - 60 * k, 100 + k) for k in range(10)))
    assert await refreshed() == await whole()
    # The forming candle moves and a new one opens: read from the tail.
    await write(bar(minute, 150), bar(minute + 60, 151))
    body = await refreshed()
    assert body == await whole()
    assert [c["time"] for c in orjson.loads(body)["candles"]][-1] == minute + 60
    # A backfill three candles back: not re-read until the next whole read.
    await write(bar(minute - 120, 999))
    assert b"999" not in await refreshed()
    monkeypatch.setattr(service, "FULL_REFRESH_SECONDS", 0.0)
    assert await refreshed() == await whole()
    assert b"999" in await whole()
    # More new candles than the body holds: read whole again.
    monkeypatch.setattr(service, "FULL_REFRESH_SECONDS", 60.0)
    await write(*(bar(minute + 60 * k, 200 + k) for k in range(2, 9)))
    assert await refreshed() == await whole()
    # Another query's window is its own.
    assert await refreshed(limit=3) == await whole(limit=3)
