"""Live valuation over HTTP: a FIFO sequence with fees and fractional quantities agrees with an
independent calculation to the last digit, average cost too, prices are live, and the cached
ledger (`portfolio:{user_id}:{portfolio_id}`) is dropped by every write."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as redis

from cryptodash.errors import NotFound
from cryptodash.portfolio import service
from cryptodash.portfolio.accounting import EXACT, ratio
from tests.portfolio.conftest import Env, queries

D = Decimal

SEQUENCE = [
    ("bitcoin", "buy", "0.12345678", "42000.5", "3.25", "2024-01-01T10:00:00Z"),
    ("ethereum", "buy", "1.5", "2250.75", "1.1", "2024-01-02T10:00:00Z"),
    ("bitcoin", "buy", "0.2", "45000", "4.5", "2024-01-03T10:00:00Z"),
    ("bitcoin", "sell", "0.15", "47000.25", "2.75", "2024-01-05T10:00:00Z"),
    ("ethereum", "sell", "0.5", "2400", "0.6", "2024-01-06T10:00:00Z"),
    ("solana", "buy", "10.000000001", "95.123", "0.5", "2024-01-07T10:00:00Z"),
    ("bitcoin", "sell", "0.1", "51000", "3", "2024-01-08T10:00:00Z"),
    ("ethereum", "buy", "0.25", "2600", "0", "2024-01-09T10:00:00Z"),
]
PRICES = {"bitcoin": 61234.56, "ethereum": 3012.34, "solana": 140.05}


def independent_fifo(rows: list[tuple[str, ...]], prices: dict[str, float]) -> dict[str, Any]:
    """The issue's definitions, written out plainly with lists of lots."""
    lots: dict[str, deque[list[Decimal]]] = {}
    realized = invested = proceeds = D(0)
    with localcontext(EXACT):
        for coin, side, qty_s, price_s, fee_s, _ in rows:
            qty, price, fee = D(qty_s), D(price_s), D(fee_s)
            book = lots.setdefault(coin, deque())
            if side == "buy":
                book.append([qty, qty * price + fee])
                invested += qty * price + fee
                continue
            got = qty * price - fee
            proceeds += got
            cost = D(0)
            while qty:
                lot_qty, lot_cost = book[0]
                if lot_qty <= qty:
                    cost += lot_cost
                    qty -= lot_qty
                    book.popleft()
                else:
                    part = ratio(lot_cost * qty, lot_qty)
                    book[0] = [lot_qty - qty, lot_cost - part]
                    cost += part
                    qty = D(0)
            realized += got - cost
        value = sum((sum(q for q, _ in b) * D(str(prices[c])) for c, b in lots.items()), D(0))
        basis = sum((c for b in lots.values() for _, c in b), D(0))
        unrealized = value - basis
        return {
            "total_value": value,
            "cost_basis": basis,
            "realized_gain": realized,
            "unrealized_gain": unrealized,
            "gain_loss": realized + unrealized,
            "roi_percentage": ratio((realized + unrealized) * 100, invested),
            "total_invested": invested,
            "net_proceeds": proceeds,
        }


async def load(env: Env, method: str = "fifo") -> tuple[Any, int]:
    for coin, price in PRICES.items():
        await env.set_price(coin, price, 2.0)
    me = await env.account()
    pid = await env.portfolio(me, cost_basis_method=method)
    for coin, side, qty, price, fee, at in SEQUENCE:
        response = await env.trade(
            me, pid, coin_id=coin, side=side, quantity=qty, price=price, fee=fee, executed_at=at
        )
        assert response.status_code == 201, response.text
    return me, pid


