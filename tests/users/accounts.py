"""Helpers for the users tests: register, log in, promote, and build auth headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from cryptodash.users.models import User
from tests.helpers import unique

PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: int
    username: str
    email: str
    password: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, *, username: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    username = username or unique("u_")
    response = await client.post(
        "/api/users/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/users/login", json={"username": username, "password": password})


async def new_account(
    client: httpx.AsyncClient, app: FastAPI | None = None, *, admin: bool = False
) -> Account:
    user = await register(client)
    if admin:
        assert app is not None
        await set_role(app, user["id"], "admin")
    response = await login(client, user["username"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    client.cookies.clear()  # API-client style: tokens travel in headers and bodies
    return Account(
        id=user["id"],
        username=user["username"],
        email=user["email"],
        password=PASSWORD,
        access=tokens["access_token"],
        refresh=tokens["refresh_token"],
    )


async def set_role(app: FastAPI, user_id: int, role: str) -> None:
    """Straight to the database, as `cryptodash create-admin` does."""
    async with app.state.platform.db.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(role=role))
