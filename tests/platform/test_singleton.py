"""Singleton jobs: one holder of the advisory lock at a time; a standby takes over when the
holder stops. Without PostgreSQL the job simply runs."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from cryptodash.platform.db import Database
from cryptodash.platform.singleton import lock_key, run_singleton


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("a.job") == lock_key("a.job")
    assert lock_key("a.job") != lock_key("b.job")
    assert -(2**63) <= lock_key("a.job") < 2**63


async def test_without_postgresql_the_job_just_runs(tmp_path: Path) -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        await asyncio.wait_for(run_singleton(db, "job", job), 5)
    finally:
        await db.close()
    assert ran.is_set()


@pytest.mark.integration
async def test_one_holder_at_a_time_and_takeover(pg_url: str) -> None:
    dbs = [Database(pg_url), Database(pg_url)]
    running: list[int] = []
    seen: list[int] = []

    def job_for(replica: int):  # type: ignore[no-untyped-def]
        async def job() -> None:
            running.append(replica)
            seen.append(replica)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(replica)

        return job

    tasks = [
        asyncio.create_task(run_singleton(db, "test.job", job_for(i), retry=0.1))
        for i, db in enumerate(dbs)
    ]
    try:
        for _ in range(100):
            if running:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert len(running) == 1
        holder = running[0]
        tasks[holder].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[holder]
        for _ in range(100):
            if running:
                break
            await asyncio.sleep(0.05)
        assert running == [1 - holder]
        assert seen == [holder, 1 - holder]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for db in dbs:
            await db.close()