async def test_fifo_with_fees_and_fractions_agrees_with_an_independent_calculation(
    any_env: Env,
) -> None:
    env = any_env
    me, pid = await load(env)
    body = (await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)).json()
    expected = independent_fifo(SEQUENCE, PRICES)
    for field, number in expected.items():
        assert D(body[field]) == number, field
        assert isinstance(body[field], str)
    # The identity, on the wire.
    assert D(body["realized_gain"]) + D(body["unrealized_gain"]) == (
        D(body["total_value"]) + D(body["net_proceeds"]) - D(body["total_invested"])
    )
    assets = {a["coin_id"]: a for a in body["assets"]}
    assert set(assets) == {"bitcoin", "ethereum", "solana"}
    assert assets["bitcoin"]["quantity"] == "0.07345678"
    assert assets["ethereum"]["quantity"] == "1.25"
    assert assets["solana"]["quantity"] == "10.000000001"
    assert assets["solana"]["price"] == "140.05"
    assert D(assets["solana"]["value"]) == D("10.000000001") * D("140.05")
    assert sum(D(a["value"]) for a in assets.values()) == D(body["total_value"])
    assert sum(D(a["allocation_pct"]) for a in assets.values()) == pytest.approx(100, abs=1e-15)
    assert [a["coin_id"] for a in body["assets"]] == sorted(
        assets, key=lambda c: -D(assets[c]["value"])
    )
    assert all(a["stale"] is False for a in assets.values())
    # 24 h: every price rose 2 %, so the holdings were worth value / 1.02 a day ago.
    total = D(body["total_value"])
    assert D(body["change_24h"]) == pytest.approx(total - total / D("1.02"), abs=D("1e-12"))
    # Each sell carries its realized gain; they add up.
    page = await env.client.get(
        f"/api/portfolio/{pid}/transactions", params={"limit": 500}, headers=me.headers
    )
    sells = [t for t in page.json()["items"] if t["side"] == "sell"]
    assert sum(D(t["realized_gain"]) for t in sells) == D(body["realized_gain"])


async def test_average_cost_changes_the_split_not_the_totals(env: Env) -> None:
    me, pid = await load(env)
    url = f"/api/portfolio/{pid}/performance"
    fifo = (await env.client.get(url, headers=me.headers)).json()
    switched = await env.client.patch(
        f"/api/portfolio/{pid}", json={"cost_basis_method": "average"}, headers=me.headers
    )
    assert switched.status_code == 200
    average = (await env.client.get(url, headers=me.headers)).json()
    assert average["cost_basis_method"] == "average"
    for same in ("total_value", "total_invested", "net_proceeds"):
        assert average[same] == fifo[same]
    assert average["realized_gain"] != fifo["realized_gain"]
    assert D(average["gain_loss"]) == D(average["realized_gain"]) + D(average["unrealized_gain"])
    # Bitcoin by hand: 0.32345678 held at (0.12345678 * 42000.5 + 3.25 + 0.2 * 45000 + 4.5).
    with localcontext(EXACT):
        cost = D("0.12345678") * D("42000.5") + D("3.25") + D("0.2") * D("45000") + D("4.5")
        removed = ratio(cost * D("0.15"), D("0.32345678"))
        left = cost - removed
        removed2 = ratio(left * D("0.1"), D("0.17345678"))
    btc = next(a for a in average["assets"] if a["coin_id"] == "bitcoin")
    assert D(btc["cost_basis"]) == left - removed2
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert D(assets[0]["purchase_price"]) == ratio(left - removed2, D("0.07345678"))


async def test_prices_are_live_and_a_coin_without_one_keeps_its_last_trade_price(
    env: Env,
) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    await env.set_price("bitcoin", 100.0)
    await env.trade(me, pid, coin_id="bitcoin", side="buy", quantity="2", price="90",
                    executed_at="2024-01-01T00:00:00Z")  # fmt: skip
    await env.trade(me, pid, coin_id="cardano", side="buy", quantity="1000", price="0.45",
                    executed_at="2024-01-01T00:00:00Z")  # fmt: skip
    url = f"/api/portfolio/{pid}/performance"
    first = (await env.client.get(url, headers=me.headers)).json()
    await env.set_price("bitcoin", 110.0)
    second = (await env.client.get(url, headers=me.headers)).json()
    assert D(first["total_value"]) == 200 + 450
    assert D(second["total_value"]) == 220 + 450
    cardano = next(a for a in second["assets"] if a["coin_id"] == "cardano")
    assert (cardano["price"], cardano["stale"], cardano["change_24h"]) == ("0.45", True, None)


