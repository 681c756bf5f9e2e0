"""Market service: prices and candles in the database, the coin entries behind the REST API,
the ingestion path for exchange REST history, and retention.

What other domains use (they never read the market tables themselves):

- `list_candles(session, coin_id=..., interval=..., source=None, start=..., end=...,
  limit=...)` — stored candles of one coin, closed ones by default, oldest first;
- `primary_source(settings, coin_id)` — the source analytics and portfolio history use;
- the `price:{coin_id}` cache key (`price_key`), whose value is the coin's
  `/api/market/coins` entry (`coin_entries` reads it with a database fallback).

What exchange connectors use: `ingest_candles(...)` for REST history (backfill); live ticks go
through `cryptodash.market.ingest`.
"""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import String, and_, delete, func, or_, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.config import Settings
from cryptodash.errors import ServiceUnavailable
from cryptodash.market.candles import (
    INTERVALS,
    Candle,
    interval_seconds,
    resample,
)
from cryptodash.market.coins import COINS_BY_ID, NATIVE_INTERVALS, Universe, quote_for
from cryptodash.market.models import CandleRecord, ConsumerOffset, Price
from cryptodash.market.normalize import (
    USDT_RATE_COIN,
    CoinBook,
    SourcePrice,
    Stats24h,
    Tick,
)
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

PRICE_TTL = 10.0
"""Seconds a `price:{coin_id}` entry lives; the persister rewrites live coins far more often."""
EMPTY_ENTRY_TTL = 2.0
"""An entry built from the database for a coin without data: retried soon."""
CLOSE_GRACE = 3.0
"""Seconds after a bucket's end before its stored candle counts as closed (final): the
persister's lateness plus a flush."""
MAX_CANDLES = 1000
_CHUNK = 2000


def price_key(coin_id: str) -> str:
    return f"price:{coin_id}"


