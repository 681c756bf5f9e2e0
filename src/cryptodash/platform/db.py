"""Database: SQLAlchemy 2 async on SQLite (aiosqlite) or PostgreSQL (asyncpg).

Also the column types every domain shares, so money stays exact and timestamps stay aware on
both engines: `Numeric38` is NUMERIC(38,18) on PostgreSQL and exact decimal text on SQLite;
`UTCDateTime` is timestamptz on PostgreSQL and always comes back timezone-aware (UTC).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import BigInteger, Dialect, Integer, MetaData, Numeric, String, event, text
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import DateTime, TypeDecorator
from sqlalchemy.util import EMPTY_DICT

from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics

log = get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Surrogate ids are BIGINT; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Numeric38(TypeDecorator[Decimal]):
    """NUMERIC(38,18) on PostgreSQL; exact decimal text on SQLite (whose REAL would round)."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(str(value))
        elif not isinstance(value, Decimal):
            value = Decimal(value)
        if dialect.name == "sqlite":
            return format(value, "f")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite stored as naive UTC and returned aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime; timestamps must be timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return datetime.now(UTC)


def async_url(url: str) -> URL:
    """Accept conventional URLs (`postgresql://`, `sqlite:///`) and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


CHECKPOINT_SECONDS = 1.0
"""How often, at most, a SQLite database's WAL is checkpointed after writes."""

SQLITE_BUSY_SECONDS = 5.0
"""How long a SQLite writer waits for the write lock before "database is locked" (a 503)."""


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    # Commits run on the event loop's thread (`_OneTripConnection`): none of them may copy the
    # WAL into the database and fsync it. `Database` checkpoints in the driver's thread.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
    # The driver's own implicit BEGIN cannot say IMMEDIATE: SQLAlchemy emits it (`_sqlite_begin`).
    dbapi_connection.isolation_level = None


SQLITE_BEGIN = "sqlite_begin"
"""Execution option: the BEGIN mode of a SQLite transaction (DEFERRED when absent)."""

SQLITE_INLINE = "sqlite_inline"
"""Execution option: False keeps a SQLite write transaction in the driver's thread."""


_RELEASE_WRITER = "cryptodash_release_sqlite_writer"
"""`Session.info` key: lets go of this process's SQLite write queue (`Database._sqlite_writer`)."""


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    """A write session's transaction ended: the next writer may begin (`Database.session`'s
    block allows no statement after its commit)."""
    release = session.info.pop(_RELEASE_WRITER, None)
    if release is not None:
        release()


def _sqlite_begin(conn: Any) -> None:
    """A write transaction on SQLite takes the write lock when it begins (IMMEDIATE, waiting
    up to busy_timeout for it). A deferred one that reads and then writes fails at once with
    "database is locked" when another writer committed in between (WAL cannot upgrade a stale
    snapshot), which under concurrent writes turned into 500s."""
    options = conn.get_execution_options()
    mode = options.get(SQLITE_BEGIN, "DEFERRED")
    ours = conn.connection.dbapi_connection
    inline = mode == "IMMEDIATE" and options.get(SQLITE_INLINE, True)
    if inline and isinstance(ours, _OneTripConnection) and ours.begin_at_once():
        return
    conn.exec_driver_sql(f"BEGIN {mode}")
    if inline and isinstance(ours, _OneTripConnection):
        ours.began_writing()


def create_engine(
    url: str, *, metrics: Metrics | None = None, pool_size: int = 10, max_overflow: int = 20
) -> AsyncEngine:
    target = async_url(url)
    kwargs: dict[str, Any] = {}
    if target.get_backend_name() == "sqlite":
        if target.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        # Statements of a write transaction run on the event loop's thread (see
        # `_OneTripConnection`), one at a time per connection as before.
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            pool_timeout=10,
            connect_args={"timeout": 5, "command_timeout": 30},
        )
    engine = create_async_engine(target, **kwargs)
    if target.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _one_trip_cursors)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    if metrics is not None:
        _instrument(engine, metrics)
    return engine


