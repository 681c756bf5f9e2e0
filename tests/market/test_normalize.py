"""Pure normalization: parsing at the edge, the wire form, the consolidated USD price (mixed
quotes, stale sources, one source only) and the 24 h statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptodash.market.normalize import (
    TICK_SCHEMA,
    CoinBook,
    InvalidTick,
    SourcePrice,
    Stats24h,
    Tick,
    Window24h,
    consolidate,
    iso_z,
    make_tick,
    parse_decimal,
    round_significant,
    tick_from_message,
    tick_to_message,
    timestamp_from_ms,
    usd_price,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
D = Decimal


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# --------------------------------------------------------------------------- parsing


def test_exchange_strings_and_json_numbers_become_exact_decimals() -> None:
    assert parse_decimal("67012.35000000") == D("67012.35")
    assert parse_decimal(0.1) == D("0.1")  # via str(): no binary tail
    assert parse_decimal(3) == D(3)
    assert parse_decimal(D("0.0000012")) == D("0.0000012")
    for bad in ("abc", "NaN", "Infinity", True, None, [1]):
        with pytest.raises(InvalidTick):
            parse_decimal(bad)


def test_make_tick_validates_every_field() -> None:
    tick = make_tick("bitcoin", "binance", "67012.35", "0.0015", "2024-06-10T06:13:21.456Z", "USDT")
    assert tick == Tick(
        "bitcoin",
        "binance",
        D("67012.35"),
        D("0.0015"),
        datetime(2024, 6, 10, 6, 13, 21, 456_000, tzinfo=UTC),
        "USDT",
    )
    assert make_tick("bitcoin", "coinbase", 1, None, NOW).volume == 0
    bad_calls = [
        ("", "binance", "1", "1", NOW, "USD"),
        ("bitcoin", "", "1", "1", NOW, "USD"),
        ("bitcoin", "binance", "0", "1", NOW, "USD"),
        ("bitcoin", "binance", "-1", "1", NOW, "USD"),
        ("bitcoin", "binance", "1", "-1", NOW, "USD"),
        ("bitcoin", "binance", "1", "1", NOW, "EUR"),
        ("bitcoin", "binance", "1", "1", "yesterday", "USD"),
        ("bitcoin", "binance", "1", "1", "2024-06-10T06:13:21", "USD"),  # no zone
        ("bitcoin", "binance", "1", "1", 1718000000, "USD"),
    ]
    for args in bad_calls:
        with pytest.raises(InvalidTick):
            make_tick(*args)  # type: ignore[arg-type]


def test_timestamps() -> None:
    assert timestamp_from_ms(1718000000123) == datetime(2024, 6, 10, 6, 13, 20, 123_000, UTC)
    assert iso_z(datetime(2024, 6, 10, 8, 13, 20, 123_456, tzinfo=UTC)) == (
        "2024-06-10T08:13:20.123Z"
    )
    offset = make_tick("bitcoin", "x", "1", "1", "2024-06-10T08:13:20+02:00").timestamp
    assert offset == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)


def test_wire_message_has_the_contract_fields() -> None:
    tick = make_tick("pepe", "binance", "0.0000012", "1500000", "2024-06-10T06:13:21.456Z", "USDT")
    message = tick_to_message(tick)
    assert message == {
        "coin_id": "pepe",
        "price": 0.0000012,
        "volume": 1500000.0,
        "source": "binance",
        "timestamp": "2024-06-10T06:13:21.456Z",
        "quote": "USDT",
    }
    assert tick_from_message(message) == tick
    assert TICK_SCHEMA == "price_update.v1"


def test_seed_era_message_without_quote_is_usd_and_bad_messages_are_refused() -> None:
    seed = {
        "coin_id": "bitcoin",
        "price": 45250.50,
        "volume": 1234567.89,
        "source": "binance",
        "timestamp": "2025-10-25T10:30:15Z",
    }
    assert tick_from_message(seed).quote == "USD"
    with pytest.raises(InvalidTick, match="missing 'price'"):
        tick_from_message({k: v for k, v in seed.items() if k != "price"})
    with pytest.raises(InvalidTick):
        tick_from_message(["not", "an", "object"])


@given(
    digits=st.integers(min_value=1, max_value=10**15 - 1),
    exponent=st.integers(min_value=-12, max_value=4),
    ms=st.integers(min_value=0, max_value=4_000_000_000_000),
)
def test_prices_up_to_15_digits_round_trip_the_wire_exactly(
    digits: int, exponent: int, ms: int
) -> None:
    price = D(digits).scaleb(exponent)
    tick = Tick("bitcoin", "binance", price, D("1.5"), timestamp_from_ms(ms), "USDT")
    assert tick_from_message(tick_to_message(tick)) == tick


# --------------------------------------------------------------------------- consolidation


def test_mixed_quotes_convert_usdt_at_the_live_rate() -> None:
    sources = {
        "binance": SourcePrice(D("100"), "USDT", ago(1)),
        "coinbase": SourcePrice(D("100.1"), "USD", ago(2)),
    }
    result = consolidate(sources, now=NOW, stale_after=30, usdt_usd=D("0.999"))
    assert result is not None
    assert result.price == D("100.0")  # median of 99.9 and 100.1
    assert result.sources == ("binance", "coinbase")
    assert not result.stale
    assert not result.usdt_rate_assumed


def test_without_a_rate_usdt_counts_one_to_one_and_is_flagged() -> None:
    sources = {"binance": SourcePrice(D("100"), "USDT", ago(1))}
    result = consolidate(sources, now=NOW, stale_after=30)
    assert result is not None
    assert (result.price, result.usdt_rate_assumed) == (D("100"), True)
    assert usd_price(D("2"), "USD", None) == (D("2"), False)
    with pytest.raises(InvalidTick):
        usd_price(D("2"), "EUR", None)


def test_stale_sources_are_left_out_of_the_median() -> None:
    sources = {
        "binance": SourcePrice(D("100"), "USD", ago(5)),
        "coinbase": SourcePrice(D("90"), "USD", ago(120)),
        "simulator": SourcePrice(D("104"), "USD", ago(10)),
    }
    result = consolidate(sources, now=NOW, stale_after=30)
    assert result is not None
    assert result.price == D("102")
    assert result.sources == ("binance", "simulator")


def test_all_stale_falls_back_to_the_newest_and_says_so() -> None:
    sources = {
        "binance": SourcePrice(D("100"), "USD", ago(300)),
        "coinbase": SourcePrice(D("90"), "USD", ago(100)),
    }
    result = consolidate(sources, now=NOW, stale_after=30)
    assert result is not None
    assert (result.price, result.sources, result.stale) == (D("90"), ("coinbase",), True)
    assert consolidate({}, now=NOW, stale_after=30) is None


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=100)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_consolidated_price_is_the_median_of_fresh_prices(
    quotes: list[tuple[int, int]],
) -> None:
    sources = {
        f"s{i}": SourcePrice(D(cents) / 100, "USD", ago(age))
        for i, (cents, age) in enumerate(quotes)
    }
    result = consolidate(sources, now=NOW, stale_after=50)
    assert result is not None
    fresh = sorted(D(c) / 100 for c, age in quotes if age <= 50)
    if not fresh:
        assert result.stale
        return
    n = len(fresh)
    expected = fresh[n // 2] if n % 2 else (fresh[n // 2 - 1] + fresh[n // 2]) / 2
    assert result.price == expected
    assert fresh[0] <= result.price <= fresh[-1]


# --------------------------------------------------------------------------- 24 h window


def test_window_combines_stored_base_and_live_ticks() -> None:
    window = Window24h()
    boundary = int(NOW.timestamp())
    window.rebase(boundary, Stats24h(D("100"), D("120"), D("95"), D("10")))
    window.add(boundary + 1, D("125"), D("1"))
    window.add(boundary + 2, None, D("2"))  # another source: volume only
    window.add(boundary - 30, D("1"), D("100"))  # before the boundary: already in the base
    window.add(boundary + 61, D("90"), D("1"))
    assert window.stats() == Stats24h(D("100"), D("125"), D("90"), D("14"))
    window.rebase(boundary + 60, Stats24h(D("101"), D("125"), D("95"), D("13")))
    assert window.stats() == Stats24h(D("101"), D("125"), D("90"), D("14"))


def test_window_without_base_starts_at_the_first_primary_tick() -> None:
    window = Window24h()
    t = NOW.timestamp()
    window.add(t, None, D("1"))
    window.add(t + 1, D("10"), D("1"))
    window.add(t + 90_000, D("12"), D("1"))  # a day later: the first minutes fall out
    assert window.stats() == Stats24h(D("12"), D("12"), D("12"), D("1"))


def test_coin_entry_shape_and_24h_figures() -> None:
    book = CoinBook("bitcoin", "BTC", "Bitcoin", "binance", "USDT")
    book.window.rebase(
        int(NOW.timestamp()) - 120, Stats24h(D("90000"), D("99000"), D("89000"), D("500"))
    )
    book.apply(Tick("bitcoin", "binance", D("99500"), D("1"), ago(1), "USDT"))
    book.apply(Tick("bitcoin", "coinbase", D("99700"), D("2"), ago(2), "USD"))
    book.apply(Tick("bitcoin", "coinbase", D("1"), D("0"), ago(50), "USD"))  # older: ignored
    entry = book.entry(now=NOW, stale_after=30, usdt_usd=D("1.001"))
    assert entry == {
        "coin_id": "bitcoin",
        "symbol": "BTC",
        "name": "Bitcoin",
        "price": 99649.75,  # median of 99500 USDT * 1.001 = 99599.5 USD and 99700 USD
        "change_24h_pct": 10.6113,  # against the 24 h open, 90000 USDT = 90090 USD
        "volume_24h": 503.0,  # base units, every source
        "volume_24h_usd": 50123824.25,
        "high_24h": 99649.75,  # the live price is above the stored high
        "low_24h": 89089.0,
        "updated_at": "2026-11-28T11:59:59.000Z",
        "stale": False,
        "usdt_rate_assumed": False,
        "sources": {
            "binance": {
                "price": 99500.0,
                "quote": "USDT",
                "updated_at": "2026-11-28T11:59:59.000Z",
                "fresh": True,
            },
            "coinbase": {
                "price": 99700.0,
                "quote": "USD",
                "updated_at": "2026-11-28T11:59:58.000Z",
                "fresh": True,
            },
        },
    }


def test_coin_entry_before_any_tick_and_with_only_stale_sources() -> None:
    book = CoinBook("pepe", "PEPE", "Pepe", "coinbase")
    empty = book.entry(now=NOW, stale_after=30)
    assert empty["price"] is None
    assert empty["change_24h_pct"] is None
    assert empty["stale"] is True
    assert empty["sources"] == {}
    book.apply(Tick("pepe", "coinbase", D("0.0000123"), D("1000000"), ago(600), "USD"))
    entry = book.entry(now=NOW, stale_after=30)
    assert entry["price"] == 0.0000123
    assert entry["stale"] is True
    assert entry["sources"]["coinbase"]["fresh"] is False
    assert entry["change_24h_pct"] == 0.0


def test_round_significant() -> None:
    assert round_significant(D("99599.50000000000000001")) == D("99599.5000000")
    assert round_significant(D("0.000012345678901234567")) == D("0.0000123456789012")
    assert round_significant(D(0)) == 0
