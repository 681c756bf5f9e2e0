"""Refresh tokens: rotation, reuse revoking the family, the browser cookie and its CSRF token."""

from __future__ import annotations

import asyncio

import jwt
from sqlalchemy import select

from cryptodash.users.models import RefreshToken
from cryptodash.users.tokens import fingerprint
from tests.users.accounts import bearer, login, new_account, register
from tests.users.conftest import App


async def refresh(client, token: str):  # type: ignore[no-untyped-def]
    return await client.post("/api/users/refresh", json={"refresh_token": token})


async def test_refresh_rotates(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    first = await refresh(client, me.refresh)
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != me.refresh
    assert pair["access_token"] != me.access
    assert (
        await client.get("/api/users/me", headers=bearer(pair["access_token"]))
    ).status_code == 200
    second = await refresh(client, pair["refresh_token"])
    assert second.status_code == 200
    claims = [
        jwt.decode(t, options={"verify_signature": False})
        for t in (me.refresh, pair["refresh_token"], second.json()["refresh_token"])
    ]
    assert len({c["sid"] for c in claims}) == 1  # one family
    assert len({c["jti"] for c in claims}) == 3


async def test_reusing_a_rotated_token_revokes_the_family(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    stolen = me.refresh
    legit = (await refresh(client, stolen)).json()  # the victim refreshes first
    replay = await refresh(client, stolen)  # the thief replays the old one
    assert replay.status_code == 401
    assert "revoked" in replay.json()["error"]["message"]
    # The whole family is over: the victim's newer refresh token and access token too.
    assert (await refresh(client, legit["refresh_token"])).status_code == 401
    assert (
        await client.get("/api/users/me", headers=bearer(legit["access_token"]))
    ).status_code == 401
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
    # A new login starts a new family.
    assert (await login(client, me.username)).status_code == 200


async def test_refresh_tokens_are_stored_hashed(any_app: App) -> None:
    app, client = any_app
    me = await new_account(client)
    async with app.state.platform.db.session() as session:
        rows = (
            await session.scalars(select(RefreshToken).where(RefreshToken.user_id == me.id))
        ).all()
    assert [row.token_hash for row in rows] == [fingerprint(me.refresh)]
    assert all(me.refresh not in row.token_hash for row in rows)


async def test_concurrent_refreshes_with_one_token_let_one_through(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    responses = await asyncio.gather(*(refresh(client, me.refresh) for _ in range(5)))
    codes = sorted(r.status_code for r in responses)
    # At most one wins; any loser is a reuse, which revokes the family (the winner's included).
    assert codes.count(200) <= 1
    assert codes.count(401) >= 4


async def test_access_token_is_not_a_refresh_token_and_back(app: App) -> None:
    _, client = app
    me = await new_account(client)
    assert (await refresh(client, me.access)).status_code == 401
    assert (await client.get("/api/users/me", headers=bearer(me.refresh))).status_code == 401


async def test_refresh_refuses_garbage(app: App) -> None:
    _, client = app
    for token in ("x", "a.b.c", "' OR 1=1 --"):
        assert (await refresh(client, token)).status_code == 401
    assert (await client.post("/api/users/refresh", json={"refresh_token": ""})).status_code == 422
    assert (await client.post("/api/users/refresh", json={"token": "x"})).status_code == 422
    assert (await client.post("/api/users/refresh")).status_code == 401  # nothing at all


async def test_cookie_refresh_needs_the_csrf_token(any_app: App) -> None:
    _, client = any_app
    user = await register(client)
    logged_in = await login(client, user["username"])
    csrf = logged_in.cookies["csrf_token"]
    assert (
        client.cookies.get("refresh_token", path="/api/users") == logged_in.json()["refresh_token"]
    )

    missing = await client.post("/api/users/refresh")
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    wrong = await client.post("/api/users/refresh", headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403

    ok = await client.post("/api/users/refresh", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    # The cookie rotated with the body's token; the CSRF token belongs to the session.
    assert client.cookies.get("refresh_token", path="/api/users") == ok.json()["refresh_token"]
    assert ok.cookies["csrf_token"] == csrf
    again = await client.post("/api/users/refresh", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200


async def test_csrf_token_of_another_session_does_not_fit(app: App) -> None:
    _, client = app
    attacker = await register(client)
    attacker_csrf = (await login(client, attacker["username"])).cookies["csrf_token"]
    client.cookies.clear()
    victim = await register(client)
    victim_refresh = (await login(client, victim["username"])).json()["refresh_token"]
    client.cookies.clear()
    # The attacker plants their own CSRF cookie and sends the matching header: still refused,
    # because the token must be the one derived from the victim's session.
    response = await client.post(
        "/api/users/refresh",
        headers={
            "Cookie": f"refresh_token={victim_refresh}; csrf_token={attacker_csrf}",
            "X-CSRF-Token": attacker_csrf,
        },
    )
    assert response.status_code == 403


async def test_a_deactivated_users_refresh_is_refused(app: App) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    me = await new_account(client)
    await client.patch(
        f"/api/admin/users/{me.id}", headers=admin.headers, json={"is_active": False}
    )
    assert (await refresh(client, me.refresh)).status_code == 401
