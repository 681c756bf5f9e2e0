"""Apps and helpers for the portfolio tests: all-in-one on SQLite with in-process backends and
(integration) on PostgreSQL with Redis; live prices are written where the market writes them,
the `price:{coin_id}` cache entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from cryptodash.market import service as market
from cryptodash.market.candles import Candle
from cryptodash.platform.cache import set_json
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.users.accounts import Account, new_account

COINS = "bitcoin,ethereum,solana,cardano"
EXCHANGES = "coinbase,binance"


@dataclass
class Env:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def platform(self) -> Platform:
        platform: Platform = self.app.state.platform
        return platform

    async def account(self) -> Account:
        return await new_account(self.client)

    async def set_price(
        self, coin_id: str, price: float, change_24h_pct: float | None = None
    ) -> None:
        """What the market persister writes: the coin's entry in `price:{coin_id}`."""
        entry = {
            "coin_id": coin_id,
            "symbol": coin_id[:3].upper(),
            "name": coin_id.title(),
            "price": price,
            "change_24h_pct": change_24h_pct,
            "volume_24h": 1.0,
            "volume_24h_usd": price,
            "high_24h": price,
            "low_24h": price,
            "updated_at": "2026-01-01T00:00:00.000Z",
            "stale": False,
            "usdt_rate_assumed": False,
            "sources": {},
        }
        await set_json(self.platform.cache, market.price_key(coin_id), entry, 3600)

    async def portfolio(self, owner: Account, **body: Any) -> int:
        response = await self.client.post(
            "/api/portfolio", json={"name": "main", **body}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def trade(self, owner: Account, portfolio_id: int, **body: Any) -> httpx.Response:
        body.setdefault("fee", "0")
        return await self.client.post(
            f"/api/portfolio/{portfolio_id}/transactions", json=body, headers=owner.headers
        )

    async def candles(
        self, coin_id: str, interval: str, closes: list[tuple[int, str]], source: str = "coinbase"
    ) -> None:
        """Stored closed candles, as an exchange backfill writes them."""
        assert self.platform.db is not None
        from decimal import Decimal

        rows = [
            Candle(t, Decimal(c), Decimal(c), Decimal(c), Decimal(c), Decimal(1)) for t, c in closes
        ]
        async with self.platform.db.session() as session:
            await market.ingest_candles(
                session, coin_id=coin_id, source=source, interval=interval, candles=rows
            )


@contextmanager
def queries(env: Env) -> Iterator[list[str]]:
    """The statements run by requests made from this task meanwhile (the test client runs the
    app in the caller's task; the app's background work runs in its own)."""
    assert env.platform.db is not None
    engine = env.platform.db.engine.sync_engine
    here = asyncio.current_task()
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if asyncio.current_task() is here:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def settings_for(data_dir: Path, **overrides: Any) -> Any:
    return make_settings(data_dir, coins=COINS, exchanges=EXCHANGES, **overrides)


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """One SQLite app for a module: tests isolate themselves with fresh accounts."""
    async with running(settings_for(tmp_path_factory.mktemp("portfolio"))) as (app, client):
        yield Env(app, client)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def any_env(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Env]:
    """A fresh app on the embedded backends, and on PostgreSQL + Redis."""
    overrides = {}
    if request.param == "postgres":
        overrides = {
            "database_url": request.getfixturevalue("pg_url"),
            "redis_url": request.getfixturevalue("redis_url"),
        }
    async with running(settings_for(data_dir, **overrides)) as (app, client):
        yield Env(app, client)