@pytest.mark.integration
async def test_the_ledger_cache_lives_in_redis_and_every_write_replaces_it(
    data_dir: Path, pg_url: str, redis_url: str
) -> None:
    from tests.apps import running
    from tests.portfolio.conftest import settings_for

    settings = settings_for(data_dir, database_url=pg_url, redis_url=redis_url)
    async with running(settings) as (app, client):
        env = Env(app, client)
        me, pid = await load(env)
        key = f"portfolio:{me.id}:{pid}"
        url = f"/api/portfolio/{pid}/performance"
        store = redis.Redis.from_url(redis_url)
        try:
            before = (await client.get(url, headers=me.headers)).json()
            assert await store.exists(key)
            assert 0 < await store.ttl(key) <= 300
            writes = [
                ("POST", f"/api/portfolio/{pid}/transactions",
                 {"coin_id": "bitcoin", "side": "buy", "quantity": "1", "price": "1",
                  "executed_at": "2024-02-01T00:00:00Z"}),
                ("PATCH", f"/api/portfolio/{pid}", {"cost_basis_method": "average"}),
            ]  # fmt: skip
            for method, path, body in writes:
                await client.get(url, headers=me.headers)
                assert await store.exists(key)
                old = orjson.loads(await store.get(key) or b"{}")
                response = await client.request(method, path, json=body, headers=me.headers)
                assert response.status_code in (200, 201), response.text
                # The write's own ledger, stamped with the revision it took (the marker's).
                new = orjson.loads(await store.get(key) or b"{}")
                marker = await store.get(service.revision_key(pid))
                assert new["revision"] == int(marker or 0) == old["revision"] + 1, (method, path)
            after = (await client.get(url, headers=me.headers)).json()
            assert D(after["total_invested"]) == D(before["total_invested"]) + 1
            # A ledger stamped with another revision is never served.
            raw = await store.get(key)
            assert raw is not None
            await store.set(key, raw.replace(b'"revision":', b'"revision":1000'), ex=300)
            assert (await client.get(url, headers=me.headers)).json()["total_value"] == (
                after["total_value"]
            )
            assert b'"revision":1000' not in (await store.get(key) or b"")
        finally:
            await store.aclose()


async def test_the_service_function_for_realtime(env: Env) -> None:
    me, pid = await load(env)
    stranger = await env.account()
    db = env.platform.db
    assert db is not None
    calculations = env.platform.metrics.portfolio_calculations._value.get()
    async with db.read_session() as session:
        read = await service.performance(
            session, env.platform.cache, settings=env.platform.settings,
            user_id=me.id, portfolio_id=pid, metrics=env.platform.metrics,
        )  # fmt: skip
        with pytest.raises(NotFound):
            await service.performance(
                session, env.platform.cache, settings=env.platform.settings,
                user_id=stranger.id, portfolio_id=pid,
            )  # fmt: skip
    over_http = await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)
    body = read.model_dump(mode="json")
    body.pop("as_of")
    http = over_http.json()
    http.pop("as_of")
    assert body == http
    assert env.platform.metrics.portfolio_calculations._value.get() == calculations + 2


async def test_an_empty_portfolio(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    body = (await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)).json()
    assert body["total_value"] == body["gain_loss"] == "0"
    assert body["roi_percentage"] is None
    assert body["assets"] == []


