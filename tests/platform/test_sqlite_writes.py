"""Concurrent writers on the all-in-one SQLite file: a write session takes the write lock when
it begins, so one that read first never fails on a stale snapshot; a lock not won in time is a
503 with Retry-After, not a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

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


@pytest.mark.parametrize(
    ("message", "status"), [("database is locked", 503), ("disk I/O error", 500)]
)
async def test_a_locked_database_is_a_retryable_503(message: str, status: int) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    async def write() -> None:
        raise OperationalError("INSERT …", {}, Exception(message))

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
    """The calls made in the driver's thread, by name, from now on."""
    made: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
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
            assert trips == ["_run_statement"] * 2  # BEGIN (deferred), SELECT
            updated = await session.execute(text("UPDATE t SET n = n + 10"))
            assert trips == ["_run_statement"] * 3
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        assert updated.rowcount == 2  # type: ignore[attr-defined]
    finally:
        await db.close()


async def test_a_write_transaction_runs_its_statements_inline(
    tmp_path: Path, trips: list[str]
) -> None:
    """Once BEGIN IMMEDIATE holds the write lock, statements run on the loop's thread (no turn
    of the loop each while the lock is held); BEGIN and COMMIT, large batches, and everything
    after the transaction go to the driver's thread."""
    db = await _table(tmp_path)
    trips.clear()
    try:
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            begun = list(trips)
            assert begun == ["_run_statement"]  # BEGIN IMMEDIATE, then nothing more
            await session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(9)])
            assert (await session.scalar(text("SELECT count(*) FROM t"))) == 10
            assert trips == begun
            big = [{"n": n} for n in range(db_module.INLINE_MANY + 1)]
            await session.execute(text("INSERT INTO t VALUES (:n)"), big)
            assert trips == [*begun, "_run_statement"]
        assert any("commit" in call for call in trips)
        trips.clear()
        async with db.session(writes=False) as session:  # committed: back to the thread
            total = await session.scalar(text("SELECT count(*) FROM t"))
        assert total == 10 + db_module.INLINE_MANY + 1
        assert trips[0] == "_run_statement"
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (-1)"))
                raise RuntimeError("abandon")
        trips.clear()
        async with db.session(writes=False) as session:  # rolled back: the thread again
            assert (await session.scalar(text("SELECT min(n) FROM t"))) == 0
        assert trips[0] == "_run_statement"
    finally:
        await db.close()
