"""Registration, login, profile, password and preferences over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cryptodash.users import service
from cryptodash.users.models import User
from cryptodash.users.passwords import rounds_of
from tests.apps import make_settings, running
from tests.users.accounts import PASSWORD, bearer, login, new_account, register
from tests.users.conftest import App


async def test_register_returns_the_user_without_secrets(app: App) -> None:
    _, client = app
    response = await client.post(
        "/api/users/register",
        json={"username": "Alice_1", "email": "Alice@Example.com", "password": PASSWORD},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "email", "role", "is_active", "created_at"}
    assert body["username"] == "Alice_1"
    assert body["email"] == "alice@example.com"
    assert body["role"] == "user"
    assert "hash" not in response.text
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("alice", "other@example.com"),
        ("ALICE", "other@example.com"),
        ("someone", "alice@example.com"),
        ("someone", "ALICE@example.COM"),
    ],
)
async def test_duplicate_username_or_email_is_409(any_app: App, username: str, email: str) -> None:
    _, client = any_app
    first = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    assert (await client.post("/api/users/register", json=first)).status_code == 201
    again = {"username": username, "email": email, "password": PASSWORD}
    response = await client.post("/api/users/register", json=again)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


async def test_concurrent_registrations_of_one_name_make_one_account(any_app: App) -> None:
    _, client = any_app
    bodies = [
        {"username": name, "email": f"{i}@example.com", "password": PASSWORD}
        for i, name in enumerate(["bob", "Bob", "BOB", "bob", "boB"])
    ]
    responses = await asyncio.gather(
        *(client.post("/api/users/register", json=body) for body in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "email": "a@example.com", "password": PASSWORD},
        {"username": "a" * 51, "email": "a@example.com", "password": PASSWORD},
        {"username": "bad name", "email": "a@example.com", "password": PASSWORD},
        {"username": "bad.name", "email": "a@example.com", "password": PASSWORD},
        {"username": "émile", "email": "a@example.com", "password": PASSWORD},
        {"username": "okname", "email": "not-an-email", "password": PASSWORD},
        {"username": "okname", "email": "a@example.com", "password": "short"},
        {"username": "okname", "email": "a@example.com", "password": "é" * 40},  # 80 bytes
        {"username": "okname", "email": "a@example.com", "password": "tab\there-pass"},
        {"username": "okname", "email": "a@example.com"},
        {"username": "okname", "email": "a@example.com", "password": PASSWORD, "role": "admin"},
        {"username": "okname", "email": "a@example.com", "password": 1234567890123},
        {"username": ["x"], "email": "a@example.com", "password": PASSWORD},
    ],
)
async def test_register_refuses_bad_input(app: App, body: dict[str, object]) -> None:
    _, client = app
    response = await client.post("/api/users/register", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]


async def test_login_by_username_or_email(any_app: App) -> None:
    _, client = any_app
    user = await register(client, username="carol")
    for name in ("carol", "CAROL", "carol@example.com", "Carol@Example.com"):
        response = await login(client, name)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 3600
    assert user["username"] == "carol"


async def test_login_sets_the_refresh_cookie_httponly_strict(app: App) -> None:
    _, client = app
    await register(client, username="dave")
    response = await login(client, "dave")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    refresh = cookies["refresh_token"]
    assert response.json()["refresh_token"] in refresh
    assert "HttpOnly" in refresh
    assert "SameSite=strict" in refresh
    assert "Path=/api/users" in refresh
    assert "Max-Age=604800" in refresh
    csrf = cookies["csrf_token"]
    assert "HttpOnly" not in csrf
    assert "SameSite=strict" in csrf
    assert response.headers["cache-control"] == "no-store"


async def test_cookies_are_secure_over_https(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        await register(client, username="erin")
        client.base_url = "https://testserver"  # type: ignore[assignment]
        response = await login(client, "erin")
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    "body",
    [
        {"username": "frank", "password": "wrong password!"},
        {"username": "nobody_here", "password": PASSWORD},
        {"username": "nobody@example.com", "password": PASSWORD},
        {"username": "frank", "password": "x" * 1000},
    ],
)
async def test_wrong_credentials_are_401_alike(any_app: App, body: dict[str, str]) -> None:
    _, client = any_app
    await register(client, username="frank")
    response = await client.post("/api/users/login", json=body)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid username or password"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"username": "", "password": "p"},
        {"username": "a\x00b", "password": "p"},
    ],
)
async def test_login_refuses_bad_input(app: App, body: dict[str, str]) -> None:
    _, client = app
    assert (await client.post("/api/users/login", json=body)).status_code == 422


async def test_unknown_users_are_checked_against_a_dummy_hash(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = app
    await register(client, username="gina")
    calls: list[str] = []
    real = service.verify_password

    def counting(password: str, password_hash: str) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(service, "verify_password", counting)
    await client.post("/api/users/login", json={"username": "nobody", "password": PASSWORD})
    await client.post("/api/users/login", json={"username": "gina", "password": "wrong pass 1"})
    assert len(calls) == 2
    assert rounds_of(calls[0]) == rounds_of(calls[1]) == 4  # same cost, same work


async def test_unknown_and_known_users_take_the_same_time(data_dir: Path) -> None:
    """Measured at cost 8 (~15 ms a check) so bcrypt dominates the noise."""
    async with running(make_settings(data_dir, bcrypt_rounds=8)) as (_, client):
        await register(client, username="hank")

        async def timed(username: str) -> float:
            started = time.perf_counter()
            response = await client.post(
                "/api/users/login", json={"username": username, "password": "wrong pass 1"}
            )
            assert response.status_code == 401
            return time.perf_counter() - started

        await timed("nobody")  # the dummy hash is made once, on first use
        # Interleaved, and the fastest of each compared: a busy machine adds delay to single
        # calls, never removes it, so the minimum is what the code itself costs.
        known: list[float] = []
        unknown: list[float] = []
        for _ in range(7):
            known.append(await timed("hank"))
            unknown.append(await timed("nobody"))
    assert 0.5 < min(unknown) / min(known) < 2, (known, unknown)


async def test_login_rehashes_when_the_cost_was_raised(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (app, client):
        await register(client, username="ivan")
    async with running(make_settings(data_dir, bcrypt_rounds=5)) as (app, client):
        assert (await login(client, "ivan")).status_code == 200
        async with app.state.platform.db.session() as session:
            user = (await session.scalars(select(User).where(User.username == "ivan"))).one()
        assert rounds_of(user.password_hash) == 5
        assert (await login(client, "ivan")).status_code == 200


async def test_me_and_update_me(any_app: App) -> None:
    _app, client = any_app
    me = await new_account(client)
    other = await new_account(client)
    response = await client.get("/api/users/me", headers=me.headers)
    assert response.status_code == 200
    assert response.json()["id"] == me.id

    renamed = await client.patch(
        "/api/users/me", headers=me.headers, json={"username": "renamed_" + me.username[-5:]}
    )
    assert renamed.status_code == 200
    assert renamed.json()["username"].startswith("renamed_")

    taken = await client.patch("/api/users/me", headers=me.headers, json={"email": other.email})
    assert taken.status_code == 409
    taken = await client.patch(
        "/api/users/me", headers=me.headers, json={"username": other.username.upper()}
    )
    assert taken.status_code == 409
    # Changing nothing, or only to itself, is fine.
    assert (await client.patch("/api/users/me", headers=me.headers, json={})).status_code == 200
    same = await client.patch("/api/users/me", headers=me.headers, json={"email": me.email})
    assert same.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"is_active": True},
        {"id": 1},
        {"password_hash": "x"},
        {"username": "no spaces"},
        {"email": "nope"},
    ],
)
async def test_update_me_cannot_escalate_or_take_bad_input(
    app: App, body: dict[str, object]
) -> None:
    _, client = app
    me = await new_account(client)
    response = await client.patch("/api/users/me", headers=me.headers, json=body)
    assert response.status_code == 422
    after = (await client.get("/api/users/me", headers=me.headers)).json()
    assert after["role"] == "user"


async def test_change_password_ends_every_other_session(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    second = (await login(client, me.username)).json()
    client.cookies.clear()

    wrong = await client.post(
        "/api/users/me/password",
        headers=me.headers,
        json={"current_password": "not it at all", "new_password": "a brand new password"},
    )
    assert wrong.status_code == 403
    weak = await client.post(
        "/api/users/me/password",
        headers=me.headers,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422

    changed = await client.post(
        "/api/users/me/password",
        headers=me.headers,
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
    )
    assert changed.status_code == 200
    fresh = changed.json()
    # Old sessions are over, access and refresh alike; the new pair works.
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
    assert (
        await client.get("/api/users/me", headers=bearer(second["access_token"]))
    ).status_code == 401
    old_refresh = await client.post("/api/users/refresh", json={"refresh_token": me.refresh})
    assert old_refresh.status_code == 401
    assert (
        await client.get("/api/users/me", headers=bearer(fresh["access_token"]))
    ).status_code == 200
    assert (await login(client, me.username)).status_code == 401
    assert (await login(client, me.username, "a brand new password")).status_code == 200


async def test_preferences_defaults_replace_and_cache(any_app: App) -> None:
    app, client = any_app
    me = await new_account(client)
    response = await client.get("/api/users/me/preferences", headers=me.headers)
    assert response.status_code == 200
    assert response.json() == {
        "theme": "dark",
        "currency": "USD",
        "default_timeframe": "1h",
        "notifications": {"price_alerts": True, "sentiment_alerts": False, "email": False},
    }
    new = {
        "theme": "light",
        "currency": "EUR",
        "default_timeframe": "4h",
        "notifications": {"price_alerts": False, "sentiment_alerts": True, "email": True},
    }
    put = await client.put("/api/users/me/preferences", headers=me.headers, json=new)
    assert put.status_code == 200
    assert put.json() == new
    assert (await client.get("/api/users/me/preferences", headers=me.headers)).json() == new
    cached = await app.state.platform.cache.get(f"user:prefs:{me.id}")
    assert cached is not None
    assert b'"light"' in cached

    # PUT replaces: what is left out goes back to its default.
    put = await client.put(
        "/api/users/me/preferences", headers=me.headers, json={"theme": "system"}
    )
    assert put.json()["currency"] == "USD"


@pytest.mark.parametrize(
    "body",
    [
        {"theme": "neon"},
        {"currency": "usd"},
        {"currency": "'; DROP TABLE users; --"},
        {"default_timeframe": "2h"},
        {"notifications": {"price_alerts": "yes"}},
        {"notifications": {"sms": True}},
        {"notifications": []},
        {"colour": "red"},
    ],
)
async def test_preferences_refuse_bad_input(app: App, body: dict[str, object]) -> None:
    _, client = app
    me = await new_account(client)
    response = await client.put("/api/users/me/preferences", headers=me.headers, json=body)
    assert response.status_code == 422


async def test_logout_ends_the_session_only(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    other_session = (await login(client, me.username)).json()
    client.cookies.clear()
    response = await client.post("/api/users/logout", headers=me.headers)
    assert response.status_code == 204
    assert any(
        "refresh_token=" in c and "Max-Age=0" in c for c in response.headers.get_list("set-cookie")
    )
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
    assert (
        await client.post("/api/users/refresh", json={"refresh_token": me.refresh})
    ).status_code == 401
    # Another device's session goes on.
    assert (
        await client.get("/api/users/me", headers=bearer(other_session["access_token"]))
    ).status_code == 200
    assert (await client.post("/api/users/logout")).status_code == 401


async def test_user_ids_in_tokens_of_deleted_users_are_refused(app: App) -> None:
    app_, client = app
    me = await new_account(client)
    async with app_.state.platform.db.session() as session:
        await session.delete(await session.get(User, me.id))
    await app_.state.platform.cache.delete(f"user:auth:{me.id}")
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
