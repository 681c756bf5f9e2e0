"""Singleton work (ARCHITECTURE §5b): a job that must run once across replicas — an exchange
feed, a scheduled maintenance job — holds a PostgreSQL advisory lock while it runs. The other
replicas stand by, retrying every few seconds, and take over when the holder dies (its
connection closes and PostgreSQL releases the lock). On SQLite (all-in-one, one process) the
job just runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)


def lock_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for a job name (the same in every process)."""
    return zlib.crc32(name.encode()) | (zlib.crc32(name[::-1].encode()) << 31)


async def run_singleton(
    db: Database | None,
    name: str,
    job: Callable[[], Awaitable[None]],
    *,
    standby_poll: float = 5.0,
    check_every: float = 5.0,
) -> None:
    """Run `job` while holding the advisory lock `name`; return or raise as the job does.

    While the job runs its lock connection is checked every `check_every` seconds; if it is
    lost the job is cancelled (another replica may already have the lock) and this raises,
    so the supervisor restarts it — on standby.
    """
    if db is None or db.dialect != "postgresql":
        await job()
        return
    key = lock_key(name)
    while True:
        async with db.engine.connect() as conn:
            if await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                await conn.commit()
                log.info("singleton_acquired", job=name)
                try:
                    await _run_while_held(conn, name, job, check_every)
                    return
                finally:
                    with contextlib.suppress(Exception):
                        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                        await conn.commit()
            await conn.rollback()
        await asyncio.sleep(standby_poll)


async def _run_while_held(
    conn: AsyncConnection, name: str, job: Callable[[], Awaitable[None]], check_every: float
) -> None:
    task = asyncio.ensure_future(job())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_every)
            if done:
                task.result()
                return
            try:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), check_every)
                await conn.commit()
            except Exception as exc:
                raise RuntimeError(f"lost the lock connection of {name}: {exc!r}") from exc
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
