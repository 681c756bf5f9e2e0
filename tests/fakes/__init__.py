"""Fake exchanges for the tests, written from `market-protocols.md` (§1-3, checklist §6):
real websocket and HTTP servers on local ports that speak Binance's and Coinbase's public
market-data protocols, with switches for the faults a connector must survive.

    async with FakeBinance(symbols=["BTCUSDT"]) as binance, FakeCoinbase() as coinbase:
        settings = ...(binance_ws_url=binance.ws_url, binance_rest_url=binance.rest_url, ...)
        await binance.drop_all()                 # forced disconnect
        coinbase.skip_sequence("BTC-USD", 5)     # a sequence gap
        binance.rest_faults.append((429, 1))     # the next REST call gets a 429

Reused by the fault-testing suite; `python -m tests.fakes` runs both on fixed ports for a
manual `cryptodash up` against them.
"""

from tests.fakes.binance import FakeBinance
from tests.fakes.coinbase import FakeCoinbase

__all__ = ["FakeBinance", "FakeCoinbase"]
