"""Apps for the users tests: all-in-one on SQLite with in-process backends, and (integration)
on PostgreSQL with Redis, where the auth state travels through Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.apps import make_settings, running

App = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
async def app(data_dir: Path) -> AsyncIterator[App]:
    async with running(make_settings(data_dir)) as pair:
        yield pair


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def any_app(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[App]:
    """The same tests on the embedded backends and on PostgreSQL + Redis."""
    overrides = {}
    if request.param == "postgres":
        overrides = {
            "database_url": request.getfixturevalue("pg_url"),
            "redis_url": request.getfixturevalue("redis_url"),
        }
    async with running(make_settings(data_dir, **overrides)) as pair:
        yield pair


@pytest.fixture(scope="module")
async def shared_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    """One app for a whole module (property tests run many examples against it)."""
    async with running(make_settings(tmp_path_factory.mktemp("data"))) as pair:
        yield pair
