"""Fixtures for the analytics tests: a migrated database, a small universe, stored candles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from cryptodash.market import service as market
from cryptodash.market.candles import Candle, interval_seconds
from cryptodash.market.coins import Universe
from cryptodash.market.consumer import LATENESS
from cryptodash.platform import schema
from cryptodash.platform.db import Database

UNIVERSE = Universe(["bitcoin", "ethereum", "solana"], ["binance", "coinbase"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'analytics.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = Database(url)
    await schema.upgrade(database.engine)
    try:
        yield database
    finally:
        await database.close()


def walk_candles(
    start: int, interval: str, count: int, *, seed: int, price: float = 30_000.0
) -> list[Candle]:
    """`count` consecutive candles from bucket `start`, closes on a random walk."""
    size = interval_seconds(interval)
    rng = np.random.default_rng(seed)
    closes = price * np.exp(np.cumsum(rng.normal(0.0, 4e-3, count)))
    out = []
    previous = price
    for i, close in enumerate(closes):
        c = Decimal(f"{close:.2f}")
        o = Decimal(f"{previous:.2f}")
        out.append(Candle(start + i * size, o, max(o, c), min(o, c), c, Decimal("1.5")))
        previous = close
    return out


async def store(
    db: Database, coin_id: str, interval: str, candles: Sequence[Candle], source: str = "binance"
) -> None:
    async with db.session() as session:
        await market.upsert_candles(session, (((coin_id, source, interval), c) for c in candles))


async def away_from_a_minute_boundary() -> None:
    """Within LATENESS of a new minute the bucket that just ended is still the live one (it
    waits for late trades), so a tick in the new minute would not move the live values yet."""
    second = time.time() % 60
    if not LATENESS + 1 < second < 55:
        await asyncio.sleep((LATENESS + 1.5 - second) % 60)
