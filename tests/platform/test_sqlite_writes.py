"""Concurrent writers on the all-in-one SQLite file: a write session takes the write lock when
it begins, so one that read first never fails on a stale snapshot; a lock not won in time is a
503 with Retry-After, not a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cryptodash.gateway.errors import install_error_handlers
from cryptodash.platform import db as db_module
from cryptodash.platform.db import Database


async def _table(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path}/writes.db")
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    return db


async def _read_then_write(db: Database, n: int, *, writes: bool) -> None:
    async with db.session(writes=writes) as session:
        await session.execute(text("SELECT count(*) FROM t"))
        await asyncio.sleep(0.2)  # the others read meanwhile
        await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})


async def test_write_sessions_that_read_first_all_commit(tmp_path: Path) -> None:
    db = await _table(tmp_path)
    try:
        await asyncio.gather(*(_read_then_write(db, n, writes=True) for n in range(4)))
        async with db.read_session() as session:
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == [0, 1, 2, 3]
    finally:
        await db.close()


async def test_deferred_sessions_would_fail_on_the_same_writes(tmp_path: Path) -> None:
    """What the IMMEDIATE begin prevents (the scenario above really is a conflict)."""
    db = await _table(tmp_path)
    try:
        results = await asyncio.gather(
            *(_read_then_write(db, n, writes=False) for n in range(4)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, OperationalError)]
        assert failures
        assert all("database is locked" in str(f) for f in failures)
    finally:
        await db.close()


async def test_writers_queue_in_order_and_a_long_wait_is_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process's writers take turns in arrival order (not SQLite's sleep-and-retry), and
    one that waits longer than SQLite would gets SQLite's own error."""
    db = await _table(tmp_path)
    order: list[int] = []

    async def write(n: int) -> None:
        async with db.session() as session:
            order.append(n)
            await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)

    try:
        tasks = []
        for n in range(20):
            tasks.append(asyncio.create_task(write(n)))
            await asyncio.sleep(0)  # each starts waiting before the next
        await asyncio.gather(*tasks)
        assert order == list(range(20))

        monkeypatch.setattr(db_module, "SQLITE_BUSY_SECONDS", 0.2)
        async with db.session():
            with pytest.raises(OperationalError, match="database is locked"):
                await write(99)
        await write(100)  # the lock is free again
        async with db.read_session() as session:
            stored = (await session.execute(text("SELECT count(*) FROM t"))).scalar()
        assert stored == 21
    finally:
        await db.close()


async def test_the_queue_moves_on_when_a_writer_commits(tmp_path: Path) -> None:
    """What a writer does after its commit (a cache write, a publish) is no other writer's
    wait. (The session's block allows no statement after its commit.)"""
    db = await _table(tmp_path)
    events: list[str] = []

    async def first() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.commit()
            events.append("first committed")
            await asyncio.sleep(0.2)
            events.append("first done")

    async def second() -> None:
        await asyncio.sleep(0.05)  # after the first has the lock
        async with db.session() as session:
            events.append("second began")
            await session.execute(text("INSERT INTO t VALUES (2)"))

    try:
        await asyncio.gather(first(), second())
        assert events == ["first committed", "second began", "first done"]
        await asyncio.wait_for(write_now(db), 1)  # nothing left holding the queue
        async with db.read_session() as session:
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == [1, 2, 4]
    finally:
        await db.close()


async def write_now(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("INSERT INTO t VALUES (4)"))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("INSERT …", {}, Exception("database is locked")), 503),
        (OperationalError("INSERT …", {}, Exception("disk I/O error")), 500),
        # Every pooled connection busy for the pool's whole timeout: saturated, not broken.
        (PoolTimeout("QueuePool limit of size 10 overflow 20 reached"), 503),
    ],
)
async def test_a_locked_database_is_a_retryable_503(error: Exception, status: int) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    async def write() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/write")
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "message", "request_id"}
    if status == 503:
        assert response.headers["retry-after"] == "1"
        assert "busy" in response.json()["error"]["message"]


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements run in the driver's thread from now on, by their first word (not a new
    connection's PRAGMAs)."""
    made: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        word = str(args[1]).split()[0].upper() if fn is db_module._run_statement else ""
        if word and word != "PRAGMA":
            made.append(word)
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


