"""The correlation job (a singleton, §5b): every minute, just after the minute's candles are
final, the correlation matrix of all tracked coins per interval from the stored closed
candles, written to `analytics:correlation_{window}:all:{interval}` for
`/api/analytics/correlation`. It reads the store, not the partitioned stream, so it is right
whichever replica owns which coins. A matrix where some coin has no data yet (a fresh
install still loading history) is not cached: requests compute their own meanwhile.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import orjson

from cryptodash.analytics import service
from cryptodash.market import service as market
from cryptodash.market.candles import INTERVAL_NAMES
from cryptodash.market.coins import Universe
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

JOB_NAME = "cryptodash.analytics.correlation"
EVERY = 60.0
CORRELATION_TTL = 300.0
"""Five runs' worth: a missed run or two keeps serving the last matrix."""


async def refresh_correlations(db: Database, cache: Cache, universe: Universe) -> int:
    """Recompute and cache the matrix of every interval; returns how many were written."""
    written = 0
    coins = list(universe.ids)
    for interval in INTERVAL_NAMES:
        window = service.CORRELATION_WINDOWS[interval]
        async with db.read_session() as session:
            body = await service.correlation_body(session, universe, coins, interval, window)
        if not _complete(body):
            continue
        await cache.set(
            service.correlation_key(window, None, interval), orjson.dumps(body), CORRELATION_TTL
        )
        written += 1
    return written


def _complete(body: dict[str, Any]) -> bool:
    """Every coin correlates with some other (or is alone)."""
    matrix = body["matrix"]
    if len(matrix) < 2:
        return body["as_of"] is not None
    return all(
        any(v is not None and math.isfinite(v) for j, v in enumerate(row) if j != i)
        for i, row in enumerate(matrix)
    )


async def run_correlation_job(
    db: Database, cache: Cache, universe: Universe, *, every: float = EVERY
) -> None:
    """Refresh now, then every `every` seconds just after the candles of the minute are final;
    one failed run is logged, not fatal."""
    while True:
        try:
            await refresh_correlations(db, cache, universe)
        except Exception as exc:
            log.warning("correlation_job_failed", error=repr(exc))
        now = time.time()
        await asyncio.sleep((now // every + 1) * every + market.CLOSE_GRACE + 1.0 - now)
