"""Analytics service: indicator series, summaries, volatility and correlation computed from
the market's stored candles (through `cryptodash.market.service`, never its tables), and the
cache entries that keep repeated reads cheap.

Series. Analytics works on the coin's primary source (§5b) as a regular series: the stored
candles oldest first, with buckets that had no trades filled flat at the previous close
(`candles.fill_gaps`), the last `HISTORY` of them. Indicators over a series are the batch
functions of `indicators`; the consumer keeps the same values live with `streaming`.

Cache keys (`analytics:{metric}:{coin_id}:{interval}`):

- `analytics:{sma_50|rsi_14|…}:{coin}:{interval}` — the latest value of a metric, over the
  forming candle when there is one (`"live": true`), written by the consumer;
- `analytics:summary:{coin}:{interval}` — the `/summary` body;
- `analytics:series;{query}:{coin}:{interval}` — an `/indicators` body (closed candles only;
  the query part starts with `v2` since candle times became Unix seconds, so no body cached
  in the old shape is served after an upgrade);
- `analytics:correlation_{window}:{coins|all}:{interval}` — a `/correlation` body;
- `analytics:volatility_{window}:{coin}:{interval}` — the latest volatility (live, as above).

Entries over closed candles live until the next bucket closes (at most `MAX_TTL`); entries
over a forming candle live `LIVE_TTL` unless the consumer rewrites them.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.analytics import indicators
from cryptodash.analytics.catalog import SUMMARY_METRICS, Metric, periods_per_year
from cryptodash.analytics.signals import SQUEEZE_LOOKBACK, Latest, summarize
from cryptodash.errors import NotFound
from cryptodash.market import service as market
from cryptodash.market.candles import Candle, fill_gaps, interval_seconds
from cryptodash.market.coins import Universe, quote_for
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database

HISTORY = market.MAX_CANDLES
"""Candles read per series: the warm-up of every indicator plus the points asked for."""
MAX_TTL = 300.0
LIVE_TTL = 5.0
MIN_TTL = 1.0
METRIC_TTL = 300.0
"""Consumer-written entries: rewritten on every change, dropped when a coin goes quiet."""

CORRELATION_WINDOWS: dict[str, int] = {
    "1m": 60,
    "5m": 288,
    "15m": 96,
    "1h": 168,
    "4h": 180,
    "1d": 90,
}
"""The correlation job's window per interval (an hour, a day, a day, a week, 30 and 90 days);
the `/correlation` default."""
VOLATILITY_WINDOW = 30


def metric_key(metric: str, coin_id: str, interval: str) -> str:
    return f"analytics:{metric}:{coin_id}:{interval}"


@functools.lru_cache(maxsize=1024)
def iso(epoch: float) -> str:
    # Cached: a flush stamps every metric of a coin and interval with the same bucket time.
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def closed_ttl(interval: str, now: float | None = None) -> float:
    """Seconds until the bucket after the current one is final: how long a body computed over
    closed candles stays true."""
    size = interval_seconds(interval)
    now = time.time() if now is None else now
    next_final = (now // size + 1) * size + market.CLOSE_GRACE
    return min(MAX_TTL, max(MIN_TTL, next_final - now))


def series_ttl(series: Series, interval: str, now: float | None = None) -> float:
    """`closed_ttl` for a series that reaches the last closed bucket; `LIVE_TTL` for one that
    does not (no candles yet, or history still being written or backfilled), so a body made
    before the history arrived is not served for minutes after it has."""
    size = interval_seconds(interval)
    now = time.time() if now is None else now
    last_closed = (now // size - 1) * size
    if not series.candles or series.candles[-1].time < last_closed:
        return LIVE_TTL
    return closed_ttl(interval, now)


def check_coin(universe: Universe, coin_id: str) -> str:
    """The coin's primary source; NotFound for a coin this deployment does not track."""
    source = universe.primary_source(coin_id)
    if universe.get(coin_id) is None or source is None:
        raise NotFound(f"unknown coin {coin_id!r}")
    return source


# --------------------------------------------------------------------------- series


