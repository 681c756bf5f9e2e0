"""A portfolio's value over time, rebuilt from its trades and the coins' closes: pure, no I/O.

At each point of a regular grid (multiples of the interval, UTC) the holdings are those of
every trade executed at or before it, each coin priced at its latest close by then (the close
of a candle is the price at the end of its bucket). A coin without a close yet is priced at its
latest trade price and the point is marked `complete=False`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from cryptodash.portfolio.accounting import EXACT, ZERO, Book, Method, Trade, sorted_trades


@dataclass(frozen=True, slots=True)
class PricePath:
    """A coin's known prices: `times` (Unix seconds, ascending) and the price from each on."""

    times: Sequence[int]
    prices: Sequence[Decimal]

    @classmethod
    def from_closes(cls, closes: Iterable[tuple[int, Decimal]], interval_seconds: int) -> PricePath:
        """From (bucket start, close) pairs: each close holds from its bucket's end."""
        pairs = sorted(closes)
        return cls([t + interval_seconds for t, _ in pairs], [c for _, c in pairs])

    def at(self, t: int) -> Decimal | None:
        index = bisect.bisect_right(self.times, t) - 1
        return self.prices[index] if index >= 0 else None


@dataclass(frozen=True, slots=True)
class Point:
    time: int
    total_value: Decimal
    cost_basis: Decimal
    complete: bool
    """Every coin held was priced from a close (not a trade price)."""


def grid(start: float, end: float, interval_seconds: int) -> list[int]:
    """The multiples of the interval in [start, end]."""
    first = -int(-start // interval_seconds) * interval_seconds
    return list(range(first, int(end) + 1, interval_seconds))


def reconstruct(
    trades: Iterable[Trade],
    method: Method,
    times: Sequence[int],
    paths: Mapping[str, PricePath],
) -> list[Point]:
    """Value and cost basis at each of `times` (ascending)."""
    book = Book(method)
    pending = sorted_trades(trades)
    applied = 0
    points = []
    with localcontext(EXACT):
        for t in times:
            while applied < len(pending) and pending[applied].executed_at.timestamp() <= t:
                book.apply(pending[applied])
                applied += 1
            total = ZERO
            cost = ZERO
            complete = True
            for holding in book.holdings().values():
                if not holding.quantity:
                    continue
                path = paths.get(holding.coin_id)
                price = path.at(t) if path is not None else None
                if price is None:
                    price = holding.last_price
                    complete = False
                total += holding.quantity * price
                cost += holding.cost_basis
            points.append(Point(t, total, cost, complete))
    return points