def _instrument(engine: AsyncEngine, metrics: Metrics) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _start(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        conn.info.setdefault("query_started", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:
        started = conn.info.get("query_started")
        if started:
            metrics.db_query_duration.observe(time.perf_counter() - started.pop())

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: Any) -> None:
        started = context.connection.info.get("query_started") if context.connection else None
        if started:
            started.pop()


class Database:
    """The write engine, an optional read engine (a replica) and their session factories."""

    def __init__(
        self,
        url: str,
        *,
        read_url: str | None = None,
        metrics: Metrics | None = None,
        pool_size: int = 10,
        max_overflow: int = 20,
    ) -> None:
        self.url = url
        self._metrics = metrics
        self.engine = create_engine(
            url, metrics=metrics, pool_size=pool_size, max_overflow=max_overflow
        )
        self.read_engine = (
            create_engine(read_url, metrics=metrics, pool_size=pool_size, max_overflow=max_overflow)
            if read_url
            else self.engine
        )
        # Sessions that write begin IMMEDIATE on SQLite (ignored elsewhere); requests that only
        # read (GET) and read sessions stay DEFERRED, so readers never queue for the lock.
        self.sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}), expire_on_commit=False
        )
        self._threaded_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE", SQLITE_INLINE: False}),
            expire_on_commit=False,
        )
        self._deferred_sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._checkpoint: asyncio.Task[None] | None = None
        self._checkpointed = 0.0
        self._write_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(
        self, *, writes: bool = True, inline: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back on error.
        `writes=False` for one that only reads (on SQLite it does not take the write lock).
        `inline=False` for a long write (a retention sweep, a batch job): on SQLite its
        statements run in the driver's thread, so they never hold the event loop (see
        `_OneTripConnection`); the write lock is held as long either way."""
        if not writes:
            maker = self._deferred_sessionmaker
        else:
            maker = self.sessionmaker if inline else self._threaded_sessionmaker
        if not writes or self.dialect != "sqlite":
            async with maker() as session, session.begin():
                yield session
            return
        # The lock is let go once the transaction ends (its commit or rollback: what the
        # caller does after a commit, such as a cache write, is no other writer's wait), at
        # the latest when the block ends, before the session returns its connection to the
        # pool (a reset, one more trip to the driver's thread).
        async with maker() as session, self._sqlite_writer(session), session.begin():
            yield session

    @asynccontextmanager
    async def _sqlite_writer(self, session: AsyncSession) -> AsyncIterator[None]:
        """SQLite has one writer at a time. Its own queue is a busy handler that sleeps and
        retries (up to 100 ms between tries), so writers queued there wake late and a burst
        of writes turns into seconds of waiting: this process's writers queue here instead,
        first come first served, and meet SQLite's lock one at a time. Waiting longer than
        SQLite would (busy_timeout) is the same "database is locked" error. The lock goes
        with the session's transaction (`_transaction_ended`)."""
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(SQLITE_BUSY_SECONDS):
                await lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                lock.release()
                self._checkpoint_soon()

        session.info[_RELEASE_WRITER] = release
        try:
            yield
        finally:
            session.info.pop(_RELEASE_WRITER, None)
            release()

    def _checkpoint_soon(self) -> None:
        """After a write: copy the WAL into the database (a passive checkpoint, in the driver's
        thread, never waiting for readers or writers) at most every `CHECKPOINT_SECONDS`."""
        now = time.monotonic()
        if now - self._checkpointed < CHECKPOINT_SECONDS:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._checkpointed = now
        self._checkpoint = asyncio.create_task(self._checkpoint_wal(), name="sqlite-checkpoint")

    async def _checkpoint_wal(self) -> None:
        try:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                async with driver.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
                    await cursor.fetchall()  # run to its end: no statement left in progress
        except (DBAPIError, OSError, sqlite3.Error) as exc:
            log.warning("sqlite_checkpoint_failed", error=str(exc).splitlines()[0])

    @asynccontextmanager
    async def lazy_session(self) -> AsyncIterator[AsyncSession]:
        """A session on the primary for reads that usually need no database (answers from the
        cache): nothing begins until it runs a statement (then a deferred transaction, which
        closing rolls back), and it never queues for SQLite's write lock."""
        async with self._deferred_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OSError, DBAPIError, OperationalError, TimeoutError) as exc:
            raise BackendUnavailable("database", str(exc).splitlines()[0]) from exc

    def record_pool(self) -> None:
        """Publish pool usage to `db_pool_connections{state}` (checked out, idle, overflow)."""
        if self._metrics is None:
            return
        pool: Any = self.engine.sync_engine.pool
        if not hasattr(pool, "checkedout"):
            return
        gauge = self._metrics.db_pool_connections
        gauge.labels("in_use").set(pool.checkedout())
        gauge.labels("idle").set(pool.checkedin())
        gauge.labels("overflow").set(max(0, pool.overflow()))
        gauge.labels("capacity").set(pool.size() + getattr(pool, "_max_overflow", 0))

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


# SQLSTATE of "cannot reach the server": class 08 (connection exception) and the shutdown /
# start-up refusals of a restarting server (admin shutdown, crash shutdown, cannot connect now).
_UNREACHABLE_STATES = ("57P01", "57P02", "57P03")


