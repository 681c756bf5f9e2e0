"""Analytics read latency in-process (ASGI, no network): each endpoint with its cache entry
present (the normal case) and absent (read 1000 candles, compute, cache).

    .venv/bin/python bench/analytics_api.py [--requests N]

SQLite in a temporary directory, 20 coins x 1000 stored 1h candles; in-process memory cache.
Figures are medians of N requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np

from cryptodash.analytics.jobs import refresh_correlations
from cryptodash.app import create_app
from cryptodash.config import Settings
from cryptodash.market import service as market
from cryptodash.market.candles import Candle
from cryptodash.market.coins import DEFAULT_COINS, Universe
from cryptodash.platform.cache import MemoryCache
from cryptodash.platform.logging import configure_logging

URLS = {
    "indicators (defaults, limit=500)": "/api/analytics/bitcoin/indicators?interval=1h&limit=500",
    "summary": "/api/analytics/bitcoin/summary?interval=1h",
    "volatility (20 coins)": "/api/analytics/volatility?interval=1h&window=30",
    "correlation (20 coins, 168)": "/api/analytics/correlation?interval=1h",
}


async def main(requests: int) -> None:
    configure_logging(service="bench", level="WARNING")
    data = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=data, env="test", log_level="WARNING")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        platform = app.state.platform
        await platform.schema_ready.wait()
        hour = int(time.time() // 3600) * 3600
        rng = np.random.default_rng(0)
        async with platform.db.session() as session:
            for coin in DEFAULT_COINS:
                closes = 100 * np.exp(np.cumsum(rng.normal(0, 5e-3, 1000)))
                candles = [
                    Candle(hour - 3600 * (1000 - i), *(Decimal(f"{c:.4f}"),) * 4, Decimal(1))
                    for i, c in enumerate(closes)
                ]
                await market.upsert_candles(
                    session, (((coin, "binance", "1h"), c) for c in candles)
                )
        cache = platform.cache
        assert isinstance(cache, MemoryCache)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(f"analytics reads, in-process, median of {requests}")
            print("| endpoint | cached | not cached |")
            print("|---|---|---|")
            for name, url in URLS.items():
                cold = []
                for _ in range(max(3, requests // 10)):
                    await cache.close()  # drop every entry (the job's matrix too)
                    start = time.perf_counter()
                    r = await client.get(url)
                    cold.append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
                if "correlation" in url:
                    await refresh_correlations(
                        platform.db, cache, Universe.from_settings(platform.settings)
                    )
                warm = []
                for _ in range(requests):
                    start = time.perf_counter()
                    r = await client.get(url)
                    warm.append(time.perf_counter() - start)
                    assert r.status_code == 200
                print(
                    f"| {name} | {statistics.median(warm) * 1e3:.2f} ms | "
                    f"{statistics.median(cold) * 1e3:.1f} ms |"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args().requests))
