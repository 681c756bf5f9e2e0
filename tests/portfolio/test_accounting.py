"""The pure accounting module: worked FIFO and average-cost examples with fees, the identity
realized + unrealized == value + net proceeds - total invested (exactly, for any sequence),
FIFO == average on one lot, no rounding drift, and negative holdings refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptodash.portfolio import service
from cryptodash.portfolio.accounting import (
    EXACT,
    Book,
    NegativeHolding,
    Trade,
    change_over_24h,
    decimal_text,
    ratio,
    replay,
    value,
)

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def trade(
    side: str,
    quantity: str,
    price: str,
    fee: str = "0",
    *,
    day: int = 0,
    coin: str = "bitcoin",
    id: int = 0,
) -> Trade:
    return Trade(coin, side, D(quantity), D(price), D(fee), T0 + timedelta(days=day), id)  # type: ignore[arg-type]


def test_fifo_with_fees_and_fractions_by_hand() -> None:
    trades = [
        trade("buy", "0.5", "20000", "10", day=0, id=1),  # lot 1: cost 10010
        trade("buy", "0.25", "40000", "5", day=1, id=2),  # lot 2: cost 10005
        trade("sell", "0.6", "50000", "12", day=2, id=3),  # proceeds 29988
    ]
    ledger = replay(trades, "fifo")
    btc = ledger.holdings["bitcoin"]
    # Sold: all of lot 1 (10010) and 0.1 of lot 2's 0.25 (10005 * 0.1 / 0.25 = 4002).
    assert ledger.realized[3] == D("29988") - D("10010") - D("4002")
    assert btc.quantity == D("0.15")
    assert btc.cost_basis == D("6003")
    assert btc.invested == D("20015")
    assert btc.proceeds == D("29988")
    assert btc.average_price == D("40020")
    valued = value(ledger, {"bitcoin": D("60000")})
    assert valued.total_value == D("9000")
    assert valued.unrealized_gain == D("2997")
    assert valued.realized_gain == D("15976")
    assert valued.gain_loss == D("18973")
    assert valued.roi_percentage == ratio(D("18973") * 100, D("20015"))
    assert str(valued.roi_percentage) == "94.793904571571321509"


def test_average_cost_with_fees_by_hand() -> None:
    trades = [
        trade("buy", "1", "100", "1", day=0, id=1),
        trade("buy", "1", "200", "1", day=1, id=2),  # 2 held at 302: 151 each
        trade("sell", "0.5", "300", "0.5", day=2, id=3),  # proceeds 149.5, cost 75.5
    ]
    ledger = replay(trades, "average")
    assert ledger.realized[3] == D("74")
    holding = ledger.holdings["bitcoin"]
    assert (holding.quantity, holding.cost_basis) == (D("1.5"), D("226.5"))
    assert holding.average_price == D("151")
    fifo = replay(trades, "fifo")
    assert fifo.realized[3] == D("149.5") - D("50.5")  # half of the first lot


def test_the_identity_holds_for_a_worked_example_with_a_rounded_split() -> None:
    # 1/3 of a lot costing 10 is 3.333…: rounded, and the remainder stays with the lot.
    trades = [trade("buy", "3", "3", "1", id=1), trade("sell", "1", "5", day=1, id=2)]
    for method in ("fifo", "average"):
        ledger = replay(trades, method)  # type: ignore[arg-type]
        assert ledger.holdings["bitcoin"].cost_basis == D("6.666666666666666667")
        valued = value(ledger, {"bitcoin": D("4")})
        assert valued.realized_gain + valued.unrealized_gain == (
            valued.total_value + valued.net_proceeds - valued.total_invested
        )


def test_no_rounding_drift() -> None:
    ledger = replay([trade("buy", "0.1", "1", id=1), trade("buy", "0.2", "1", id=2)], "fifo")
    assert ledger.holdings["bitcoin"].quantity == D("0.3")
    assert ledger.holdings["bitcoin"].cost_basis == D("0.3")
    book = Book("average")
    for i in range(1000):
        book.apply(trade("buy", "0.1", "0.1", "0.01", id=2 * i))
        book.apply(trade("sell", "0.1", "0.2", "0.01", id=2 * i + 1))
    (holding,) = book.holdings().values()
    assert holding.quantity == 0
    assert holding.cost_basis == 0
    # Each cycle costs 0.1 * 0.1 + 0.01 = 0.02 and brings in 0.1 * 0.2 - 0.01 = 0.01.
    assert holding.realized_gain == D("-10")
    assert holding.invested == D("20")
    assert holding.proceeds == D("10")


def test_a_sell_beyond_the_holding_at_its_moment_is_refused() -> None:
    with pytest.raises(NegativeHolding, match="only 0 is held"):
        replay(
            [trade("sell", "1", "10", day=0, id=2), trade("buy", "2", "10", day=1, id=1)], "fifo"
        )
    with pytest.raises(NegativeHolding):
        replay(
            [trade("buy", "1", "10", id=1), trade("sell", "1.000000000000000001", "10", id=2)],
            "average",
        )
    # Same instant: the order they were recorded in decides.
    replay([trade("buy", "1", "10", id=1), trade("sell", "1", "10", id=2)], "fifo")
    with pytest.raises(NegativeHolding):
        replay([trade("sell", "1", "10", id=1), trade("buy", "1", "10", id=2)], "fifo")


@pytest.mark.parametrize(
    ("side", "quantity", "price", "fee", "message"),
    [
        ("buy", "0", "1", "0", "quantity"),
        ("buy", "-1", "1", "0", "quantity"),
        ("buy", "1", "0", "0", "price"),
        ("sell", "1", "-2", "0", "price"),
        ("buy", "1", "1", "-0.01", "fee"),
        ("buy", "NaN", "1", "0", "quantity"),
        ("hold", "1", "1", "0", "side"),
    ],
)
def test_bad_trades_are_refused(
    side: str, quantity: str, price: str, fee: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Book("fifo").apply(trade(side, quantity, price, fee))


def test_closed_positions_keep_their_realized_gain_but_are_not_held() -> None:
    ledger = replay(
        [trade("buy", "2", "10", "1", id=1), trade("sell", "2", "15", "1", day=1, id=2)], "fifo"
    )
    assert ledger.held == []
    valued = value(ledger, {})
    assert valued.total_value == 0
    assert valued.realized_gain == D("8")
    assert valued.roi_percentage == ratio(D("800"), D("21"))
    assert value(replay([], "fifo"), {}).roi_percentage is None


def test_unpriced_coins_fall_back_to_their_last_trade_price() -> None:
    ledger = replay([trade("buy", "2", "10", id=1), trade("buy", "1", "13", day=1, id=2)], "fifo")
    assert value(ledger, {}).total_value == D("39")


def test_allocation_and_change_over_24h() -> None:
    ledger = replay(
        [trade("buy", "1", "100", id=1), trade("buy", "10", "20", coin="ethereum", id=2)], "fifo"
    )
    valued = value(
        ledger, {"bitcoin": D("110"), "ethereum": D("22")}, {"bitcoin": D("10"), "ethereum": None}
    )
    assert [a.coin_id for a in valued.assets] == ["ethereum", "bitcoin"]
    assert [a.allocation_pct for a in valued.assets] == [
        ratio(D("22000"), D("330")),
        ratio(D("11000"), D("330")),
    ]
    assert valued.change_24h == D("10")  # bitcoin was 100 a day ago
    assert change_over_24h(D("1"), D("50"), D("-50")) == D("-50")
    assert change_over_24h(D("1"), D("50"), D("-100")) is None


def test_ratio_rounds_half_even_exactly() -> None:
    assert ratio(D(1), D(3)) == D("0.333333333333333333")
    assert ratio(D(2), D(3)) == D("0.666666666666666667")
    assert ratio(D("5E-19"), D(1)) == D(0)
    assert ratio(D("1.5E-18"), D(1)) == D("2E-18")
    with pytest.raises(ZeroDivisionError):
        ratio(D(1), D(0))
    assert ratio(D(-1), D(3)) == D("-0.333333333333333333")
    assert ratio(D(1), D(-8), places=2) == D("-0.12")  # -0.125: the tie goes to the even 2
    assert ratio(D(3), D(8), places=2) == D("0.38")  # 0.375: to the even 8


NUMERIC = st.decimals(
    min_value=D("-1E+20"), max_value=D("1E+20"), places=18, allow_nan=False, allow_infinity=False
)


@given(NUMERIC, NUMERIC.filter(bool), st.integers(min_value=0, max_value=24))
def test_ratio_agrees_with_rounding_the_exact_fraction(
    numerator: Decimal, denominator: Decimal, places: int
) -> None:
    exact = Fraction(numerator) / Fraction(denominator)
    expected = Decimal(round(exact * 10**places)).scaleb(-places, context=EXACT)
    got = ratio(numerator, denominator, places)
    assert got == expected
    assert abs(Fraction(got) - exact) <= Fraction(1, 2 * 10**places)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("0", "0"),
        ("-0", "0"),
        ("0.000", "0"),
        ("1.500", "1.5"),
        ("100", "100"),
        ("1E+2", "100"),
        ("1E-18", "0.000000000000000001"),
        ("-2.50", "-2.5"),
    ],
)
def test_decimal_text(number: str, text: str) -> None:
    assert decimal_text(D(number)) == text


# --------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=D("0.00000001"), max_value=D("100000"), places=8)
fees = st.decimals(min_value=D(0), max_value=D("50"), places=6)
steps = st.lists(
    st.tuples(
        st.sampled_from(["bitcoin", "ethereum", "solana"]),
        st.booleans(),  # sell?
        amounts,
        amounts,
        fees,
        st.integers(1, 7),  # share of the holding to sell, in sevenths
        st.integers(0, 3),  # days later
    ),
    max_size=40,
)


def build(raw: list[tuple[str, bool, Decimal, Decimal, Decimal, int, int]]) -> list[Trade]:
    """A valid sequence: sells take a share of what is held at their moment."""
    held: dict[str, Decimal] = {}
    trades = []
    at = T0
    for index, (coin, sell, quantity, price, fee, sevenths, days) in enumerate(raw):
        at += timedelta(days=days)
        if sell:
            quantity = (held.get(coin, D(0)) * sevenths / 7).quantize(D("1E-18"), "ROUND_DOWN")
            if quantity <= 0:
                continue
        held[coin] = held.get(coin, D(0)) + (-quantity if sell else quantity)
        trades.append(Trade(coin, "sell" if sell else "buy", quantity, price, fee, at, index))
    return trades


@settings(max_examples=200, deadline=None)
@given(steps, st.sampled_from(["fifo", "average"]), st.lists(amounts, min_size=3, max_size=3))
def test_realized_plus_unrealized_is_value_plus_proceeds_minus_invested(
    raw: list[tuple[str, bool, Decimal, Decimal, Decimal, int, int]],
    method: str,
    marks: list[Decimal],
) -> None:
    trades = build(raw)
    ledger = replay(trades, method)  # type: ignore[arg-type]
    prices = dict(zip(["bitcoin", "ethereum", "solana"], marks, strict=True))
    valued = value(ledger, prices)
    # The test's own sums must not round either (the default context keeps 28 digits).
    with localcontext(EXACT):
        check_identity(trades, ledger, valued)


def check_identity(trades: list[Trade], ledger: Any, valued: Any) -> None:
    assert valued.realized_gain + valued.unrealized_gain == (
        valued.total_value + valued.net_proceeds - valued.total_invested
    )
    assert valued.gain_loss == valued.realized_gain + valued.unrealized_gain
    assert valued.total_invested == sum((t.cost for t in trades if t.side == "buy"), D(0))
    assert valued.net_proceeds == sum((t.proceeds for t in trades if t.side == "sell"), D(0))
    assert sum((ledger.realized[t.id] for t in trades if t.side == "sell"), D(0)) == (
        valued.realized_gain
    )
    for coin, holding in ledger.holdings.items():
        bought = sum((t.quantity for t in trades if t.coin_id == coin and t.side == "buy"), D(0))
        sold = sum((t.quantity for t in trades if t.coin_id == coin and t.side == "sell"), D(0))
        assert holding.quantity == bought - sold  # exact: no drift
        assert holding.cost_basis >= 0
        if not holding.quantity:
            assert holding.cost_basis == 0


@settings(max_examples=200, deadline=None)
@given(amounts, amounts, fees, st.lists(st.tuples(st.integers(1, 9), amounts, fees), max_size=8))
def test_fifo_and_average_agree_on_one_lot(
    quantity: Decimal, price: Decimal, fee: Decimal, sells: list[tuple[int, Decimal, Decimal]]
) -> None:
    trades = [Trade("bitcoin", "buy", quantity, price, fee, T0, 0)]
    held = quantity
    for index, (tenths, sell_price, sell_fee) in enumerate(sells, start=1):
        part = (held * tenths / 10).quantize(D("1E-18"), "ROUND_DOWN")
        if part <= 0:
            break
        held -= part
        trades.append(Trade("bitcoin", "sell", part, sell_price, sell_fee, T0, index))
    assert replay(trades, "fifo").holdings == replay(trades, "average").holdings
    assert replay(trades, "fifo").realized == replay(trades, "average").realized


@settings(max_examples=100, deadline=None)
@given(st.lists(st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2), min_size=1))
def test_sums_of_cents_are_exact(cents: list[Decimal]) -> None:
    trades = [Trade("bitcoin", "buy", c, D(1), c, T0, i) for i, c in enumerate(cents)]
    ledger = replay(trades, "fifo")
    total = sum(cents, D(0))
    assert ledger.holdings["bitcoin"].quantity == total
    assert ledger.invested == 2 * total


@settings(max_examples=200, deadline=None)
@given(steps, st.sampled_from(["fifo", "average"]), st.integers(0, 40))
def test_a_resumed_book_ends_where_a_full_replay_does(
    raw: list[tuple[str, bool, Decimal, Decimal, Decimal, int, int]], method: str, cut: int
) -> None:
    """A write at the end of the history applies one trade to the cached ledger instead of
    replaying them all (`Book.resume`): it must come to exactly the same ledger, lots and
    last trade included, through the cached form too."""
    trades = build(raw)
    cut = min(cut, len(trades))
    whole = replay(trades, method)  # type: ignore[arg-type]
    head = replay(trades[:cut], method)  # type: ignore[arg-type]
    if cut == 0:
        with pytest.raises(ValueError, match="which trade"):
            Book.resume(head)
        return
    cached = orjson.loads(orjson.dumps(service._ledger_json(head, revision=1)))
    assert service._ledger_from_json(cached) == head
    book = Book.resume(service._ledger_from_json(cached))
    for trade in trades[cut:]:
        book.apply(trade)
    resumed = book.ledger()
    assert resumed == whole
    assert resumed.last == trades[-1].order
    assert head == replay(trades[:cut], method)  # type: ignore[arg-type]  # head untouched