@dataclass(frozen=True, slots=True)
class Series:
    coin_id: str
    interval: str
    source: str
    candles: list[Candle]
    live: bool
    """The last candle is still forming."""

    @property
    def quote(self) -> str:
        return quote_for(self.source)

    def closes(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.fromiter((float(c.close) for c in self.candles), np.float64, len(self.candles))


def regular(candles: Sequence[Candle], interval: str, limit: int = HISTORY) -> list[Candle]:
    """The last `limit` candles with the empty buckets between them filled flat."""
    return fill_gaps(candles, interval)[-limit:]


async def load_series(
    session: AsyncSession,
    universe: Universe,
    coin_id: str,
    interval: str,
    *,
    live: bool,
    now: float | None = None,
    limit: int = HISTORY,
) -> Series:
    """A coin's regular series on its primary source: the last `limit` candles, closed ones,
    plus the forming one when `live`."""
    source = check_coin(universe, coin_id)
    now = time.time() if now is None else now
    stored = await market.list_candles(
        session,
        coin_id=coin_id,
        interval=interval,
        source=source,
        limit=limit,
        closed_only=not live,
        now=datetime.fromtimestamp(now, UTC),
    )
    candles = regular(stored, interval, limit)
    size = interval_seconds(interval)
    forming = bool(candles) and candles[-1].time + size > now - market.CLOSE_GRACE
    return Series(coin_id, interval, source, candles, live and forming)


# --------------------------------------------------------------------------- bodies


def candle_json(c: Candle) -> dict[str, Any]:
    """One candle as `/api/market/{coin}/candles` sends it: `time` the bucket start in Unix
    seconds, so a chart can take either endpoint's candles."""
    return {
        "time": c.time,
        "open": float(c.open),
        "high": float(c.high),
        "low": float(c.low),
        "close": float(c.close),
        "volume": float(c.volume),
    }


def _column(values: np.ndarray[Any, Any], limit: int) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values[-limit:].tolist()]


def indicators_body(series: Series, metrics: Sequence[Metric], limit: int) -> dict[str, Any]:
    """`/indicators`: the last `limit` candles and each metric aligned with them."""
    closes = series.closes()
    out: dict[str, Any] = {}
    for metric in metrics:
        value = metric.batch(closes, series.interval)
        fields = metric.fields
        if fields is None:
            out[metric.name] = _column(value, limit)
        else:
            out[metric.name] = {
                name: _column(part, limit) for name, part in zip(fields, value, strict=True)
            }
    return {
        "coin_id": series.coin_id,
        "interval": series.interval,
        "source": series.source,
        "quote": series.quote,
        "candles": [candle_json(c) for c in series.candles[-limit:]],
        "series": out,
    }


def latest_from_arrays(
    close: float,
    sma_50: Any,
    sma_200: Any,
    rsi: Any,
    histogram: Any,
    bands: tuple[Any, Any, Any],
) -> Latest:
    """The signal inputs at the last point of batch results."""
    upper, middle, lower = bands
    with np.errstate(all="ignore"):
        widths = np.where(middle > 0, (upper - lower) / middle, np.nan)
    before = widths[-SQUEEZE_LOOKBACK:-1]
    lowest = float(np.nanmin(before)) if np.isfinite(before).any() else math.nan
    return Latest(
        close=close,
        sma_50=float(sma_50[-1]),
        sma_200=float(sma_200[-1]),
        rsi=float(rsi[-1]),
        histogram=float(histogram[-1]),
        previous_histogram=float(histogram[-2]) if len(histogram) > 1 else math.nan,
        bandwidth=float(widths[-1]),
        lowest_bandwidth=lowest,
    )


def summary_body(
    coin_id: str,
    interval: str,
    *,
    time_: float | None,
    close: float,
    live: bool,
    values: dict[str, Any],
    latest: Latest,
) -> dict[str, Any]:
    return {
        "coin_id": coin_id,
        "interval": interval,
        "time": None if time_ is None else iso(time_),
        "close": close if math.isfinite(close) else None,
        "live": live,
        "values": values,
        "bandwidth": latest.bandwidth if math.isfinite(latest.bandwidth) else None,
        "signals": summarize(latest),
    }


