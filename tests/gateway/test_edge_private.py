"""Per-user answers at the edge (`fresh_for(..., per_user=True)`): a portfolio's performance is
served again only to the same user presenting the same token, after the gateway has
authenticated the request as the app would, and only while the portfolio's revision is the
one the answer shows — so a write shows on the very next read, a logout or a deactivation is
refused at once, and nobody else ever gets it. On SQLite with the in-process cache, and on
PostgreSQL with Redis (the versions live where every process sees them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cryptodash.auth import CurrentUser, private_answer_check
from cryptodash.edge import EdgeCache, fresh_for
from cryptodash.gateway.middleware import Gateway
from cryptodash.portfolio import service
from tests.apps import running
from tests.gateway.test_edge import Clock, counter
from tests.portfolio.conftest import Env, settings_for
from tests.users.accounts import Account, bearer, login, new_account

D = Decimal


@dataclass
class Edge:
    env: Env
    clock: Clock
    owner: Account
    pid: int

    def hits(self) -> float:
        return counter(self.env.platform, self.env.platform.metrics.edge_cache, "hit")

    async def performance(self, headers: dict[str, str] | None = None) -> Any:
        return await self.env.client.get(
            f"/api/portfolio/{self.pid}/performance",
            headers=self.owner.headers if headers is None else headers,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def edge(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[Edge]:
    overrides: dict[str, Any] = {"edge_cache": True}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("pg_url")
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    async with running(settings_for(data_dir, **overrides)) as (app, client):
        env = Env(app, client)
        gateway = app.gateway
        assert isinstance(gateway, Gateway)
        clock = Clock()
        gateway.edge = EdgeCache(clock=clock, check_private=private_answer_check(env.platform))
        owner = await env.account()
        pid = await env.portfolio(owner)
        await env.set_price("bitcoin", 100)
        buy = await env.trade(owner, pid, coin_id="bitcoin", side="buy", quantity="1", price="50")
        assert buy.status_code == 201, buy.text
        yield Edge(env, clock, owner, pid)


async def test_the_same_user_is_served_again_until_the_ttl(edge: Edge) -> None:
    first = await edge.performance()
    assert first.status_code == 200
    assert D(first.json()["total_value"]) == 100
    hits = edge.hits()
    await edge.env.set_price("bitcoin", 120)
    edge.clock.now += 0.4  # within the route's 0.5 s: the same bytes, from the edge
    second = await edge.performance()
    assert second.status_code == 200
    assert second.content == first.content
    assert edge.hits() == hits + 1
    edge.clock.now += 0.2  # expired: valued again, at the new price
    third = await edge.performance()
    assert D(third.json()["total_value"]) == 120
    assert edge.hits() == hits + 1


async def test_a_hit_is_one_cache_lookup(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    """The auth state and the versions are read together: one round trip to Redis a hit."""
    await edge.performance()
    cache = edge.env.platform.cache
    lookups: list[list[str]] = []
    get_many, get = cache.get_many, cache.get

    async def counted_many(keys: list[str]) -> list[bytes | None]:
        lookups.append(list(keys))
        return await get_many(keys)

    async def counted(key: str) -> bytes | None:
        lookups.append([key])
        return await get(key)

    monkeypatch.setattr(cache, "get_many", counted_many)
    monkeypatch.setattr(cache, "get", counted)
    hits = edge.hits()
    served = await edge.performance()
    assert served.status_code == 200
    assert edge.hits() == hits + 1
    assert len(lookups) == 1
    assert service.revision_key(edge.pid) in lookups[0]


async def test_a_write_shows_on_the_next_read(edge: Edge) -> None:
    await edge.performance()
    await edge.performance()
    hits = edge.hits()
    assert hits >= 1
    sell = await edge.env.trade(
        edge.owner, edge.pid, coin_id="bitcoin", side="sell", quantity="0.25", price="100"
    )
    assert sell.status_code == 201, sell.text
    after = await edge.performance()  # the clock has not moved: only the revision did
    assert after.status_code == 200
    assert D(after.json()["assets"][0]["quantity"]) == D("0.75")
    assert edge.hits() == hits
    again = await edge.performance()  # and the new answer is kept in its turn
    assert again.content == after.content
    assert edge.hits() == hits + 1


async def test_a_changed_or_vanished_version_is_a_miss(edge: Edge) -> None:
    await edge.performance()
    hits = edge.hits()
    await edge.env.platform.cache.delete(service.revision_key(edge.pid))
    assert (await edge.performance()).status_code == 200
    assert edge.hits() == hits


async def test_nobody_else_gets_a_kept_answer(edge: Edge) -> None:
    kept = await edge.performance()
    assert kept.status_code == 200
    hits = edge.hits()
    stranger = await new_account(edge.env.client)
    refused = await edge.performance(stranger.headers)
    assert refused.status_code == 404
    assert (await edge.performance({})).status_code == 401
    assert (await edge.performance(bearer("not-a-token"))).status_code == 401
    mangled = edge.owner.headers["Authorization"][:-2] + "xx"
    assert (await edge.performance({"Authorization": mangled})).status_code == 401
    assert edge.hits() == hits
    # The owner's other session: its own token, its own entry (the app answers it first).
    other = await login(edge.env.client, edge.owner.username)
    edge.env.client.cookies.clear()
    second_session = await edge.performance(bearer(other.json()["access_token"]))
    assert second_session.status_code == 200
    assert edge.hits() == hits


async def test_a_logout_is_refused_at_once(edge: Edge) -> None:
    await edge.performance()
    await edge.performance()
    out = await edge.env.client.post("/api/users/logout", headers=edge.owner.headers)
    assert out.status_code == 204, out.text
    edge.env.client.cookies.clear()
    hits = edge.hits()
    refused = await edge.performance()
    assert refused.status_code == 401
    assert edge.hits() == hits


async def test_a_deactivated_account_is_refused_at_once(edge: Edge) -> None:
    admin = await new_account(edge.env.client, edge.env.app, admin=True)
    await edge.performance()
    await edge.performance()
    off = await edge.env.client.patch(
        f"/api/admin/users/{edge.owner.id}", headers=admin.headers, json={"is_active": False}
    )
    assert off.status_code == 200, off.text
    hits = edge.hits()
    refused = await edge.performance()
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "account_disabled"
    assert edge.hits() == hits


async def test_an_authenticated_route_marked_for_everyone_is_not_kept_for_everyone(
    edge: Edge,
) -> None:
    """A guard against a mistake: `fresh_for` without `per_user` on a route that takes the
    caller. The app authenticated the request, so its answer is not kept for all."""

    @fresh_for(1)
    async def mine(user: CurrentUser) -> dict[str, int]:
        return {"user": user.id}

    edge.env.app.router.add_api_route("/api/test-edge/mine", mine, methods=["GET"])
    stranger = await new_account(edge.env.client)
    for account in (edge.owner, stranger, edge.owner):
        response = await edge.env.client.get("/api/test-edge/mine", headers=account.headers)
        assert response.json() == {"user": account.id}
    assert (await edge.env.client.get("/api/test-edge/mine")).status_code == 401


# --------------------------------------------------------------------------- the store


async def test_the_store_keeps_per_user_answers_only_checked_and_versioned() -> None:
    verdicts: list[bool] = []

    async def check(authorization: bytes, answer: Any) -> bool:
        return verdicts.pop(0)

    def keep(store: EdgeCache, **private: Any) -> bool:
        return store.put(
            "/p", b"", status=200, headers=[], body=b"{}", route="/p", ttl=1, **private
        )

    unchecked = EdgeCache(clock=Clock())
    whose = {"authorization": b"Bearer t", "user": 7, "versions": (("k", b"1"),)}
    assert not keep(unchecked, **whose)  # nobody to check it before serving it
    store = EdgeCache(clock=Clock(), check_private=check)
    assert not keep(store, **{**whose, "user": None})
    assert not keep(store, **{**whose, "versions": ()})
    assert keep(store, **whose)
    assert store.get("/p", b"") is None  # not a public answer
    assert await store.get_private("/p", b"", b"Bearer other") is None
    verdicts.append(True)
    answer = await store.get_private("/p", b"", b"Bearer t")
    assert answer is not None
    assert answer.user == 7
    verdicts.append(False)  # refused once: dropped
    assert await store.get_private("/p", b"", b"Bearer t") is None
    assert len(store) == 0
