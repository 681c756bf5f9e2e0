"""Administration: listing and changing users, role escalation, immediate deactivation."""

from __future__ import annotations

import pytest

from tests.users.accounts import bearer, login, new_account
from tests.users.conftest import App


async def test_admin_lists_and_searches_users(app: App) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    users = [await new_account(client) for _ in range(3)]
    page = await client.get("/api/admin/users", headers=admin.headers, params={"limit": 2})
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 4
    assert len(body["items"]) == 2
    assert "password_hash" not in page.text
    second = await client.get(
        "/api/admin/users", headers=admin.headers, params={"limit": 2, "offset": 2}
    )
    assert [u["id"] for u in second.json()["items"]] == [users[1].id, users[2].id]
    found = await client.get(
        "/api/admin/users", headers=admin.headers, params={"q": users[0].username.upper()}
    )
    assert [u["id"] for u in found.json()["items"]] == [users[0].id]
    # LIKE wildcards are searched for literally.
    for wildcard in ("%", "_", "\\"):
        wild = await client.get("/api/admin/users", headers=admin.headers, params={"q": wildcard})
        assert wild.status_code == 200
        assert all(
            wildcard in u["username"] or wildcard in u["email"] for u in wild.json()["items"]
        )


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"limit": "many"},
        {"q": "x" * 101},
        {"q": "a\x00"},
    ],
)
async def test_admin_list_refuses_bad_parameters(app: App, params: dict[str, object]) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    response = await client.get("/api/admin/users", headers=admin.headers, params=params)
    assert response.status_code == 422


async def test_admin_reads_and_404s(app: App) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    me = await new_account(client)
    assert (await client.get(f"/api/admin/users/{me.id}", headers=admin.headers)).json()[
        "id"
    ] == me.id
    for missing in ("999999", str(2**63 - 1)):
        response = await client.get(f"/api/admin/users/{missing}", headers=admin.headers)
        assert response.status_code == 404
        response = await client.patch(
            f"/api/admin/users/{missing}", headers=admin.headers, json={"role": "admin"}
        )
        assert response.status_code == 404
    for bad in ("0", "-1", "abc", str(2**63), "1.5"):
        assert (
            await client.get(f"/api/admin/users/{bad}", headers=admin.headers)
        ).status_code == 422


async def test_users_cannot_reach_admin_routes(any_app: App) -> None:
    _, client = any_app
    me = await new_account(client)
    other = await new_account(client)
    calls = [
        client.get("/api/admin/users", headers=me.headers),
        client.get(f"/api/admin/users/{other.id}", headers=me.headers),
        client.patch(f"/api/admin/users/{me.id}", headers=me.headers, json={"role": "admin"}),
        client.patch(f"/api/admin/users/{other.id}", headers=me.headers, json={"is_active": False}),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/users/me", headers=me.headers)).json()["role"] == "user"
    assert (await client.get("/api/users/me", headers=other.headers)).json()["is_active"] is True


async def test_promotion_and_demotion_take_effect_at_once(any_app: App) -> None:
    app_, client = any_app
    admin = await new_account(client, app_, admin=True)
    me = await new_account(client)
    promoted = await client.patch(
        f"/api/admin/users/{me.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    # The same token (its claim still says "user") now reaches admin routes...
    assert (await client.get("/api/admin/users", headers=me.headers)).status_code == 200
    # ...and a token whose claim says "admin" does not, once the role is gone.
    as_admin = (await login(client, me.username)).json()["access_token"]
    demoted = await client.patch(
        f"/api/admin/users/{me.id}", headers=admin.headers, json={"role": "user"}
    )
    assert demoted.status_code == 200
    response = await client.get("/api/admin/users", headers=bearer(as_admin))
    assert response.status_code == 403


async def test_deactivation_refuses_live_tokens_at_once(any_app: App) -> None:
    app_, client = any_app
    admin = await new_account(client, app_, admin=True)
    me = await new_account(client)
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 200  # cached
    off = await client.patch(
        f"/api/admin/users/{me.id}", headers=admin.headers, json={"is_active": False}
    )
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    response = await client.get("/api/users/me", headers=me.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "account_disabled"
    login_again = await login(client, me.username)
    assert login_again.status_code == 403
    assert login_again.json()["error"]["code"] == "account_disabled"

    on = await client.patch(
        f"/api/admin/users/{me.id}", headers=admin.headers, json={"is_active": True}
    )
    assert on.status_code == 200
    # Reactivation does not bring the revoked sessions back; a new login works.
    assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
    assert (await login(client, me.username)).status_code == 200


async def test_admins_cannot_demote_or_deactivate_themselves(app: App) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    for body in ({"role": "user"}, {"is_active": False}):
        response = await client.patch(
            f"/api/admin/users/{admin.id}", headers=admin.headers, json=body
        )
        assert response.status_code == 409
    assert (await client.get("/api/admin/users", headers=admin.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"role": "superuser"},
        {"role": "ADMIN"},
        {"is_active": "false"},
        {"is_active": 0},
        {"username": "hijack"},
        {"password_hash": "x"},
        [],
    ],
)
async def test_admin_update_refuses_bad_input(app: App, body: object) -> None:
    app_, client = app
    admin = await new_account(client, app_, admin=True)
    me = await new_account(client)
    response = await client.patch(f"/api/admin/users/{me.id}", headers=admin.headers, json=body)
    assert response.status_code == 422