def summary_from_series(series: Series) -> dict[str, Any]:
    closes = series.closes()
    results = {name: m.batch(closes, series.interval) for name, m in SUMMARY_METRICS.items()}
    values: dict[str, Any] = dict.fromkeys(results)
    last = series.candles[-1] if series.candles else None
    close = float(last.close) if last else math.nan
    if last is not None:
        for name, value in results.items():
            at_end = tuple(part[-1] for part in value) if isinstance(value, tuple) else value[-1]
            values[name] = SUMMARY_METRICS[name].wire(at_end)
        latest = latest_from_arrays(
            close,
            results["sma_50"],
            results["sma_200"],
            results["rsi_14"],
            results["macd_12_26_9"][2],
            results["bb_20_2"],
        )
    else:
        latest = Latest(*(math.nan,) * 8)
    return summary_body(
        series.coin_id,
        series.interval,
        time_=last.time if last else None,
        close=close,
        live=series.live,
        values=values,
        latest=latest,
    )


# --------------------------------------------------------------------------- reads


async def indicators_json(
    db: Database,
    cache: Cache,
    universe: Universe,
    coin_id: str,
    interval: str,
    metrics: Sequence[Metric],
    limit: int,
) -> bytes:
    """The indicators body: cached, or computed from the stored candles (a read session is
    opened only then: a cached read touches no database)."""
    check_coin(universe, coin_id)
    query = ";".join(
        ["v2", f"limit={limit}", *(m.name for m in sorted(metrics, key=lambda m: m.name))]
    )
    key = metric_key(f"series;{query}", coin_id, interval)
    raw = await cache.get(key)
    if raw is not None:
        return raw
    async with db.read_session() as session:
        series = await load_series(session, universe, coin_id, interval, live=False)
    # Tens of milliseconds of NumPy and JSON on 1,000 candles (over 100 on a busy machine):
    # in a worker thread, the event loop keeps serving every other request meanwhile.
    raw = await asyncio.to_thread(_indicators_raw, series, metrics, limit)
    await cache.set(key, raw, series_ttl(series, interval))
    return raw


def _indicators_raw(series: Series, metrics: Sequence[Metric], limit: int) -> bytes:
    return orjson.dumps(indicators_body(series, metrics, limit))


async def summary_json(
    db: Database, cache: Cache, universe: Universe, coin_id: str, interval: str
) -> bytes:
    """The consumer's live summary when it has one, else computed from the stored candles."""
    check_coin(universe, coin_id)
    key = metric_key("summary", coin_id, interval)
    raw = await cache.get(key)
    if raw is not None:
        return raw
    async with db.read_session() as session:
        series = await load_series(session, universe, coin_id, interval, live=True)
    raw = orjson.dumps(summary_from_series(series))
    await cache.set(key, raw, LIVE_TTL if series.live else series_ttl(series, interval))
    return raw


async def volatility_json(
    session: AsyncSession,
    cache: Cache,
    universe: Universe,
    coin_ids: Sequence[str],
    interval: str,
    window: int,
) -> bytes:
    """Annualized volatility of each coin's log returns over the last `window` candles."""
    for coin_id in coin_ids:
        check_coin(universe, coin_id)
    name = f"volatility_{window}"
    keys = [metric_key(name, coin_id, interval) for coin_id in coin_ids]
    cached = await cache.get_many(keys)
    entries = []
    fresh: dict[str, bytes] = {}
    for coin_id, key, raw in zip(coin_ids, keys, cached, strict=True):
        if raw is None:
            series = await load_series(
                session, universe, coin_id, interval, live=True, limit=window + 1
            )
            closes = series.closes()
            value = (
                float(indicators.volatility(closes, window, periods_per_year(interval))[-1])
                if closes.size
                else math.nan
            )
            last = series.candles[-1] if series.candles else None
            entry = metric_entry(
                coin_id,
                interval,
                name,
                value if math.isfinite(value) else None,
                time_=last.time if last else None,
                close=float(last.close) if last else None,
                live=series.live,
            )
            raw = orjson.dumps(entry)
            fresh[key] = raw
        entries.append(orjson.loads(raw))
    if fresh:
        await cache.set_many(fresh, LIVE_TTL)
    body = {
        "interval": interval,
        "window": window,
        "periods_per_year": periods_per_year(interval),
        "annualized": True,
        "coins": [
            {
                "coin_id": e["coin_id"],
                "volatility": e["value"],
                "time": e["time"],
                "live": e["live"],
            }
            for e in entries
        ],
    }
    return orjson.dumps(body)


