"""Transactions over HTTP: what is refused with 422 (and that a refusal changes nothing),
edits and deletes checked against every moment of the history, paging, exact decimals, the
holdings in `portfolio_assets`, and concurrent sells that cannot overdraw."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cryptodash.portfolio import service
from tests.portfolio.conftest import Env, queries
from tests.users.accounts import Account


def buy(day: int, quantity: str = "1", price: str = "100", fee: str = "0", **extra: Any) -> Any:
    return {
        "coin_id": "bitcoin",
        "side": "buy",
        "quantity": quantity,
        "price": price,
        "fee": fee,
        "executed_at": f"2024-01-{day:02d}T00:00:00Z",
        **extra,
    }


def sell(day: int, quantity: str = "1", price: str = "100", fee: str = "0", **extra: Any) -> Any:
    return {**buy(day, quantity, price, fee), "side": "sell", **extra}


async def state(env: Env, owner: Account, pid: int) -> list[Any]:
    """Everything a write could change, as the API shows it."""
    base = f"/api/portfolio/{pid}"
    h = owner.headers
    portfolio = (await env.client.get(base, headers=h)).json()
    performance = (await env.client.get(f"{base}/performance", headers=h)).json()
    performance.pop("as_of")
    return [
        portfolio,
        (await env.client.get(f"{base}/transactions", headers=h)).json(),
        (await env.client.get(f"{base}/assets", headers=h)).json(),
        performance,
    ]


FUTURE = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0.0"}, "quantity"),
        ({"price": "0"}, "price"),
        ({"price": "-5"}, "price"),
        ({"fee": "-0.01"}, "fee"),
        ({"coin_id": "dogecoin"}, "coin_id"),  # a real coin, but not tracked here
        ({"coin_id": "not-a-coin"}, "coin_id"),
        ({"coin_id": "Bitcoin"}, "coin_id"),
        ({"executed_at": FUTURE}, "executed_at"),
        ({"executed_at": "2999-01-01T00:00:00Z"}, "executed_at"),
        ({"executed_at": "2024-01-01T00:00:00"}, "executed_at"),  # no timezone
        ({"executed_at": "2008-12-31T00:00:00Z"}, "executed_at"),
        ({"executed_at": "yesterday"}, "executed_at"),
        ({"quantity": 0.5}, "quantity"),  # a JSON number: may already be rounded
        ({"price": 100}, "price"),
        ({"quantity": "1e5"}, "quantity"),
        ({"quantity": " 1"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "Infinity"}, "quantity"),
        ({"quantity": "0.1234567890123456789"}, "quantity"),  # 19 places
        ({"price": "123456789012345678901"}, "price"),  # 21 digits
        ({"side": "hold"}, "side"),
        ({"quantity": None}, "quantity"),
        ({"unexpected": "1"}, "unexpected"),
    ],
)
async def test_bad_transactions_are_422_and_change_nothing(
    env: Env, change: dict[str, Any], field: str
) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    assert (await env.trade(me, pid, **buy(1))).status_code == 201
    before = await state(env, me, pid)
    response = await env.trade(me, pid, **{**buy(2), **change})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(d["loc"][-1] == field for d in details), details
    assert await state(env, me, pid) == before


async def test_a_sell_is_checked_at_its_own_moment_not_at_the_end(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    assert (await env.trade(me, pid, **buy(5, "2"))).status_code == 201
    before = await state(env, me, pid)
    # 2 are held at the end, but none on the 3rd.
    response = await env.trade(me, pid, **sell(3, "1"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["type"] == "negative_holding"
    assert "only 0 is held" in error["message"]
    assert await state(env, me, pid) == before
    # More than held on the 6th.
    assert (await env.trade(me, pid, **sell(6, "2.000000000000000001"))).status_code == 422
    assert (await env.trade(me, pid, **sell(6, "2"))).status_code == 201


async def test_same_instant_trades_apply_in_the_order_recorded(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    assert (await env.trade(me, pid, **sell(1))).status_code == 422
    assert (await env.trade(me, pid, **buy(1))).status_code == 201
    assert (await env.trade(me, pid, **sell(1))).status_code == 201


async def test_edits_and_deletes_may_not_uncover_a_sell_at_any_time(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    first = (await env.trade(me, pid, **buy(1, "1", "100"))).json()["id"]
    second = (await env.trade(me, pid, **buy(2, "1", "200"))).json()["id"]
    sold = (await env.trade(me, pid, **sell(3, "1.5", "300"))).json()["id"]
    later = (await env.trade(me, pid, **buy(10, "5", "10"))).json()["id"]
    before = await state(env, me, pid)
    url = f"/api/portfolio/{pid}/transactions"
    refused = [
        ("PATCH", first, {"executed_at": "2024-01-04T00:00:00Z"}),  # the sell loses cover
        ("PATCH", first, {"quantity": "0.4"}),
        ("PATCH", first, {"side": "sell"}),
        ("PATCH", first, {"coin_id": "ethereum"}),
        ("PATCH", sold, {"quantity": "2.5"}),
        ("PATCH", sold, {"executed_at": "2024-01-01T12:00:00Z"}),
        ("PATCH", later, {"side": "sell"}),  # sells 5 when 0.5 is held
        ("DELETE", first, None),
        ("DELETE", second, None),
    ]
    for method, tx, body in refused:
        response = await env.client.request(method, f"{url}/{tx}", json=body, headers=me.headers)
        assert response.status_code == 422, (method, body, response.text)
        assert response.json()["error"]["details"][0]["type"] == "negative_holding"
    assert await state(env, me, pid) == before
    # Covered all the way: accepted, and everything follows.
    moved = await env.client.patch(
        f"{url}/{sold}", json={"executed_at": "2024-01-11T00:00:00Z", "quantity": "6"},
        headers=me.headers,
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert moved.json()["quantity"] == "6"
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert [(a["coin_id"], a["quantity"]) for a in assets] == [("bitcoin", "1")]
    assert (await env.client.delete(f"{url}/{sold}", headers=me.headers)).status_code == 204
    assert (await env.client.delete(f"{url}/{first}", headers=me.headers)).status_code == 204
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert assets == [
        {
            "coin_id": "bitcoin",
            "quantity": "6",
            "purchase_price": "41.666666666666666667",  # (200 + 50) / 6
            "purchase_date": "2024-01-02T00:00:00Z",
        }
    ]


async def test_holdings_follow_the_transactions(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    url = f"/api/portfolio/{pid}/assets"
    await env.trade(me, pid, **buy(1, "0.5", "20000", "10"))
    await env.trade(me, pid, **buy(2, "2", "1000", "1", coin_id="ethereum"))
    await env.trade(me, pid, **buy(3, "0.25", "40000", "5"))
    assert (await env.client.get(url, headers=me.headers)).json() == [
        {
            "coin_id": "bitcoin",
            "quantity": "0.75",
            "purchase_price": "26686.666666666666666667",  # 20015 / 0.75
            "purchase_date": "2024-01-01T00:00:00Z",
        },
        {
            "coin_id": "ethereum",
            "quantity": "2",
            "purchase_price": "1000.5",
            "purchase_date": "2024-01-02T00:00:00Z",
        },
    ]
    # Sold out, then bought again: a new holding period starts.
    await env.trade(me, pid, **sell(4, "2", "1100", coin_id="ethereum"))
    await env.trade(me, pid, **buy(6, "1", "900", coin_id="ethereum"))
    eth = (await env.client.get(url, headers=me.headers)).json()[1]
    assert eth == {
        "coin_id": "ethereum",
        "quantity": "1",
        "purchase_price": "900",
        "purchase_date": "2024-01-06T00:00:00Z",
    }


async def test_paging_newest_first_and_the_coin_filter(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    for day in range(1, 8):
        coin = "ethereum" if day % 3 == 0 else "bitcoin"
        assert (await env.trade(me, pid, **buy(day, coin_id=coin))).status_code == 201
    url = f"/api/portfolio/{pid}/transactions"
    pages = []
    for offset in (0, 3, 6):
        page = await env.client.get(url, params={"limit": 3, "offset": offset}, headers=me.headers)
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (7, 3, offset)
        pages.extend(body["items"])
    assert [t["executed_at"][8:10] for t in pages] == ["07", "06", "05", "04", "03", "02", "01"]
    eth = await env.client.get(url, params={"coin_id": "ethereum"}, headers=me.headers)
    assert [t["executed_at"][8:10] for t in eth.json()["items"]] == ["06", "03"]
    assert eth.json()["total"] == 2
    one = await env.client.get(f"{url}/{pages[0]['id']}", headers=me.headers)
    assert one.json() == pages[0]


async def test_decimals_are_exact_strings_both_ways(any_env: Env) -> None:
    env = any_env
    me = await env.account()
    pid = await env.portfolio(me)
    response = await env.trade(
        me, pid, **buy(1, "0.000000000000000001", "12345678901234567890.123456789012345678", "0.10")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["quantity"], body["price"], body["fee"]) == (
        "0.000000000000000001",
        "12345678901234567890.123456789012345678",
        "0.1",
    )
    # Holding 1e-18 at that price plus the fee costs 1.2445...e19 per coin: still storable.
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert assets[0]["purchase_price"] == "12445678901234567890.123456789012345678"
    before = await state(env, me, pid)
    # A fee that takes the cost per coin past 10^20 cannot be stored: refused, not a 500.
    huge = await env.trade(me, pid, **buy(1, "0.000000000000000001", "1", "1000"))
    assert huge.status_code == 422, huge.text
    assert huge.json()["error"]["details"][0]["type"] == "too_large"
    assert await state(env, me, pid) == before
    sold = await env.trade(me, pid, **sell(2, "0.000000000000000001", "1"))
    assert sold.status_code == 201
    stored = (await env.client.get(f"/api/portfolio/{pid}/transactions", headers=me.headers)).json()
    assert body in stored["items"]
    await env.trade(me, pid, **buy(2, "0.1", "1"))
    await env.trade(me, pid, **buy(3, "0.2", "1"))
    assert (await env.trade(me, pid, **sell(4, "0.300000000000000001", "1"))).status_code == 422
    assert (await env.trade(me, pid, **sell(4, "0.3", "1"))).status_code == 201
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert assets == []  # 0.1 + 0.2 - 0.3 is exactly 0


async def test_concurrent_sells_cannot_overdraw(any_env: Env) -> None:
    env = any_env
    me = await env.account()
    pid = await env.portfolio(me)
    assert (await env.trade(me, pid, **buy(1, "1"))).status_code == 201
    results = await asyncio.gather(*(env.trade(me, pid, **sell(2 + i, "0.4")) for i in range(5)))
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 422, 422, 422], [r.text for r in results]
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert assets[0]["quantity"] == "0.2"


async def test_portfolios_crud(env: Env) -> None:
    me = await env.account()
    created = await env.client.post(
        "/api/portfolio", json={"name": "  Long term  ", "cost_basis_method": "average"},
        headers=me.headers,
    )  # fmt: skip
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["base_currency"], body["cost_basis_method"]) == (
        "Long term",
        "USD",
        "average",
    )
    pid = body["id"]
    other = await env.portfolio(me, name="Trading")
    listed = (await env.client.get("/api/portfolio", headers=me.headers)).json()
    assert [p["id"] for p in listed] == [pid, other]
    renamed = await env.client.patch(
        f"/api/portfolio/{pid}", json={"name": "Hodl"}, headers=me.headers
    )
    assert renamed.json()["name"] == "Hodl"
    assert renamed.json()["cost_basis_method"] == "average"
    assert (await env.trade(me, pid, **buy(1))).status_code == 201
    assert (await env.client.delete(f"/api/portfolio/{pid}", headers=me.headers)).status_code == 204
    assert (await env.client.get(f"/api/portfolio/{pid}", headers=me.headers)).status_code == 404
    gone = await env.client.get(f"/api/portfolio/{pid}/transactions", headers=me.headers)
    assert gone.status_code == 404
    listed = (await env.client.get("/api/portfolio", headers=me.headers)).json()
    assert [p["id"] for p in listed] == [other]


async def test_a_trade_at_the_end_goes_on_from_the_cached_ledger(any_env: Env) -> None:
    """A trade after the last one is applied to the cached ledger of the revision before the
    write (no transaction read); a backdated one replays them all. Both come to what a replay
    from scratch says: realized gains of FIFO sells across lots, holdings, performance."""
    env = any_env
    me = await env.account()
    pid = await env.portfolio(me)
    await env.set_price("bitcoin", 150)
    for trade in (buy(1, "2", "100", "1"), buy(2, "1", "130"), sell(3, "0.5", "140", "0.5")):
        assert (await env.trade(me, pid, **trade)).status_code == 201

    def reads_transactions(statements: list[str]) -> bool:
        return any("FROM portfolio_transactions" in s for s in statements)

    with queries(env) as ran:  # across the first lot into the second: FIFO lots carried over
        assert (await env.trade(me, pid, **sell(4, "2", "160", "0.25"))).status_code == 201
    assert not reads_transactions(ran)
    with queries(env) as ran:  # more than is held: refused on the same road
        refused = await env.trade(me, pid, **sell(5, "1"))
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["type"] == "negative_holding"
    assert not reads_transactions(ran)
    with queries(env) as ran:  # before the last trade: every trade is read and replayed
        assert (await env.trade(me, pid, **buy(2, "1", "120"))).status_code == 201
    assert reads_transactions(ran)
    with queries(env) as ran:  # and the ledger that replay cached is the next one's start
        assert (await env.trade(me, pid, **sell(6, "1.5", "170"))).status_code == 201
    assert not reads_transactions(ran)
    gone_on = await state(env, me, pid)
    await env.platform.cache.delete(service.cache_key(me.id, pid))
    assert await state(env, me, pid) == gone_on  # the same as replaying from scratch
    # Newest first. Day 3: 69.5 - 201 * 0.5/2; day 4: 319.75 - (150.75 + 130 * 0.5/1); day 6:
    # 255 - (65 + 120), the backdated day-2 buy's lot coming after the first day-2 lot.
    realized = [Decimal(t["realized_gain"]) for t in gone_on[1]["items"] if t["side"] == "sell"]
    assert realized == [Decimal("70"), Decimal("104"), Decimal("19.25")]
