"""Backfill from the fakes' REST history into the candle store (SQLite and PostgreSQL): a
fresh start, resuming after the newest candle, a gap refetched once its buckets closed, a 429
in the middle, and Coinbase's 4h built from 1h."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from cryptodash.market import service
from cryptodash.market.candles import INTERVALS, resample
from cryptodash.market.exchanges.backfill import Backfiller
from cryptodash.market.exchanges.binance import BinanceRest
from cryptodash.market.exchanges.coinbase import CoinbaseRest
from cryptodash.platform.db import Database
from tests.fakes import FakeBinance, FakeCoinbase
from tests.fakes.prices import candle, decimals, text


async def stored(db: Database, source: str, interval: str, coin: str = "bitcoin") -> list[int]:
    async with db.read_session() as session:
        candles = await service.list_candles(
            session, coin_id=coin, interval=interval, source=source, limit=1000
        )
    return [c.time for c in candles]


async def test_binance_history_then_resume_then_a_gap(db: Database) -> None:
    async with FakeBinance(symbols=["BTCUSDT", "ETHUSDT"]) as fake:
        rest = BinanceRest(fake.rest_url)
        backfiller = Backfiller(rest, db, {"bitcoin": "BTCUSDT", "ethereum": "ETHUSDT"}, settle=0)
        try:
            planned = await backfiller.plan_history(0.5, forming=False)
            assert planned == 2 * 6  # one page per coin and interval reaches back far enough
            await backfiller.run_until_done()
            assert backfiller.failed_pages == 0
            now = time.time()
            for interval, size in INTERVALS.items():
                times = await stored(db, "binance", interval)
                last_closed = int(now // size) * size - size
                assert times[-1] >= last_closed - size, interval  # a bucket may close meanwhile
                assert times == list(range(times[0], times[-1] + 1, size)), interval
            minutes = await stored(db, "binance", "1m")
            assert len(minutes) >= 999  # 1000 minutes: more than the half day asked
            async with db.read_session() as session:
                (last,) = await service.list_candles(
                    session, coin_id="ethereum", interval="1h", source="binance", limit=1
                )
            *_, c, v = candle("ETH", last.time, 3600)
            # As Binance writes it: to the price's tick (0.01 at ETH's level).
            assert float(last.close) == pytest.approx(float(text(c, decimals(c))), rel=1e-9)
            assert float(last.volume) == pytest.approx(v, rel=1e-6)
            assert backfiller.status.candles_backfilled == backfiller.written > 2 * 5000

            # A restart resumes after the newest stored candle: one small page per series.
            fake.rest_requests.clear()
            assert await backfiller.plan_history(0.5, forming=False) == 2 * 6
            await backfiller.run_until_done()
            for path, params in fake.rest_requests:
                assert path == "/api/v3/klines"
                assert int(params["limit"]) <= 3

            # A gap: its closed minutes are refetched, and it counts as backfilled (the
            # longer buckets still forming are refetched when they close).
            fake.rest_requests.clear()
            now = time.time()
            backfiller.note_gap(["bitcoin"], now - 600, now - 300)
            assert backfiller.status.gaps_found == 1
            await backfiller.run_until_done()
            assert backfiller.status.gaps_backfilled == 1
            asked = {(p["interval"], p["symbol"]) for _, p in fake.rest_requests}
            assert ("1m", "BTCUSDT") in asked
            assert all(symbol == "BTCUSDT" for _, symbol in asked)
        finally:
            await rest.close()


async def test_backfill_rides_out_a_429(db: Database) -> None:
    async with FakeBinance(symbols=["BTCUSDT"]) as fake:
        rest = BinanceRest(fake.rest_url)
        backfiller = Backfiller(rest, db, {"bitcoin": "BTCUSDT"}, settle=0, workers=1)
        try:
            fake.rest_faults.append((429, 1))
            await backfiller.plan_history(0.1, forming=False)
            await backfiller.run_until_done()
            assert rest.client.rate_limited == 1
            assert backfiller.failed_pages == 0
            assert backfiller.done_pages == 6
            assert len(await stored(db, "binance", "1m")) >= 999
        finally:
            await rest.close()


async def test_coinbase_history_builds_4h_from_1h(db: Database) -> None:
    async with FakeCoinbase(products=["BTC-USD"]) as fake:
        rest = CoinbaseRest(fake.rest_url)
        backfiller = Backfiller(rest, db, {"bitcoin": "BTC-USD"}, settle=0)
        try:
            await backfiller.plan_history(0.1, forming=False)
            await backfiller.run_until_done()
            assert backfiller.failed_pages == 0
            asked = {p["granularity"] for _, p in fake.rest_requests}
            assert asked == {"60", "300", "900", "3600", "86400"}  # no 4h at Coinbase
            minutes = await stored(db, "coinbase", "1m")
            assert len(minutes) >= 299
            async with db.read_session() as session:
                hours = await service.list_candles(
                    session, coin_id="bitcoin", interval="1h", source="coinbase", limit=1000
                )
                fours = await service.list_candles(
                    session, coin_id="bitcoin", interval="4h", source="coinbase", limit=1000
                )
            assert len(fours) >= 60
            expected = {c.time: c for c in resample(hours, "4h")}
            for four in fours[1:]:  # the oldest may lack the hours before the first page
                assert four == expected[four.time]
        finally:
            await rest.close()


async def test_forming_buckets_wait_until_they_close(db: Database) -> None:
    async with FakeBinance(symbols=["BTCUSDT"]) as fake:
        rest = BinanceRest(fake.rest_url)
        clock = [time.time()]
        backfiller = Backfiller(rest, db, {"bitcoin": "BTCUSDT"}, clock=lambda: clock[0])
        try:
            now = clock[0]
            backfiller.note_gap(["bitcoin"], now - 30, now)
            due = {(p.interval, p.first): p.due for p in backfiller._pending.values()}
            minute = int(now // 60) * 60
            # The forming 1m bucket is asked for 10 s after it closes; the day at midnight.
            assert due[("1m", minute)] == minute + 60 + 10
            day = int(now // 86_400) * 86_400
            assert due[("1d", day)] == day + 86_400 + 10
            # The gap counts as backfilled once its minutes are in, not at midnight.
            clock[0] = minute + 60 + 11
            took = backfiller._take()
            assert not isinstance(took, float)
            assert took is not None
            assert took.interval == "1m"
            assert datetime.fromtimestamp(took.first, UTC).second == 0
        finally:
            await rest.close()
