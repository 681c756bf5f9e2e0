"""Singleton work (§5b): a job that must run in one process of the whole deployment (the
correlation matrix, snapshots, partition maintenance) holds a PostgreSQL advisory lock while
it runs; the other replicas stand by, retrying every few seconds, and take over when the
holder's connection goes away. Without PostgreSQL (all-in-one on SQLite) the job just runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

STANDBY_RETRY = 5.0
"""Seconds between a standby's attempts, and between the holder's connection checks."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


async def run_singleton(
    db: Database | None,
    name: str,
    job: Callable[[], Awaitable[None]],
    *,
    retry: float = STANDBY_RETRY,
) -> None:
    """Run `job` (a coroutine that runs until cancelled) while holding the lock `name`."""
    if db is None or db.dialect != "postgresql":
        await job()
        return
    key = lock_key(name)
    while True:
        # AUTOCOMMIT: the lock belongs to the session; no transaction stays open meanwhile.
        async with db.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            if await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                log.info("singleton_acquired", job=name)
                try:
                    await _hold(conn, job, retry)
                finally:
                    with contextlib.suppress(Exception):
                        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    log.info("singleton_released", job=name)
        await asyncio.sleep(retry)


async def _hold(conn: AsyncConnection, job: Callable[[], Awaitable[None]], retry: float) -> None:
    """Run the job; check the lock's connection every `retry` seconds and stop the job when
    it is gone (another replica may hold the lock by then)."""
    task = asyncio.ensure_future(job())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=retry)
            if done:
                task.result()  # a failing job raises here, for the supervisor to restart
                return
            await conn.execute(text("SELECT 1"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
