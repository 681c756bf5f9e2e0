"""The coin universe: a static table of coins and their symbols on each exchange, and the
selection a deployment tracks (`CRYPTODASH_COINS`, `CRYPTODASH_EXCHANGES`).

Coin ids are CoinGecko slugs (`bitcoin`), never derived from tickers (tickers are not unique).
Exchange connectors map their wire symbols back with `Universe.coin_for_symbol`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptodash.config import Settings

EXCHANGES: tuple[str, ...] = ("binance", "coinbase", "simulator")
"""Every source a tick can come from."""

QUOTES: dict[str, str] = {"binance": "USDT", "coinbase": "USD", "simulator": "USD"}
"""The quote currency each source prices our coins in."""

NATIVE_INTERVALS: dict[str, frozenset[str]] = {
    "binance": frozenset({"1m", "5m", "15m", "1h", "4h", "1d"}),
    # Coinbase's candle granularities are 60, 300, 900, 3600, 21600 and 86400 s: no 4h.
    "coinbase": frozenset({"1m", "5m", "15m", "1h", "1d"}),
    "simulator": frozenset({"1m"}),
}
"""Candle intervals each source's REST history serves; the rest are built by resampling."""

DEFAULT_COUNT = 20


@dataclass(frozen=True, slots=True)
class Coin:
    id: str
    symbol: str
    name: str
    binance: str | None
    coinbase: str | None

    def symbol_on(self, exchange: str) -> str | None:
        """The coin's symbol (product id) on an exchange, or None when it is not listed."""
        if exchange == "binance":
            return self.binance
        if exchange == "coinbase":
            return self.coinbase
        if exchange == "simulator":
            return f"{self.symbol}-USD"
        return None


# Ordered by market capitalisation (late 2025), stablecoins left out. Listings verified
# against the exchanges' public symbol lists at the time; connectors re-check at start-up.
COINS: tuple[Coin, ...] = (
    Coin("bitcoin", "BTC", "Bitcoin", "BTCUSDT", "BTC-USD"),
    Coin("ethereum", "ETH", "Ethereum", "ETHUSDT", "ETH-USD"),
    Coin("ripple", "XRP", "XRP", "XRPUSDT", "XRP-USD"),
    Coin("binancecoin", "BNB", "BNB", "BNBUSDT", None),
    Coin("solana", "SOL", "Solana", "SOLUSDT", "SOL-USD"),
    Coin("dogecoin", "DOGE", "Dogecoin", "DOGEUSDT", "DOGE-USD"),
    Coin("tron", "TRX", "TRON", "TRXUSDT", None),
    Coin("cardano", "ADA", "Cardano", "ADAUSDT", "ADA-USD"),
    Coin("chainlink", "LINK", "Chainlink", "LINKUSDT", "LINK-USD"),
    Coin("avalanche-2", "AVAX", "Avalanche", "AVAXUSDT", "AVAX-USD"),
    Coin("stellar", "XLM", "Stellar", "XLMUSDT", "XLM-USD"),
    Coin("sui", "SUI", "Sui", "SUIUSDT", "SUI-USD"),
    Coin("hedera-hashgraph", "HBAR", "Hedera", "HBARUSDT", "HBAR-USD"),
    Coin("bitcoin-cash", "BCH", "Bitcoin Cash", "BCHUSDT", "BCH-USD"),
    Coin("litecoin", "LTC", "Litecoin", "LTCUSDT", "LTC-USD"),
    Coin("the-open-network", "TON", "Toncoin", "TONUSDT", None),
    Coin("shiba-inu", "SHIB", "Shiba Inu", "SHIBUSDT", "SHIB-USD"),
    Coin("polkadot", "DOT", "Polkadot", "DOTUSDT", "DOT-USD"),
    Coin("uniswap", "UNI", "Uniswap", "UNIUSDT", "UNI-USD"),
    Coin("pepe", "PEPE", "Pepe", "PEPEUSDT", "PEPE-USD"),
    Coin("aave", "AAVE", "Aave", "AAVEUSDT", "AAVE-USD"),
    Coin("near", "NEAR", "NEAR Protocol", "NEARUSDT", "NEAR-USD"),
    Coin("aptos", "APT", "Aptos", "APTUSDT", "APT-USD"),
    Coin("internet-computer", "ICP", "Internet Computer", "ICPUSDT", "ICP-USD"),
    Coin("ethereum-classic", "ETC", "Ethereum Classic", "ETCUSDT", "ETC-USD"),
    # Not a tracked coin by default: Coinbase's USDT-USD is the live USDT/USD rate that
    # converts Binance's USDT prices (see normalize.USDT_RATE_COIN).
    Coin("tether", "USDT", "Tether", None, "USDT-USD"),
)
COINS_BY_ID: dict[str, Coin] = {coin.id: coin for coin in COINS}
DEFAULT_COINS: tuple[str, ...] = tuple(
    coin.id for coin in COINS if coin.binance and coin.coinbase and coin.id != "tether"
)[:DEFAULT_COUNT]
"""The top coins both Binance and Coinbase list: the default `CRYPTODASH_COINS`."""


