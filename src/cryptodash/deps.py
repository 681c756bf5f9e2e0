"""FastAPI dependencies shared by every domain: the platform, a database session, the cache,
the bus. Use the `Annotated` aliases in route signatures.

They are all `async def`: FastAPI runs a plain `def` dependency in a thread pool, a hop that
costs more than the whole lookup on the hot read path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from cryptodash.config import Settings
from cryptodash.errors import ServiceUnavailable
from cryptodash.platform.bus import Bus
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics
from cryptodash.runtime import Platform


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


SCHEMA_WAIT = 10.0
"""Seconds a request waits for the schema (migrations at start-up, a database still coming
up) before it is answered 503 — never a 500 from a table that is not there yet."""


async def get_database(platform: PlatformDep) -> Database:
    if platform.db is None:
        raise ServiceUnavailable("this service has no database")
    if not platform.schema_ready.is_set():
        try:
            async with asyncio.timeout(SCHEMA_WAIT):
                await platform.schema_ready.wait()
        except TimeoutError:
            raise ServiceUnavailable("The database is not ready yet; retry shortly") from None
    return platform.db


DatabaseDep = Annotated[Database, Depends(get_database)]


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(db: DatabaseDep, conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """One session per request, in a transaction committed when the route returns (one that
    may write takes SQLite's write lock as it begins; a GET does not)."""
    async with db.session(writes=conn.scope.get("method") not in _READ_METHODS) as session:
        yield session


async def get_read_session(db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """A session on the read replica when one is configured (analytics, history)."""
    async with db.read_session() as session:
        yield session


# scope="function": the transaction commits before the response goes out, so a 201 is only
# sent for a write that is in the database (a failed commit is a 503/500, never a lost write),
# and the client's next request sees it. FastAPI's default scope for dependencies with
# `yield` ("request") ends them after the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_cache(platform: PlatformDep) -> Cache:
    return platform.cache


async def get_bus(platform: PlatformDep) -> Bus:
    return platform.bus


async def get_metrics(platform: PlatformDep) -> Metrics:
    return platform.metrics


async def get_settings_dep(platform: PlatformDep) -> Settings:
    return platform.settings


CacheDep = Annotated[Cache, Depends(get_cache)]
BusDep = Annotated[Bus, Depends(get_bus)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