async def test_a_current_cached_ledger_answers_without_the_database(env: Env) -> None:
    me, pid = await load(env)
    url = f"/api/portfolio/{pid}/performance"
    first = (await env.client.get(url, headers=me.headers)).json()  # builds and caches it
    with queries(env) as ran:
        second = (await env.client.get(url, headers=me.headers)).json()
    assert {**second, "as_of": None} == {**first, "as_of": None}
    assert ran == []  # the ledger and the writer's marker agree: no query
    # Someone else asking: their id finds no ledger, the database says it is not theirs.
    stranger = await env.account()
    assert (await env.client.get(url, headers=stranger.headers)).status_code == 404
    # No marker (expired, or a cache that restarted): the portfolio row is read again.
    await env.platform.cache.delete(service.revision_key(pid))
    with queries(env) as ran:
        third = (await env.client.get(url, headers=me.headers)).json()
    assert third["total_value"] == first["total_value"]
    assert ran != []
    # A write moves the marker past the cached ledger's stamp: never served again, even if a
    # reader that raced the write stored it back.
    stale = await env.platform.cache.get(service.cache_key(me.id, pid))
    assert stale is not None
    response = await env.trade(
        me, pid, coin_id="bitcoin", side="buy", quantity="1", price="1",
        executed_at="2024-02-01T00:00:00Z",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    await env.platform.cache.set(service.cache_key(me.id, pid), stale, 300)
    after = (await env.client.get(url, headers=me.headers)).json()
    assert D(after["total_invested"]) == D(first["total_invested"]) + 1
    # A write caches the ledger it computed: the read after it needs no database.
    response = await env.trade(
        me, pid, coin_id="bitcoin", side="sell", quantity="1", price="2",
        executed_at="2024-02-02T00:00:00Z",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    with queries(env) as ran:
        latest = (await env.client.get(url, headers=me.headers)).json()
    assert ran == []
    assert D(latest["net_proceeds"]) == D(after["net_proceeds"]) + 2

    def btc(body: dict[str, Any]) -> Decimal:
        return next(D(a["quantity"]) for a in body["assets"] if a["coin_id"] == "bitcoin")

    assert btc(latest) == btc(after) - 1


async def test_a_new_transaction_reads_the_cache_before_it_takes_the_write_lock(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite a write holds the process's only write lock from its session's start: a
    # cache read under it (a round trip, with Redis) is time every other writer waits.
    me = await env.account()
    pid = await env.portfolio(me)
    await env.set_price("bitcoin", 100.0)
    first = await env.trade(me, pid, coin_id="bitcoin", side="buy", quantity="2", price="90",
                            executed_at="2024-01-01T00:00:00Z")  # fmt: skip
    assert first.status_code == 201, first.text
    await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)
    db, cache = env.platform.db, env.platform.cache
    assert db is not None
    assert db.dialect == "sqlite"
    reads: list[tuple[str, bool]] = []

    def write_locked() -> bool:
        lock = db._write_locks.get(asyncio.get_running_loop())
        return lock is not None and lock.locked()

    real_get, real_get_many = cache.get, cache.get_many

    async def get(key: str) -> bytes | None:
        reads.append((key, write_locked()))
        return await real_get(key)

    async def get_many(keys: Sequence[str]) -> list[bytes | None]:
        reads.extend((key, write_locked()) for key in keys)
        return await real_get_many(keys)

    monkeypatch.setattr(cache, "get", get)
    monkeypatch.setattr(cache, "get_many", get_many)
    await env.set_price("bitcoin", 120.0)
    second = await env.trade(me, pid, coin_id="bitcoin", side="sell", quantity="0.5",
                             price="110", executed_at="2024-01-02T00:00:00Z")  # fmt: skip
    assert second.status_code == 201, second.text
    assert (f"portfolio:{me.id}:{pid}", False) in reads  # the ledger, read before the lock
    assert [key for key, locked in reads if locked] == []
    monkeypatch.undo()
    # What it wrote is what a replay of the stored transactions gives, at the price it read.
    perf = (await env.client.get(f"/api/portfolio/{pid}/performance", headers=me.headers)).json()
    assert D(perf["total_value"]) == D("1.5") * 120
    assets = (await env.client.get(f"/api/portfolio/{pid}/assets", headers=me.headers)).json()
    assert D(assets[0]["quantity"]) == D("1.5")
    history = (await env.client.get(f"/api/portfolio/{pid}/history", headers=me.headers)).json()
    assert D(history["points"][-1]["total_value"]) == D("1.5") * 120
