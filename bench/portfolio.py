"""Portfolio latency in-process (ASGI, no network): a CSV import of many transactions, then
`/performance` with the ledger cached (the normal case) and not (every transaction replayed),
`/history` and `/risk`, and a single transaction written.

    .venv/bin/python bench/portfolio.py [--transactions N] [--requests R]

SQLite in a temporary directory, in-process cache, 5 coins with 1 year of daily and 90 days of
hourly candles. Figures are medians of R requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
import orjson

from cryptodash.app import create_app
from cryptodash.config import Settings
from cryptodash.market import service as market
from cryptodash.market.candles import Candle
from cryptodash.platform.logging import configure_logging

COINS = ("bitcoin", "ethereum", "solana", "cardano", "ripple")
DAY, HOUR = 86_400, 3600


async def timed(requests: int, call: Callable[[], Awaitable[httpx.Response]]) -> float:
    spent = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await call()
        spent.append(time.perf_counter() - start)
        assert response.status_code < 300, response.text
    return statistics.median(spent) * 1000


async def main(transactions: int, requests: int) -> None:
    configure_logging(service="bench", level="WARNING")
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        env="test",
        log_level="WARNING",
        bcrypt_rounds=4,
        coins=",".join(COINS),
        rate_limit_user_per_min=10**9,
        rate_limit_auth_per_min=10**9,
    )
    app = create_app(settings)
    rng = np.random.default_rng(0)
    now = time.time()
    async with app.router.lifespan_context(app):
        platform = app.state.platform
        await platform.schema_ready.wait()
        async with platform.db.session() as session:
            for coin in COINS:
                for interval, size, count in (("1d", DAY, 365), ("1h", HOUR, 90 * 24)):
                    last = int(now // size) * size - size
                    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, count)))
                    candles = [
                        Candle(
                            last - size * (count - 1 - i), *(Decimal(f"{c:.4f}"),) * 4, Decimal(1)
                        )
                        for i, c in enumerate(closes)
                    ]
                    await market.upsert_candles(
                        session, (((coin, "binance", interval), c) for c in candles)
                    )
        for coin in COINS:
            await platform.cache.set(
                market.price_key(coin), orjson.dumps({"price": 101.5, "change_24h_pct": 1.0}), 3600
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            user = {
                "username": "bench",
                "email": "bench@example.com",
                "password": "bench-password-1",
            }
            uid = (await client.post("/api/users/register", json=user)).json()["id"]
            login = await client.post(
                "/api/users/login", json={"username": "bench", "password": user["password"]}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            pid = (await client.post("/api/portfolio", json={"name": "b"}, headers=headers)).json()[
                "id"
            ]
            start = now - 360 * DAY
            lines = ["executed_at,coin_id,side,quantity,price,fee"]
            for i in range(transactions):
                at = datetime.fromtimestamp(start + i * (350 * DAY / transactions), UTC)
                side = "sell" if (i // 5) % 3 == 2 else "buy"  # per coin: buy, buy, sell
                lines.append(f"{at.isoformat()},{COINS[i % 5]},{side},0.25,{100 + i % 17}.5,0.1")
            began = time.perf_counter()
            imported = await client.post(
                f"/api/portfolio/{pid}/transactions/import",
                content="\n".join(lines).encode(),
                headers={**headers, "content-type": "text/csv"},
            )
            assert imported.status_code == 201, imported.text
            import_ms = (time.perf_counter() - began) * 1000
            base = f"/api/portfolio/{pid}"

            async def cold() -> httpx.Response:
                await platform.cache.delete(f"portfolio:{uid}:{pid}")
                return await client.get(f"{base}/performance", headers=headers)

            figures = {
                f"import {transactions} transactions (CSV, one request)": import_ms,
                "performance, ledger cached": await timed(
                    requests, lambda: client.get(f"{base}/performance", headers=headers)
                ),
                f"performance, ledger rebuilt from {transactions} transactions": await timed(
                    max(3, requests // 10), cold
                ),
                "history 1y at 1d": await timed(
                    max(3, requests // 10),
                    lambda: client.get(f"{base}/history?range=1y&interval=1d", headers=headers),
                ),
                "history 90d at 1h": await timed(
                    max(3, requests // 10),
                    lambda: client.get(f"{base}/history?range=90d&interval=1h", headers=headers),
                ),
                "risk 1d, window 90": await timed(
                    max(3, requests // 10), lambda: client.get(f"{base}/risk", headers=headers)
                ),
                f"add a transaction (replay {transactions}, holdings, snapshot)": await timed(
                    max(3, requests // 10),
                    lambda: client.post(
                        f"{base}/transactions",
                        json={
                            "coin_id": "bitcoin",
                            "side": "buy",
                            "quantity": "0.1",
                            "price": "100",
                            "fee": "0",
                        },
                        headers=headers,
                    ),
                ),
            }
    print(f"portfolio, in-process, SQLite; medians (ms) of {requests} or {max(3, requests // 10)}")
    print("| operation | ms |")
    print("|---|---|")
    for name, ms in figures.items():
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.transactions, args.requests))
