"""`/api/analytics/*` over stored candles, in an all-in-one app: values equal the batch
indicators over the same series, every interval answers, bad input is 422 and unknown coins
404 with our error body, and repeated reads come from the cache."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from cryptodash.analytics import indicators as ind
from cryptodash.analytics import service
from cryptodash.analytics.jobs import refresh_correlations
from cryptodash.market.candles import INTERVALS, fill_gaps
from cryptodash.market.coins import Universe
from cryptodash.runtime import Platform
from tests.analytics.conftest import store, walk_candles
from tests.apps import make_settings, running

COINS = ["bitcoin", "ethereum", "solana"]


@pytest.fixture(scope="module")
async def app(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One app and one set of stored candles for the module (the tests only read)."""
    data_dir = tmp_path_factory.mktemp("analytics")
    settings = make_settings(data_dir, coins=COINS, exchanges=["binance", "coinbase"])
    async with running(settings) as (app, client):
        platform: Platform = app.state.platform
        assert platform.db is not None
        await platform.schema_ready.wait()
        now = time.time()
        for seed, coin in enumerate(COINS):
            for interval, size in INTERVALS.items():
                last = int(now // size) * size - size  # the newest closed bucket
                candles = walk_candles(last - 299 * size, interval, 300, seed=seed * 10 + size)
                if coin == "solana" and interval == "1h":
                    del candles[100:104]  # four hours without trades
                await store(platform.db, coin, interval, candles)
        yield app, client


def closes_of(body: dict[str, Any]) -> np.ndarray:
    return np.array([c["close"] for c in body["candles"]])


def as_array(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values])


