"""Normalization: the source-agnostic tick, its wire form on `price_updates`, and what a
coin's ticks add up to — each source's latest price, one consolidated USD price (the median of
the fresh sources) and the 24 h statistics.

Pure: no I/O and no clock reads (callers pass `now`). Prices and volumes are `Decimal` from the
edge on: exchange strings go through `Decimal(str)`, JSON numbers through `Decimal(str(x))`,
never `Decimal(x)`. On the wire (bus, REST) they are JSON numbers (ARCHITECTURE §5b).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TICK_SCHEMA = "price_update.v1"
"""The `schema` header of a tick message on `price_updates`."""

USDT_RATE_COIN = "tether"
"""Ticks of this coin quoted in USD are the live USDT/USD rate."""

QUOTES = frozenset({"USD", "USDT"})
ZERO = Decimal(0)
_MAX_ID = 50
_MAX_SOURCE = 20


class InvalidTick(ValueError):
    """A tick (or tick message) that cannot be used: missing field, bad number, bad time."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade (or last-price update) of a coin on one source, normalized.

    ``price`` is in ``quote`` currency, ``volume`` the traded size in base units (0 when the
    source does not say), ``timestamp`` the exchange's event time, timezone-aware UTC.
    Build one with `make_tick` (parses and validates) or directly when the values are known
    good.
    """

    coin_id: str
    source: str
    price: Decimal
    volume: Decimal
    timestamp: datetime
    quote: str = "USD"


# --------------------------------------------------------------------------- parsing


def parse_decimal(value: object, field: str = "value") -> Decimal:
    """A finite Decimal from an exchange string, an int, a JSON float or a Decimal."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidTick(f"{field}: not a number: {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTick(f"{field}: expected a number, got {type(value).__name__}")
    else:
        number = Decimal(str(value))  # str() first: Decimal(0.1) would keep the binary noise
    if not number.is_finite():
        raise InvalidTick(f"{field}: not finite: {value!r}")
    return number


def parse_timestamp(value: object) -> datetime:
    """Aware UTC datetime from an ISO-8601 string (``Z`` or an offset) or an aware datetime."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidTick(f"timestamp: not ISO-8601: {value!r}") from None
    else:
        raise InvalidTick(f"timestamp: expected an ISO-8601 string, got {type(value).__name__}")
    if at.tzinfo is None:
        raise InvalidTick("timestamp: no timezone (expected UTC, e.g. ...Z)")
    return at.astimezone(UTC)


def timestamp_from_ms(ms: int | float) -> datetime:
    """Exchange epoch milliseconds (Binance `E`/`T`) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


_last_iso: tuple[datetime | None, str] = (None, "")


def iso_z(at: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z``: the wire form of timestamps.

    The last result is remembered: a busy feed stamps many ticks in a row with the same
    exchange time, and formatting a datetime costs more than the rest of a tick message."""
    global _last_iso
    last, text = _last_iso  # one tuple: threads never see a time with another's text
    if at == last:
        return text
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    text = at.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" → "Z"
    _last_iso = (at, text)
    return text


def make_tick(
    coin_id: str,
    source: str,
    price: object,
    volume: object,
    timestamp: object,
    quote: str = "USD",
) -> Tick:
    """Parse and validate the parts of a tick (strings, numbers, datetimes) into a `Tick`."""
    if not isinstance(coin_id, str) or not 0 < len(coin_id) <= _MAX_ID:
        raise InvalidTick(f"coin_id: expected 1-{_MAX_ID} characters")
    if not isinstance(source, str) or not 0 < len(source) <= _MAX_SOURCE:
        raise InvalidTick(f"source: expected 1-{_MAX_SOURCE} characters")
    if quote not in QUOTES:
        raise InvalidTick(f"quote: expected one of {', '.join(sorted(QUOTES))}, got {quote!r}")
    parsed_price = parse_decimal(price, "price")
    if parsed_price <= 0:
        raise InvalidTick("price: must be positive")
    parsed_volume = ZERO if volume is None else parse_decimal(volume, "volume")
    if parsed_volume < 0:
        raise InvalidTick("volume: must not be negative")
    return Tick(coin_id, source, parsed_price, parsed_volume, parse_timestamp(timestamp), quote)


def tick_to_message(tick: Tick) -> dict[str, Any]:
    """The `price_update.v1` message: prices and volumes as JSON numbers."""
    return {
        "coin_id": tick.coin_id,
        "price": float(tick.price),
        "volume": float(tick.volume),
        "source": tick.source,
        "timestamp": iso_z(tick.timestamp),
        "quote": tick.quote,
    }


def tick_from_message(value: object) -> Tick:
    """A `Tick` from a `price_update.v1` message (a seed-era message without quote is USD)."""
    if not isinstance(value, Mapping):
        raise InvalidTick("message: expected a JSON object")
    try:
        return make_tick(
            value["coin_id"],
            value["source"],
            value["price"],
            value.get("volume"),
            value["timestamp"],
            value.get("quote", "USD"),
        )
    except KeyError as exc:
        raise InvalidTick(f"message: missing {exc.args[0]!r}") from None


# --------------------------------------------------------------------------- consolidation


@dataclass(slots=True)
class SourcePrice:
    """A source's latest price for a coin, in that source's quote."""

    price: Decimal
    quote: str
    updated_at: datetime


def usd_price(price: Decimal, quote: str, usdt_usd: Decimal | None) -> tuple[Decimal, bool]:
    """(price in USD, True when a USDT price was taken 1:1 for want of a live rate)."""
    if quote == "USD":
        return price, False
    if quote == "USDT":
        if usdt_usd is None:
            return price, True
        return price * usdt_usd, False
    raise InvalidTick(f"quote: cannot convert {quote!r} to USD")


@dataclass(frozen=True, slots=True)
class Consolidated:
    price: Decimal
    sources: tuple[str, ...]
    """The sources the price came from: the fresh ones, or the newest when none is fresh."""
    stale: bool
    usdt_rate_assumed: bool


def is_fresh(source: SourcePrice, now: datetime, stale_after: float) -> bool:
    return (now - source.updated_at).total_seconds() <= stale_after


def consolidate(
    sources: Mapping[str, SourcePrice],
    *,
    now: datetime,
    stale_after: float,
    usdt_usd: Decimal | None = None,
) -> Consolidated | None:
    """The coin's USD price: the median of the sources updated within `stale_after` seconds.

    When no source is fresh the newest price stands in, flagged ``stale``. None when no
    source has a price at all.
    """
    if not sources:
        return None
    fresh = [name for name, sp in sources.items() if is_fresh(sp, now, stale_after)]
    stale = not fresh
    if stale:
        fresh = [max(sources, key=lambda name: sources[name].updated_at)]
    assumed = False
    prices = []
    for name in fresh:
        sp = sources[name]
        price, flagged = usd_price(sp.price, sp.quote, usdt_usd)
        prices.append(price)
        assumed = assumed or flagged
    return Consolidated(statistics.median(prices), tuple(sorted(fresh)), stale, assumed)


# --------------------------------------------------------------------------- 24 h window


@dataclass(frozen=True, slots=True)
class Stats24h:
    """24 h open/high/low (primary source's quote) and volume (base units, every source)."""

    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal = ZERO


class Window24h:
    """A coin's rolling 24 h statistics, in two parts.

    The *base* is the aggregate of the stored closed 1m candles in ``[boundary - 24 h,
    boundary)``, handed in by `rebase` (the persister refreshes it from the database every
    minute, so history written by a backfill or a simulator counts too). On top come the ticks
    since ``boundary`` (`add`), kept as per-minute bars until the next rebase. Prices follow
    the coin's primary source; volume sums every source.
    """

    __slots__ = ("base", "boundary", "live")

    def __init__(self) -> None:
        self.boundary: int | None = None
        self.base = Stats24h()
        # minute start → [open, high, low, volume]; price fields None until a primary tick.
        self.live: dict[int, list[Any]] = {}

    def rebase(self, boundary: int, base: Stats24h) -> None:
        self.boundary = boundary
        self.base = base
        for minute in [m for m in self.live if m < boundary]:
            del self.live[minute]

    def add(self, at: float, price: Decimal | None, volume: Decimal) -> None:
        """One tick at Unix time `at`; `price` only when it comes from the primary source."""
        minute = int(at // 60) * 60
        if self.boundary is not None and minute < self.boundary:
            return  # already counted in the stored candles of the base
        bar = self.live.get(minute)
        if bar is None:
            bar = self.live[minute] = [None, None, None, ZERO]
            horizon = minute - 86_400
            for old in [m for m in self.live if m < horizon]:
                del self.live[old]
        if price is not None:
            if bar[0] is None:
                bar[0] = bar[1] = bar[2] = price
            else:
                bar[1] = max(bar[1], price)
                bar[2] = min(bar[2], price)
        bar[3] += volume

    def stats(self) -> Stats24h:
        open_, high, low, volume = self.base.open, self.base.high, self.base.low, self.base.volume
        for minute in sorted(self.live):
            bar_open, bar_high, bar_low, bar_volume = self.live[minute]
            volume += bar_volume
            if bar_open is None:
                continue
            if open_ is None:
                open_ = bar_open
            high = bar_high if high is None else max(high, bar_high)
            low = bar_low if low is None else min(low, bar_low)
        return Stats24h(open_, high, low, volume)


# --------------------------------------------------------------------------- one coin


def round_significant(value: Decimal, digits: int = 12) -> Decimal:
    """Computed prices (medians, conversions) without a tail of meaningless digits."""
    if not value:
        return value
    return value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1))


def change_pct(price: Decimal, open_: Decimal | None) -> float | None:
    """The change from `open_` to `price` in percent, 4 decimals; None without an open."""
    if not open_:
        return None
    return float(round((price - open_) / open_ * 100, 4))


def open_from_change(price: float, change: float) -> Decimal | None:
    """The open a `price` and its `change_pct` imply (an entry carries those two), for
    recomputing the change against newer prices."""
    if change <= -100:
        return None
    return round_significant(parse_decimal(price) / (1 + parse_decimal(change) / 100))


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class CoinBook:
    """Everything known about one coin: each source's latest price and the 24 h window.

    `entry()` is the coin's `/api/market/coins` entry — the value of the `price:{coin_id}`
    cache key.
    """

    __slots__ = (
        "coin_id",
        "name",
        "primary_quote",
        "primary_source",
        "sources",
        "symbol",
        "window",
    )

    def __init__(
        self,
        coin_id: str,
        symbol: str,
        name: str,
        primary_source: str | None,
        primary_quote: str = "USD",
    ) -> None:
        self.coin_id = coin_id
        self.symbol = symbol
        self.name = name
        self.primary_source = primary_source
        self.primary_quote = primary_quote  # the window's prices are in this currency
        self.sources: dict[str, SourcePrice] = {}
        self.window = Window24h()

    def apply(self, tick: Tick) -> None:
        """Take one tick: the source's latest price (unless older than what is known) and the
        24 h window."""
        current = self.sources.get(tick.source)
        if current is None or tick.timestamp >= current.updated_at:
            self.sources[tick.source] = SourcePrice(tick.price, tick.quote, tick.timestamp)
        primary = tick.price if tick.source == self.primary_source else None
        self.window.add(tick.timestamp.timestamp(), primary, tick.volume)

    def entry(
        self, *, now: datetime, stale_after: float, usdt_usd: Decimal | None = None
    ) -> dict[str, Any]:
        consolidated = consolidate(
            self.sources, now=now, stale_after=stale_after, usdt_usd=usdt_usd
        )
        stats = self.window.stats()

        def usd(value: Decimal | None) -> Decimal | None:
            if value is None:
                return None
            return round_significant(usd_price(value, self.primary_quote, usdt_usd)[0])

        price = round_significant(consolidated.price) if consolidated else None
        open_usd, high_usd, low_usd = usd(stats.open), usd(stats.high), usd(stats.low)
        change = None if price is None else change_pct(price, open_usd)
        if price is not None:  # the live price is part of the last 24 h by definition
            high_usd = price if high_usd is None else max(high_usd, price)
            low_usd = price if low_usd is None else min(low_usd, price)
        updated = max((sp.updated_at for sp in self.sources.values()), default=None)
        return {
            "coin_id": self.coin_id,
            "symbol": self.symbol,
            "name": self.name,
            "price": _number(price),
            "change_24h_pct": change,
            "volume_24h": float(stats.volume),
            "volume_24h_usd": _number(
                round_significant(stats.volume * price) if price is not None else None
            ),
            "high_24h": _number(high_usd),
            "low_24h": _number(low_usd),
            "updated_at": iso_z(updated) if updated else None,
            "stale": consolidated.stale if consolidated else True,
            "usdt_rate_assumed": consolidated.usdt_rate_assumed if consolidated else False,
            "sources": {
                name: {
                    "price": float(sp.price),
                    "quote": sp.quote,
                    "updated_at": iso_z(sp.updated_at),
                    "fresh": is_fresh(sp, now, stale_after),
                }
                for name, sp in sorted(self.sources.items())
            },
        }
