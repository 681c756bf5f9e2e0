"""The Kafka-protocol broker killed and restarted mid-stream.

A private Tansu broker (in-memory storage: it comes back empty, topics and committed offsets
gone) on a fixed port, and the all-in-one app with the market domain on it, fed by the fake
Binance (real wire protocol) with every trade it sends recorded. The broker is SIGKILLed while
trades flow and restarted a few seconds later. The producer holds what it could not deliver
(within a bound) and sends it again, the consumer reconnects, the topics are recreated — and
the data proves it: every trade, before, during and after the outage, is in `prices` exactly
once (each second's volume is the sum of that second's trades, no more, no less) and the 1m
candles have no hole and the right volumes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cryptodash.market.models import CandleRecord, Price
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.fakes.binance import FakeBinance
from tests.faults.servers import Broker
from tests.helpers import eventually, unique

SYMBOLS = {"BTCUSDT": "bitcoin", "ETHUSDT": "ethereum", "SOLUSDT": "solana"}
OUTAGE = 4.0


class RecordingBinance(FakeBinance):
    """The fake exchange, keeping every trade it sends (the ground truth)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[dict[str, Any]] = []

    def _trade(self, symbol: str, kind: str) -> dict[str, Any]:
        payload = super()._trade(symbol, kind)
        self.sent.append(payload)
        return payload


def expected_seconds(trades: list[dict[str, Any]]) -> dict[tuple[str, int], Decimal]:
    volumes: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for trade in trades:
        volumes[(SYMBOLS[trade["s"]], trade["T"] // 1000)] += Decimal(trade["q"])
    return dict(volumes)


def expected_minutes(trades: list[dict[str, Any]]) -> dict[tuple[str, int], Decimal]:
    volumes: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for trade in trades:
        volumes[(SYMBOLS[trade["s"]], trade["T"] // 60_000 * 60)] += Decimal(trade["q"])
    return dict(volumes)


async def stored_seconds(platform: Platform) -> dict[tuple[str, int], Decimal]:
    assert platform.db is not None
    async with platform.db.read_session() as session:
        rows = await session.execute(
            select(Price.coin_id, Price.timestamp, Price.volume).where(Price.source == "binance")
        )
        found: dict[tuple[str, int], Decimal] = {}
        for coin_id, at, volume in rows.all():
            key = (coin_id, int(at.timestamp()))
            assert key not in found, f"two rows for {key}"
            found[key] = Decimal(volume)
        return found


async def stored_all(platform: Platform, trades: list[dict[str, Any]]) -> bool:
    want = expected_seconds(trades)
    got = await stored_seconds(platform)
    return all(got.get(key) == volume for key, volume in want.items())


async def stored_minutes(platform: Platform) -> dict[tuple[str, int], Decimal]:
    assert platform.db is not None
    async with platform.db.read_session() as session:
        rows = await session.execute(
            select(CandleRecord.coin_id, CandleRecord.time, CandleRecord.volume).where(
                CandleRecord.source == "binance", CandleRecord.interval == "1m"
            )
        )
        return {(c, int(t.timestamp())): Decimal(v) for c, t, v in rows.all()}


@pytest.mark.timeout(300)  # its waits add up on a machine loaded by make test
async def test_broker_killed_and_restarted_loses_and_doubles_nothing(
    private_broker: Broker, pg_url: str, data_dir: Path
) -> None:
    fake = RecordingBinance(symbols=SYMBOLS, trades_per_second=15, ping_interval=None)
    await fake.start()
    settings = make_settings(
        data_dir,
        sentiment_model="vader",  # no model download in the background
        database_url=pg_url,
        kafka_bootstrap_servers=private_broker.bootstrap,
        bus_topic_prefix=unique("f") + ".",
        kafka_session_timeout_ms=2000,
        exchanges=["binance"],
        coins=list(SYMBOLS.values()),
        binance_ws_url=fake.ws_url,
        binance_rest_url=fake.rest_url,
    )
    try:
        async with running(settings) as (app, client):
            platform: Platform = app.state.platform

            async def flowing() -> bool:
                return len(await stored_seconds(platform)) >= 6

            await eventually(flowing, timeout=60, interval=0.2)

            # Caught up first: what the broker acknowledged and lost with its memory before
            # anyone read it is gone with any broker that loses its data; the promise is about
            # what is produced from the moment it fails.
            fake.silence()
            await asyncio.sleep(0.3)
            await eventually(
                lambda: stored_all(platform, list(fake.sent)), timeout=30, interval=0.2
            )

            # ---------------------------------------------------------- the outage
            killed_at = len(fake.sent)
            private_broker.kill()
            fake.silence(False)
            await asyncio.sleep(OUTAGE)
            during = fake.sent[killed_at:]
            assert len(during) > 3 * OUTAGE * 10  # trades kept coming in the meantime
            private_broker.start()
            await asyncio.sleep(OUTAGE)  # and after: new trades mixed with the held ones
            fake.silence()
            await asyncio.sleep(0.3)  # the last frames in flight reach the feed
            trades = list(fake.sent)
            want = expected_seconds(trades)

            try:
                await eventually(lambda: stored_all(platform, trades), timeout=60, interval=0.5)
            finally:
                got = await stored_seconds(platform)
                missing = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
                print("missing/wrong", len(missing), sorted(missing.items())[:10])
            # Exactly once: no second has more than its trades, none has rows it should not.
            got = await stored_seconds(platform)
            assert {k: v for k, v in got.items() if k in want} == want
            # (A zero-volume row is a price seen without a trade, e.g. from a ticker frame.)
            assert not {k for k, v in got.items() if v} - set(want)

            # Candles: every minute with trades has its 1m candle with exactly their volume
            # (the minutes wholly inside the recording; the first is shared with backfill).
            minutes = expected_minutes(trades)
            first = min(t for _, t in minutes)

            async def candles_complete() -> bool:
                stored = await stored_minutes(platform)
                return all(stored.get(k) == v for k, v in minutes.items() if k[1] > first)

            await eventually(candles_complete, timeout=30, interval=0.5)
            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["bus"]["status"] == "ok"
    finally:
        await fake.stop()
    _ = datetime.now(UTC)
