"""Market REST API (public, read-only): `/api/market/*`.

Prices come from the cache (`price:{coin_id}`, written by the persister); only a coin missing
there is built from the database. Candle responses are cached briefly too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from cryptodash.auth import Public
from cryptodash.edge import fresh_for
from cryptodash.errors import Invalid, NotFound
from cryptodash.market import service
from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.coins import Universe
from cryptodash.market.exchanges.feed import read_statuses
from cryptodash.market.schemas import (
    CandlesRead,
    CoinRead,
    CoinsRead,
    MoversRead,
    SourcesRead,
    StatsRead,
)
from cryptodash.runtime import Platform

router = APIRouter(prefix="/api/market", tags=["market"], dependencies=[Public])

Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
assert set(INTERVAL_NAMES) == set(Interval.__args__)  # type: ignore[attr-defined]
MAX_PRICE_COINS = 100
MAX_TIME = 4_102_444_800  # 2100-01-01


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _platform(request: Request) -> Platform:
    # Not `PlatformDep`: a plain `def` dependency costs a thread-pool hop per request, and
    # these are the hottest routes.
    platform: Platform = request.app.state.platform
    return platform


def _universe(platform: Platform) -> Universe:
    return Universe.from_settings(platform.settings)


async def _entries(platform: Platform, universe: Universe, coin_ids: list[str]) -> list[bytes]:
    return await service.coin_entries(
        platform.cache,
        platform.db,
        universe,
        coin_ids,
        stale_after=platform.settings.price_stale_seconds,
    )


def _known(universe: Universe, coin_id: str) -> None:
    if universe.get(coin_id) is None:
        raise NotFound(f"Unknown coin {coin_id!r}")


@router.get("/coins", response_model=None, responses={200: {"model": CoinsRead}})
@fresh_for(0.5)
async def list_coins(request: Request) -> Response:
    """Every tracked coin: consolidated USD price, 24 h change, high, low, volume, sources."""
    platform = _platform(request)
    universe = _universe(platform)
    entries = await _entries(platform, universe, list(universe.ids))
    return _json(b'{"coins":[' + b",".join(entries) + b"]}")


@router.get("/prices", response_model=None, responses={200: {"model": CoinsRead}})
@fresh_for(0.5)
async def list_prices(
    request: Request,
    coins: Annotated[str, Query(min_length=1, description="Comma-separated coin ids")],
) -> Response:
    """The entries of some coins, in the order asked."""
    platform = _platform(request)
    universe = _universe(platform)
    wanted = list(dict.fromkeys(part.strip() for part in coins.split(",") if part.strip()))
    if not wanted or len(wanted) > MAX_PRICE_COINS:
        raise Invalid(
            f"coins: give 1 to {MAX_PRICE_COINS} coin ids",
            details=[{"loc": ["query", "coins"], "msg": "bad coin list", "type": "value_error"}],
        )
    unknown = [c for c in wanted if universe.get(c) is None]
    if unknown:
        raise NotFound(f"Unknown coin(s): {', '.join(unknown)}")
    entries = await _entries(platform, universe, wanted)
    return _json(b'{"coins":[' + b",".join(entries) + b"]}")


@router.get("/movers", response_model=None, responses={200: {"model": MoversRead}})
@fresh_for(0.5)
async def movers(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=50, description="Coins per list")] = 5,
) -> Response:
    """Biggest 24 h gainers (change > 0) and losers (change < 0)."""
    platform = _platform(request)
    universe = _universe(platform)
    entries = [orjson.loads(e) for e in await _entries(platform, universe, list(universe.ids))]
    return _json(orjson.dumps(service.movers(entries, limit)))


@router.get("/stats", response_model=None, responses={200: {"model": StatsRead}})
@fresh_for(0.5)
async def stats(request: Request) -> Response:
    """Market summary: coins tracked, up/down counts, total 24 h volume in USD, extremes."""
    platform = _platform(request)
    universe = _universe(platform)
    entries = [orjson.loads(e) for e in await _entries(platform, universe, list(universe.ids))]
    return _json(orjson.dumps(service.market_stats(entries, universe)))


@router.get("/sources", response_model=None, responses={200: {"model": SourcesRead}})
async def list_sources(request: Request) -> Response:
    """Each configured price source's feed: connected, last message, reconnects, messages,
    gaps found and backfilled (published by whichever replica runs the feed)."""
    platform = _platform(request)
    universe = _universe(platform)
    statuses = await read_statuses(platform.cache, universe.exchanges)
    return _json(orjson.dumps({"sources": [statuses[e] for e in universe.exchanges]}))


@router.get("/{coin_id}", response_model=None, responses={200: {"model": CoinRead}})
@fresh_for(0.5)
async def get_coin(request: Request, coin_id: str) -> Response:
    """One coin's entry (the same shape as in `/coins`)."""
    platform = _platform(request)
    universe = _universe(platform)
    _known(universe, coin_id)
    (entry,) = await _entries(platform, universe, [coin_id])
    return _json(entry)


@router.get("/{coin_id}/candles", response_model=None, responses={200: {"model": CandlesRead}})
@fresh_for(1.0)
async def list_candles(
    request: Request,
    coin_id: str,
    interval: Interval = "1h",
    start: Annotated[
        int | None, Query(ge=0, le=MAX_TIME, description="Unix seconds, inclusive")
    ] = None,
    end: Annotated[
        int | None, Query(ge=0, le=MAX_TIME, description="Unix seconds, inclusive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_CANDLES)] = 500,
    source: Annotated[str | None, Query(description="Default: the coin's primary")] = None,
) -> Response:
    """Candles of one coin on one source, oldest first; the last may still be forming.

    With `start` only: the first `limit` candles from `start`; otherwise the last `limit` up
    to `end` (default now).
    """
    platform = _platform(request)
    universe = _universe(platform)
    _known(universe, coin_id)
    if start is not None and end is not None and start > end:
        raise Invalid(
            "start must not be after end",
            details=[{"loc": ["query", "start"], "msg": "after end", "type": "value_error"}],
        )
    sources = universe.sources(coin_id)
    chosen = source or universe.primary_source(coin_id)
    if chosen is None or chosen not in sources:
        raise Invalid(
            f"source: {coin_id} is available from {', '.join(sources) or 'no source'}",
            details=[{"loc": ["query", "source"], "msg": "not available", "type": "value_error"}],
        )
    body = await service.candles_response(
        platform.cache,
        platform.db,
        coin_id=coin_id,
        source=chosen,
        interval=interval,
        start=None if start is None else datetime.fromtimestamp(start, UTC),
        end=None if end is None else datetime.fromtimestamp(end, UTC),
        limit=limit,
    )
    return _json(body)
