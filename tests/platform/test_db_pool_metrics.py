"""db_pool_connections is really updated: each scrape of /metrics publishes the pool's state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.apps import make_settings, running


def pool_gauges(text: str) -> dict[str, float]:
    return {
        state: float(value)
        for state, value in re.findall(r'^db_pool_connections\{state="(\w+)"\} (\S+)$', text, re.M)
    }


@pytest.mark.integration
async def test_postgres_pool_usage_is_published_on_scrape(pg_url: str, data_dir: Path) -> None:
    settings = make_settings(
        data_dir, database_url=pg_url, db_pool_size=4, db_max_overflow=3, jwt_secret="s" * 40
    )
    # The users service alone: no background workers borrowing connections between scrapes.
    from cryptodash.platform import schema
    from cryptodash.platform.db import Database

    setup = Database(pg_url)
    await schema.upgrade(setup.engine)
    await setup.close()
    async with running(settings, service="users") as (app, client):
        assert (await client.get("/health/ready")).status_code == 200
        db = app.state.platform.db
        async with db.engine.connect():
            held = pool_gauges((await client.get("/metrics")).text)
        released = pool_gauges((await client.get("/metrics")).text)
    assert held["capacity"] == 7  # pool_size + max_overflow
    assert held["in_use"] >= 1
    assert released["in_use"] == held["in_use"] - 1
    assert released["idle"] >= 1
    assert released["overflow"] == 0


async def test_sqlite_pool_is_published_too(data_dir: Path) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        await client.get("/health/ready")
        gauges = pool_gauges((await client.get("/metrics")).text)
    assert gauges.keys() == {"in_use", "idle", "overflow", "capacity"}
    assert gauges["capacity"] > 0
