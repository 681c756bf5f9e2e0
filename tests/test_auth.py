"""The shared auth dependencies (`cryptodash.auth`): authenticated by default, explicit public
opt-out, admin-only, optional user, WebSockets — and a split service that checks the current
state of a user it learns about only through Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cryptodash.app import create_app
from cryptodash.auth import AdminUser, CurrentUser, OptionalUser, Public
from cryptodash.platform import schema
from cryptodash.platform.db import Database
from tests.apps import make_settings, running
from tests.users.accounts import bearer, new_account


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/probe")

    @router.get("/default")
    async def default() -> dict[str, str]:
        return {"who": "anyone with a token"}

    @router.get("/mine")
    async def mine(user: CurrentUser) -> dict[str, object]:
        return {"id": user.id, "role": user.role}

    @router.get("/public", dependencies=[Public])
    async def public() -> dict[str, str]:
        return {"who": "everyone"}

    @router.get("/maybe", dependencies=[Public])
    async def maybe(user: OptionalUser) -> dict[str, object]:
        return {"id": user.id if user else None}

    @router.get("/admin")
    async def admin_only(admin: AdminUser) -> dict[str, object]:
        return {"id": admin.id}

    @router.websocket("/ws")
    async def private_ws(websocket: WebSocket, user: CurrentUser) -> None:
        await websocket.accept()
        await websocket.send_json({"id": user.id})
        await websocket.close()

    return router


public_router = APIRouter(prefix="/api/open", dependencies=[Public])


@public_router.get("/thing")
async def open_thing() -> dict[str, str]:
    return {"ok": "yes"}


async def test_routes_are_authenticated_unless_marked_public(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (app, client):
        app.include_router(probe_router())
        app.include_router(public_router)
        me = await new_account(client)
        admin = await new_account(client, app, admin=True)

        assert (await client.get("/api/probe/default")).status_code == 401
        assert (await client.get("/api/probe/default", headers=me.headers)).status_code == 200
        assert (await client.get("/api/probe/mine", headers=me.headers)).json() == {
            "id": me.id,
            "role": "user",
        }
        assert (await client.get("/api/probe/public")).status_code == 200
        assert (await client.get("/api/open/thing")).status_code == 200
        assert (await client.get("/health")).status_code == 200

        assert (await client.get("/api/probe/maybe")).json() == {"id": None}
        assert (await client.get("/api/probe/maybe", headers=me.headers)).json() == {"id": me.id}
        bad = await client.get("/api/probe/maybe", headers=bearer("forged.token.here"))
        assert bad.status_code == 401

        assert (await client.get("/api/probe/admin")).status_code == 401
        assert (await client.get("/api/probe/admin", headers=me.headers)).status_code == 403
        assert (await client.get("/api/probe/admin", headers=admin.headers)).status_code == 200


def test_websockets_take_the_token_in_a_header_never_in_the_url(data_dir: Path) -> None:
    app = create_app(make_settings(data_dir))
    app.include_router(probe_router())
    with TestClient(app) as client:
        client.post(
            "/api/users/register",
            json={
                "username": "wsuser",
                "email": "ws@example.com",
                "password": "correct horse battery",
            },
        )
        token = client.post(
            "/api/users/login", json={"username": "wsuser", "password": "correct horse battery"}
        ).json()["access_token"]
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/probe/ws") as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/api/probe/ws", headers=bearer("garbage")) as ws,
        ):
            ws.receive_json()
        # A valid token in the query string is not looked at: URLs end up in logs.
        with (
            pytest.raises(WebSocketDisconnect) as in_url,
            client.websocket_connect(f"/api/probe/ws?access_token={token}") as ws,
        ):
            ws.receive_json()
        assert in_url.value.code == 1008
        with client.websocket_connect("/api/probe/ws", headers=bearer(token)) as ws:
            assert ws.receive_json() == {"id": 1}


@pytest.mark.integration
async def test_a_split_service_refuses_a_user_deactivated_in_the_users_service(
    data_dir: Path, pg_url: str, redis_url: str
) -> None:
    """users and portfolio as two apps sharing PostgreSQL and Redis, as in split mode."""
    db = Database(pg_url)
    await schema.upgrade(db.engine)
    await db.close()
    shared = {"database_url": pg_url, "redis_url": redis_url, "jwt_secret": "k" * 48}
    async with (
        running(make_settings(data_dir, **shared), service="users") as (users_app, users),
        running(make_settings(data_dir, **shared), service="portfolio") as (
            portfolio_app,
            portfolio,
        ),
    ):
        portfolio_app.include_router(probe_router())
        admin = await new_account(users, users_app, admin=True)
        me = await new_account(users)
        # The portfolio service verifies the users service's token itself.
        assert (await portfolio.get("/api/probe/mine", headers=me.headers)).status_code == 200
        assert (await portfolio.get("/api/probe/mine", headers=bearer("x.y.z"))).status_code == 401

        promoted = await users.patch(
            f"/api/admin/users/{me.id}", headers=admin.headers, json={"role": "admin"}
        )
        assert promoted.status_code == 200
        assert (await portfolio.get("/api/probe/admin", headers=me.headers)).status_code == 200

        off = await users.patch(
            f"/api/admin/users/{me.id}", headers=admin.headers, json={"is_active": False}
        )
        assert off.status_code == 200
        refused = await portfolio.get("/api/probe/mine", headers=me.headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "account_disabled"

        # Logout in the users service ends the session in the portfolio service too.
        assert (await portfolio.get("/api/probe/mine", headers=admin.headers)).status_code == 200
        assert (await users.post("/api/users/logout", headers=admin.headers)).status_code == 204
        assert (await portfolio.get("/api/probe/mine", headers=admin.headers)).status_code == 401


@pytest.mark.integration
async def test_the_database_decides_when_the_cache_has_nothing(
    data_dir: Path, pg_url: str, redis_url: str
) -> None:
    import redis.asyncio as redis

    async with running(make_settings(data_dir, database_url=pg_url, redis_url=redis_url)) as (
        app,
        client,
    ):
        admin = await new_account(client, app, admin=True)
        me = await new_account(client)
        await client.patch(
            f"/api/admin/users/{me.id}", headers=admin.headers, json={"is_active": False}
        )
        flushed = redis.Redis.from_url(redis_url)
        await flushed.flushdb()  # as if the write-through had been lost
        await flushed.aclose()
        assert (await client.get("/api/users/me", headers=me.headers)).status_code == 401
        assert (await client.get("/api/users/me", headers=admin.headers)).status_code == 200


def test_services_refuse_weak_settings(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        create_app(make_settings(data_dir, env="prod", bcrypt_rounds=4))
    for service in ("gateway", "users", "market", "portfolio"):
        with pytest.raises(ValueError, match="JWT_SECRET is required"):
            create_app(make_settings(data_dir), service=service)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        create_app(make_settings(data_dir, env="prod", jwt_secret="short"), service="market")
