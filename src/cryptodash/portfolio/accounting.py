"""Portfolio accounting: holdings, cost basis (FIFO or average cost), realized and unrealized
gain, ROI — pure and exact, `Decimal` end to end, no I/O.

Exactness. Sums and products run in `EXACT`, a context that *raises* rather than rounds, so
0.1 + 0.2 is 0.3 and no cent appears or disappears. The only rounding is a division: the cost
of the part of a lot that is sold (FIFO) or of the holding (average cost), and the ratios we
report (average price, ROI, allocation). A division is rounded half-even to `PLACES` decimal
places, and the part kept is always the remainder (cost - the part sold), so the cost of every
buy is accounted for exactly once:

    realized + unrealized == value + net proceeds - total invested       (exactly)

Conventions. A buy's fee adds to its cost (`quantity * price + fee`); a sell's fee reduces its
proceeds (`quantity * price - fee`). Realized gain of a sell = its proceeds - the cost removed
from the holding. Trades apply in `(executed_at, id)` order, so trades at the same instant apply
in the order they were recorded. A sell larger than the holding at that moment raises
`NegativeHolding`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal

Side = Literal["buy", "sell"]
Method = Literal["fifo", "average"]
METHODS: tuple[Method, ...] = ("fifo", "average")

PLACES = 18
"""Decimal places of a rounded division (the scale of NUMERIC(38,18))."""
ZERO = Decimal(0)
HUNDRED = Decimal(100)
EXACT = Context(
    prec=400,
    rounding=ROUND_HALF_EVEN,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
"""Additions and multiplications of NUMERIC(38,18) values never need 400 digits; `Inexact` is
trapped so that one that would round raises instead."""


def ratio(numerator: Decimal, denominator: Decimal, places: int = PLACES) -> Decimal:
    """numerator / denominator rounded half-even to `places` decimal places, correctly rounded
    (computed on exact integers, never on a rounded quotient).

    The quotient scaled by 10**places is p / q in integers (each decimal is an exact integer
    ratio); it is floored by `divmod` and moved up when the remainder is past half of q, or at
    exactly half when the floor is odd. The same result as rounding the `Fraction`, in a
    quarter of the time (2.7 against 11 µs here): `Fraction` reduces by a gcd at every step,
    and valuing a portfolio of three coins takes ten ratios, a sell in a replay one or more."""
    if not denominator:
        raise ZeroDivisionError("ratio with a zero denominator")
    n_num, n_den = numerator.as_integer_ratio()
    d_num, d_den = denominator.as_integer_ratio()
    p = n_num * d_den * 10**places
    q = n_den * d_num
    if q < 0:
        p, q = -p, -q
    scaled, remainder = divmod(p, q)
    twice = 2 * remainder
    if twice > q or (twice == q and scaled & 1):
        scaled += 1
    return Decimal(scaled).scaleb(-places, context=EXACT)


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros ("1.5", "0", "-0.25")."""
    if not value:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class NegativeHolding(ValueError):
    """A sell of more than was held at that moment."""

    def __init__(self, trade: Trade, held: Decimal) -> None:
        at = trade.executed_at.isoformat().replace("+00:00", "Z")
        super().__init__(
            f"selling {decimal_text(trade.quantity)} {trade.coin_id} at {at} "
            f"but only {decimal_text(held)} is held then"
        )
        self.trade = trade
        self.held = held


@dataclass(frozen=True, slots=True)
class Trade:
    """One transaction: quantity in coins, price and fee in the portfolio's currency."""

    coin_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    executed_at: datetime
    id: int = 0
    """Tie-breaker for trades at the same instant: the order they were recorded in."""

    def check(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        for name, value in (("quantity", self.quantity), ("price", self.price), ("fee", self.fee)):
            if not value.is_finite():
                raise ValueError(f"{name} must be a finite number")
        if self.quantity <= 0:
            raise ValueError("quantity must be positive")
        if self.price <= 0:
            raise ValueError("price must be positive")
        if self.fee < 0:
            raise ValueError("fee must not be negative")

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.executed_at, self.id)

    @property
    def gross(self) -> Decimal:
        with localcontext(EXACT):
            return self.quantity * self.price

    @property
    def cost(self) -> Decimal:
        """What a buy costs: quantity * price + fee."""
        with localcontext(EXACT):
            return self.gross + self.fee

    @property
    def proceeds(self) -> Decimal:
        """What a sell brings in: quantity * price - fee."""
        with localcontext(EXACT):
            return self.gross - self.fee


@dataclass(frozen=True, slots=True)
class Holding:
    """One coin's position after some trades.

    `cost_basis` is the cost (fees included) of what is still held; `invested` the cost of
    every buy; `proceeds` what every sell brought in, net of fees; `opened_at` the first buy
    since the position was last empty; `last_price` the price of the latest trade.
    """

    coin_id: str
    quantity: Decimal
    cost_basis: Decimal
    realized_gain: Decimal
    invested: Decimal
    proceeds: Decimal
    opened_at: datetime | None
    last_price: Decimal

    @property
    def average_price(self) -> Decimal | None:
        """Cost basis per coin held (fees included)."""
        return ratio(self.cost_basis, self.quantity) if self.quantity else None


