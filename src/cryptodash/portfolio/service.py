"""Portfolio service: portfolios, their transactions and the holdings they imply, live
valuation, history, risk, the watchlist and the hourly snapshots.

Every function takes the caller's `user_id` and scopes every query by it: another user's
portfolio is indistinguishable from one that does not exist (`NotFound`).

Writes. A change to a portfolio's transactions runs under the portfolio's row lock (an UPDATE
that bumps `portfolios.revision`), replays *all* its transactions with the change applied and
refuses it (`Invalid`, nothing written) when any holding would go negative at any moment.
Then `portfolio_assets` is rewritten from the replay, snapshots from the change's time on are
dropped (they described other holdings) and one is recorded at the current value. The caller
commits, then calls `after_write`, which caches the ledger the write computed.

Cache. `portfolio:{user_id}:{portfolio_id}` (5 min) holds the portfolio's *ledger* — what its
transactions add up to per coin, independent of prices — stamped with the revision it was
computed at; a stamp that differs from the portfolio's current revision is a miss, so a
ledger computed concurrently with a write can never be served after it. Valuation at live
prices (`price:{coin_id}`, the market's cache) happens on every read: cheap, and always live.
`portfolio:revision:{portfolio_id}` (1 day) is the latest revision a writer took: written
under the portfolio's lock, before the commit, so it only grows. A cached ledger stamped with
it is current and answers `performance` without reading the database (the key's user id is the
ownership check: a ledger is only ever stored under its owner's id); without the marker, or
with another stamp, the portfolio row is read as before.

For the real-time service: `performance(session, cache, settings=…, user_id=…,
portfolio_id=…)` is the `/performance` body as a `PerformanceRead`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import insert as sql_insert
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.analytics import service as analytics
from cryptodash.analytics.catalog import periods_per_year
from cryptodash.config import Settings
from cryptodash.errors import Conflict, Invalid, NotFound
from cryptodash.market import service as market
from cryptodash.market.candles import interval_seconds
from cryptodash.market.coins import Universe
from cryptodash.platform.cache import Cache, set_json
from cryptodash.platform.db import Database, utcnow
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics
from cryptodash.portfolio import csv_format
from cryptodash.portfolio import history as history_math
from cryptodash.portfolio import risk as risk_math
from cryptodash.portfolio.accounting import (
    ZERO,
    Book,
    Holding,
    Ledger,
    NegativeHolding,
    Trade,
    Valuation,
    decimal_text,
    ratio,
    replay,
    value,
)
from cryptodash.portfolio.models import (
    Portfolio,
    PortfolioAsset,
    PortfolioHistory,
    PortfolioTransaction,
    WatchlistItem,
)
from cryptodash.portfolio.schemas import (
    AssetPerformance,
    AssetRisk,
    Correlation,
    HistoryPoint,
    HistoryRead,
    PerformanceRead,
    PortfolioCreate,
    PortfolioUpdate,
    RiskRead,
    TransactionCreate,
    TransactionPage,
    TransactionRead,
    TransactionUpdate,
)
from cryptodash.portfolio.schemas import (
    WatchlistItem as WatchlistItemRead,
)

log = get_logger(__name__)

LEDGER_TTL = 300.0
PENDING_ID = 2**62
"""Id of a transaction not stored yet: after every stored one at the same instant (stored ids
grow), as it will be once stored."""
RANGE_DAYS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
MAX_HISTORY_POINTS = 366 * 24 + 1
SNAPSHOT_EVERY = 3600.0
SNAPSHOT_BATCH = 200
BENCHMARK = "bitcoin"
STORABLE = Decimal(10) ** 20
"""NUMERIC(38,18) holds 20 digits before the point."""


def cache_key(user_id: int, portfolio_id: int) -> str:
    return f"portfolio:{user_id}:{portfolio_id}"


def revision_key(portfolio_id: int) -> str:
    return f"portfolio:revision:{portfolio_id}"


REVISION_TTL = 86_400.0


def _invalid(loc: Sequence[str], message: str, kind: str = "value_error") -> Invalid:
    return Invalid(message, details=[{"loc": list(loc), "msg": message, "type": kind}])


def _universe(settings: Settings) -> Universe:
    return Universe.from_settings(settings)


def _check_coin(settings: Settings, coin_id: str, loc: Sequence[str]) -> None:
    universe = _universe(settings)
    if universe.get(coin_id) is None:
        raise _invalid(
            loc,
            f"unknown coin {coin_id!r}; tracked: {', '.join(universe.ids)}",
            "unknown_coin",
        )


# --------------------------------------------------------------------------- portfolios


async def list_portfolios(session: AsyncSession, *, user_id: int) -> Sequence[Portfolio]:
    rows = await session.scalars(
        select(Portfolio).where(Portfolio.user_id == user_id).order_by(Portfolio.id)
    )
    return rows.all()


async def get(session: AsyncSession, *, user_id: int, portfolio_id: int) -> Portfolio:
    portfolio = await session.scalar(
        select(Portfolio).where(Portfolio.id == portfolio_id, Portfolio.user_id == user_id)
    )
    if portfolio is None:
        raise NotFound("Portfolio not found")
    return portfolio


@dataclass(frozen=True, slots=True)
class Locked:
    """A portfolio as a write of its transactions locked it: what the write needs of it."""

    id: int
    user_id: int
    revision: int
    cost_basis_method: str


_PORTFOLIOS: Any = Portfolio.__table__
_LOCK: Any = (
    sql_update(_PORTFOLIOS)
    .where(_PORTFOLIOS.c.id == bindparam("pid"), _PORTFOLIOS.c.user_id == bindparam("uid"))
    .values(
        revision=_PORTFOLIOS.c.revision + 1,
        updated_at=bindparam("now", type_=_PORTFOLIOS.c.updated_at.type),
    )
    .returning(
        _PORTFOLIOS.c.id,
        _PORTFOLIOS.c.user_id,
        _PORTFOLIOS.c.revision,
        _PORTFOLIOS.c.cost_basis_method,
    )
)
"""The lock of `_lock`, as one Core statement built once (no ORM object loaded)."""


async def _lock(session: AsyncSession, cache: Cache, *, user_id: int, portfolio_id: int) -> Locked:
    """The caller's portfolio, locked for this transaction (its revision bumped): writers of
    one portfolio take turns, on PostgreSQL (row lock) and SQLite (the write lock) alike."""
    row = (
        await session.execute(_LOCK, {"pid": portfolio_id, "uid": user_id, "now": utcnow()})
    ).first()
    if row is None:
        raise NotFound("Portfolio not found")
    portfolio = Locked(*row)
    # Under the lock: markers of one portfolio are written in revision order. A commit that
    # fails leaves the marker ahead of the stored revision, which only costs reads a query.
    await cache.set(revision_key(portfolio.id), str(portfolio.revision).encode(), REVISION_TTL)
    return portfolio


async def _lock_portfolio(
    session: AsyncSession, cache: Cache, *, user_id: int, portfolio_id: int
) -> Portfolio:
    """`_lock`, and the portfolio's row (for a change to the portfolio itself)."""
    await _lock(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    portfolio = await session.get(Portfolio, portfolio_id, populate_existing=True)
    if portfolio is None:  # not after the lock found it, in this transaction; for the type
        raise NotFound("Portfolio not found")
    return portfolio


async def create(session: AsyncSession, *, user_id: int, data: PortfolioCreate) -> Portfolio:
    portfolio = Portfolio(
        user_id=user_id,
        name=data.name,
        base_currency=data.base_currency,
        cost_basis_method=data.cost_basis_method,
        revision=0,
    )
    session.add(portfolio)
    await session.flush()
    return portfolio


async def update(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    data: PortfolioUpdate,
) -> Portfolio:
    portfolio = await _lock_portfolio(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    changes = data.model_dump(exclude_unset=True)
    method_changed = changes.get("cost_basis_method", portfolio.cost_basis_method) != (
        portfolio.cost_basis_method
    )
    for name, new in changes.items():
        setattr(portfolio, name, new)
    await session.flush()
    if method_changed:
        # Another method, other cost bases: the holdings and every snapshot change with it.
        trades = await _trades(session, portfolio.id)
        ledger = _replay(trades, portfolio.cost_basis_method, ["body", "cost_basis_method"])
        await _record(session, cache, settings, portfolio, ledger, since=None)
    return portfolio


async def delete(session: AsyncSession, cache: Cache, *, user_id: int, portfolio_id: int) -> None:
    portfolio = await _lock_portfolio(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    await session.delete(portfolio)
    await session.flush()


_SETTLED = "portfolio_ledger_after_commit"
"""`session.info` key: {portfolio id: the ledger JSON a write left, stamped with its revision}."""


async def after_write(
    session: AsyncSession, cache: Cache, *, user_id: int, portfolio_id: int
) -> None:
    """Call after committing a write: the cached ledger becomes the one the write computed
    (stamped with the revision it took), so the next read needs no replay; without one (the
    portfolio was deleted, or renamed) it is dropped. Stored only now, after the commit: a
    ledger of a write that did not commit is never cached. A slower writer storing an older
    revision over a newer one only costs readers a miss (its stamp is not the marker's)."""
    key = cache_key(user_id, portfolio_id)
    settled: dict[int, dict[str, Any]] = session.info.pop(_SETTLED, {})
    body = settled.get(portfolio_id)
    if body is None:
        await cache.delete(key)
    else:
        await set_json(cache, key, body, LEDGER_TTL)


# --------------------------------------------------------------------------- transactions


def _trade(row: PortfolioTransaction, *, id: int | None = None) -> Trade:
    return Trade(
        coin_id=row.coin_id,
        side=row.side,  # type: ignore[arg-type]
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        executed_at=row.executed_at,
        id=row.id if id is None else id,
    )


_TRADE_COLUMNS = (
    PortfolioTransaction.coin_id,
    PortfolioTransaction.side,
    PortfolioTransaction.quantity,
    PortfolioTransaction.price,
    PortfolioTransaction.fee,
    PortfolioTransaction.executed_at,
    PortfolioTransaction.id,
)


async def _trades(session: AsyncSession, portfolio_id: int) -> list[Trade]:
    """The portfolio's transactions in replay order, as plain rows (a column select is several
    times cheaper than loading ORM objects)."""
    rows = await session.execute(
        select(*_TRADE_COLUMNS)
        .where(PortfolioTransaction.portfolio_id == portfolio_id)
        .order_by(PortfolioTransaction.executed_at, PortfolioTransaction.id)
    )
    return [Trade(*row) for row in rows.all()]  # type: ignore[arg-type]  # side: CHECK-ed


def _replay(
    trades: Iterable[Trade],
    method: str,
    loc: Sequence[str],
    where: Mapping[int, str] | None = None,
) -> Ledger:
    """Replay the transactions; `Invalid` (at `loc`) when a holding would go negative.
    `where` names the place of a pending transaction in the request (a CSV line)."""
    try:
        return replay(trades, method)  # type: ignore[arg-type]
    except NegativeHolding as exc:
        prefix = ""
        if where and exc.trade.id in where:
            loc = ["body", where[exc.trade.id]]
            prefix = f"{where[exc.trade.id]}: "
        elif exc.trade.id < PENDING_ID:
            prefix = f"transaction {exc.trade.id} would no longer be covered: "
        raise _invalid(
            loc, f"{prefix}{exc}; a holding cannot go negative", "negative_holding"
        ) from exc


def _read(row: PortfolioTransaction, ledger: Ledger | None) -> TransactionRead:
    realized = ledger.realized.get(row.id) if ledger is not None else None
    return TransactionRead(
        id=row.id,
        portfolio_id=row.portfolio_id,
        coin_id=row.coin_id,
        side=row.side,
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        executed_at=row.executed_at,
        created_at=row.created_at,
        realized_gain=realized if row.side == "sell" else None,
    )


async def list_transactions(
    session: AsyncSession,
    cache: Cache,
    *,
    user_id: int,
    portfolio_id: int,
    limit: int,
    offset: int,
    coin_id: str | None = None,
) -> TransactionPage:
    """Newest first (by execution time, then by id)."""
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    conditions = [PortfolioTransaction.portfolio_id == portfolio.id]
    if coin_id is not None:
        conditions.append(PortfolioTransaction.coin_id == coin_id)
    total = await session.scalar(
        select(func.count()).select_from(PortfolioTransaction).where(*conditions)
    )
    rows = await session.scalars(
        select(PortfolioTransaction)
        .where(*conditions)
        .order_by(PortfolioTransaction.executed_at.desc(), PortfolioTransaction.id.desc())
        .limit(limit)
        .offset(offset)
    )
    ledger = await load_ledger(session, cache, portfolio)
    return TransactionPage(
        items=[_read(row, ledger) for row in rows.all()],
        total=total or 0,
        limit=limit,
        offset=offset,
    )


async def _get_transaction(
    session: AsyncSession, portfolio: Portfolio | Locked, tx_id: int
) -> PortfolioTransaction:
    row = await session.scalar(
        select(PortfolioTransaction).where(
            PortfolioTransaction.id == tx_id, PortfolioTransaction.portfolio_id == portfolio.id
        )
    )
    if row is None:
        raise NotFound("Transaction not found")
    return row


async def get_transaction(
    session: AsyncSession, cache: Cache, *, user_id: int, portfolio_id: int, tx_id: int
) -> TransactionRead:
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    row = await _get_transaction(session, portfolio, tx_id)
    return _read(row, await load_ledger(session, cache, portfolio))


def _new_row(portfolio_id: int, data: TransactionCreate) -> PortfolioTransaction:
    return PortfolioTransaction(
        portfolio_id=portfolio_id,
        coin_id=data.coin_id,
        side=data.side,
        quantity=data.quantity,
        price=data.price,
        fee=data.fee,
        executed_at=data.executed_at,
        created_at=utcnow(),
    )


async def add_transaction(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    data: TransactionCreate,
    prefetched: Prefetched | None = None,
) -> TransactionRead:
    """`prefetched`: what the write reads from the cache, read before the transaction began
    (see `Prefetched`)."""
    portfolio = await _lock(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    _check_coin(settings, data.coin_id, ["body", "coin_id"])
    row = _new_row(portfolio.id, data)
    pending = _trade(row, id=PENDING_ID)
    loc = ["body", "quantity"]
    ledger = await _appended(cache, portfolio, pending, loc, prefetched)
    if ledger is None:
        stored = await _trades(session, portfolio.id)
        ledger = _replay([*stored, pending], portfolio.cost_basis_method, loc)
    row.id = await _insert_transaction(session, row)
    ledger = _with_ids(ledger, {PENDING_ID: row.id})
    cached = None if prefetched is None else prefetched.prices
    await _record(session, cache, settings, portfolio, ledger, since=row.executed_at, cached=cached)
    return _read(row, ledger)


@dataclass(frozen=True, slots=True)
class Prefetched:
    """The cache entries a new transaction reads, read in one round trip before its database
    transaction begins: on SQLite that transaction holds the process's only write lock, and
    each trip to Redis under it is a turn of a loaded event loop that every other writer waits
    out too. The ledger is still checked against the revision the lock gives (a stale one is
    replayed as before); prices are live quotes, a moment older."""

    ledger: bytes | None
    prices: Mapping[str, bytes | None]


async def prefetch(
    cache: Cache, settings: Settings, *, user_id: int, portfolio_id: int
) -> Prefetched:
    """The portfolio's cached ledger and every tracked coin's cached market entry."""
    coins = _universe(settings).ids
    raw = await cache.get_many(
        [cache_key(user_id, portfolio_id), *(market.price_key(c) for c in coins)]
    )
    return Prefetched(raw[0], dict(zip(coins, raw[1:], strict=True)))


_TRANSACTIONS: Any = PortfolioTransaction.__table__
_INSERT_TRANSACTION: Any = sql_insert(_TRANSACTIONS).returning(_TRANSACTIONS.c.id)


async def _insert_transaction(session: AsyncSession, row: PortfolioTransaction) -> int:
    """Store a new transaction (a Core INSERT, not the ORM's unit of work); its id."""
    inserted = await session.execute(
        _INSERT_TRANSACTION,
        {
            "portfolio_id": row.portfolio_id,
            "coin_id": row.coin_id,
            "side": row.side,
            "quantity": row.quantity,
            "price": row.price,
            "fee": row.fee,
            "executed_at": row.executed_at,
            "created_at": row.created_at,
        },
    )
    return int(inserted.scalar_one())


async def _appended(
    cache: Cache,
    portfolio: Portfolio | Locked,
    trade: Trade,
    loc: Sequence[str],
    prefetched: Prefetched | None = None,
) -> Ledger | None:
    """The ledger with `trade` applied after the others, without reading them: when the
    portfolio's ledger as it stood before this write (the revision before the one this write
    took, under its lock) is cached, and the trade comes after its last one (a trade at the
    end of the history, the usual case). None otherwise: then replay them all."""
    key = cache_key(portfolio.user_id, portfolio.id)
    before = _cached_ledger(
        key,
        await cache.get(key) if prefetched is None else prefetched.ledger,
        revision=portfolio.revision - 1,
        method=portfolio.cost_basis_method,
    )
    if before is None or before.last is None or trade.executed_at < before.last[0]:
        return None
    book = Book.resume(before)
    try:
        book.apply(trade)
    except NegativeHolding as exc:
        raise _invalid(loc, f"{exc}; a holding cannot go negative", "negative_holding") from exc
    return book.ledger()


def _with_ids(ledger: Ledger, ids: Mapping[int, int]) -> Ledger:
    """The ledger with pending transactions' ids replaced by their stored ones."""
    realized = {ids.get(k, k): v for k, v in ledger.realized.items()}
    last = ledger.last
    if last is not None:
        last = (last[0], ids.get(last[1], last[1]))
    return Ledger(ledger.method, ledger.holdings, realized, ledger.lots, last)


async def update_transaction(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    tx_id: int,
    data: TransactionUpdate,
) -> TransactionRead:
    portfolio = await _lock(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    row = await _get_transaction(session, portfolio, tx_id)
    changes = data.model_dump(exclude_unset=True)
    if "coin_id" in changes:
        _check_coin(settings, changes["coin_id"], ["body", "coin_id"])
    before = row.executed_at
    edited = Trade(
        coin_id=changes.get("coin_id", row.coin_id),
        side=changes.get("side", row.side),
        quantity=changes.get("quantity", row.quantity),
        price=changes.get("price", row.price),
        fee=changes.get("fee", row.fee),
        executed_at=changes.get("executed_at", row.executed_at),
        id=row.id,
    )
    stored = await _trades(session, portfolio.id)
    trades = [edited if t.id == row.id else t for t in stored]
    ledger = _replay(trades, portfolio.cost_basis_method, ["body"])
    for name, new in changes.items():
        setattr(row, name, new)
    await session.flush()
    await _record(session, cache, settings, portfolio, ledger, since=min(before, row.executed_at))
    return _read(row, ledger)


async def delete_transaction(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    tx_id: int,
) -> None:
    portfolio = await _lock(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    row = await _get_transaction(session, portfolio, tx_id)
    stored = await _trades(session, portfolio.id)
    ledger = _replay(
        [t for t in stored if t.id != row.id], portfolio.cost_basis_method, ["path", "tx_id"]
    )
    since = row.executed_at
    await session.delete(row)
    await session.flush()
    await _record(session, cache, settings, portfolio, ledger, since=since)


async def import_csv(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    text: str,
) -> int:
    """Add every row of a transactions CSV, or none: `Invalid` naming the bad lines."""
    portfolio = await _lock(session, cache, user_id=user_id, portfolio_id=portfolio_id)
    try:
        rows = csv_format.read(text)
    except csv_format.CsvProblem as exc:
        raise _invalid(["body", f"line {exc.line}"], str(exc), "csv_error") from exc
    problems: list[dict[str, Any]] = []
    parsed: list[TransactionCreate] = []
    for row in rows:
        try:
            data = TransactionCreate.model_validate(row.values)
        except ValueError as exc:
            for error in getattr(exc, "errors", lambda: [])():
                field = ".".join(str(part) for part in error["loc"])
                problems.append(
                    {
                        "loc": ["body", f"line {row.line}", field],
                        "msg": f"line {row.line}: {field}: {error['msg']}",
                        "type": error["type"],
                    }
                )
            continue
        if _universe(settings).get(data.coin_id) is None:
            problems.append(
                {
                    "loc": ["body", f"line {row.line}", "coin_id"],
                    "msg": f"line {row.line}: coin_id: unknown coin {data.coin_id!r}",
                    "type": "unknown_coin",
                }
            )
            continue
        parsed.append(data)
    if problems:
        lines = sorted({p["loc"][1] for p in problems}, key=lambda s: int(s.split()[1]))
        raise Invalid(
            f"{len(lines)} bad row(s), nothing imported: {', '.join(lines[:20])}",
            details=problems[:100],
        )
    if not parsed:
        raise _invalid(["body"], "no transactions in the file", "csv_error")
    pending = [
        Trade(d.coin_id, d.side, d.quantity, d.price, d.fee, d.executed_at, PENDING_ID + i)
        for i, d in enumerate(parsed)
    ]
    stored = await _trades(session, portfolio.id)
    where = {PENDING_ID + i: f"line {row.line}" for i, row in enumerate(rows)}
    ledger = _replay([*stored, *pending], portfolio.cost_basis_method, ["body"], where)
    now = utcnow()
    # One bulk INSERT, rows in file order (ids grow in that order, as the replay assumed).
    await session.execute(
        sql_insert(PortfolioTransaction),
        [
            {
                "portfolio_id": portfolio.id,
                "coin_id": d.coin_id,
                "side": d.side,
                "quantity": d.quantity,
                "price": d.price,
                "fee": d.fee,
                "executed_at": d.executed_at,
                "created_at": now,
            }
            for d in parsed
        ],
    )
    since = min(d.executed_at for d in parsed)
    await _record(session, cache, settings, portfolio, ledger, since=since)
    return len(parsed)


async def export_csv(session: AsyncSession, *, user_id: int, portfolio_id: int) -> str:
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    rows = await _trades(session, portfolio.id)
    return csv_format.write(
        {
            "executed_at": r.executed_at.isoformat().replace("+00:00", "Z"),
            "coin_id": r.coin_id,
            "side": r.side,
            "quantity": decimal_text(r.quantity),
            "price": decimal_text(r.price),
            "fee": decimal_text(r.fee),
        }
        for r in rows
    )


# --------------------------------------------------------------------------- after a change


async def _record(
    session: AsyncSession,
    cache: Cache,
    settings: Settings,
    portfolio: Portfolio | Locked,
    ledger: Ledger,
    since: datetime | None,
    cached: Mapping[str, bytes | None] | None = None,
) -> None:
    """Holdings and snapshots after a change: `portfolio_assets` rewritten from the ledger,
    snapshots from `since` on (all when None) dropped, one recorded now. `Invalid` when a
    figure to store would not fit NUMERIC(38,18)."""
    valuation, _ = await _value(session, cache, settings, ledger, None, cached)
    figures = [valuation.total_value, valuation.cost_basis]
    for h in ledger.held:
        figures += [h.quantity, h.average_price or ZERO]
    if any(abs(f) >= STORABLE for f in figures):
        raise _invalid(
            ["body"],
            "the amounts are too large: holdings, prices and values must stay below 10^20",
            "too_large",
        )
    dialect = session.get_bind().dialect.name
    statements = _write_statements(dialect)
    await session.execute(statements.clear_assets, {"portfolio_id": portfolio.id})
    held = [
        {
            "portfolio_id": portfolio.id,
            "coin_id": h.coin_id,
            "quantity": h.quantity,
            "purchase_price": h.average_price,
            "purchase_date": h.opened_at,
        }
        for h in ledger.held
    ]
    if held:
        await session.execute(statements.add_assets, held)
    if since is None:
        await session.execute(statements.clear_history, {"portfolio_id": portfolio.id})
    else:
        await session.execute(
            statements.clear_history_since, {"portfolio_id": portfolio.id, "since": since}
        )
    await _save_snapshot(session, portfolio.id, valuation, utcnow())
    ids = [*ledger.realized, *(() if ledger.last is None else (ledger.last[1],))]
    if all(tx_id < PENDING_ID for tx_id in ids):  # every id in it is a stored one
        settled = _ledger_json(ledger, portfolio.revision)
        session.info.setdefault(_SETTLED, {})[portfolio.id] = settled


async def _save_snapshot(
    session: AsyncSession, portfolio_id: int, valuation: Valuation, at: datetime
) -> None:
    one = Decimal(1)
    await session.execute(
        _write_statements(session.get_bind().dialect.name).save_snapshot,
        {
            "portfolio_id": portfolio_id,
            "timestamp": at,
            # NUMERIC(38,18) keeps 18 places: rounded here, the same on both engines.
            "total_value": ratio(valuation.total_value, one),
            "cost_basis": ratio(valuation.cost_basis, one),
        },
    )


@dataclass(frozen=True, slots=True)
class _WriteStatements:
    """The statements every write runs, built once per dialect: Core statements on the tables
    (no ORM unit of work or session synchronisation), their compiled forms cached by
    SQLAlchemy under a key computed once."""

    clear_assets: Any
    add_assets: Any
    clear_history: Any
    clear_history_since: Any
    save_snapshot: Any


_WRITE_STATEMENTS: dict[str, _WriteStatements] = {}


def _write_statements(dialect: str) -> _WriteStatements:
    statements = _WRITE_STATEMENTS.get(dialect)
    if statements is not None:
        return statements
    assets: Any = PortfolioAsset.__table__
    history: Any = PortfolioHistory.__table__
    of_portfolio = history.c.portfolio_id == bindparam("portfolio_id")
    upsert = (postgresql if dialect == "postgresql" else sqlite).insert(history)
    statements = _WriteStatements(
        clear_assets=sql_delete(assets).where(assets.c.portfolio_id == bindparam("portfolio_id")),
        add_assets=sql_insert(assets),
        clear_history=sql_delete(history).where(of_portfolio),
        clear_history_since=sql_delete(history).where(
            of_portfolio, history.c.timestamp >= bindparam("since")
        ),
        save_snapshot=upsert.on_conflict_do_update(
            index_elements=["portfolio_id", "timestamp"],
            set_={
                "total_value": upsert.excluded.total_value,
                "cost_basis": upsert.excluded.cost_basis,
            },
        ),
    )
    _WRITE_STATEMENTS[dialect] = statements
    return statements


# --------------------------------------------------------------------------- holdings


async def list_assets(
    session: AsyncSession, *, user_id: int, portfolio_id: int
) -> Sequence[PortfolioAsset]:
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    rows = await session.scalars(
        select(PortfolioAsset)
        .where(PortfolioAsset.portfolio_id == portfolio.id)
        .order_by(PortfolioAsset.coin_id)
    )
    return rows.all()


# --------------------------------------------------------------------------- ledger cache


def _ledger_json(ledger: Ledger, revision: int) -> dict[str, Any]:
    return {
        "revision": revision,
        "method": ledger.method,
        "holdings": {
            coin: [
                str(h.quantity),
                str(h.cost_basis),
                str(h.realized_gain),
                str(h.invested),
                str(h.proceeds),
                None if h.opened_at is None else h.opened_at.isoformat(),
                str(h.last_price),
            ]
            for coin, h in ledger.holdings.items()
        },
        "realized": {str(k): str(v) for k, v in ledger.realized.items()},
        "lots": {coin: [[str(q), str(c)] for q, c in lots] for coin, lots in ledger.lots.items()},
        "last": None if ledger.last is None else [ledger.last[0].isoformat(), ledger.last[1]],
    }


def _ledger_from_json(body: Mapping[str, Any]) -> Ledger:
    holdings = {}
    for coin, (qty, cost, realized, invested, proceeds, opened, last) in body["holdings"].items():
        holdings[coin] = Holding(
            coin,
            Decimal(qty),
            Decimal(cost),
            Decimal(realized),
            Decimal(invested),
            Decimal(proceeds),
            None if opened is None else datetime.fromisoformat(opened),
            Decimal(last),
        )
    realized_by_id = {int(k): Decimal(v) for k, v in body["realized"].items()}
    lots = {
        coin: tuple((Decimal(q), Decimal(c)) for q, c in coin_lots)
        for coin, coin_lots in body.get("lots", {}).items()
    }
    last = body.get("last")
    if last is not None:
        last = (datetime.fromisoformat(last[0]), int(last[1]))
    return Ledger(body["method"], holdings, realized_by_id, lots, last)


def _cached_ledger(
    key: str, raw: bytes | None, *, revision: int, method: str | None = None
) -> Ledger | None:
    """The ledger cached at `key` (its bytes `raw`) when it is of `revision` (and `method`)."""
    if raw is None:
        return None
    try:
        body = orjson.loads(raw)
        if body.get("revision") != revision or method not in (None, body.get("method")):
            return None
        return _ledger_from_json(body)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation):
        log.warning("portfolio_ledger_unreadable", key=key)
        return None


async def current_ledger(
    cache: Cache, *, user_id: int, portfolio_id: int
) -> tuple[Ledger, int] | None:
    """The cached ledger and its revision when it is stamped with the latest revision a writer
    took (see the module's docstring), else None: then read the portfolio and `load_ledger`."""
    key = cache_key(user_id, portfolio_id)
    cached, marker = await cache.get_many([key, revision_key(portfolio_id)])
    if marker is None or not marker.isdigit():
        return None
    revision = int(marker)
    ledger = _cached_ledger(key, cached, revision=revision)
    return None if ledger is None else (ledger, revision)


async def load_ledger(session: AsyncSession, cache: Cache, portfolio: Portfolio) -> Ledger:
    """The portfolio's ledger: from the cache when it is of the current revision."""
    key = cache_key(portfolio.user_id, portfolio.id)
    revision = portfolio.revision
    cached = _cached_ledger(
        key, await cache.get(key), revision=revision, method=portfolio.cost_basis_method
    )
    if cached is not None:
        return cached
    trades = await _trades(session, portfolio.id)
    ledger = _replay(trades, portfolio.cost_basis_method, ["path", "portfolio_id"])
    await set_json(cache, key, _ledger_json(ledger, revision), LEDGER_TTL)
    return ledger


# --------------------------------------------------------------------------- live prices


@dataclass(frozen=True, slots=True)
class Quote:
    """A coin's live USD price and 24 h change (market data: from `price:{coin_id}`)."""

    price: Decimal | None
    change_24h_pct: Decimal | None
    stale: bool


async def market_entries(
    session: AsyncSession,
    cache: Cache,
    settings: Settings,
    coin_ids: Sequence[str],
    cached: Mapping[str, bytes | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The coins' `/api/market/coins` entries: the market's cache (`cached`: its entries
    read already, by coin), else built from its stored prices (through the market service);
    an untracked coin has none."""
    if not coin_ids:
        return {}
    universe = _universe(settings)
    if cached is not None and all(c in cached for c in coin_ids):
        raw = [cached[c] for c in coin_ids]
    else:
        raw = await cache.get_many([market.price_key(c) for c in coin_ids])
    found: dict[str, dict[str, Any]] = {}
    rate: Decimal | None = None
    rate_known = False
    now = datetime.now(UTC)
    for coin_id, entry in zip(coin_ids, raw, strict=True):
        if entry is not None:
            found[coin_id] = orjson.loads(entry)
        elif universe.get(coin_id) is not None:
            if not rate_known:
                rate, rate_known = await market.cached_usdt_rate(cache), True
            found[coin_id] = await market.entry_from_db(
                session,
                universe,
                coin_id,
                now=now,
                stale_after=settings.price_stale_seconds,
                usdt_usd=rate,
            )
    return found


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))  # JSON numbers: str() first, never Decimal(float)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


async def live_quotes(
    session: AsyncSession,
    cache: Cache,
    settings: Settings,
    coin_ids: Sequence[str],
    cached: Mapping[str, bytes | None] | None = None,
) -> dict[str, Quote]:
    entries = await market_entries(session, cache, settings, coin_ids, cached)
    quotes = {}
    for coin_id in coin_ids:
        entry = entries.get(coin_id, {})
        price = _number(entry.get("price"))
        quotes[coin_id] = Quote(
            price if price is not None and price > 0 else None,
            _number(entry.get("change_24h_pct")),
            bool(entry.get("stale", True)) or price is None,
        )
    return quotes


async def _value(
    session: AsyncSession,
    cache: Cache,
    settings: Settings,
    ledger: Ledger,
    metrics: Metrics | None,
    cached: Mapping[str, bytes | None] | None = None,
) -> tuple[Valuation, dict[str, Quote]]:
    """`cached`: the coins' market cache entries when read already (`market_entries`)."""
    held = [h.coin_id for h in ledger.held]
    quotes = await live_quotes(session, cache, settings, held, cached)
    prices = {coin: q.price for coin, q in quotes.items() if q.price is not None}
    changes = {coin: q.change_24h_pct for coin, q in quotes.items()}
    if metrics is not None:
        metrics.portfolio_calculations.inc()
    return value(ledger, prices, changes), quotes


# --------------------------------------------------------------------------- performance


async def performance(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    metrics: Metrics | None = None,
) -> PerformanceRead:
    """The portfolio valued at live prices: totals, gain/loss, ROI, 24 h change, per-asset
    figures. `NotFound` unless the portfolio is the user's. One primary-key read and, when the
    ledger is cached, no other database access while the prices are cached."""
    read, _ = await revised_performance(
        session,
        cache,
        settings=settings,
        user_id=user_id,
        portfolio_id=portfolio_id,
        metrics=metrics,
    )
    return read


async def revised_performance(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    metrics: Metrics | None = None,
) -> tuple[PerformanceRead, int]:
    """`performance`, and the revision of the portfolio it shows: it stays the portfolio's
    performance (at newer prices) while `revision_key(portfolio_id)` holds that revision."""
    current = await current_ledger(cache, user_id=user_id, portfolio_id=portfolio_id)
    if current is not None:
        ledger, revision = current
    else:
        portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
        ledger = await load_ledger(session, cache, portfolio)
        revision = portfolio.revision
    valuation, quotes = await _value(session, cache, settings, ledger, metrics)
    read = PerformanceRead(
        portfolio_id=portfolio_id,
        cost_basis_method=ledger.method,
        total_value=valuation.total_value,
        cost_basis=valuation.cost_basis,
        gain_loss=valuation.gain_loss,
        realized_gain=valuation.realized_gain,
        unrealized_gain=valuation.unrealized_gain,
        roi_percentage=valuation.roi_percentage,
        change_24h=valuation.change_24h,
        total_invested=valuation.total_invested,
        net_proceeds=valuation.net_proceeds,
        assets=[
            AssetPerformance(
                coin_id=a.coin_id,
                quantity=a.quantity,
                price=a.price,
                value=a.value,
                cost_basis=a.cost_basis,
                average_price=a.average_price,
                unrealized_gain=a.unrealized_gain,
                realized_gain=a.realized_gain,
                allocation_pct=a.allocation_pct,
                change_24h=a.change_24h,
                stale=quotes[a.coin_id].stale,
            )
            for a in valuation.assets
        ],
        as_of=datetime.now(UTC),
    )
    return read, revision


# --------------------------------------------------------------------------- history


async def _price_path(
    session: AsyncSession,
    *,
    coin_id: str,
    source: str,
    interval: str,
    first: int,
    last: int,
) -> history_math.PricePath:
    """Closes of the candles whose end falls in [first - size, last]: the one in force at
    `first`, and every one after it."""
    size = interval_seconds(interval)
    at = datetime.fromtimestamp
    closes = [
        (c.time, c.close)
        for c in await market.list_candles(
            session,
            coin_id=coin_id,
            interval=interval,
            source=source,
            end=at(first - size, UTC),
            limit=1,
        )
    ]
    start = first - size + 1
    while True:
        page = await market.list_candles(
            session,
            coin_id=coin_id,
            interval=interval,
            source=source,
            start=at(start, UTC),
            end=None,
            limit=market.MAX_CANDLES,
        )
        closes.extend((c.time, c.close) for c in page if c.time + size <= last)
        if len(page) < market.MAX_CANDLES or page[-1].time + size > last:
            break
        start = page[-1].time + 1
    return history_math.PricePath.from_closes(closes, size)


async def history(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    interval: str,
    range_: str,
    metrics: Metrics | None = None,
    now: datetime | None = None,
) -> HistoryRead:
    """Value and cost basis at every `interval` boundary of the range (from the first
    transaction at the earliest), rebuilt from the transactions and the coins' stored closes
    on their primary source, then a last point at live prices. A point where a coin has no
    close yet takes the hourly snapshot stored for that moment when there is one, else that
    coin's latest trade price."""
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    trades = await _trades(session, portfolio.id)
    body = HistoryRead(portfolio_id=portfolio.id, interval=interval, range=range_, points=[])
    if not trades:
        return body
    now = now or datetime.now(UTC)
    size = interval_seconds(interval)
    end = now.timestamp()
    start = trades[0].executed_at.timestamp()
    days = RANGE_DAYS[range_]
    if days is not None:
        start = max(start, end - days * 86_400)
    times = history_math.grid(start, end, size)
    if len(times) > MAX_HISTORY_POINTS:
        raise _invalid(
            ["query", "interval"],
            f"{len(times)} points is too many for interval={interval}; use interval=1d",
        )
    universe = _universe(settings)
    paths = {}
    for coin_id in dict.fromkeys(t.coin_id for t in trades):
        source = universe.primary_source(coin_id)
        if source is not None and times:
            paths[coin_id] = await _price_path(
                session,
                coin_id=coin_id,
                source=source,
                interval=interval,
                first=times[0],
                last=times[-1],
            )
    points = history_math.reconstruct(trades, portfolio.cost_basis_method, times, paths)  # type: ignore[arg-type]
    gaps = [datetime.fromtimestamp(p.time, UTC) for p in points if not p.complete]
    stored: dict[int, tuple[Decimal, Decimal]] = {}
    if gaps:
        for chunk_start in range(0, len(gaps), 500):
            found = await session.execute(
                select(
                    PortfolioHistory.timestamp,
                    PortfolioHistory.total_value,
                    PortfolioHistory.cost_basis,
                ).where(
                    PortfolioHistory.portfolio_id == portfolio.id,
                    PortfolioHistory.timestamp.in_(gaps[chunk_start : chunk_start + 500]),
                )
            )
            for at, total, cost in found.all():
                stored[int(at.timestamp())] = (total, cost)
    body.points = [
        HistoryPoint(
            timestamp=datetime.fromtimestamp(p.time, UTC),
            total_value=stored[p.time][0] if p.time in stored else p.total_value,
            cost_basis=stored[p.time][1] if p.time in stored else p.cost_basis,
        )
        for p in points
    ]
    if not times or times[-1] < end:
        ledger = await load_ledger(session, cache, portfolio)
        valuation, _ = await _value(session, cache, settings, ledger, metrics)
        body.points.append(
            HistoryPoint(
                timestamp=now, total_value=valuation.total_value, cost_basis=valuation.cost_basis
            )
        )
    return body


# --------------------------------------------------------------------------- risk


async def risk(
    session: AsyncSession,
    cache: Cache,
    *,
    settings: Settings,
    user_id: int,
    portfolio_id: int,
    interval: str,
    window: int,
    metrics: Metrics | None = None,
) -> RiskRead:
    """Risk of the current holdings over the last `window` closed candles of `interval`
    (quantities held fixed): annualized volatility, maximum drawdown, beta to bitcoin, the
    holdings' correlation matrix and each one's volatility and weight (share of live value)."""
    portfolio = await get(session, user_id=user_id, portfolio_id=portfolio_id)
    ledger = await load_ledger(session, cache, portfolio)
    valuation, _ = await _value(session, cache, settings, ledger, metrics)
    universe = _universe(settings)
    held = {h.coin_id: h for h in ledger.held}
    coins = [a.coin_id for a in valuation.assets if universe.primary_source(a.coin_id)]
    benchmark = BENCHMARK if universe.primary_source(BENCHMARK) else None
    series = coins + ([benchmark] if benchmark and benchmark not in coins else [])
    end, closes = await analytics.aligned_closes(session, universe, series, interval, window + 1)
    figures = risk_math.measure(
        closes[: len(coins)],
        [float(held[c].quantity) for c in coins],
        closes[series.index(benchmark)] if benchmark else None,
        window=window,
        periods_per_year=periods_per_year(interval),
    )
    weights = {a.coin_id: float(a.allocation_pct) / 100 for a in valuation.assets}
    size = interval_seconds(interval)
    return RiskRead(
        portfolio_id=portfolio.id,
        interval=interval,
        window=window,
        as_of=None if end is None else datetime.fromtimestamp(end + size, UTC),
        volatility=figures.volatility,
        max_drawdown=figures.max_drawdown,
        beta_to_bitcoin=figures.beta,
        correlation=Correlation(coins=coins, matrix=figures.correlation),
        assets=[
            AssetRisk(coin_id=c, weight=weights.get(c, 0.0), volatility=v)
            for c, v in zip(coins, figures.coin_volatility, strict=True)
        ],
    )


# --------------------------------------------------------------------------- watchlist


async def list_watchlist(
    session: AsyncSession, cache: Cache, *, settings: Settings, user_id: int
) -> list[WatchlistItemRead]:
    rows = (
        await session.scalars(
            select(WatchlistItem)
            .where(WatchlistItem.user_id == user_id)
            .order_by(WatchlistItem.added_at, WatchlistItem.id)
        )
    ).all()
    entries = await market_entries(session, cache, settings, [r.coin_id for r in rows])
    return [_watch_read(row, entries.get(row.coin_id)) for row in rows]


def _watch_read(row: WatchlistItem, entry: Mapping[str, Any] | None) -> WatchlistItemRead:
    fields = WatchlistItemRead.model_fields
    market_data = {k: v for k, v in (entry or {}).items() if k in fields and k != "coin_id"}
    return WatchlistItemRead(coin_id=row.coin_id, added_at=row.added_at, **market_data)


async def add_to_watchlist(
    session: AsyncSession, cache: Cache, *, settings: Settings, user_id: int, coin_id: str
) -> WatchlistItemRead:
    _check_coin(settings, coin_id, ["body", "coin_id"])
    exists = await session.scalar(
        select(WatchlistItem.id).where(
            WatchlistItem.user_id == user_id, WatchlistItem.coin_id == coin_id
        )
    )
    if exists is not None:
        raise Conflict(f"{coin_id} is already on the watchlist")
    row = WatchlistItem(user_id=user_id, coin_id=coin_id, added_at=utcnow())
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:  # added concurrently
        raise Conflict(f"{coin_id} is already on the watchlist") from exc
    entries = await market_entries(session, cache, settings, [coin_id])
    return _watch_read(row, entries.get(coin_id))


async def remove_from_watchlist(session: AsyncSession, *, user_id: int, coin_id: str) -> None:
    result = await session.execute(
        sql_delete(WatchlistItem).where(
            WatchlistItem.user_id == user_id, WatchlistItem.coin_id == coin_id
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"{coin_id} is not on the watchlist")


# --------------------------------------------------------------------------- snapshots


async def snapshot_all(
    db: Database,
    cache: Cache,
    *,
    settings: Settings,
    at: datetime,
    metrics: Metrics | None = None,
) -> int:
    """Record every portfolio's value at live prices as its snapshot at `at` (the hourly job);
    portfolios without transactions are skipped. Returns the number recorded."""
    recorded = 0
    after = 0
    while True:
        async with db.session(inline=False) as session:  # replays: off the event loop
            batch = (
                await session.scalars(
                    select(Portfolio)
                    .where(Portfolio.id > after)
                    .order_by(Portfolio.id)
                    .limit(SNAPSHOT_BATCH)
                )
            ).all()
            for portfolio in batch:
                ledger = await load_ledger(session, cache, portfolio)
                if not ledger.holdings:
                    continue
                valuation, _ = await _value(session, cache, settings, ledger, metrics)
                if max(abs(valuation.total_value), abs(valuation.cost_basis)) >= STORABLE:
                    log.warning("portfolio_snapshot_too_large", portfolio_id=portfolio.id)
                    continue
                await _save_snapshot(session, portfolio.id, valuation, at)
                recorded += 1
        if len(batch) < SNAPSHOT_BATCH:
            return recorded
        after = batch[-1].id


async def run_snapshots(
    db: Database,
    cache: Cache,
    *,
    settings: Settings,
    metrics: Metrics | None = None,
    every: float = SNAPSHOT_EVERY,
) -> None:
    """Forever: at each multiple of `every` seconds (UTC), `snapshot_all` at that moment."""
    while True:
        now = time.time()
        boundary = (now // every + 1) * every
        await asyncio.sleep(boundary - now)
        at = datetime.fromtimestamp(boundary, UTC)
        try:
            recorded = await snapshot_all(db, cache, settings=settings, at=at, metrics=metrics)
            log.info("portfolio_snapshots", at=at.isoformat(), recorded=recorded)
        except Exception as exc:  # the next hour tries again
            log.warning("portfolio_snapshots_failed", at=at.isoformat(), error=repr(exc))
