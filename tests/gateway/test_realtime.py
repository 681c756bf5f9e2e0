"""The gateway's price feed with plain numbers: per-source ticks in, the consolidated USD price
frame out (the market's median and USDT conversion, the 24 h change against the open the
market's cached entry implies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptodash.gateway.realtime import PriceFeed, consumer_group
from cryptodash.market.coins import Universe
from cryptodash.market.normalize import Tick, change_pct, open_from_change

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def feed() -> PriceFeed:
    return PriceFeed(Universe(["bitcoin", "ethereum"], ["binance", "coinbase"]), stale_after=30)


def tick(coin: str, source: str, price: str, seconds_ago: float = 0) -> Tick:
    quote = "USDT" if source == "binance" else "USD"
    at = NOW - timedelta(seconds=seconds_ago)
    return Tick(coin, source, Decimal(price), Decimal(1), at, quote)


def test_the_frame_is_the_seed_format_plus_change_and_source() -> None:
    prices = feed()
    frame = prices.frame(tick("bitcoin", "coinbase", "90000.5"), NOW)
    assert frame == {
        "type": "price_update",
        "coin_id": "bitcoin",
        "price": 90000.5,
        "timestamp": "2026-01-01T12:00:00.000Z",
        "change_24h": None,  # no 24 h open known yet
        "source": "coinbase",
        "sources": ["coinbase"],
        "stale": False,
    }


def test_median_of_fresh_sources_with_usdt_converted() -> None:
    prices = feed()
    prices.usdt_usd = Decimal("1.001")
    prices.frame(tick("bitcoin", "coinbase", "90100"), NOW)
    frame = prices.frame(tick("bitcoin", "binance", "90000"), NOW)  # 90090 USD
    assert frame is not None
    assert frame["price"] == 90095.0
    assert (frame["source"], frame["sources"]) == ("binance", ["binance", "coinbase"])
    # A source silent for longer than stale_after no longer counts.
    later = NOW + timedelta(seconds=40)
    frame = prices.frame(tick("bitcoin", "binance", "90010", seconds_ago=-40), later)
    assert frame is not None
    assert frame["sources"] == ["binance"]


def test_change_against_the_open_the_cached_entry_implies() -> None:
    prices = feed()
    prices.take_entries({"bitcoin": {"price": 105_000.0, "change_24h_pct": 5.0}})
    assert prices.opens["bitcoin"] == Decimal(100_000)
    frame = prices.frame(tick("bitcoin", "coinbase", "110000"), NOW)
    assert frame is not None
    assert frame["change_24h"] == 10.0
    assert change_pct(Decimal(110_000), Decimal(100_000)) == 10.0
    assert open_from_change(1.0, -100.0) is None
    prices.take_entries({"ethereum": {"price": None, "change_24h_pct": None}})
    assert "ethereum" not in prices.opens


def test_unchanged_and_untracked_prices_make_no_frame() -> None:
    prices = feed()
    version = prices.version
    assert prices.frame(tick("bitcoin", "coinbase", "1"), NOW) is not None
    assert prices.frame(tick("bitcoin", "coinbase", "1"), NOW + timedelta(seconds=1)) is None
    assert prices.frame(tick("solana", "coinbase", "150"), NOW) is None  # not tracked
    assert prices.frame(tick("tether", "coinbase", "1.001"), NOW) is None  # the rate only
    assert prices.version == version + 1


def test_every_process_has_its_own_group() -> None:
    assert consumer_group().startswith("cryptodash.gateway.")
    assert consumer_group().rsplit("-", 1)[-1].isdigit()
