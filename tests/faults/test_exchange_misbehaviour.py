"""Exchanges misbehaving, end to end: the all-in-one app on PostgreSQL and Redis fed by the
fake Binance and Coinbase (real wire protocols), put through a REST 429 with Retry-After
during the backfill, a disconnect storm, a silent socket, a Coinbase sequence gap and garbage
frames. Prices stay right — each source's price is the fake exchange's price at that instant,
and the consolidated price lies between them — and every gap is filled: the 1m candles of
both sources run without a hole across the whole window. (The connectors' own tests in
tests/market/exchanges check each behaviour in isolation; this is the scenario.)"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps import make_settings, running
from tests.fakes import FakeBinance, FakeCoinbase
from tests.fakes.prices import price_at
from tests.helpers import eventually

COINS = {"bitcoin": "BTC", "ethereum": "ETH", "solana": "SOL"}


async def sources(client: httpx.AsyncClient) -> dict[str, Any]:
    body = (await client.get("/api/market/sources")).json()
    return {s["exchange"]: s for s in body["sources"]}


async def prices_right(client: httpx.AsyncClient) -> bool:
    """Every coin priced by both sources, fresh, each at the fake's price of its instant."""
    coins = (await client.get("/api/market/coins")).json()["coins"]
    for coin in coins:
        if (
            coin["price"] is None
            or coin["stale"]
            or set(coin["sources"]) != {"binance", "coinbase"}
        ):
            return False
        asset = COINS[coin["coin_id"]]
        usd = []
        for name, source in coin["sources"].items():
            at = datetime.fromisoformat(source["updated_at"]).timestamp()
            truth = price_at(asset, at)
            assert abs(source["price"] - truth) / truth < 5e-4, (name, coin, truth)
            usd.append(source["price"] * (price_at("USDT", at) if name == "binance" else 1))
        assert min(usd) * 0.999 <= coin["price"] <= max(usd) * 1.001, coin
    return True


async def minutes_without_hole(client: httpx.AsyncClient, minutes: int) -> bool:
    for coin in COINS:
        for source in ("binance", "coinbase"):
            body = (
                await client.get(
                    f"/api/market/{coin}/candles",
                    params={"interval": "1m", "limit": 1000, "source": source},
                )
            ).json()
            times = [c["time"] for c in body["candles"]]
            wanted = list(range(times[-1] - 60 * minutes, times[-1] + 1, 60)) if times else [0]
            if times[-len(wanted) :] != wanted:
                return False
    return True


@pytest.mark.timeout(300)  # its waits add up on a machine loaded by make test
async def test_exchanges_misbehave_prices_stay_right_and_gaps_are_filled(
    pg_url: str, redis_url: str, data_dir: Path
) -> None:
    async with (
        FakeBinance(symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], trades_per_second=4) as binance,
        FakeCoinbase(products=["BTC-USD", "ETH-USD", "SOL-USD", "USDT-USD"]) as coinbase,
    ):
        # The first history requests are refused: 429 with Retry-After, twice.
        binance.rest_faults = [(429, 1.0), (429, 1.0)]
        settings = make_settings(
            data_dir,
            sentiment_model="vader",  # no model download in the background
            database_url=pg_url,
            redis_url=redis_url,
            coins=list(COINS),
            exchanges=["binance", "coinbase"],
            binance_ws_url=binance.ws_url,
            binance_rest_url=binance.rest_url,
            coinbase_ws_url=coinbase.ws_url,
            coinbase_rest_url=coinbase.rest_url,
            backfill_days=0.025,  # 36 minutes
            feed_stale_seconds=3,
        )
        async with running(settings) as (_, client):
            await eventually(lambda: prices_right(client), timeout=60, interval=0.2)
            await eventually(lambda: minutes_without_hole(client, 30), timeout=60, interval=0.5)
            assert not binance.rest_faults  # both 429s were served, and history still came
            klines = [q for path, q in binance.rest_requests if path == "/api/v3/klines"]
            assert len(klines) > 2

            # A disconnect storm: every connection dropped as soon as it is back, three times.
            for _ in range(3):
                await eventually(lambda: binance.connections and coinbase.connections, timeout=30)
                await binance.drop_all()
                await coinbase.drop_all(1001, "going away")
            # A silent socket: open, answering pings, no data — detected and replaced.
            connects = binance.connects
            binance.silence()
            await eventually(lambda: binance.connects > connects, timeout=20, interval=0.2)
            binance.silence(False)
            # Dropped messages on Coinbase: a sequence gap.
            coinbase.skip_sequence("BTC-USD", 7)
            # Garbage: not JSON, binary, unknown events, wrong shapes (on open connections).
            await eventually(lambda: binance.connections and coinbase.connections, timeout=30)
            for frame in (
                "not json",
                b"\x00\xff\xfe",
                '{"e": "mystery"}',
                "[1, 2, 3]",
                '{"type": "match", "product_id": "BTC-USD", "price": "abc"}',
            ):
                await binance.send_raw(frame)
                await coinbase.send_raw(frame)

            last: dict[str, Any] = {}

            async def healed() -> bool:
                status = await sources(client)
                last.update(status)
                for name, fake in (("binance", binance), ("coinbase", coinbase)):
                    if not status[name]["malformed"]:  # it landed on a connection being replaced
                        await fake.send_raw("not json")
                return (
                    all(s["connected"] for s in status.values())
                    and status["binance"]["reconnects"] >= 3
                    and status["coinbase"]["reconnects"] >= 3
                    and status["coinbase"]["gaps_found"] >= 1
                    and all(s["malformed"] >= 1 for s in status.values())
                )

            try:
                await eventually(healed, timeout=60, interval=0.5)
            finally:
                print(
                    {
                        k: {
                            f: v.get(f)
                            for f in ("connected", "reconnects", "gaps_found", "malformed")
                        }
                        for k, v in last.items()
                    }
                )
            # Still right after all of it, and the outages left no hole in any series.
            await eventually(lambda: prices_right(client), timeout=30, interval=0.2)
            await eventually(lambda: minutes_without_hole(client, 30), timeout=60, interval=0.5)
            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["feeds"]["status"] == "ok"