class Universe:
    """The coins and sources one deployment tracks, with the lookups every part needs."""

    def __init__(self, coin_ids: Sequence[str], exchanges: Sequence[str]) -> None:
        unknown = [c for c in coin_ids if c not in COINS_BY_ID]
        if unknown:
            raise ValueError(
                f"CRYPTODASH_COINS: unknown coin id(s) {', '.join(unknown)}; "
                f"known: {', '.join(COINS_BY_ID)}"
            )
        bad = [e for e in exchanges if e not in EXCHANGES]
        if bad or not exchanges:
            raise ValueError(
                f"CRYPTODASH_EXCHANGES: expected some of {', '.join(EXCHANGES)}, "
                f"got {', '.join(exchanges) or 'nothing'}"
            )
        self.coins: tuple[Coin, ...] = tuple(COINS_BY_ID[c] for c in dict.fromkeys(coin_ids))
        self.exchanges: tuple[str, ...] = tuple(dict.fromkeys(exchanges))
        self._by_id = {coin.id: coin for coin in self.coins}
        self._sources = {
            coin.id: tuple(e for e in self.exchanges if coin.symbol_on(e)) for coin in self.coins
        }
        self._symbols = {
            exchange: {
                symbol: coin.id
                for coin in COINS
                if (symbol := coin.symbol_on(exchange)) is not None
            }
            for exchange in self.exchanges
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> Universe:
        """`CRYPTODASH_COINS` (default: DEFAULT_COINS) on `CRYPTODASH_EXCHANGES`; `--demo`
        replaces the exchanges with the simulator."""
        return _universe(tuple(settings.coins), tuple(settings.exchanges), settings.demo)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def get(self, coin_id: str) -> Coin | None:
        return self._by_id.get(coin_id)

    def sources(self, coin_id: str) -> tuple[str, ...]:
        """The configured exchanges that list the coin, in `CRYPTODASH_EXCHANGES` order."""
        return self._sources.get(coin_id, ())

    def primary_source(self, coin_id: str) -> str | None:
        """The first configured exchange that lists the coin: the default candle source."""
        sources = self.sources(coin_id)
        return sources[0] if sources else None

    def coin_for_symbol(self, exchange: str, symbol: str) -> str | None:
        """Coin id for an exchange symbol (`BTCUSDT`, `BTC-USD`), or None when untracked."""
        coin_id = self._symbols.get(exchange, {}).get(symbol.upper())
        if coin_id is None or (coin_id not in self._by_id and coin_id != "tether"):
            return None
        return coin_id

    def symbols(self, exchange: str) -> dict[str, str]:
        """Symbol → coin id of every tracked coin on an exchange (what a connector subscribes
        to), plus the USDT/USD rate instrument where the exchange has one."""
        return {
            symbol: coin_id
            for symbol, coin_id in self._symbols.get(exchange, {}).items()
            if coin_id in self._by_id or (coin_id == "tether" and "binance" in self.exchanges)
        }


def quote_for(source: str) -> str:
    return QUOTES.get(source, "USD")


@lru_cache(maxsize=32)
def _universe(coins: tuple[str, ...], exchanges: tuple[str, ...], demo: bool) -> Universe:
    return Universe(coins or DEFAULT_COINS, ("simulator",) if demo else exchanges)
