"""The coin universe and the market settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptodash.market.coins import COINS_BY_ID, DEFAULT_COINS, Universe
from tests.apps import make_settings


def test_default_is_the_top_20_listed_on_both_exchanges() -> None:
    assert len(DEFAULT_COINS) == 20
    assert DEFAULT_COINS[:3] == ("bitcoin", "ethereum", "ripple")
    assert "binancecoin" not in DEFAULT_COINS  # not on Coinbase
    assert "tether" not in DEFAULT_COINS
    assert all(COINS_BY_ID[c].binance and COINS_BY_ID[c].coinbase for c in DEFAULT_COINS)


def test_settings_select_coins_and_sources(data_dir: Path) -> None:
    universe = Universe.from_settings(make_settings(data_dir))
    assert universe.ids == DEFAULT_COINS
    assert universe.exchanges == ("binance", "coinbase")
    assert universe.primary_source("bitcoin") == "binance"

    picked = Universe.from_settings(
        make_settings(data_dir, coins="binancecoin, bitcoin", exchanges="coinbase,binance")
    )
    assert picked.ids == ("binancecoin", "bitcoin")
    assert picked.sources("binancecoin") == ("binance",)
    assert picked.primary_source("bitcoin") == "coinbase"
    assert picked.get("ethereum") is None

    demo = Universe.from_settings(make_settings(data_dir, demo=True))
    assert demo.exchanges == ("simulator",)
    assert demo.sources("pepe") == ("simulator",)


def test_json_lists_work_too(data_dir: Path) -> None:
    settings = make_settings(data_dir, coins='["bitcoin", "solana"]')
    assert settings.coins == ["bitcoin", "solana"]


@pytest.mark.parametrize(
    ("coins", "exchanges", "message"),
    [
        (["bitcoin", "notacoin"], ["binance"], "unknown coin"),
        (["bitcoin"], ["kraken"], "CRYPTODASH_EXCHANGES"),
        (["bitcoin"], [], "CRYPTODASH_EXCHANGES"),
    ],
)
def test_bad_selections_are_refused(coins: list[str], exchanges: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Universe(coins, exchanges)


def test_connectors_map_symbols_back_to_coin_ids() -> None:
    universe = Universe(["bitcoin", "pepe"], ["binance", "coinbase"])
    assert universe.coin_for_symbol("binance", "BTCUSDT") == "bitcoin"
    assert universe.coin_for_symbol("binance", "btcusdt") == "bitcoin"
    assert universe.coin_for_symbol("coinbase", "PEPE-USD") == "pepe"
    assert universe.coin_for_symbol("coinbase", "ETH-USD") is None  # not tracked
    assert universe.coin_for_symbol("coinbase", "USDT-USD") == "tether"  # the USDT/USD rate
    assert universe.symbols("coinbase") == {
        "BTC-USD": "bitcoin",
        "PEPE-USD": "pepe",
        "USDT-USD": "tether",
    }
    assert universe.symbols("binance") == {"BTCUSDT": "bitcoin", "PEPEUSDT": "pepe"}