@dataclass(slots=True)
class _Lot:
    quantity: Decimal
    cost: Decimal


@dataclass(slots=True)
class _Position:
    coin_id: str
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_gain: Decimal = ZERO
    invested: Decimal = ZERO
    proceeds: Decimal = ZERO
    opened_at: datetime | None = None
    last_price: Decimal = ZERO
    lots: deque[_Lot] = field(default_factory=deque)

    def freeze(self) -> Holding:
        return Holding(
            self.coin_id,
            self.quantity,
            self.cost_basis,
            self.realized_gain,
            self.invested,
            self.proceeds,
            self.opened_at,
            self.last_price,
        )


class Book:
    """Applies trades one at a time (in order) and says what they add up to at any point."""

    def __init__(self, method: Method) -> None:
        if method not in METHODS:
            raise ValueError(f"cost-basis method must be one of {METHODS}, not {method!r}")
        self.method: Method = method
        self._positions: dict[str, _Position] = {}
        self.realized: dict[int, Decimal] = {}
        """Realized gain of each sell, by trade id."""
        self._last: tuple[datetime, int] | None = None

    def apply(self, trade: Trade) -> None:
        trade.check()
        order = trade.order
        if self._last is not None and order < self._last:
            raise ValueError("trades must be applied in (executed_at, id) order")
        self._last = order
        position = self._positions.get(trade.coin_id)
        if position is None:
            position = self._positions[trade.coin_id] = _Position(trade.coin_id)
        with localcontext(EXACT):
            gross = trade.quantity * trade.price
            if trade.side == "buy":
                self._buy(position, trade, gross + trade.fee)
            else:
                self._sell(position, trade, gross - trade.fee)
            position.last_price = trade.price

    def _buy(self, position: _Position, trade: Trade, cost: Decimal) -> None:
        if not position.quantity:
            position.opened_at = trade.executed_at
        position.quantity += trade.quantity
        position.cost_basis += cost
        position.invested += cost
        if self.method == "fifo":
            position.lots.append(_Lot(trade.quantity, cost))

    def _sell(self, position: _Position, trade: Trade, proceeds: Decimal) -> None:
        if trade.quantity > position.quantity:
            raise NegativeHolding(trade, position.quantity)
        if self.method == "fifo":
            removed = self._take_lots(position.lots, trade.quantity)
        elif trade.quantity == position.quantity:
            removed = position.cost_basis
        else:
            removed = ratio(position.cost_basis * trade.quantity, position.quantity)
        position.quantity -= trade.quantity
        position.cost_basis -= removed
        position.proceeds += proceeds
        gain = proceeds - removed
        position.realized_gain += gain
        self.realized[trade.id] = gain
        if not position.quantity:
            position.opened_at = None

    @staticmethod
    def _take_lots(lots: deque[_Lot], quantity: Decimal) -> Decimal:
        """Remove `quantity` from the oldest lots first; the cost removed."""
        removed = ZERO
        left = quantity
        while left:
            lot = lots[0]
            if lot.quantity <= left:
                removed += lot.cost
                left -= lot.quantity
                lots.popleft()
            else:
                part = ratio(lot.cost * left, lot.quantity)
                lot.cost -= part
                lot.quantity -= left
                removed += part
                left = ZERO
        return removed

    def holdings(self) -> dict[str, Holding]:
        """Every coin traded so far (closed positions included, with quantity 0)."""
        return {coin: p.freeze() for coin, p in self._positions.items()}

    def ledger(self) -> Ledger:
        lots = {
            coin: tuple((lot.quantity, lot.cost) for lot in p.lots)
            for coin, p in self._positions.items()
            if p.lots
        }
        return Ledger(self.method, self.holdings(), dict(self.realized), lots, self._last)

    @classmethod
    def resume(cls, ledger: Ledger) -> Book:
        """The book as it stood when `ledger` was taken, to apply later trades to (in order:
        none before `ledger.last`). ValueError for a ledger that cannot say where it stopped."""
        if ledger.last is None:
            raise ValueError("this ledger does not say which trade it ends with")
        book = cls(ledger.method)
        for coin, h in ledger.holdings.items():
            book._positions[coin] = _Position(
                coin,
                h.quantity,
                h.cost_basis,
                h.realized_gain,
                h.invested,
                h.proceeds,
                h.opened_at,
                h.last_price,
                deque(_Lot(q, c) for q, c in ledger.lots.get(coin, ())),
            )
        book.realized = dict(ledger.realized)
        book._last = ledger.last
        return book