async def test_indicators_are_the_batch_indicators_over_the_series(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = app
    r = await client.get(
        "/api/analytics/bitcoin/indicators",
        params={"interval": "1h", "sma": "20,50", "ema": "12", "rsi": "14", "macd": "12,26,9",
                "bb": "20,2", "limit": 400},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["coin_id"], body["interval"], body["source"], body["quote"]) == (
        "bitcoin", "1h", "binance", "USDT",
    )  # fmt: skip
    assert len(body["candles"]) == 300  # all there is
    closes = closes_of(body)
    series = body["series"]
    assert set(series) == {"sma_20", "sma_50", "ema_12", "rsi_14", "macd_12_26_9", "bb_20_2"}
    np.testing.assert_array_equal(as_array(series["sma_20"]), ind.sma(closes, 20))
    np.testing.assert_array_equal(as_array(series["sma_50"]), ind.sma(closes, 50))
    np.testing.assert_array_equal(as_array(series["ema_12"]), ind.ema(closes, 12))
    np.testing.assert_array_equal(as_array(series["rsi_14"]), ind.rsi(closes, 14))
    line, signal, histogram = ind.macd(closes, 12, 26, 9)
    macd = series["macd_12_26_9"]
    for name, values in (("macd", line), ("signal", signal), ("histogram", histogram)):
        np.testing.assert_array_equal(as_array(macd[name]), values)
    assert set(series["bb_20_2"]) == {"upper", "middle", "lower"}
    assert series["sma_20"][18] is None
    assert series["sma_20"][19] is not None

    short = await client.get(
        "/api/analytics/bitcoin/indicators", params={"interval": "1h", "sma": "20", "limit": 5}
    )
    assert len(short.json()["candles"]) == 5
    assert short.json()["series"]["sma_20"] == series["sma_20"][-5:]


async def test_candles_have_the_market_candles_shape(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """One candle contract for charts: `time` is the bucket start in Unix seconds, as
    `/api/market/{coin}/candles` sends it, and the bars are the same."""
    _, client = app
    analytics = (await client.get("/api/analytics/ethereum/indicators?interval=1h&limit=5")).json()
    market = (await client.get("/api/market/ethereum/candles?interval=1h&limit=5")).json()
    assert [type(c["time"]) for c in analytics["candles"]] == [int] * 5
    assert analytics["candles"] == market["candles"]
    assert all(c["time"] % 3600 == 0 for c in analytics["candles"])


async def test_gaps_are_filled_flat_and_defaults_apply(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = app
    body = (await client.get("/api/analytics/solana/indicators?interval=1h&limit=1000")).json()
    assert len(body["candles"]) == 300  # 296 stored + 4 filled
    filled = [c for c in body["candles"] if c["volume"] == 0]
    assert len(filled) == 4
    assert {c["close"] for c in filled} == {filled[0]["open"]}
    assert set(body["series"]) == {
        "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd_12_26_9", "bb_20_2",
    }  # fmt: skip


async def test_every_interval_for_every_coin(app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app
    for coin in COINS:
        for interval in INTERVALS:
            r = await client.get(f"/api/analytics/{coin}/indicators?interval={interval}&limit=10")
            assert r.status_code == 200, (coin, interval, r.text)
            assert len(r.json()["candles"]) == 10
            s = await client.get(f"/api/analytics/{coin}/summary?interval={interval}")
            assert s.status_code == 200, (coin, interval, s.text)


async def test_summary_values_and_signals(app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app
    body = (await client.get("/api/analytics/ethereum/summary?interval=4h")).json()
    closes = closes_of(
        (await client.get("/api/analytics/ethereum/indicators?interval=4h&sma=2&limit=1000")).json()
    )
    assert body["close"] == closes[-1]
    assert body["live"] is False
    assert body["values"]["sma_50"] == ind.sma(closes, 50)[-1]
    assert body["values"]["sma_200"] == ind.sma(closes, 200)[-1]
    assert body["values"]["rsi_14"] == ind.rsi(closes, 14)[-1]
    assert body["values"]["macd_12_26_9"]["histogram"] == ind.macd(closes)[2][-1]
    signals = {s["indicator"]: s for s in body["signals"]}
    assert set(signals) == {"sma_50", "sma_200", "rsi_14", "macd_12_26_9", "bb_20_2"}
    above = closes[-1] > ind.sma(closes, 50)[-1]
    assert signals["sma_50"]["signal"] == ("above" if above else "below")
    assert signals["rsi_14"]["signal"] in ("overbought", "oversold", "neutral")
    assert signals["bb_20_2"]["signal"] in ("squeeze", "normal")
    assert all(isinstance(s["text"], str) and s["text"] for s in body["signals"])


async def test_volatility_is_annualized(app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app
    r = await client.get("/api/analytics/volatility?coins=bitcoin,solana&interval=1d&window=30")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["coin_id"] for c in body["coins"]] == ["bitcoin", "solana"]
    assert body["periods_per_year"] == 365
    closes = closes_of(
        (await client.get("/api/analytics/bitcoin/indicators?interval=1d&sma=2&limit=1000")).json()
    )
    expected = ind.volatility(closes, 30, 365)[-1]
    assert body["coins"][0]["volatility"] == pytest.approx(expected, rel=1e-12)
    everyone = (await client.get("/api/analytics/volatility?interval=1h")).json()
    assert [c["coin_id"] for c in everyone["coins"]] == COINS
    assert everyone["window"] == 30


async def test_correlation_from_the_job_and_on_demand(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    application, client = app
    platform: Platform = application.state.platform
    assert platform.db is not None
    universe = Universe.from_settings(platform.settings)
    assert await refresh_correlations(platform.db, platform.cache, universe) == len(INTERVALS)
    r = await client.get("/api/analytics/correlation?coins=solana,bitcoin&interval=1h")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["coins"] == ["solana", "bitcoin"]
    assert body["window"] == 168
    matrix = np.array(body["matrix"], dtype=float)
    assert matrix.shape == (2, 2)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    assert matrix[0, 1] == matrix[1, 0]

    # The same pair computed now, on another window, against the batch function.
    custom = (
        await client.get("/api/analytics/correlation?coins=bitcoin,ethereum&interval=1d&window=50")
    ).json()
    async with platform.db.read_session() as session:
        _, closes = await service.aligned_closes(
            session, universe, ["bitcoin", "ethereum"], "1d", 51
        )
    assert custom["matrix"][0][1] == pytest.approx(
        ind.correlation(closes[0], closes[1], 50)[-1], rel=1e-9
    )
    assert custom["as_of"].endswith("Z")

    # Solana's hole: the aligned grid carries its last close across it (zero returns).
    async with platform.db.read_session() as session:
        _, grid = await service.aligned_closes(session, universe, ["solana"], "1h", 300)
        stored = await service.load_series(session, universe, "solana", "1h", live=False)
    np.testing.assert_array_equal(grid[0], stored.closes())


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/analytics/bitcoin/indicators?interval=2h", "interval"),
        ("/api/analytics/bitcoin/indicators?sma=0", "sma"),
        ("/api/analytics/bitcoin/indicators?sma=-5", "sma"),
        ("/api/analytics/bitcoin/indicators?sma=20.5", "sma"),
        ("/api/analytics/bitcoin/indicators?ema=100000", "ema"),
        ("/api/analytics/bitcoin/indicators?rsi=abc", "rsi"),
        ("/api/analytics/bitcoin/indicators?macd=26,12,9", "macd"),
        ("/api/analytics/bitcoin/indicators?macd=12,26", "macd"),
        ("/api/analytics/bitcoin/indicators?bb=20,0", "bb"),
        ("/api/analytics/bitcoin/indicators?bb=,", "bb"),
        ("/api/analytics/bitcoin/indicators?limit=0", "limit"),
        ("/api/analytics/bitcoin/indicators?limit=100000", "limit"),
        ("/api/analytics/bitcoin/summary?interval=1w", "interval"),
        ("/api/analytics/volatility?window=1", "window"),
        ("/api/analytics/volatility?interval=", "interval"),
        ("/api/analytics/correlation?window=5000", "window"),
        ("/api/analytics/correlation?interval=3m", "interval"),
    ],
)
async def test_bad_parameters_are_422(
    app: tuple[FastAPI, httpx.AsyncClient], url: str, field: str
) -> None:
    _, client = app
    r = await client.get(url)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"]
    assert any(field in d["loc"] for d in error["details"])


@pytest.mark.parametrize(
    "url",
    [
        "/api/analytics/notacoin/indicators",
        "/api/analytics/dogecoin/summary",  # a real coin this deployment does not track
        "/api/analytics/volatility?coins=bitcoin,notacoin",
        "/api/analytics/correlation?coins=bitcoin,notacoin",
    ],
)
async def test_unknown_coins_are_404(app: tuple[FastAPI, httpx.AsyncClient], url: str) -> None:
    _, client = app
    r = await client.get(url)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


async def test_repeated_reads_come_from_the_cache(app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    application, client = app
    platform: Platform = application.state.platform
    url = "/api/analytics/bitcoin/indicators?interval=15m&sma=20&limit=200"
    first = await client.get(url)
    hits = platform.metrics.cache_requests.labels("hit")._value.get()
    again = await client.get(url)
    assert again.content == first.content
    assert platform.metrics.cache_requests.labels("hit")._value.get() == hits + 1
    summary = "/api/analytics/bitcoin/summary?interval=15m"
    assert (await client.get(summary)).content == (await client.get(summary)).content


def test_fill_gaps_is_what_the_series_uses() -> None:
    candles = walk_candles(0, "1m", 10, seed=1)
    holed = candles[:3] + candles[6:]
    assert len(service.regular(holed, "1m")) == 10
    assert service.regular(holed, "1m") == fill_gaps(holed, "1m")


def test_a_body_over_a_history_still_arriving_is_cached_briefly() -> None:
    """Until the history reaches the last closed bucket (none yet, or a backfill still
    writing), a body lives LIVE_TTL seconds, not until the next bucket closes."""
    hour = 3600
    now = 100 * hour + 600.0  # ten minutes into an hour

    def series(times: list[int]) -> service.Series:
        candles = [walk_candles(t, "1h", 1, seed=1)[0] for t in times]
        return service.Series("bitcoin", "1h", "binance", candles, live=False)

    assert service.series_ttl(series([]), "1h", now) == service.LIVE_TTL
    assert service.series_ttl(series([97 * hour]), "1h", now) == service.LIVE_TTL
    complete = series([98 * hour, 99 * hour])
    assert service.series_ttl(complete, "1h", now) == service.closed_ttl("1h", now)
    assert service.closed_ttl("1h", now) > service.LIVE_TTL
