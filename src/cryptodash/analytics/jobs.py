"""The correlation job (a singleton, §5b): every minute, just after the minute's candles are
final, the correlation matrix of all tracked coins per interval from the stored closed
candles, written to `analytics:correlation_{window}:all:{interval}` for
`/api/analytics/correlation`. It reads the store, not the partitioned stream, so it is right
whichever replica owns which coins. A matrix where some coin has no data yet (a fresh
install still loading history) is not cached: requests compute their own meanwhile.

A matrix changes only when a candle of its interval closes, so each run recomputes only the
intervals where one has (every run for 1m, hourly for 1h), and at least every
`RECOMPUTE_EVERY` (to take in candles corrected since, a backfill filling a gap); the others
are written again as they were, which keeps them alive in the cache. Recomputing all six
every minute read ~18,000 candles a minute for 20 coins, a visible dip in the API's
throughput at every run.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import orjson

from cryptodash.analytics import service
from cryptodash.market import service as market
from cryptodash.market.candles import INTERVAL_NAMES, interval_seconds
from cryptodash.market.coins import Universe
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger

log = get_logger(__name__)

JOB_NAME = "cryptodash.analytics.correlation"
EVERY = 60.0
CORRELATION_TTL = 300.0
"""Five runs' worth: a missed run or two keeps serving the last matrix."""
RECOMPUTE_EVERY = 900.0
"""A matrix whose interval had no candle close is still recomputed after this many seconds."""


@dataclass(frozen=True)
class Computed:
    """A matrix the job computed: at which closed bucket, when, and its bytes."""

    bucket: int
    at: float
    body: bytes


def closed_bucket(interval: str, now: float) -> int:
    """A number that changes exactly when a new bucket of `interval` counts as closed (the
    store's `closed_only` rule: its end is `CLOSE_GRACE` in the past)."""
    return int((now - market.CLOSE_GRACE) // interval_seconds(interval))


async def refresh_correlations(
    db: Database,
    cache: Cache,
    universe: Universe,
    *,
    now: float | None = None,
    computed: dict[str, Computed] | None = None,
) -> int:
    """Cache the matrix of every interval; returns how many were written. `computed` is the
    job's memory from run to run (by interval): an interval with no new closed candle since
    it was computed, less than `RECOMPUTE_EVERY` ago, is written again as it was."""
    now = time.time() if now is None else now
    computed = {} if computed is None else computed
    written = 0
    coins = list(universe.ids)
    for interval in INTERVAL_NAMES:
        window = service.CORRELATION_WINDOWS[interval]
        bucket = closed_bucket(interval, now)
        known = computed.get(interval)
        if known is None or known.bucket != bucket or now - known.at >= RECOMPUTE_EVERY:
            async with db.read_session() as session:
                body = await service.correlation_body(
                    session, universe, coins, interval, window, now=now
                )
            if not _complete(body):
                computed.pop(interval, None)
                continue
            known = computed[interval] = Computed(bucket, now, orjson.dumps(body))
        key = service.correlation_key(window, None, interval)
        await cache.set(key, known.body, CORRELATION_TTL)
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
    computed: dict[str, Computed] = {}
    while True:
        try:
            await refresh_correlations(db, cache, universe, computed=computed)
        except Exception as exc:
            log.warning("correlation_job_failed", error=repr(exc))
        now = time.time()
        await asyncio.sleep((now // every + 1) * every + market.CLOSE_GRACE + 1.0 - now)
