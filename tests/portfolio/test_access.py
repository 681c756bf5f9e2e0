"""Every portfolio and watchlist route: anonymous callers get 401, another user's portfolio
answers exactly like a missing one (404, nothing changed), unknown ids are 404 and bad input
is 422 — on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.apps import make_settings
from tests.portfolio.conftest import Env
from tests.users.accounts import Account, bearer

BUY = {
    "coin_id": "bitcoin",
    "side": "buy",
    "quantity": "1",
    "price": "100",
    "fee": "0",
    "executed_at": "2024-01-01T00:00:00Z",
}
CSV = "executed_at,coin_id,side,quantity,price,fee\n2024-01-02T00:00:00Z,bitcoin,buy,1,100,0\n"

# (method, path, JSON body or CSV text)
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/portfolio", None),
    ("POST", "/api/portfolio", {"name": "x"}),
    ("GET", "/api/portfolio/{pid}", None),
    ("PATCH", "/api/portfolio/{pid}", {"name": "renamed"}),
    ("DELETE", "/api/portfolio/{pid}", None),
    ("GET", "/api/portfolio/{pid}/transactions", None),
    ("POST", "/api/portfolio/{pid}/transactions", BUY),
    ("POST", "/api/portfolio/{pid}/transactions/import", CSV),
    ("GET", "/api/portfolio/{pid}/transactions/export", None),
    ("GET", "/api/portfolio/{pid}/transactions/{tx}", None),
    ("PATCH", "/api/portfolio/{pid}/transactions/{tx}", {"fee": "1"}),
    ("DELETE", "/api/portfolio/{pid}/transactions/{tx}", None),
    ("GET", "/api/portfolio/{pid}/assets", None),
    ("GET", "/api/portfolio/{pid}/performance", None),
    ("GET", "/api/portfolio/{pid}/history", None),
    ("GET", "/api/portfolio/{pid}/risk", None),
    ("GET", "/api/watchlist", None),
    ("POST", "/api/watchlist", {"coin_id": "bitcoin"}),
    ("DELETE", "/api/watchlist/{coin}", None),
]
PORTFOLIO_ROUTES = [r for r in ROUTES if "{pid}" in r[1]]
TX_ROUTES = [r for r in ROUTES if "{tx}" in r[1]]


async def call(
    env: Env, method: str, path: str, body: Any, headers: dict[str, str], **ids: Any
) -> Any:
    url = path.format(pid=ids.get("pid", 1), tx=ids.get("tx", 1), coin=ids.get("coin", "bitcoin"))
    if isinstance(body, str):
        return await env.client.request(
            method, url, content=body, headers={**headers, "content-type": "text/csv"}
        )
    return await env.client.request(method, url, json=body, headers=headers)


def test_every_route_is_covered(data_dir: Path) -> None:
    from cryptodash.app import create_app

    app = create_app(make_settings(data_dir))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(("/api/portfolio", "/api/watchlist"))
        for method in operations
    }
    named = {
        (
            m,
            p.replace("{pid}", "{portfolio_id}")
            .replace("{tx}", "{tx_id}")
            .replace("{coin}", "{coin_id}"),
        )
        for m, p, _ in ROUTES
    }
    assert routes == named


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_anonymous_and_forged_calls_are_401(
    env: Env, method: str, path: str, body: Any
) -> None:
    for headers in ({}, bearer("not.a.token"), {"Authorization": "Basic eDp5"}):
        response = await call(env, method, path, body, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


async def _owner_with_data(env: Env) -> tuple[Account, int, int]:
    owner = await env.account()
    pid = await env.portfolio(owner)
    response = await env.trade(owner, pid, **BUY)
    assert response.status_code == 201, response.text
    added = await env.client.post(
        "/api/watchlist", json={"coin_id": "ethereum"}, headers=owner.headers
    )
    assert added.status_code == 201
    return owner, pid, int(response.json()["id"])


async def _snapshot(env: Env, owner: Account, pid: int) -> list[Any]:
    h = owner.headers
    paths = ["", "/transactions", "/assets", "/transactions/export"]
    seen = [(await env.client.get(f"/api/portfolio/{pid}{p}", headers=h)).text for p in paths]
    performance = (await env.client.get(f"/api/portfolio/{pid}/performance", headers=h)).json()
    performance.pop("as_of")
    watch = (await env.client.get("/api/watchlist", headers=h)).json()
    return [*seen, performance, [w["coin_id"] for w in watch]]


async def test_another_users_portfolio_is_404_on_every_route_and_stays_unchanged(
    any_env: Env,
) -> None:
    env = any_env
    await env.set_price("bitcoin", 150.0, 1.0)
    owner, pid, tx = await _owner_with_data(env)
    before = await _snapshot(env, owner, pid)
    intruder = await env.account()
    own_pid = await env.portfolio(intruder, name="mine")
    missing_pid = pid + 10_000
    for method, path, body in PORTFOLIO_ROUTES:
        theirs = await call(env, method, path, body, intruder.headers, pid=pid, tx=tx)
        missing = await call(env, method, path, body, intruder.headers, pid=missing_pid, tx=tx)
        assert theirs.status_code == 404, (method, path, theirs.text)
        # Indistinguishable from a portfolio that does not exist: no existence leak.
        assert theirs.json()["error"]["message"] == missing.json()["error"]["message"]
        assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    for method, path, body in TX_ROUTES:
        # The owner's transaction id under the intruder's own portfolio.
        response = await call(env, method, path, body, intruder.headers, pid=own_pid, tx=tx)
        assert response.status_code == 404, (method, path, response.text)
    listed = await env.client.get("/api/portfolio", headers=intruder.headers)
    assert [p["id"] for p in listed.json()] == [own_pid]
    assert (await env.client.get("/api/watchlist", headers=intruder.headers)).json() == []
    gone = await env.client.delete("/api/watchlist/ethereum", headers=intruder.headers)
    assert gone.status_code == 404
    assert await _snapshot(env, owner, pid) == before


async def test_unknown_ids_are_404(env: Env) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    for method, path, body in PORTFOLIO_ROUTES:
        response = await call(env, method, path, body, me.headers, pid=2**62, tx=1)
        assert response.status_code == 404, (method, path, response.text)
    for method, path, body in TX_ROUTES:
        response = await call(env, method, path, body, me.headers, pid=pid, tx=2**62)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["message"] == "Transaction not found"
    response = await env.client.delete("/api/watchlist/bitcoin", headers=me.headers)
    assert response.status_code == 404


BAD_INPUT: list[tuple[str, str, Any]] = [
    ("POST", "/api/portfolio", {"name": ""}),
    ("POST", "/api/portfolio", {"name": "   "}),
    ("POST", "/api/portfolio", {"name": "x" * 101}),
    ("POST", "/api/portfolio", {"name": "a\x00b"}),
    ("POST", "/api/portfolio", {"name": "x", "cost_basis_method": "lifo"}),
    ("POST", "/api/portfolio", {"name": "x", "base_currency": "EUR"}),
    ("POST", "/api/portfolio", {"name": "x", "owner": 1}),
    ("POST", "/api/portfolio", None),
    ("GET", "/api/portfolio/abc", None),
    ("GET", "/api/portfolio/0", None),
    ("GET", f"/api/portfolio/{2**63}", None),
    ("PATCH", "/api/portfolio/{pid}", {"name": None}),
    ("PATCH", "/api/portfolio/{pid}", {"cost_basis_method": "x"}),
    ("PATCH", "/api/portfolio/{pid}", {"user_id": 2}),
    ("DELETE", "/api/portfolio/-1", None),
    ("GET", "/api/portfolio/{pid}/transactions?limit=0", None),
    ("GET", "/api/portfolio/{pid}/transactions?limit=501", None),
    ("GET", "/api/portfolio/{pid}/transactions?offset=-1", None),
    ("GET", "/api/portfolio/{pid}/transactions?coin_id=BTC!", None),
    ("POST", "/api/portfolio/{pid}/transactions", {**BUY, "quantity": "0"}),
    ("POST", "/api/portfolio/{pid}/transactions/import", "nonsense,header\n1,2\n"),
    ("GET", "/api/portfolio/0/transactions/export", None),
    ("GET", "/api/portfolio/{pid}/transactions/0", None),
    ("PATCH", "/api/portfolio/{pid}/transactions/{tx}", {"quantity": "-1"}),
    ("PATCH", "/api/portfolio/{pid}/transactions/{tx}", {"fee": None}),
    ("DELETE", "/api/portfolio/{pid}/transactions/x", None),
    ("GET", "/api/portfolio/x/assets", None),
    ("GET", "/api/portfolio/0/performance", None),
    ("GET", "/api/portfolio/{pid}/history?interval=5m", None),
    ("GET", "/api/portfolio/{pid}/history?range=2d", None),
    ("GET", "/api/portfolio/{pid}/risk?window=1", None),
    ("GET", "/api/portfolio/{pid}/risk?window=1000", None),
    ("GET", "/api/portfolio/{pid}/risk?interval=4h", None),
    ("POST", "/api/watchlist", {"coin_id": "not-a-coin"}),
    ("POST", "/api/watchlist", {"coin_id": "BTC!"}),
    ("POST", "/api/watchlist", {}),
    ("DELETE", "/api/watchlist/BTC!", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_INPUT)
async def test_bad_input_is_422_in_our_error_shape(
    env: Env, method: str, path: str, body: Any
) -> None:
    me = await env.account()
    pid = await env.portfolio(me)
    tx = (await env.trade(me, pid, **BUY)).json()["id"]
    response = await call(env, method, path, body, me.headers, pid=pid, tx=tx)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]
    assert all({"loc", "msg", "type"} <= set(d) for d in error["details"])
