"""`/api/analytics/*`: indicator series, summaries with signals, volatility, correlation.

Thin: parse and check the query, call one service function, return its JSON bytes as they are
(cached bodies go out without being decoded). Unknown coins are 404; bad intervals, periods
and lists are 422 with the field named in `details`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cryptodash.analytics import service
from cryptodash.analytics.catalog import Metric, check_metric
from cryptodash.auth import Public
from cryptodash.deps import CacheDep, PlatformDep, ReadSessionDep, SettingsDep
from cryptodash.edge import fresh_for
from cryptodash.errors import Invalid, ServiceUnavailable
from cryptodash.market.candles import INTERVALS
from cryptodash.market.coins import Universe
from cryptodash.platform.db import Database
from cryptodash.runtime import Platform

router = APIRouter(prefix="/api/analytics", tags=["analytics"], dependencies=[Public])

DEFAULT_QUERY = {"sma": "20,50", "ema": "12,26", "rsi": "14", "macd": "12,26,9", "bb": "20,2"}
MAX_COINS = 50
MAX_WINDOW = service.HISTORY - 1

Interval = Annotated[str, Query(description=f"one of {', '.join(INTERVALS)}")]


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(
        f"{field}: {message}",
        details=[{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


def _interval(value: str) -> str:
    if value not in INTERVALS:
        raise _invalid("interval", f"expected one of {', '.join(INTERVALS)}")
    return value


def _numbers(field: str, text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _invalid(field, f"expected comma-separated numbers, got {text!r}") from None


def _metrics(query: dict[str, str | None]) -> list[Metric]:
    """`sma=20,50` is two SMAs; `macd=12,26,9` and `bb=20,2` are one indicator each."""
    if all(value is None for value in query.values()):
        query = dict(DEFAULT_QUERY)
    metrics: list[Metric] = []
    for kind, text in query.items():
        if text is None:
            continue
        numbers = _numbers(kind, text)
        groups = [tuple(numbers)] if kind in ("macd", "bb") else [(n,) for n in numbers]
        if not groups or not groups[0]:
            raise _invalid(kind, "expected at least one period")
        for params in groups:
            try:
                metrics.append(check_metric(kind, params))
            except ValueError as exc:
                raise _invalid(kind, str(exc)) from None
    return list(dict.fromkeys(metrics))


def _coins(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    coins = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if len(coins) > MAX_COINS:
        raise _invalid("coins", f"at most {MAX_COINS} coins")
    return coins


@router.get("/volatility")
@fresh_for(1.0)
async def volatility(
    session: ReadSessionDep,
    cache: CacheDep,
    settings: SettingsDep,
    coins: Annotated[
        str | None, Query(description="comma-separated coin ids; all if empty")
    ] = None,
    interval: Interval = "1d",
    window: Annotated[int, Query(ge=2, le=MAX_WINDOW)] = service.VOLATILITY_WINDOW,
) -> Response:
    """Annualized volatility (sample standard deviation of log returns over `window` candles,
    times √(candles per year, 365 days)) of each coin."""
    universe = Universe.from_settings(settings)
    wanted = _coins(coins) or list(universe.ids)
    body = await service.volatility_json(
        session, cache, universe, wanted, _interval(interval), window
    )
    return _json(body)


@router.get("/correlation")
@fresh_for(1.0)
async def correlation(
    session: ReadSessionDep,
    cache: CacheDep,
    settings: SettingsDep,
    coins: Annotated[
        str | None, Query(description="comma-separated coin ids; all if empty")
    ] = None,
    interval: Interval = "1h",
    window: Annotated[int | None, Query(ge=2, le=MAX_WINDOW)] = None,
) -> Response:
    """Pearson correlation of log returns over the last `window` closed candles:
    `{"coins", "matrix", "as_of"}`, null where a coin lacks data or did not move."""
    universe = Universe.from_settings(settings)
    interval = _interval(interval)
    body = await service.correlation_json(
        session,
        cache,
        universe,
        _coins(coins),
        interval,
        window or service.CORRELATION_WINDOWS[interval],
    )
    return _json(body)


@router.get("/{coin_id}/indicators")
@fresh_for(1.0)
async def coin_indicators(
    coin_id: str,
    platform: PlatformDep,
    interval: Interval = "1h",
    sma: Annotated[str | None, Query(description="periods, e.g. 20,50")] = None,
    ema: Annotated[str | None, Query(description="periods, e.g. 12,26")] = None,
    rsi: Annotated[str | None, Query(description="periods, e.g. 14")] = None,
    macd: Annotated[str | None, Query(description="fast,slow,signal, e.g. 12,26,9")] = None,
    bb: Annotated[str | None, Query(description="period,width, e.g. 20,2")] = None,
    limit: Annotated[int, Query(ge=1, le=service.HISTORY)] = 500,
) -> Response:
    """The last `limit` closed candles and each indicator aligned with them (null during
    warm-up). Periods are 1..500; without any indicator parameter the defaults are
    sma=20,50 ema=12,26 rsi=14 macd=12,26,9 bb=20,2."""
    metrics = _metrics({"sma": sma, "ema": ema, "rsi": rsi, "macd": macd, "bb": bb})
    universe = Universe.from_settings(platform.settings)
    body = await service.indicators_json(
        _database(platform), platform.cache, universe, coin_id, _interval(interval), metrics, limit
    )
    return _json(body)


@router.get("/{coin_id}/summary")
@fresh_for(1.0)
async def coin_summary(
    coin_id: str,
    platform: PlatformDep,
    interval: Interval = "1h",
) -> Response:
    """Latest values (over the forming candle when there is one) and plain-language signals:
    price against SMA 50 and 200, RSI overbought/oversold, MACD cross, Bollinger squeeze."""
    universe = Universe.from_settings(platform.settings)
    body = await service.summary_json(
        _database(platform), platform.cache, universe, coin_id, _interval(interval)
    )
    return _json(body)


def _database(platform: Platform) -> Database:
    # The per-coin reads are the dashboard's hottest: one dependency (the platform) and a
    # session only when the body is not cached, instead of a session per request.
    if platform.db is None:
        raise ServiceUnavailable("this service has no database")
    return platform.db
