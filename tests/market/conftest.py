"""Fixtures for the market tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cryptodash.platform import schema
from cryptodash.platform.db import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'market.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = Database(url)
    await schema.upgrade(database.engine)
    try:
        yield database
    finally:
        await database.close()
