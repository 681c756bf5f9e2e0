"""The market REST API in-process: shapes, the default and explicit candle sources, every
route's 404 and 422 cases, and the cache-first reads with their database fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from cryptodash.market import service
from cryptodash.market.candles import Candle
from cryptodash.market.consumer import GROUP
from cryptodash.market.ingest import publish_tick
from cryptodash.market.normalize import Tick
from cryptodash.runtime import Platform
from tests.apps import make_settings, running
from tests.helpers import eventually

D = Decimal
NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = int(NOW.timestamp()) // 3600 * 3600


@pytest.fixture(scope="module")
async def market(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """An app tracking three coins on Binance and Coinbase, with ticks and stored history."""
    data_dir: Path = tmp_path_factory.mktemp("market-routes")
    # NOW is taken when the module is imported; with xdist that can be minutes before this
    # fixture runs, so the ticks below must not go stale in between.
    settings = make_settings(
        data_dir,
        coins="bitcoin,ethereum,binancecoin",
        exchanges="binance,coinbase",
        price_stale_seconds=3600,
    )
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform
        # The in-process bus keeps no log: publish once the persister has subscribed.
        await eventually(lambda: GROUP in platform.bus._groups)  # type: ignore[attr-defined]
        ticks = [
            Tick("bitcoin", "binance", D("100000"), D("1"), NOW - timedelta(seconds=2), "USDT"),
            Tick("bitcoin", "coinbase", D("100100"), D("2"), NOW - timedelta(seconds=1), "USD"),
            Tick("ethereum", "coinbase", D("3000"), D("5"), NOW - timedelta(seconds=1), "USD"),
            Tick("binancecoin", "binance", D("600"), D("5"), NOW - timedelta(seconds=1), "USDT"),
        ]
        for tick in ticks:
            await publish_tick(platform.bus, tick)
        history = [
            Candle(HOUR - 3600 * k, D(90000 + k), D(91000 + k), D(89000), D(90500), D(10))
            for k in range(1, 30)
        ]
        assert platform.db is not None
        async with platform.db.session() as session:
            await service.ingest_candles(
                session, coin_id="bitcoin", source="binance", interval="1h", candles=history
            )
            await service.ingest_candles(
                session, coin_id="bitcoin", source="coinbase", interval="1h", candles=history
            )

        async def priced() -> bool:
            body = (await client.get("/api/market/coins")).json()
            return all(c["price"] is not None for c in body["coins"])

        await eventually(priced)
        yield client, platform


async def get(market: Any, path: str, **params: Any) -> httpx.Response:
    client: httpx.AsyncClient = market[0]
    return await client.get(path, params=params)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"]
    return body


async def test_coins_lists_every_tracked_coin_with_the_contract_fields(market: Any) -> None:
    response = await get(market, "/api/market/coins")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    coins = response.json()["coins"]
    assert [c["coin_id"] for c in coins] == ["bitcoin", "ethereum", "binancecoin"]
    btc = coins[0]
    assert set(btc) >= {
        "coin_id", "symbol", "name", "price", "change_24h_pct", "volume_24h", "high_24h",
        "low_24h", "updated_at", "sources",
    }  # fmt: skip
    assert btc["symbol"] == "BTC"
    assert btc["price"] == 100050.0  # median of 100000 USDT (1:1, flagged) and 100100 USD
    assert btc["usdt_rate_assumed"] is True
    assert btc["sources"]["binance"] == {
        "price": 100000.0,
        "quote": "USDT",
        "updated_at": (NOW - timedelta(seconds=2)).isoformat().replace("+00:00", ".000Z"),
        "fresh": True,
    }
    assert btc["sources"]["coinbase"]["quote"] == "USD"
    assert btc["change_24h_pct"] is not None  # against the stored 1h history
    assert btc["volume_24h"] >= 3.0


async def test_one_coin_and_unknown_coin(market: Any) -> None:
    response = await get(market, "/api/market/ethereum")
    assert response.status_code == 200
    assert response.json()["price"] == 3000.0
    assert_error(await get(market, "/api/market/dogecoin"), 404, "not_found")  # not tracked
    assert_error(await get(market, "/api/market/no-such-coin"), 404, "not_found")


async def test_prices_for_some_coins_in_the_order_asked(market: Any) -> None:
    response = await get(market, "/api/market/prices", coins="ethereum, bitcoin,ethereum")
    assert response.status_code == 200
    assert [c["coin_id"] for c in response.json()["coins"]] == ["ethereum", "bitcoin"]
    body = assert_error(
        await get(market, "/api/market/prices", coins="bitcoin,nope"), 404, "not_found"
    )
    assert "nope" in body["error"]["message"]
    assert_error(await get(market, "/api/market/prices"), 422, "validation_error")
    assert_error(await get(market, "/api/market/prices", coins=" , "), 422, "validation_error")
    many = ",".join(["bitcoin"] * 50 + [f"c{i}" for i in range(101)])
    assert_error(await get(market, "/api/market/prices", coins=many), 422, "validation_error")


async def test_movers_and_their_limit(market: Any) -> None:
    response = await get(market, "/api/market/movers", limit=1)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"gainers", "losers"}
    assert all(len(body[k]) <= 1 for k in body)
    for value in (0, 51, "x"):
        assert_error(await get(market, "/api/market/movers", limit=value), 422, "validation_error")


async def test_stats(market: Any) -> None:
    response = await get(market, "/api/market/stats")
    assert response.status_code == 200
    stats = response.json()
    assert stats["coins_tracked"] == 3
    assert stats["coins_priced"] == 3
    assert stats["sources"]["binance"] == {"coins": 2, "fresh": 2}
    assert stats["sources"]["coinbase"] == {"coins": 2, "fresh": 2}
    assert stats["total_volume_24h_usd"] > 0


async def test_candles_default_to_the_primary_source_and_say_so(market: Any) -> None:
    response = await get(market, "/api/market/bitcoin/candles", interval="1h", limit=5)
    assert response.status_code == 200
    body = response.json()
    assert (body["coin_id"], body["interval"], body["source"], body["quote"]) == (
        "bitcoin", "1h", "binance", "USDT",
    )  # fmt: skip
    times = [c["time"] for c in body["candles"]]
    assert times == sorted(times)
    assert times[-1] == HOUR  # the forming hour, from the ticks
    assert times[:-1] == [HOUR - 3600 * k for k in (4, 3, 2, 1)]
    assert body["candles"][0] == {
        "time": HOUR - 4 * 3600,
        "open": 90004.0,
        "high": 91004.0,
        "low": 89000.0,
        "close": 90500.0,
        "volume": 10.0,
    }
    coinbase = (await get(market, "/api/market/bitcoin/candles", source="coinbase")).json()
    assert (coinbase["source"], coinbase["quote"]) == ("coinbase", "USD")


async def test_coinbase_4h_is_built_from_1h(market: Any) -> None:
    body = (
        await get(market, "/api/market/bitcoin/candles", interval="4h", source="coinbase")
    ).json()
    closed = [c for c in body["candles"] if c["time"] + 14_400 <= NOW.timestamp()]
    assert closed
    full = [c for c in closed if c["volume"] == 40.0]  # four stored hours of volume 10
    assert full


async def test_candle_ranges_and_limits(market: Any) -> None:
    start = HOUR - 10 * 3600
    forward = (
        await get(market, "/api/market/bitcoin/candles", interval="1h", start=start, limit=3)
    ).json()
    assert [c["time"] for c in forward["candles"]] == [start, start + 3600, start + 7200]
    window = (
        await get(
            market, "/api/market/bitcoin/candles", interval="1h", start=start, end=start + 7200
        )
    ).json()
    assert [c["time"] for c in window["candles"]] == [start, start + 3600, start + 7200]
    empty = (
        await get(market, "/api/market/bitcoin/candles", interval="1m", start=0, end=1000)
    ).json()
    assert empty["candles"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"interval": "2h"},
        {"interval": ""},
        {"limit": 0},
        {"limit": 1001},
        {"start": -1},
        {"start": "yesterday"},
        {"start": 2000, "end": 1000},
        {"end": 10**13},
        {"source": "simulator"},
        {"source": "kraken"},
    ],
)
async def test_candles_refuse_bad_parameters(market: Any, params: dict[str, Any]) -> None:
    body = assert_error(
        await get(market, "/api/market/bitcoin/candles", **params), 422, "validation_error"
    )
    assert body["error"]["details"]


async def test_candles_of_unknown_coin_and_unlisted_source(market: Any) -> None:
    assert_error(await get(market, "/api/market/nope/candles"), 404, "not_found")
    # BNB is not listed on Coinbase: only Binance is available.
    assert_error(
        await get(market, "/api/market/binancecoin/candles", source="coinbase"),
        422,
        "validation_error",
    )
    ok = await get(market, "/api/market/binancecoin/candles", interval="1m")
    assert ok.json()["source"] == "binance"


async def test_prices_come_from_the_cache_and_fall_back_to_the_database(market: Any) -> None:
    client, platform = market
    hits = platform.metrics.cache_requests.labels("hit")
    before = hits._value.get()
    await client.get("/api/market/coins")
    assert hits._value.get() - before == 3

    await platform.cache.delete(service.price_key("ethereum"))
    response = await client.get("/api/market/ethereum")
    assert response.json()["price"] == 3000.0  # rebuilt from the stored prices
    assert await platform.cache.get(service.price_key("ethereum")) is not None


async def test_concurrent_misses_share_one_candle_query(
    market: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = service.list_candles

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "list_candles", counting)
    responses = await asyncio.gather(
        *(get(market, "/api/market/ethereum/candles", interval="15m", limit=7) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert calls == 1