def is_connection_error(exc: BaseException) -> bool:
    """True when a database error means "cannot reach the server" rather than a bad statement:
    refused or dropped connections, a server shutting down or still starting up."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, ConnectionError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNREACHABLE_STATES):
            return True
        if type(current).__name__ in (
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "ConnectionFailureError",
        ):
            return True
        if type(current).__name__ == "InterfaceError" and "connection" in str(current).lower():
            return True
        following = getattr(current, "orig", None)
        current = following if isinstance(following, BaseException) else current.__cause__
    return False


__all__ = [
    "Base",
    "BigIntId",
    "Database",
    "Numeric38",
    "UTCDateTime",
    "async_url",
    "create_engine",
    "is_connection_error",
    "utcnow",
]


# --------------------------------------------------------------------------- SQLite driver


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor makes a round trip to the driver's thread to open a
    cursor, one to execute, one to fetch and one to close: four per statement, each waiting
    for a turn of the event loop, which under load is most of a write's time (and of how long
    it holds SQLite's write lock). This one does the four in one call to the thread.

    The rows come back whole, as they did (the adapter's cursor buffered them too); statements
    that stream use the server-side cursor, which is unchanged."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = collections.deque()
        self._soft_closed_memoized = EMPTY_DICT
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            if connection in _WRITING and (not many or len(parameters) <= INLINE_MANY):
                result = _run_statement(connection._conn, operation, parameters, many=many)
            else:
                result = await connection._execute(
                    _run_statement, connection._conn, operation, parameters, many=many
                )
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


def _run_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, *, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """In the driver's thread: execute, fetch every row, close."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


_WRITING: WeakSet[Any] = WeakSet()
"""The driver connections inside a write transaction that holds SQLite's write lock."""

INLINE_MANY = 256
"""A batch of up to this many rows runs inline in a write transaction; a larger one, in the
driver's thread. (An upsert costs up to ~0.3 ms a row under load; at 64 the market
persister's flush of ~120 candles went to the thread and held the lock through the trip:
request writes waited longer, p50 17 → 25 ms.)"""


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """The adapter's connection, handing out `_OneTripCursor`s.

    A write transaction holds SQLite's only write lock from BEGIN IMMEDIATE to COMMIT, and
    each trip to the driver's thread waits for a turn of the event loop, milliseconds under
    load: a write of ten statements held the lock for 20-40 ms, so writes queued behind each
    other for seconds. So a write transaction runs inline, on the event loop's thread, where
    nothing in it can wait: BEGIN IMMEDIATE is tried at once (with no busy wait; when another
    process has the lock it waits in the thread as before), its statements cannot wait for a
    lock (it has it; WAL readers never block a writer), and COMMIT only appends to the WAL
    (automatic checkpoints are off; `Database` checkpoints in the thread). Each takes
    microseconds. Reading transactions and batches of over `INLINE_MANY` rows still go to
    the thread."""

    __slots__ = ()
    _cursor_cls = _OneTripCursor

    def begin_at_once(self) -> bool:
        """BEGIN IMMEDIATE inline if the write lock is free now (no other process has it);
        False when it is not: then BEGIN waits for it in the driver's thread."""
        raw: sqlite3.Connection = self._connection._conn
        # Each statement run to its end (a PRAGMA's row left unread keeps it "in progress",
        # and COMMIT refuses to run while one is).
        raw.execute("PRAGMA busy_timeout=0").fetchall()
        try:
            raw.execute("BEGIN IMMEDIATE").fetchall()
        except sqlite3.OperationalError:
            return False
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}").fetchall()
        self.began_writing()
        return True

    def began_writing(self) -> None:
        _WRITING.add(self._connection)

    def commit(self) -> None:
        if not self._end_inline(sqlite3.Connection.commit):  # appends to the WAL, no checkpoint
            super().commit()

    def rollback(self) -> None:
        if self._end_inline(sqlite3.Connection.rollback):
            return
        # The pool resets every connection it takes back: after a COMMIT there is nothing to
        # roll back, and asking the thread would cost the writer a turn of the loop.
        raw: sqlite3.Connection | None = self._connection._connection
        if raw is not None and raw.in_transaction:
            super().rollback()

    def _end_inline(self, end: Callable[[sqlite3.Connection], None]) -> bool:
        """End a write transaction inline (`end`: commit or rollback); False when this
        connection is not in one (then the adapter's own way, in the driver's thread)."""
        if self._connection not in _WRITING:
            return False
        _WRITING.discard(self._connection)
        try:
            end(self._connection._conn)
        except Exception as error:
            self._handle_exception(error)
        return True


def _one_trip_cursors(dbapi_connection: Any, _: Any) -> None:
    """On each new SQLite connection of our engines (not SQLAlchemy's class for everyone)."""
    dbapi_connection.__class__ = _OneTripConnection