@dataclass(frozen=True, slots=True)
class Ledger:
    """What a portfolio's trades add up to: per coin, and the realized gain of each sell."""

    method: Method
    holdings: Mapping[str, Holding]
    realized: Mapping[int, Decimal]
    lots: Mapping[str, tuple[tuple[Decimal, Decimal], ...]] = field(default_factory=dict)
    """FIFO: each coin's open lots, oldest first, as (quantity, cost)."""
    last: tuple[datetime, int] | None = None
    """The (executed_at, id) of the last trade applied: `Book.resume` goes on from there."""

    @property
    def held(self) -> list[Holding]:
        """Open positions (quantity > 0)."""
        return [h for h in self.holdings.values() if h.quantity]

    @property
    def invested(self) -> Decimal:
        with localcontext(EXACT):
            return sum((h.invested for h in self.holdings.values()), ZERO)

    @property
    def proceeds(self) -> Decimal:
        with localcontext(EXACT):
            return sum((h.proceeds for h in self.holdings.values()), ZERO)

    @property
    def realized_gain(self) -> Decimal:
        with localcontext(EXACT):
            return sum((h.realized_gain for h in self.holdings.values()), ZERO)

    @property
    def cost_basis(self) -> Decimal:
        with localcontext(EXACT):
            return sum((h.cost_basis for h in self.holdings.values()), ZERO)


def sorted_trades(trades: Iterable[Trade]) -> list[Trade]:
    return sorted(trades, key=lambda t: t.order)


def replay(trades: Iterable[Trade], method: Method) -> Ledger:
    """Apply trades in `(executed_at, id)` order; `NegativeHolding` when a sell exceeds what is
    held at its moment."""
    book = Book(method)
    for trade in sorted_trades(trades):
        book.apply(trade)
    return book.ledger()


# --------------------------------------------------------------------------- valuation


@dataclass(frozen=True, slots=True)
class AssetValue:
    coin_id: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    cost_basis: Decimal
    average_price: Decimal | None
    unrealized_gain: Decimal
    realized_gain: Decimal
    allocation_pct: Decimal
    change_24h: Decimal | None


@dataclass(frozen=True, slots=True)
class Valuation:
    total_value: Decimal
    cost_basis: Decimal
    realized_gain: Decimal
    unrealized_gain: Decimal
    gain_loss: Decimal
    roi_percentage: Decimal | None
    """gain_loss / total_invested * 100; None before any buy."""
    total_invested: Decimal
    net_proceeds: Decimal
    change_24h: Decimal
    assets: list[AssetValue]


def change_over_24h(
    quantity: Decimal, price: Decimal, change_24h_pct: Decimal | None
) -> Decimal | None:
    """Value change of a holding over the price's 24 h move: value - value at the price 24 h
    ago, where price_24h_ago = price / (1 + change_pct / 100)."""
    if change_24h_pct is None:
        return None
    with localcontext(EXACT):
        base = HUNDRED + change_24h_pct
        if base <= 0:
            return None
        value = quantity * price
        return value - ratio(value * HUNDRED, base)


def value(
    ledger: Ledger,
    prices: Mapping[str, Decimal],
    changes_24h_pct: Mapping[str, Decimal | None] | None = None,
) -> Valuation:
    """Value the open positions at `prices` (coin → price; a coin missing there is valued at
    its last trade price). `changes_24h_pct` (coin → the price's 24 h change in percent)
    gives `change_24h`, the value change of the current holdings over that move."""
    changes = changes_24h_pct or {}
    with localcontext(EXACT):
        rows: list[tuple[Holding, Decimal, Decimal]] = []
        for holding in ledger.held:
            price = prices.get(holding.coin_id, holding.last_price)
            rows.append((holding, price, holding.quantity * price))
        total = sum((v for _, _, v in rows), ZERO)
        assets = []
        for holding, price, worth in rows:
            assets.append(
                AssetValue(
                    coin_id=holding.coin_id,
                    quantity=holding.quantity,
                    price=price,
                    value=worth,
                    cost_basis=holding.cost_basis,
                    average_price=holding.average_price,
                    unrealized_gain=worth - holding.cost_basis,
                    realized_gain=holding.realized_gain,
                    allocation_pct=ratio(worth * HUNDRED, total) if total else ZERO,
                    change_24h=change_over_24h(
                        holding.quantity, price, changes.get(holding.coin_id)
                    ),
                )
            )
        assets.sort(key=lambda a: (-a.value, a.coin_id))
        cost_basis = ledger.cost_basis
        realized = ledger.realized_gain
        unrealized = total - cost_basis
        gain_loss = realized + unrealized
        invested = ledger.invested
        return Valuation(
            total_value=total,
            cost_basis=cost_basis,
            realized_gain=realized,
            unrealized_gain=unrealized,
            gain_loss=gain_loss,
            roi_percentage=ratio(gain_loss * HUNDRED, invested) if invested else None,
            total_invested=invested,
            net_proceeds=ledger.proceeds,
            change_24h=sum((a.change_24h for a in assets if a.change_24h is not None), ZERO),
            assets=assets,
        )
