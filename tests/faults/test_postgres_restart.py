"""PostgreSQL stopped and started under writes (a private cluster: `initdb` + `pg_ctl` on its
own port, never the shared server). Portfolio transactions are posted all along: during the
outage each gets a clear 503 with our error body (never a 500, never a hang), after it the
pool reconnects by itself, and every transaction that was answered 201 is in the database
afterwards — an acknowledged write is never lost."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.apps import make_settings, running
from tests.fakes.binance import FakeBinance
from tests.faults.servers import PrivatePostgres
from tests.helpers import eventually
from tests.users.accounts import new_account


async def stored_transactions(url: str, portfolio_id: int) -> dict[int, Decimal]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id, quantity FROM portfolio_transactions WHERE portfolio_id = $1",
            portfolio_id,
        )
    finally:
        await conn.close()
    return {int(r["id"]): Decimal(r["quantity"]) for r in rows}


async def test_postgres_restart_loses_no_acknowledged_write(
    private_postgres: PrivatePostgres, data_dir: Path
) -> None:
    async with FakeBinance(symbols=["BTCUSDT", "ETHUSDT"], trades_per_second=2) as exchange:
        settings = make_settings(
            data_dir,
            sentiment_model="vader",  # no model download in the background
            database_url=private_postgres.url,
            exchanges=["binance"],
            coins=["bitcoin", "ethereum"],
            binance_ws_url=exchange.ws_url,
            binance_rest_url=exchange.rest_url,
        )
        async with running(settings) as (_, client):
            await outage(client, private_postgres)


async def outage(client: httpx.AsyncClient, server: PrivatePostgres) -> None:
    account = await new_account(client)
    created = await client.post("/api/portfolio", json={"name": "faults"}, headers=account.headers)
    assert created.status_code == 201, created.text
    portfolio_id = created.json()["id"]
    acknowledged: dict[int, Decimal] = {}
    refused: list[dict[str, Any]] = []
    statuses: list[int] = []
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            quantity = Decimal(n) / 1000
            started = time.monotonic()
            response = await client.post(
                f"/api/portfolio/{portfolio_id}/transactions",
                json={"coin_id": "bitcoin", "side": "buy", "quantity": str(quantity),
                      "price": "50000"},
                headers=account.headers,
            )  # fmt: skip
            assert time.monotonic() - started < 20, "a write hung through the outage"
            statuses.append(response.status_code)
            if response.status_code == 201:
                body = response.json()
                assert Decimal(body["quantity"]) == quantity
                acknowledged[int(body["id"])] = quantity
            else:
                assert response.status_code == 503, response.text
                refused.append(response.json())
                await asyncio.sleep(0.05)

    task = asyncio.create_task(writer())
    try:
        await eventually(lambda: len(acknowledged) >= 10, timeout=30)
        server.stop()  # every connection dropped at once
        await eventually(lambda: len(refused) >= 3, timeout=30)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["status"] == "down"
        before_restart = len(acknowledged)
        await asyncio.sleep(1.0)
        server.start()
        # The pool reconnects by itself: writes are acknowledged again within seconds.
        await eventually(lambda: len(acknowledged) >= before_restart + 10, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    assert set(statuses) <= {201, 503}, statuses
    for body in refused:
        assert body["error"]["code"]
        assert body["error"]["message"]
        assert body["error"]["request_id"]
    # Never lost: every 201 is in the database, with what was sent.
    stored = await stored_transactions(server.url, portfolio_id)
    missing = {tx: q for tx, q in acknowledged.items() if stored.get(tx) != q}
    assert not missing, missing
    # And the API agrees once it is back.
    ready = await client.get("/health/ready")
    assert ready.json()["checks"]["database"]["status"] == "ok"
    listed = await client.get(
        f"/api/portfolio/{portfolio_id}/transactions",
        params={"limit": 500},
        headers=account.headers,
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == len(stored)
    assert len(stored) >= len(acknowledged)
