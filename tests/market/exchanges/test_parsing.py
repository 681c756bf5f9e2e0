"""The pure parts of the connectors: REST layouts, listings, subscription checks, paging,
backoff and the request budget."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from cryptodash.market.exchanges.backfill import pages
from cryptodash.market.exchanges.binance import kline_candles, trading_symbols
from cryptodash.market.exchanges.coinbase import candle_rows, online_products, unconfirmed
from cryptodash.market.exchanges.feed import Backoff, Budget, ExchangeError

D = Decimal


def test_binance_klines_are_twelve_element_rows_with_string_numbers() -> None:
    rows = [
        [1718000060000, "67040.00", "67100.00", "67000.00", "67090.50", "3.5", 1718000119999,
         "234567.8", 99, "1.2", "80000.0", "0"],
        [1718000000000, "67012.35000000", "67055.10000000", "67001.00000000",
         "67040.00000000", "12.48210000", 1718000059999, "836512.77123400", 420, "6.10000000",
         "408812.50000000", "0"],
    ]  # fmt: skip
    first, second = kline_candles(rows)
    assert first.time == 1718000000
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        D("67012.35"), D("67055.10"), D("67001.00"), D("67040.00"), D("12.4821"),
    )  # fmt: skip
    assert second.close == D("67090.50")
    with pytest.raises(ExchangeError):
        kline_candles({"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(ExchangeError):
        kline_candles([[1718000000000, "x"]])


def test_coinbase_candles_are_low_high_open_close_numbers_newest_first() -> None:
    rows = [[1718000400, 66980.01, 67055.1, 67001.0, 67040.0, 12.4821],
            [1718000340, 66950.0, 67012.0, 66960.5, 67001.0, 9.1034]]  # fmt: skip
    older, newer = candle_rows(rows)
    assert older.time == 1718000340
    assert (newer.open, newer.high, newer.low, newer.close, newer.volume) == (
        D("67001.0"), D("67055.1"), D("66980.01"), D("67040.0"), D("12.4821"),
    )  # fmt: skip
    # No float noise: numbers go through str() first.
    assert candle_rows([[60, 0.1, 0.3, 0.2, 0.2]])[0].low == D("0.1")
    with pytest.raises(ExchangeError):
        candle_rows([[60, True, 1, 1, 1, 1]])


def test_listings() -> None:
    info = {"symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING"},
        {"symbol": "LUNAUSDT", "status": "BREAK"},
        {"symbol": "ETHUSDT", "status": "TRADING", "permissionSets": [["SPOT"]]},
    ]}  # fmt: skip
    assert trading_symbols(info) == {"BTCUSDT", "ETHUSDT"}
    products = [
        {"id": "BTC-USD", "status": "online"},
        {"id": "OLD-USD", "status": "delisted"},
        {"id": "ETH-USD", "status": "online", "trading_disabled": True},
        {"id": "USDT-USD"},
    ]
    assert online_products(products) == {"BTC-USD", "USDT-USD"}
    with pytest.raises(ExchangeError):
        online_products({"message": "NotFound"})


def test_subscriptions_answer_must_list_every_product_on_both_channels() -> None:
    reply = {"type": "subscriptions", "channels": [
        {"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]},
        {"name": "ticker", "product_ids": ["BTC-USD"]},
    ]}  # fmt: skip
    assert unconfirmed(reply, ["BTC-USD", "ETH-USD"]) == {"ETH-USD"}
    assert unconfirmed(reply, ["BTC-USD"]) == set()
    assert unconfirmed({"channels": []}, ["BTC-USD"]) == {"BTC-USD"}


def test_pages_cover_a_range_newest_first_in_aligned_chunks() -> None:
    assert pages(0, 59 * 60, "1m", 30) == [(30 * 60, 59 * 60), (0, 29 * 60)]
    assert pages(0, 0, "1h", 300) == [(0, 0)]
    assert pages(3600, 0, "1h", 300) == []
    covered = [t for lo, hi in pages(600, 600 + 999 * 60, "1m", 300) for t in range(lo, hi + 1, 60)]
    assert sorted(covered) == list(range(600, 600 + 1000 * 60, 60))


def test_backoff_doubles_from_one_second_to_a_minute_with_jitter() -> None:
    low = Backoff(rng=lambda: 0.0)
    high = Backoff(rng=lambda: 1.0)
    assert [low.next() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [high.next() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    high.reset()
    assert high.next() == 1
    spread = {round(Backoff().next(), 3) for _ in range(50)}
    assert len(spread) > 10  # jitter: reconnecting clients do not move in lockstep


async def test_budget_paces_requests() -> None:
    budget = Budget(rate=20.0, capacity=2.0)
    started = time.monotonic()
    await asyncio.gather(*(budget.take() for _ in range(6)))
    # Two at once, then four more at 20/s: at least 0.2 s.
    assert time.monotonic() - started >= 0.18
