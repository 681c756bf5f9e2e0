"""Sentiment API: per-coin aggregates and trends, the articles behind them, an overview of
every coin, and which model scores them. Public market information: no login needed.

The per-coin aggregate and the overview are the dashboard's hot reads: one dependency (the
platform), a database session only when the cache lacks a coin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from cryptodash.auth import Public
from cryptodash.deps import CacheDep, PlatformDep, ReadSessionDep, SettingsDep
from cryptodash.edge import fresh_for
from cryptodash.errors import Invalid, NotFound, ServiceUnavailable
from cryptodash.market.coins import Universe
from cryptodash.platform.db import Database
from cryptodash.runtime import Platform
from cryptodash.sentiment import service
from cryptodash.sentiment.aggregate import INTERVALS, MAX_TREND_POINTS, RANGES
from cryptodash.sentiment.schemas import (
    ArticleList,
    IntervalName,
    KindFilter,
    ModelRead,
    OverviewRead,
    RangeName,
    SentimentRead,
    TrendRead,
    WindowName,
)

router = APIRouter(prefix="/api/sentiment", tags=["sentiment"], dependencies=[Public])

KindQuery = Annotated[KindFilter, Query(description="news, social or all")]


def _known(settings: SettingsDep, coin_id: str) -> Universe:
    universe = Universe.from_settings(settings)
    if universe.get(coin_id) is None:
        raise NotFound(f"Unknown coin: {coin_id}")
    return universe


def _database(platform: Platform) -> Database:
    if platform.db is None:
        raise ServiceUnavailable("this service has no database")
    return platform.db


def _json(model: BaseModel) -> Response:
    """The hot reads answer with the model's JSON directly (one validation, not FastAPI's
    second pass over a `response_model`); the schema is declared in `responses`."""
    return Response(model.model_dump_json(), media_type="application/json")


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@router.get("/overview", response_model=None, responses={200: {"model": OverviewRead}})
@fresh_for(1.0)
async def get_overview(
    platform: PlatformDep,
    window: WindowName = "24h",
    kind: KindQuery = "all",
) -> Response:
    universe = Universe.from_settings(platform.settings)
    values = await service.overview(
        _database(platform),
        platform.cache,
        coin_ids=universe.ids,
        window=window,
        kind=kind,
        now=datetime.now(UTC),
    )
    entries = []
    for value in values:
        coin = universe.get(value["coin_id"])
        assert coin is not None
        entries.append({**value, "symbol": coin.symbol, "name": coin.name})
    return _json(OverviewRead.model_validate({"window": window, "kind": kind, "coins": entries}))


@router.get("/news", response_model=ArticleList)
async def get_news(
    session: ReadSessionDep,
    settings: SettingsDep,
    coin_id: str | None = None,
    kind: KindQuery = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: datetime | None = None,
) -> ArticleList:
    if coin_id is not None:
        _known(settings, coin_id)
    articles = await service.list_articles(
        session, coin_id=coin_id, kind=kind, limit=limit, before=_aware(before)
    )
    reads = [service.article_read(article) for article in articles]
    next_before = articles[-1].published_at if len(articles) == limit else None
    return ArticleList.model_validate({"articles": reads, "next_before": next_before})


@router.get("/model", response_model=ModelRead)
async def get_model(cache: CacheDep, settings: SettingsDep) -> ModelRead:
    status = await service.get_status(cache)
    if status is None:
        return ModelRead(configured=settings.sentiment_model, state="not running")
    model = dict(status["model"])
    known = {"configured", "state", "active", "kind", "fallback", "reason"}
    return ModelRead.model_validate(
        {
            **{key: model.get(key) for key in known},
            "details": {k: v for k, v in model.items() if k not in known},
            "sources": status.get("sources", []),
            "updated_at": status.get("updated_at"),
        }
    )


@router.get("/{coin_id}", response_model=None, responses={200: {"model": SentimentRead}})
@fresh_for(1.0)
async def get_sentiment(
    coin_id: str,
    platform: PlatformDep,
    window: WindowName = "24h",
    kind: KindQuery = "all",
) -> Response:
    _known(platform.settings, coin_id)
    value = await service.get_sentiment(
        _database(platform),
        platform.cache,
        coin_id=coin_id,
        window=window,
        kind=kind,
        now=datetime.now(UTC),
    )
    return _json(SentimentRead.model_validate(value))


@router.get("/{coin_id}/trend", response_model=TrendRead)
@fresh_for(1.0)
async def get_trend(
    coin_id: str,
    session: ReadSessionDep,
    settings: SettingsDep,
    interval: IntervalName = "1h",
    range_: Annotated[RangeName, Query(alias="range")] = "7d",
    kind: KindQuery = "all",
) -> TrendRead:
    _known(settings, coin_id)
    step, span = INTERVALS[interval], RANGES[range_]
    if span / step > MAX_TREND_POINTS:
        raise Invalid(f"{range_} at {interval} is more than {MAX_TREND_POINTS} points")
    points = await service.trend_points(
        session, coin_id=coin_id, kind=kind, interval=step, span=span, now=datetime.now(UTC)
    )
    return TrendRead.model_validate(
        {
            "coin_id": coin_id,
            "kind": kind,
            "interval": interval,
            "range": range_,
            "points": [
                {"timestamp": point.timestamp, **point.aggregate.as_dict()} for point in points
            ],
        }
    )
