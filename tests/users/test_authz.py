"""Every users/admin route: unauthenticated, forged tokens, hostile strings in every field,
malformed and oversize bodies — always a 4xx in our error shape, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.apps import make_settings, running
from tests.users.accounts import PASSWORD, bearer, new_account, register
from tests.users.conftest import App
from tests.users.test_tokens import forged

PUBLIC = {
    ("POST", "/api/users/register"),
    ("POST", "/api/users/login"),
    ("POST", "/api/users/refresh"),
}
PROTECTED: list[tuple[str, str, Any]] = [
    ("POST", "/api/users/logout", None),
    ("GET", "/api/users/me", None),
    ("PATCH", "/api/users/me", {"email": "x@example.com"}),
    ("POST", "/api/users/me/password", {"current_password": PASSWORD, "new_password": "n" * 12}),
    ("GET", "/api/users/me/preferences", None),
    ("PUT", "/api/users/me/preferences", {"theme": "light"}),
    ("GET", "/api/admin/users", None),
    ("GET", "/api/admin/users/{user_id}", None),
    ("PATCH", "/api/admin/users/{user_id}", {"role": "admin"}),
]

INJECTIONS = [
    "' OR '1'='1",
    "admin'--",
    '"; DROP TABLE users; --',
    "1; SELECT pg_sleep(5)",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "../../../../etc/passwd",
    "%00%27",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "😀" * 30,
    "\\",
    "%",
    "_",
    "x" * 5000,
    "",
    " ",
]


def test_every_users_route_is_covered(data_dir: Path) -> None:
    from cryptodash.app import create_app

    app = create_app(make_settings(data_dir))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(("/api/users", "/api/admin"))
        for method in operations
    }
    assert routes == PUBLIC | {(m, p) for m, p, _ in PROTECTED}


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
async def test_protected_routes_refuse_anonymous_and_forged_calls(
    app: App, method: str, path: str, body: Any
) -> None:
    _, client = app
    user = await register(client)
    url = path.format(user_id=user["id"])
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "bearer"},
        *({"Authorization": f"Bearer {token}"} for token in forged().values() if token),
    ]
    for headers in attempts:
        response = await client.request(method, url, headers=headers, json=body)
        assert response.status_code == 401, (headers, response.text)
        error = response.json()["error"]
        assert error["code"] in ("unauthorized", "account_disabled")
        assert error["request_id"] == response.headers["x-request-id"]
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_from_another_deployment_is_refused(data_dir: Path, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    async with running(make_settings(other_dir)) as (_, other):
        stranger = await new_account(other)  # same user id 1, another secret
    async with running(make_settings(data_dir)) as (_, client):
        await register(client)
        response = await client.get("/api/users/me", headers=stranger.headers)
    assert response.status_code == 401


@pytest.mark.parametrize("text", INJECTIONS)
async def test_hostile_strings_in_every_text_field_are_4xx(app: App, text: str) -> None:
    app_, client = app
    me = await new_account(client)
    admin = await new_account(client, app_, admin=True)
    calls = [
        (
            "POST",
            "/api/users/register",
            {"username": text, "email": "a@example.com", "password": PASSWORD},
            {},
        ),
        (
            "POST",
            "/api/users/register",
            {"username": "okname", "email": text, "password": PASSWORD},
            {},
        ),
        (
            "POST",
            "/api/users/register",
            {"username": "okname2", "email": "b@example.com", "password": text},
            {},
        ),
        ("POST", "/api/users/login", {"username": text, "password": PASSWORD}, {}),
        ("POST", "/api/users/login", {"username": me.username, "password": text}, {}),
        ("POST", "/api/users/refresh", {"refresh_token": text}, {}),
        ("PATCH", "/api/users/me", {"username": text}, me.headers),
        ("PATCH", "/api/users/me", {"email": text}, me.headers),
        (
            "POST",
            "/api/users/me/password",
            {"current_password": text, "new_password": PASSWORD},
            me.headers,
        ),
        (
            "POST",
            "/api/users/me/password",
            {"current_password": "nope" * 3, "new_password": text},
            me.headers,
        ),
        ("PUT", "/api/users/me/preferences", {"theme": text}, me.headers),
        ("PUT", "/api/users/me/preferences", {"currency": text}, me.headers),
        ("PUT", "/api/users/me/preferences", {"default_timeframe": text}, me.headers),
        ("PATCH", f"/api/admin/users/{me.id}", {"role": text}, admin.headers),
    ]
    for method, url, body, headers in calls:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code < 500, (url, body, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message", "request_id"}
    for url in (f"/api/admin/users/{quote(text, safe='')}", "/api/admin/users"):
        params = {"q": text} if url.endswith("users") else None
        response = await client.get(url, params=params, headers=admin.headers)
        assert response.status_code < 500, (url, response.text)
    # Nothing hostile changed anyone.
    assert (await client.get("/api/users/me", headers=me.headers)).json()["role"] == "user"


RAW_BODIES = [
    b"{not json",
    b"",
    b"null",
    b"[]",
    b'"string"',
    b"123",
    b'{"username": "\\ud800abc", "password": "\\ud800 correct horse"}',
    b'{"username": "okname", "email": "\\udfff@example.com", "password": "correct horse battery"}',
    b'{"username": {"$ne": null}, "password": {"$ne": null}}',
    b"\xff\xfe\x00garbage",
    b'{"username": "a", "password": "b", "username": "c"}',
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("raw", RAW_BODIES)
@pytest.mark.parametrize(
    "path",
    ["/api/users/register", "/api/users/login", "/api/users/refresh"],
)
async def test_malformed_bodies_are_4xx(app: App, path: str, raw: bytes) -> None:
    _, client = app
    response = await client.post(path, content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


async def test_malformed_bodies_on_protected_routes_are_4xx(app: App) -> None:
    _, client = app
    me = await new_account(client)
    for method, path in (("PATCH", "/api/users/me"), ("PUT", "/api/users/me/preferences")):
        for raw in RAW_BODIES:
            response = await client.request(
                method,
                path,
                content=raw,
                headers={**me.headers, "content-type": "application/json"},
            )
            assert 400 <= response.status_code < 500, (path, raw[:40], response.text)


async def test_oversize_bodies_are_413(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        big = {"username": "x", "email": "a@example.com", "password": "p" * (1024 * 1024)}
        response = await client.post("/api/users/register", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        async def stream():  # type: ignore[no-untyped-def]
            for _ in range(20):
                yield b" " * 65536

        streamed = await client.post(
            "/api/users/login", content=stream(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(["username", "email", "password", "role", "extra"]),
        st.one_of(
            st.text(max_size=80),
            st.integers(),
            st.none(),
            st.booleans(),
            st.lists(st.text(max_size=5)),
        ),
    )
)
async def test_register_and_login_never_fail_on_any_body(
    shared_app: App, body: dict[str, Any]
) -> None:
    _, client = shared_app
    for path in ("/api/users/register", "/api/users/login"):
        response = await client.post(
            path, content=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert response.status_code in (200, 201, 401, 403, 409, 422), response.text


async def test_users_cannot_see_or_change_each_other(any_app: App) -> None:
    """There is no route that takes another user's id outside /api/admin; ids in bodies or
    query strings are ignored or refused."""
    _, client = any_app
    alice = await new_account(client)
    bob = await new_account(client)
    await client.put("/api/users/me/preferences", headers=bob.headers, json={"theme": "light"})
    mine = await client.get("/api/users/me", headers=alice.headers, params={"user_id": bob.id})
    assert mine.json()["id"] == alice.id
    prefs = await client.get(
        "/api/users/me/preferences", headers=alice.headers, params={"user_id": bob.id}
    )
    assert prefs.json()["theme"] == "dark"
    hijack = await client.patch(
        "/api/users/me", headers=alice.headers, json={"id": bob.id, "email": "evil@example.com"}
    )
    assert hijack.status_code == 422
    assert (await client.get("/api/users/me", headers=bob.headers)).json()["email"] == bob.email
    assert (
        await client.get(f"/api/admin/users/{bob.id}", headers=alice.headers)
    ).status_code == 403
    # Bob's token only ever acts as Bob.
    assert (await client.get("/api/users/me", headers=bearer(bob.access))).json()["id"] == bob.id
