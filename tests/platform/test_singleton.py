"""Singleton jobs: one replica holds the PostgreSQL advisory lock and runs the job; another
stands by and takes over when the holder goes away. SQLite just runs the job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cryptodash.platform.db import Database
from cryptodash.platform.singleton import lock_key, run_singleton
from tests.helpers import eventually


def test_lock_keys_are_stable_positive_bigints() -> None:
    assert lock_key("market.maintenance") == lock_key("market.maintenance")
    assert lock_key("a") != lock_key("b")
    assert 0 < lock_key("cryptodash.market.exchanges.simulator") < 2**63


async def test_without_postgresql_the_job_just_runs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    ran: list[int] = []

    async def job() -> None:
        ran.append(1)

    try:
        await run_singleton(db, "job", job)
        await run_singleton(None, "job", job)
    finally:
        await db.close()
    assert ran == [1, 1]


@pytest.mark.integration
async def test_one_replica_runs_and_the_other_takes_over(pg_url: str) -> None:
    first, second = Database(pg_url), Database(pg_url)
    running: list[str] = []
    release = asyncio.Event()

    def job(name: str):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.append(name)
            await release.wait()

        return work

    holder = asyncio.create_task(run_singleton(first, "job", job("a"), standby_poll=0.05))
    try:
        await eventually(lambda: running == ["a"])
        standby = asyncio.create_task(run_singleton(second, "job", job("b"), standby_poll=0.05))
        await asyncio.sleep(0.4)
        assert running == ["a"]
        holder.cancel()  # the holder's process goes away
        await asyncio.gather(holder, return_exceptions=True)
        await eventually(lambda: running == ["a", "b"])
        release.set()
        await asyncio.wait_for(standby, 5)
    finally:
        holder.cancel()
        await first.close()
        await second.close()