async def test_a_statement_is_one_trip_to_the_driver_thread(
    tmp_path: Path, trips: list[str]
) -> None:
    """Execute, fetch and close in one call (`platform.db._OneTripCursor`): each trip waits
    for a turn of the event loop, which under load was most of a write's time."""
    db = await _table(tmp_path)
    try:
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (1), (2)"))
        trips.clear()
        async with db.session(writes=False) as session:
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).all()
            assert trips == ["BEGIN", "SELECT"]
            updated = await session.execute(text("UPDATE t SET n = n + 10"))
            assert trips == ["BEGIN", "SELECT", "UPDATE"]
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        assert updated.rowcount == 2  # type: ignore[attr-defined]
    finally:
        await db.close()


async def test_a_write_transaction_runs_inline(tmp_path: Path, trips: list[str]) -> None:
    """From BEGIN IMMEDIATE to COMMIT, a write runs on the loop's thread (no turn of the loop
    while it holds the lock); only a large batch goes to the driver's thread, and the
    transactions after it (reading, or rolled back) are as before."""
    db = await _table(tmp_path)
    trips.clear()
    try:
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(9)])
            assert (await session.scalar(text("SELECT count(*) FROM t"))) == 10
            assert trips == []
            big = [{"n": n} for n in range(db_module.INLINE_MANY + 1)]
            await session.execute(text("INSERT INTO t VALUES (:n)"), big)
            assert trips == ["INSERT"]
        trips.clear()
        async with db.session(writes=False) as session:  # committed: a reader sees it all
            total = await session.scalar(text("SELECT count(*) FROM t"))
        assert total == 10 + db_module.INLINE_MANY + 1
        assert trips == ["BEGIN", "SELECT"]

        async def abandoned() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (-1)"))
                raise RuntimeError("abandon")

        with pytest.raises(RuntimeError):
            await abandoned()
        trips.clear()
        async with db.session(writes=False) as session:  # rolled back, and back to the thread
            assert (await session.scalar(text("SELECT min(n) FROM t"))) == 0
        assert trips == ["BEGIN", "SELECT"]
    finally:
        await db.close()


async def test_a_write_waits_in_the_thread_while_another_process_holds_the_lock(
    tmp_path: Path, trips: list[str]
) -> None:
    db = await _table(tmp_path)
    other = sqlite3.connect(tmp_path / "writes.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, other.execute, "COMMIT")
        began = loop.time()
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (7)"))
        assert loop.time() - began >= 0.25  # waited for the other writer...
        assert trips[0] == "BEGIN"  # ...in the driver's thread, the loop free meanwhile
        async with db.session(writes=False) as session:
            assert (await session.scalar(text("SELECT n FROM t"))) == 7
    finally:
        other.close()
        await db.close()


async def test_writes_checkpoint_the_wal_in_the_background(tmp_path: Path) -> None:
    """Commits never checkpoint (they run on the loop's thread); the database does it after
    writes, in the driver's thread: the pages reach the database file."""
    db = await _table(tmp_path)
    path = tmp_path / "writes.db"
    try:
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        await asyncio.sleep(db_module.CHECKPOINT_SECONDS)
        before = path.stat().st_size
        async with db.session() as session:
            await session.execute(text("CREATE TABLE blobs (b BLOB)"))
            await session.execute(text("INSERT INTO blobs VALUES (zeroblob(2000000))"))
        assert db._checkpoint is not None
        await db._checkpoint
        assert path.stat().st_size >= before + 2_000_000
    finally:
        await db.close()


async def test_a_long_write_can_stay_off_the_event_loop(tmp_path: Path, trips: list[str]) -> None:
    """`session(inline=False)` (retention sweeps, batch jobs): every statement in the driver's
    thread, the write lock held the same."""
    db = await _table(tmp_path)
    trips.clear()
    try:
        async with db.session(inline=False) as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.execute(text("DELETE FROM t WHERE n < 0"))
        assert trips == ["BEGIN", "INSERT", "DELETE"]
        async with db.session(writes=False) as session:
            assert (await session.scalar(text("SELECT count(*) FROM t"))) == 1
    finally:
        await db.close()