def metric_entry(
    coin_id: str,
    interval: str,
    metric: str,
    value: Any,
    *,
    time_: float | None,
    close: float | None,
    live: bool,
) -> dict[str, Any]:
    """A metric's cache value: its latest value at the candle starting at `time`."""
    return {
        "coin_id": coin_id,
        "interval": interval,
        "metric": metric,
        "value": value,
        "time": None if time_ is None else iso(time_),
        "close": close,
        "live": live,
    }


# --------------------------------------------------------------------------- correlation


async def aligned_closes(
    session: AsyncSession,
    universe: Universe,
    coin_ids: Sequence[str],
    interval: str,
    points: int,
    *,
    now: float | None = None,
) -> tuple[int | None, np.ndarray[Any, np.dtype[np.float64]]]:
    """(last bucket start, closes[coin, point]) on one time grid of `points` closed buckets
    ending at the newest closed candle of any of the coins; a bucket without a candle takes
    the coin's previous close, NaN before its first."""
    size = interval_seconds(interval)
    when = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    stored = []
    for coin_id in coin_ids:
        source = check_coin(universe, coin_id)
        stored.append(
            await market.list_candles(
                session,
                coin_id=coin_id,
                interval=interval,
                source=source,
                limit=min(points, HISTORY),
                now=when,
            )
        )
    ends = [candles[-1].time for candles in stored if candles]
    closes = np.full((len(coin_ids), points), np.nan)
    if not ends:
        return None, closes
    end = max(ends)
    grid = end - size * np.arange(points - 1, -1, -1, dtype=np.int64)
    for row, candles in enumerate(stored):
        if not candles:
            continue
        times = np.fromiter((c.time for c in candles), np.int64, len(candles))
        values = np.fromiter((float(c.close) for c in candles), np.float64, len(candles))
        index = np.searchsorted(times, grid, side="right") - 1
        closes[row] = np.where(index >= 0, values[np.maximum(index, 0)], np.nan)
    return end, closes


async def correlation_body(
    session: AsyncSession,
    universe: Universe,
    coin_ids: Sequence[str],
    interval: str,
    window: int,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    end, closes = await aligned_closes(session, universe, coin_ids, interval, window + 1, now=now)
    matrix = indicators.correlation_matrix(closes, window)
    size = interval_seconds(interval)
    return {
        "coins": list(coin_ids),
        "interval": interval,
        "window": window,
        "matrix": [[v if math.isfinite(v) else None for v in row] for row in matrix.tolist()],
        "as_of": None if end is None else iso(end + size),
    }


def correlation_key(window: int, coin_ids: Sequence[str] | None, interval: str) -> str:
    return metric_key(
        f"correlation_{window}", "all" if coin_ids is None else ",".join(coin_ids), interval
    )


def submatrix(body: dict[str, Any], coin_ids: Sequence[str]) -> dict[str, Any] | None:
    """The rows and columns of some coins, in their order; None when one is missing."""
    index = {coin: i for i, coin in enumerate(body["coins"])}
    if any(coin not in index for coin in coin_ids):
        return None
    rows = [index[coin] for coin in coin_ids]
    return {
        **body,
        "coins": list(coin_ids),
        "matrix": [[body["matrix"][i][j] for j in rows] for i in rows],
    }


async def correlation_json(
    session: AsyncSession,
    cache: Cache,
    universe: Universe,
    coin_ids: Sequence[str] | None,
    interval: str,
    window: int,
) -> bytes:
    """The job's matrix (all tracked coins, default window) when it covers the request, else
    computed now and cached until the next candle closes."""
    wanted = list(universe.ids if coin_ids is None else coin_ids)
    for coin_id in wanted:
        check_coin(universe, coin_id)
    everyone = await cache.get(correlation_key(window, None, interval))
    if everyone is not None:
        sub = submatrix(orjson.loads(everyone), wanted)
        if sub is not None:
            return orjson.dumps(sub)
    key = correlation_key(window, wanted, interval)
    raw = await cache.get(key)
    if raw is None:
        raw = orjson.dumps(await correlation_body(session, universe, wanted, interval, window))
        await cache.set(key, raw, closed_ttl(interval))
    return raw
