"""A deterministic market for the fake exchanges: the price of a symbol at any instant, and
candles for any bucket, the same on every call (so REST history and live trades agree and a
test can compute what it expects)."""

from __future__ import annotations

import math
import zlib

BASES: dict[str, float] = {"BTC": 67_000.0, "ETH": 3_500.0, "SOL": 150.0, "USDT": 1.0}


def base_price(asset: str) -> float:
    if asset in BASES:
        return BASES[asset]
    return 0.5 + zlib.crc32(asset.encode()) % 20_000 / 100


def price_at(asset: str, at: float) -> float:
    """Smooth and bounded (±1 %), different per asset; a stablecoin stays within 0.1 %."""
    phase = zlib.crc32(asset.encode()) % 1000 / 100
    swing = 0.001 if asset == "USDT" else 0.01
    wave = 0.7 * math.sin(at / 97 + phase) + 0.3 * math.sin(at / 13 + 2 * phase)
    return base_price(asset) * (1 + swing * wave)


def candle(asset: str, start: int, size: int) -> tuple[float, float, float, float, float]:
    """(open, high, low, close, volume) of the bucket [start, start + size)."""
    samples = [price_at(asset, start + size * k / 8) for k in range(9)]
    volume = (1 + zlib.crc32(f"{asset}{start}{size}".encode()) % 1000 / 100) * size / 60
    return samples[0], max(samples), min(samples), samples[-1], volume


def decimals(price: float) -> int:
    if price <= 0:
        return 2
    return max(2, min(10, 5 - math.floor(math.log10(price))))


def text(value: float, places: int = 8) -> str:
    """A number the way Binance writes it: a string with fixed decimals."""
    return f"{value:.{places}f}"