def primary_source(settings: Settings, coin_id: str) -> str | None:
    """The coin's primary source: the first of `CRYPTODASH_EXCHANGES` listing it (the
    simulator in demo mode). None for a coin the deployment does not track."""
    return Universe.from_settings(settings).primary_source(coin_id)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _at(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _insert(session: AsyncSession, table: Any) -> Any:
    """INSERT … ON CONFLICT for the session's dialect (both speak it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for index in range(0, len(rows), _CHUNK):
        yield rows[index : index + _CHUNK]


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True, slots=True)
class PriceRow:
    """A `prices` row: one coin, source and second — the last price, the volume summed."""

    coin_id: str
    source: str
    quote: str
    timestamp: datetime
    price: Decimal
    volume: Decimal


def price_rows(ticks: Iterable[Tick]) -> list[PriceRow]:
    """Fold ticks into per-second rows: the price of the latest tick by event time (ties by
    arrival), the volumes summed."""
    rows: dict[tuple[str, str, int], list[Any]] = {}
    for tick in ticks:
        at = tick.timestamp.timestamp()
        key = (tick.coin_id, tick.source, int(at // 1))
        row = rows.get(key)
        if row is None:
            rows[key] = [at, tick.price, tick.volume, tick.quote]
            continue
        if at >= row[0]:
            row[0], row[1], row[3] = at, tick.price, tick.quote
        row[2] += tick.volume
    return [
        PriceRow(coin, source, quote, _at(second), price, volume)
        for (coin, source, second), (_, price, volume, quote) in rows.items()
    ]


async def upsert_prices(session: AsyncSession, rows: Sequence[PriceRow]) -> None:
    """Write per-second rows; a second already stored takes the newer price and adds the
    volume (callers apply each tick once: see the persister's offsets)."""
    if not rows:
        return
    table = Price.__table__
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["coin_id", "source", "timestamp"],
        set_={
            "price": stmt.excluded.price,
            "quote": stmt.excluded.quote,
            "volume": table.c.volume + stmt.excluded.volume,
        },
    )
    params = [
        {
            "coin_id": r.coin_id,
            "source": r.source,
            "quote": r.quote,
            "timestamp": r.timestamp,
            "price": r.price,
            "volume": r.volume,
        }
        for r in rows
    ]
    for chunk in _chunks(params):
        await session.execute(stmt, chunk)


async def latest_prices(
    session: AsyncSession, coin_id: str, sources: Iterable[str]
) -> dict[str, SourcePrice]:
    """Each source's newest stored price of a coin."""
    found: dict[str, SourcePrice] = {}
    for source in sources:
        row = (
            await session.execute(
                select(Price.price, Price.quote, Price.timestamp)
                .where(Price.coin_id == coin_id, Price.source == source)
                .order_by(Price.timestamp.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            found[source] = SourcePrice(row.price, row.quote, row.timestamp)
    return found


# --------------------------------------------------------------------------- candles


CandleKey = tuple[str, str, str]
"""(coin_id, source, interval)."""


async def upsert_candles(session: AsyncSession, items: Iterable[tuple[CandleKey, Candle]]) -> int:
    """Write candles, replacing a stored one of the same coin, source, interval and time."""
    params = [
        {
            "coin_id": coin_id,
            "source": source,
            "interval": interval,
            "time": _at(c.time),
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "volume": c.volume,
        }
        for (coin_id, source, interval), c in items
    ]
    if not params:
        return 0
    stmt = _insert(session, CandleRecord.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["coin_id", "source", "interval", "time"],
        set_={name: stmt.excluded[name] for name in ("open", "high", "low", "close", "volume")},
    )
    for chunk in _chunks(params):
        await session.execute(stmt, chunk)
    return len(params)


CANDLES_TTL = 1.0
"""Seconds a candles response that includes a still-forming bucket stays cached."""
CLOSED_CANDLES_TTL = 300.0
"""…and one whose range has ended (closed candles only change through backfill)."""


_IN_FLIGHT: dict[tuple[int, str], asyncio.Task[bytes]] = {}
"""Candle queries running now, so that concurrent misses of one key share one query."""
_LAST_BODIES: WeakKeyDictionary[Database, OrderedDict[str, bytes]] = WeakKeyDictionary()
"""Per database, the last body this process built for each recent query (LRU-bounded)."""
MAX_LAST_BODIES = 256


async def candles_response(
    cache: Cache,
    db: Database | None,
    *,
    coin_id: str,
    source: str,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> bytes:
    """The `/api/market/{coin_id}/candles` body, from the cache when the same query ran
    recently, else from the database (forming candle included).

    Stale while revalidating: once this process has answered a query, a request that finds
    its cache entry expired gets the previous body at once while one refresh runs (shared by
    every request meanwhile). Only a query never answered before waits for the database: the
    forming candle is at most one refresh older than the TTL, and a chart read never queues
    behind the database under load."""
    bounds = ":".join("" if t is None else str(_epoch(t)) for t in (start, end))
    key = f"candles:{coin_id}:{source}:{interval}:{bounds}:{limit}"
    cached = await cache.get(key)
    if cached is not None:
        return cached
    if db is None:
        raise ServiceUnavailable("this service has no database")
    flight = (id(db), key)
    running = _IN_FLIGHT.get(flight)
    if running is None:
        running = asyncio.create_task(
            _refresh_candles(
                cache,
                db,
                key,
                flight,
                coin_id=coin_id,
                source=source,
                interval=interval,
                start=start,
                end=end,
                limit=limit,
            )
        )
        running.add_done_callback(_retrieve)
        _IN_FLIGHT[flight] = running
    bodies = _LAST_BODIES.get(db)
    last = bodies.get(key) if bodies is not None else None
    if last is not None:
        return last
    return await asyncio.shield(running)


async def _refresh_candles(
    cache: Cache, db: Database, key: str, flight: tuple[int, str], **query: Any
) -> bytes:
    try:
        body = await _candles_body(cache, db, key, **query)
    finally:
        _IN_FLIGHT.pop(flight, None)
    _remember(_LAST_BODIES.setdefault(db, OrderedDict()), key, body)
    return body


def _remember(recent: OrderedDict[str, Any], key: str, value: Any) -> None:
    """Keep `value` as the most recent of `recent`, dropping the oldest past MAX_LAST_BODIES."""
    recent[key] = value
    recent.move_to_end(key)
    while len(recent) > MAX_LAST_BODIES:
        recent.popitem(last=False)


def _retrieve(task: asyncio.Task[bytes]) -> None:
    """A refresh nobody waited for (a stale body was served) still has its failure logged."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("candles_refresh_failed", error=repr(exc))


FULL_REFRESH_SECONDS = 10.0
"""How often a latest-candles body is queried whole; in between, a refresh reads only its tail
(the last candle and newer): a 500-candle chart refreshed every second costs a one- or two-row
query, and a backfilled gap further back shows within this long. (Each whole read holds the
event loop ~13 ms under load, turning 500 rows into candles; 60 s here hid a start-up
backfill's history from charts for up to a minute.)"""


@dataclass
class _Window:
    """A latest-candles body's candles, oldest first: their bucket times and JSON objects."""

    times: list[int]
    items: list[bytes]
    queried_at: float
    """Monotonic time of the last whole query."""


_WINDOWS: WeakKeyDictionary[Database, OrderedDict[str, _Window]] = WeakKeyDictionary()


async def _candles_body(
    cache: Cache,
    db: Database,
    key: str,
    *,
    coin_id: str,
    source: str,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> bytes:
    now = datetime.now(UTC)
    latest = start is None and end is None
    windows = _WINDOWS.setdefault(db, OrderedDict())
    window = windows.get(key) if latest else None
    clock = asyncio.get_running_loop().time()
    tail_from = None
    if window is not None and window.times and clock - window.queried_at < FULL_REFRESH_SECONDS:
        tail_from = datetime.fromtimestamp(window.times[-1], UTC)
    async with db.read_session() as session:

        async def read(since: datetime | None) -> list[Candle]:
            return await list_candles(
                session,
                coin_id=coin_id,
                interval=interval,
                source=source,
                start=since,
                end=end,
                limit=limit,
                closed_only=False,
                now=now,
            )

        candles = await read(start if tail_from is None else tail_from)
        if tail_from is not None and (not candles or len(candles) >= limit):
            tail_from = None  # nothing there any more, or a whole window newer: read it all
            candles = await read(start)
    times = [c.time for c in candles]
    items = [_candle_json(c) for c in candles]
    if window is not None and tail_from is not None and candles:
        # The stored window up to the first candle read again, then what was read.
        cut = bisect_left(window.times, times[0])
        times = (window.times[:cut] + times)[-limit:]
        items = (window.items[:cut] + items)[-limit:]
        queried_at = window.queried_at
    else:
        queried_at = clock
    if latest:
        _remember(windows, key, _Window(times, items, queried_at))
    head = orjson.dumps(
        {"coin_id": coin_id, "interval": interval, "source": source, "quote": quote_for(source)}
    )
    body = head[:-1] + b',"candles":[' + b",".join(items) + b"]}"
    settled = end is not None and (now - end).total_seconds() > INTERVALS[interval] + CLOSE_GRACE
    await cache.set(key, body, CLOSED_CANDLES_TTL if settled else CANDLES_TTL)
    return body


def _candle_json(c: Candle) -> bytes:
    return orjson.dumps(
        {
            "time": c.time,
            "open": float(c.open),
            "high": float(c.high),
            "low": float(c.low),
            "close": float(c.close),
            "volume": float(c.volume),
        }
    )


_CANDLE_COLUMNS = (
    CandleRecord.coin_id,
    CandleRecord.source,
    CandleRecord.interval,
    CandleRecord.time,
    CandleRecord.open,
    CandleRecord.high,
    CandleRecord.low,
    CandleRecord.close,
    CandleRecord.volume,
)


def _select_candles() -> Any:
    """Candle rows as plain tuples: several times cheaper than loading ORM objects."""
    return select(*_CANDLE_COLUMNS)


def _candle(record: Any) -> Candle:
    return Candle(
        _epoch(record.time), record.open, record.high, record.low, record.close, record.volume
    )


_LISTED_COLUMNS = (
    CandleRecord.time,
    *(
        type_coerce(column, String)
        for column in (
            CandleRecord.open,
            CandleRecord.high,
            CandleRecord.low,
            CandleRecord.close,
            CandleRecord.volume,
        )
    ),
)
"""`list_candles`' columns: the prices as the driver gives them (the exact text on SQLite, a
Decimal from asyncpg), made Decimals by `_listed`. Skipping the column type's processing of
each value (a Python call per value) cut the event loop's CPU for 500 candles by a third to a
half (7-11 ms to 4.5-9 ms here): a chart's whole refresh, every 10 s per chart."""


def _listed(records: Iterable[Any]) -> list[Candle]:
    return [
        Candle(_epoch(at), Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(v))
        for at, o, h, low, c, v in records
    ]


async def list_candles(
    session: AsyncSession,
    *,
    coin_id: str,
    interval: str,
    source: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    closed_only: bool = True,
    now: datetime | None = None,
) -> list[Candle]:
    """Stored candles of one coin on one source, oldest first.

    - `start`/`end` (aware datetimes) bound the bucket start, both inclusive.
    - With `start` and no `end`: the first `limit` candles from `start` (paging forward);
      otherwise the last `limit` candles up to `end`.
    - `closed_only` (the default) leaves out buckets not yet final: those ending after
      ``now - CLOSE_GRACE``. Pass False to get the forming candle too (charts).
    - `limit` is 1..MAX_CANDLES. A bucket without trades has no candle (`candles.fill_gaps`
      makes a regular series).

    Use `primary_source(settings, coin_id)` for the source when you have no reason to pick.
    """
    size = interval_seconds(interval)
    if not 1 <= limit <= MAX_CANDLES:
        raise ValueError(f"limit must be 1..{MAX_CANDLES}")
    now = now or datetime.now(UTC)
    conditions = [
        CandleRecord.coin_id == coin_id,
        CandleRecord.source == source,
        CandleRecord.interval == interval,
    ]
    if start is not None:
        conditions.append(CandleRecord.time >= start)
    if end is not None:
        conditions.append(CandleRecord.time <= end)
    if closed_only:
        last_closed = now - timedelta(seconds=size + CLOSE_GRACE)
        conditions.append(CandleRecord.time <= last_closed)
    query = select(*_LISTED_COLUMNS).where(*conditions)
    if start is not None and end is None:
        records = (await session.execute(query.order_by(CandleRecord.time).limit(limit))).all()
        return _listed(records)
    records = (await session.execute(query.order_by(CandleRecord.time.desc()).limit(limit))).all()
    return _listed(reversed(records))


async def forming_candles(
    session: AsyncSession, coin_id: str, source: str, since: datetime, at: datetime
) -> list[tuple[str, Candle]]:
    """The stored candles of the buckets from the one containing `since` to the one
    containing `at`, per interval, oldest first (seeds for a restarted aggregator: the
    buckets its first ticks fall into may have ended already)."""
    first, last = min(since, at).timestamp(), at.timestamp()
    wanted = [
        and_(
            CandleRecord.interval == name,
            CandleRecord.time >= _at(int(first // size) * size),
            CandleRecord.time <= _at(int(last // size) * size),
        )
        for name, size in INTERVALS.items()
    ]
    records = (
        await session.execute(
            _select_candles()
            .where(CandleRecord.coin_id == coin_id, CandleRecord.source == source, or_(*wanted))
            .order_by(CandleRecord.time)
        )
    ).all()
    return [(r.interval, _candle(r)) for r in records]


def derived_intervals(source: str, interval: str) -> tuple[str, ...]:
    """Intervals the source does not serve that are built from its `interval` candles: the
    largest native interval that divides a missing one is its base (Coinbase 1h → 4h)."""
    native = NATIVE_INTERVALS.get(source, frozenset(INTERVALS))
    if interval not in native:
        return ()
    derived = []
    for target, size in INTERVALS.items():
        if target in native or size <= INTERVALS[interval]:
            continue
        bases = [n for n in native if INTERVALS[n] < size and size % INTERVALS[n] == 0]
        if bases and max(bases, key=INTERVALS.__getitem__) == interval:
            derived.append(target)
    return tuple(derived)


async def ingest_candles(
    session: AsyncSession,
    *,
    coin_id: str,
    source: str,
    interval: str,
    candles: Sequence[Candle],
    now: datetime | None = None,
) -> int:
    """Store candles from an exchange's REST history (the connectors' backfill). Returns the
    number of rows written, derived ones included.

    - Only closed candles are stored; the bucket still forming belongs to the live persister,
      which builds it from ticks.
    - Idempotent: a candle replaces the stored one of the same coin, source, interval and time,
      so overlapping pages and repeated backfills are harmless.
    - Intervals the source does not serve (Coinbase has no 4h) are rebuilt from the stored
      candles of their base interval for every closed bucket these candles touch — a bucket
      that is still incomplete is completed by a later call that brings its missing parts.

    The caller commits (one session, one transaction).
    """
    size = interval_seconds(interval)
    now_epoch = (now or datetime.now(UTC)).timestamp()
    closed = [c for c in candles if c.time % size == 0 and c.time + size <= now_epoch]
    written = await upsert_candles(session, (((coin_id, source, interval), c) for c in closed))
    if not closed:
        return written
    await session.flush()
    for target in derived_intervals(source, interval):
        target_size = interval_seconds(target)
        buckets = {
            c.time // target_size * target_size
            for c in closed
            if c.time // target_size * target_size + target_size <= now_epoch
        }
        if not buckets:
            continue
        parts = (
            await session.execute(
                _select_candles().where(
                    CandleRecord.coin_id == coin_id,
                    CandleRecord.source == source,
                    CandleRecord.interval == interval,
                    CandleRecord.time >= _at(min(buckets)),
                    CandleRecord.time < _at(max(buckets) + target_size),
                )
            )
        ).all()
        rebuilt = [c for c in resample(map(_candle, parts), target) if c.time in buckets]
        written += await upsert_candles(session, (((coin_id, source, target), c) for c in rebuilt))
    return written


async def newest_candle_times(
    session: AsyncSession, *, source: str, interval: str, coin_ids: Sequence[str]
) -> dict[str, int]:
    """Bucket start (Unix seconds) of each coin's newest stored candle of one series; coins
    without any are left out. Where a backfill resumes."""
    if not coin_ids:
        return {}
    rows = await session.execute(
        select(CandleRecord.coin_id, func.max(CandleRecord.time))
        .where(
            CandleRecord.source == source,
            CandleRecord.interval == interval,
            CandleRecord.coin_id.in_(list(coin_ids)),
        )
        .group_by(CandleRecord.coin_id)
    )
    return {coin_id: _epoch(at) for coin_id, at in rows.all() if at is not None}


# --------------------------------------------------------------------------- 24 h statistics


async def window_stats(
    session: AsyncSession, primary: Mapping[str, str | None], boundary: int
) -> dict[str, Stats24h]:
    """24 h statistics from stored closed candles in ``[boundary - 24 h, boundary)`` for the
    coins in `primary` (coin id → primary source): open/high/low from the primary source,
    volume from every source. Whole hours come from 1h candles and the ragged ends from 1m
    ones, so one call reads about 150 rows per coin and source.

    Aggregation happens here rather than in SQL because SQLite keeps decimals as exact text.
    """
    if not primary:
        return {}
    start = boundary - 86_400
    first_hour = -(-start // 3600) * 3600
    last_hour = boundary // 3600 * 3600
    coins = list(primary)
    hours = _select_candles().where(
        CandleRecord.coin_id.in_(coins),
        CandleRecord.interval == "1h",
        CandleRecord.time >= _at(first_hour),
        CandleRecord.time < _at(last_hour),
    )
    minutes = _select_candles().where(
        CandleRecord.coin_id.in_(coins),
        CandleRecord.interval == "1m",
        or_(
            and_(CandleRecord.time >= _at(start), CandleRecord.time < _at(first_hour)),
            and_(CandleRecord.time >= _at(last_hour), CandleRecord.time < _at(boundary)),
        ),
    )
    pieces: dict[str, list[tuple[datetime, bool, Any]]] = {coin: [] for coin in coins}
    for query in (hours, minutes):
        for record in (await session.execute(query)).all():
            pieces[record.coin_id].append(
                (record.time, record.source == primary[record.coin_id], record)
            )
    result: dict[str, Stats24h] = {}
    for coin, items in pieces.items():
        items.sort(key=lambda item: item[0])
        open_: Decimal | None = None
        high: Decimal | None = None
        low: Decimal | None = None
        volume = Decimal(0)
        for _, is_primary, record in items:
            volume += record.volume
            if not is_primary:
                continue
            if open_ is None:
                open_ = record.open
            high = record.high if high is None else max(high, record.high)
            low = record.low if low is None else min(low, record.low)
        result[coin] = Stats24h(open_, high, low, volume)
    return result


def minute_boundary(now: datetime) -> int:
    return int(now.timestamp() // 60) * 60


# --------------------------------------------------------------------------- coin entries


def new_book(universe: Universe, coin_id: str) -> CoinBook:
    coin = COINS_BY_ID.get(coin_id)
    primary = universe.primary_source(coin_id)
    return CoinBook(
        coin_id,
        coin.symbol if coin else coin_id.upper(),
        coin.name if coin else coin_id,
        primary,
        quote_for(primary) if primary else "USD",
    )


async def cached_usdt_rate(cache: Cache) -> Decimal | None:
    """The live USDT/USD rate, when the tether entry is cached and fresh."""
    raw = await cache.get(price_key(USDT_RATE_COIN))
    if raw is None:
        return None
    entry = orjson.loads(raw)
    if entry.get("stale") or entry.get("price") is None:
        return None
    return Decimal(str(entry["price"]))


async def entry_from_db(
    session: AsyncSession,
    universe: Universe,
    coin_id: str,
    *,
    now: datetime,
    stale_after: float,
    usdt_usd: Decimal | None,
) -> dict[str, Any]:
    """A coin's entry from the stored prices and candles (when the cache has none)."""
    book = new_book(universe, coin_id)
    book.sources.update(await latest_prices(session, coin_id, universe.sources(coin_id)))
    boundary = minute_boundary(now)
    stats = await window_stats(session, {coin_id: book.primary_source}, boundary)
    book.window.rebase(boundary, stats[coin_id])
    return book.entry(now=now, stale_after=stale_after, usdt_usd=usdt_usd)


async def coin_entries(
    cache: Cache,
    db: Database | None,
    universe: Universe,
    coin_ids: Sequence[str],
    *,
    stale_after: float,
) -> list[bytes]:
    """The `/api/market/coins` entries (JSON bytes) of some tracked coins, in order.

    Read from the cache (`price:{coin_id}`, kept fresh by the persister); a coin missing there
    is built from the database and put back in the cache.
    """
    raw = await cache.get_many([price_key(c) for c in coin_ids])
    missing = [i for i, value in enumerate(raw) if value is None]
    if not missing or db is None:
        return [value or _placeholder(universe, coin_ids[i]) for i, value in enumerate(raw)]
    now = datetime.now(UTC)
    rate = await cached_usdt_rate(cache)
    fresh: dict[str, bytes] = {}
    empty: dict[str, bytes] = {}
    async with db.read_session() as session:
        for index in missing:
            coin_id = coin_ids[index]
            entry = await entry_from_db(
                session, universe, coin_id, now=now, stale_after=stale_after, usdt_usd=rate
            )
            value = orjson.dumps(entry)
            (fresh if entry["price"] is not None else empty)[price_key(coin_id)] = value
            raw[index] = value
    await cache.set_many(fresh, PRICE_TTL)
    await cache.set_many(empty, EMPTY_ENTRY_TTL)
    return [value or _placeholder(universe, coin_ids[i]) for i, value in enumerate(raw)]


def _placeholder(universe: Universe, coin_id: str) -> bytes:
    return orjson.dumps(new_book(universe, coin_id).entry(now=datetime.now(UTC), stale_after=0))


def movers(entries: Sequence[Mapping[str, Any]], limit: int) -> dict[str, list[Any]]:
    """Top gainers (change > 0, biggest first) and losers (change < 0, biggest fall first)."""
    ranked = [e for e in entries if e.get("change_24h_pct") is not None]
    gainers = sorted(
        (e for e in ranked if e["change_24h_pct"] > 0),
        key=lambda e: (-e["change_24h_pct"], e["coin_id"]),
    )
    losers = sorted(
        (e for e in ranked if e["change_24h_pct"] < 0),
        key=lambda e: (e["change_24h_pct"], e["coin_id"]),
    )
    return {"gainers": gainers[:limit], "losers": losers[:limit]}


def market_stats(entries: Sequence[Mapping[str, Any]], universe: Universe) -> dict[str, Any]:
    """Summary of the tracked market: counts up/down, total 24 h volume in USD, extremes."""
    priced = [e for e in entries if e.get("price") is not None]
    changes = [e for e in priced if e.get("change_24h_pct") is not None]
    up = [e for e in changes if e["change_24h_pct"] > 0]
    down = [e for e in changes if e["change_24h_pct"] < 0]
    best = max(changes, key=lambda e: e["change_24h_pct"], default=None)
    worst = min(changes, key=lambda e: e["change_24h_pct"], default=None)
    sources: dict[str, dict[str, int]] = {
        name: {"coins": 0, "fresh": 0} for name in universe.exchanges
    }
    for entry in entries:
        for name, info in (entry.get("sources") or {}).items():
            counts = sources.setdefault(name, {"coins": 0, "fresh": 0})
            counts["coins"] += 1
            counts["fresh"] += bool(info.get("fresh"))
    updated = [e["updated_at"] for e in priced if e.get("updated_at")]
    return {
        "coins_tracked": len(entries),
        "coins_priced": len(priced),
        "coins_stale": sum(bool(e.get("stale")) for e in priced),
        "coins_up": len(up),
        "coins_down": len(down),
        "coins_unchanged": len(changes) - len(up) - len(down),
        "total_volume_24h_usd": round(sum(e.get("volume_24h_usd") or 0.0 for e in priced), 2),
        "average_change_24h_pct": (
            round(sum(e["change_24h_pct"] for e in changes) / len(changes), 4) if changes else None
        ),
        "top_gainer": _mover(best) if best and best["change_24h_pct"] > 0 else None,
        "top_loser": _mover(worst) if worst and worst["change_24h_pct"] < 0 else None,
        "sources": sources,
        "updated_at": max(updated, default=None),
    }


def _mover(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "coin_id": entry["coin_id"],
        "symbol": entry["symbol"],
        "price": entry["price"],
        "change_24h_pct": entry["change_24h_pct"],
    }


# --------------------------------------------------------------------------- consumer offsets


async def load_offsets(
    session: AsyncSession, consumer: str, topic: str
) -> dict[int, tuple[int, int | None]]:
    """(next unwritten offset, newest message time applied in ms) per partition of a topic,
    as last saved by `consumer`."""
    rows = await session.execute(
        select(
            ConsumerOffset.partition_id, ConsumerOffset.next_offset, ConsumerOffset.max_timestamp
        ).where(ConsumerOffset.consumer == consumer, ConsumerOffset.topic == topic)
    )
    return {
        int(partition): (int(offset), None if at is None else int(at))
        for partition, offset, at in rows.all()
    }


async def save_offsets(
    session: AsyncSession,
    consumer: str,
    topic: str,
    offsets: Mapping[int, tuple[int, int | None]],
) -> None:
    if not offsets:
        return
    stmt = _insert(session, ConsumerOffset.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["consumer", "topic", "partition_id"],
        set_={
            "next_offset": stmt.excluded.next_offset,
            "max_timestamp": stmt.excluded.max_timestamp,
        },
    )
    await session.execute(
        stmt,
        [
            {
                "consumer": consumer,
                "topic": topic,
                "partition_id": p,
                "next_offset": offset,
                "max_timestamp": at,
            }
            for p, (offset, at) in offsets.items()
        ],
    )


# --------------------------------------------------------------------------- retention


_PARTITION = re.compile(r"^prices_(\d{4})_(\d{2})$")


@dataclass(frozen=True, slots=True)
class Pruned:
    price_rows: int = 0
    price_partitions: tuple[str, ...] = ()
    candles_1m: int = 0
    partitions_created: int = 0


async def prune(
    db: Database,
    *,
    price_retention_days: int,
    candle_1m_retention_days: int,
    now: datetime | None = None,
) -> Pruned:
    """Retention (ARCHITECTURE §5): `prices` older than `price_retention_days` — on
    PostgreSQL whole monthly partitions are dropped once their month is past the cutoff, and
    partitions for the coming months are created; 1m candles older than
    `candle_1m_retention_days` are deleted. 5m and longer candles are kept."""
    now = now or datetime.now(UTC)
    price_cutoff = now - timedelta(days=price_retention_days)
    candle_cutoff = now - timedelta(days=candle_1m_retention_days)
    dropped: list[str] = []
    created = 0
    rows = 0
    async with db.session(inline=False) as session:  # bulk deletes: off the event loop
        if db.dialect == "postgresql":
            months_back = price_retention_days // 28 + 1
            created = int(
                await session.scalar(
                    text("SELECT cryptodash_ensure_price_partitions(:back, 3)"),
                    {"back": months_back},
                )
                or 0
            )
            names = (
                await session.scalars(
                    text(
                        "SELECT c.relname FROM pg_inherits i"
                        " JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = 'prices'::regclass"
                    )
                )
            ).all()
            for name in sorted(names):
                match = _PARTITION.match(name)
                if match is None:
                    continue
                year, month = int(match[1]), int(match[2])
                month_end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
                if month_end <= price_cutoff:
                    await session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
                    dropped.append(name)
        else:
            result = await session.execute(delete(Price).where(Price.timestamp < price_cutoff))
            rows = int(getattr(result, "rowcount", 0) or 0)
        result = await session.execute(
            delete(CandleRecord).where(
                CandleRecord.interval == "1m", CandleRecord.time < candle_cutoff
            )
        )
        candles = int(getattr(result, "rowcount", 0) or 0)
    return Pruned(rows, tuple(dropped), candles, created)


async def rebuild_forming(
    session: AsyncSession, coin_id: str, source: str, now: datetime | None = None
) -> int:
    """Rewrite the current (still forming) 5m…1d candles of a series from its stored closed
    candles: 1m ones for the current hour, 1h ones before it. Used after history was written
    up to the last closed minute, so that the live persister seeds complete buckets."""
    now_epoch = (now or datetime.now(UTC)).timestamp()
    hour = int(now_epoch // 3600) * 3600
    day = int(now_epoch // 86_400) * 86_400

    async def stored(interval: str, start: int, end: int) -> list[Candle]:
        records = await session.execute(
            _select_candles().where(
                CandleRecord.coin_id == coin_id,
                CandleRecord.source == source,
                CandleRecord.interval == interval,
                CandleRecord.time >= _at(start),
                CandleRecord.time < _at(end),
            )
        )
        return [_candle(r) for r in records.all()]

    minutes = await stored("1m", hour, hour + 3600)
    hours = await stored("1h", day, hour) + resample(minutes, "1h")
    items: list[tuple[CandleKey, Candle]] = []
    for interval, size in INTERVALS.items():
        if size == 60:
            continue
        current = int(now_epoch // size) * size
        parts = minutes if size < 3600 else hours
        items.extend(
            ((coin_id, source, interval), c)
            for c in resample((p for p in parts if p.time >= current), interval)
        )
    return await upsert_candles(session, items)
