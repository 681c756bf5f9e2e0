"""The exchanges' REST clients against the fakes: real layouts, listings, and the limits —
429 waits for `Retry-After`, 418 pauses every request, 5xx retries, a bad symbol is an error
at once; Binance's weight header slows us down before the exchange has to."""

from __future__ import annotations

import time

import httpx
import pytest

from cryptodash.market.exchanges.binance import BinanceRest
from cryptodash.market.exchanges.coinbase import CoinbaseRest
from cryptodash.market.exchanges.feed import ExchangeRequestError, ExchangeUnavailable
from tests.fakes import FakeBinance, FakeCoinbase
from tests.fakes.prices import candle

NOW = int(time.time())


async def test_binance_klines_and_listing() -> None:
    async with FakeBinance(symbols=["BTCUSDT", "ETHUSDT"], halted=["ETHUSDT"]) as fake:
        rest = BinanceRest(fake.rest_url)
        try:
            # ETHUSDT is halted; FOOUSDT unknown (Binance refuses the whole list: ask all).
            assert await rest.listed({"BTCUSDT", "ETHUSDT", "FOOUSDT"}) == {"BTCUSDT"}
            assert [p for p, _ in fake.rest_requests] == ["/api/v3/exchangeInfo"] * 2
            last = NOW // 3600 * 3600 - 3600
            candles = await rest.candles("BTCUSDT", "1h", last - 999 * 3600, last)
            assert len(candles) == 1000
            assert [c.time for c in candles] == list(range(last - 999 * 3600, last + 1, 3600))
            o, h, lo, c, v = candle("BTC", last, 3600)
            assert float(candles[-1].open) == pytest.approx(o, rel=1e-6)
            assert float(candles[-1].high) == pytest.approx(h, rel=1e-6)
            assert float(candles[-1].low) == pytest.approx(lo, rel=1e-6)
            assert float(candles[-1].close) == pytest.approx(c, rel=1e-6)
            assert float(candles[-1].volume) == pytest.approx(v, rel=1e-6)
            with pytest.raises(ExchangeRequestError) as refused:
                await rest.candles("FOOUSDT", "1m", last, last)
            assert (refused.value.status, refused.value.code) == (400, -1121)
        finally:
            await rest.close()


async def test_binance_429_waits_for_retry_after_and_418_pauses_everything() -> None:
    async with FakeBinance(symbols=["BTCUSDT"]) as fake:
        rest = BinanceRest(fake.rest_url)
        try:
            fake.rest_faults += [(429, 1), (500, 0)]
            started = time.monotonic()
            candles = await rest.candles("BTCUSDT", "1m", NOW // 60 * 60 - 600, NOW // 60 * 60)
            assert len(candles) == 11
            assert time.monotonic() - started >= 0.9  # Retry-After: 1
            assert rest.client.rate_limited == 1

            fake.rest_faults.append((418, 300))  # banned for 5 minutes: not waited out here
            with pytest.raises(ExchangeUnavailable, match="418"):
                await rest.candles("BTCUSDT", "1m", NOW // 60 * 60, NOW // 60 * 60)
            assert rest.client.banned == 1
            assert 250 < rest.pause_left() <= 300
        finally:
            await rest.close()


async def test_binance_continued_abuse_gets_a_ban_from_the_fake() -> None:
    fake = FakeBinance(symbols=["BTCUSDT"], weight_limit=4, ban_seconds=60)
    async with fake, httpx.AsyncClient(base_url=fake.rest_url) as client:
        statuses = []
        for _ in range(8):
            response = await client.get("/api/v3/klines?symbol=BTCUSDT&interval=1m")
            statuses.append(response.status_code)
            assert "X-MBX-USED-WEIGHT-1M" in response.headers
        assert statuses[:2] == [200, 200]
        assert 429 in statuses
        assert statuses[-1] == 418
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["code"] == -1003


async def test_binance_used_weight_header_pauses_before_the_limit() -> None:
    rest = BinanceRest("http://127.0.0.1:9")
    try:
        rest._used_weight(httpx.Headers({"X-MBX-USED-WEIGHT-1M": "1200"}))
        assert rest.pause_left() == 0
        rest._used_weight(httpx.Headers({"X-MBX-USED-WEIGHT-1M": "5900"}))
        assert 0 < rest.pause_left() <= 61  # until the next minute
    finally:
        await rest.close()


async def test_coinbase_candles_products_and_rate_limit() -> None:
    async with FakeCoinbase(products=["BTC-USD", "USDT-USD"], offline=["USDT-USD"]) as fake:
        rest = CoinbaseRest(fake.rest_url)
        rest.client.default_retry_after = 0.2
        try:
            assert await rest.listed({"BTC-USD", "USDT-USD", "XYZ-USD"}) == {"BTC-USD"}
            last = NOW // 60 * 60 - 60
            candles = await rest.candles("BTC-USD", "1m", last - 299 * 60, last)
            assert [c.time for c in candles] == list(range(last - 299 * 60, last + 1, 60))
            assert len(fake.rest_requests) == 2  # 300 candles: one request
            o, _, lo, *_ = candle("BTC", last, 60)
            assert float(candles[-1].open) == pytest.approx(o, rel=1e-9)
            assert float(candles[-1].low) == pytest.approx(lo, rel=1e-9)
            fake.rest_faults.append((429, 0))  # Coinbase's 429 has no Retry-After
            assert len(await rest.candles("BTC-USD", "1h", last - 7200, last - 3600)) >= 1
            assert rest.client.rate_limited == 1
            with pytest.raises(ExchangeRequestError):
                await rest.candles("XYZ-USD", "1m", last, last)
        finally:
            await rest.close()
