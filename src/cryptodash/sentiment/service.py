"""Sentiment service functions: store classified articles, aggregate per coin and window,
answer the API's reads. They take their session / cache / bus as arguments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cryptodash.platform.bus import Bus
from cryptodash.platform.cache import Cache, get_json
from cryptodash.platform.db import Database
from cryptodash.platform.errors import BackendUnavailable
from cryptodash.platform.logging import get_logger
from cryptodash.sentiment.aggregate import (
    KIND_FILTERS,
    WINDOWS,
    Aggregate,
    Tally,
    TrendPoint,
    aggregate,
    combine,
    trend,
)
from cryptodash.sentiment.classifiers import Prediction
from cryptodash.sentiment.mentions import MentionDetector
from cryptodash.sentiment.models import Article, ArticleCoin, Sentiment
from cryptodash.sentiment.normalize import (
    classification_text,
    iso,
    normalized_title,
    title_key,
    url_key,
)
from cryptodash.sentiment.sources import RawArticle

log = get_logger(__name__)

TOPIC = "sentiment_updates"
SCHEMA = "sentiment_update.v1"
CACHE_TTL = 300.0
CACHE_WINDOW, CACHE_KIND = "24h", "all"  # what `sentiment:{coin_id}` holds (ARCHITECTURE §5b)
STATUS_KEY = "sentiment:status"
STATUS_TTL = 900.0
TITLE_LIMIT = 500
SUMMARY_LIMIT = 4000


def cache_key(coin_id: str) -> str:
    return f"sentiment:{coin_id}"


# --------------------------------------------------------------------------- ingest


@dataclass(frozen=True, slots=True)
class Prepared:
    raw: RawArticle
    url_key: str
    title_key: str
    coins: tuple[str, ...]
    text: str
    published_at: datetime


def prepare(raws: Iterable[RawArticle], detector: MentionDetector, now: datetime) -> list[Prepared]:
    """Keys, coins and classifier text for each article; duplicates within the batch (same
    canonical URL, or same normalized title and kind) are dropped, first one kept."""
    seen_urls: set[str] = set()
    seen_titles: set[tuple[str, str]] = set()
    prepared = []
    for raw in raws:
        if not normalized_title(raw.title):
            continue
        u_key, t_key = url_key(raw.url), title_key(raw.title)
        if u_key in seen_urls or (raw.kind, t_key) in seen_titles:
            continue
        seen_urls.add(u_key)
        seen_titles.add((raw.kind, t_key))
        prepared.append(
            Prepared(
                raw=raw,
                url_key=u_key,
                title_key=t_key,
                coins=tuple(detector.detect(raw.title, raw.summary)),
                text=classification_text(raw.title, raw.summary),
                published_at=min(raw.published_at, now),
            )
        )
    return prepared


async def drop_known(session: AsyncSession, items: Sequence[Prepared]) -> list[Prepared]:
    """The items not stored yet (neither their URL nor their title within their kind)."""
    if not items:
        return []
    known_urls: set[str] = set()
    known_titles: set[tuple[str, str]] = set()
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        rows = await session.execute(
            select(Article.url_key, Article.kind, Article.title_key).where(
                or_(
                    Article.url_key.in_([i.url_key for i in chunk]),
                    Article.title_key.in_([i.title_key for i in chunk]),
                )
            )
        )
        for u_key, kind, t_key in rows:
            known_urls.add(u_key)
            known_titles.add((kind, t_key))
    return [
        i
        for i in items
        if i.url_key not in known_urls and (i.raw.kind, i.title_key) not in known_titles
    ]


def _article(item: Prepared, prediction: Prediction, model: str, now: datetime) -> Article:
    raw = item.raw
    article = Article(
        url=raw.url,
        url_key=item.url_key,
        title=raw.title[:TITLE_LIMIT],
        title_key=item.title_key,
        summary=raw.summary[:SUMMARY_LIMIT] or None,
        source=raw.source[:200],
        provider=raw.provider,
        kind=raw.kind,
        demo=raw.demo,
        published_at=item.published_at,
        fetched_at=now,
        label=prediction.label,
        score=prediction.score,
        confidence=prediction.confidence,
        model=model[:200],
    )
    article.coins = [
        ArticleCoin(
            coin_id=coin_id,
            kind=raw.kind,
            published_at=item.published_at,
            label=prediction.label,
            score=prediction.score,
        )
        for coin_id in item.coins
    ]
    return article


async def store_articles(
    session: AsyncSession,
    items: Sequence[Prepared],
    predictions: Sequence[Prediction],
    *,
    model: str,
    now: datetime,
) -> list[Article]:
    """Insert classified articles; one that another writer stored meanwhile is skipped."""
    articles = [
        _article(item, prediction, model, now)
        for item, prediction in zip(items, predictions, strict=True)
    ]
    try:
        async with session.begin_nested():
            session.add_all(articles)
    except IntegrityError:
        stored = []
        for article in (
            _article(i, p, model, now) for i, p in zip(items, predictions, strict=True)
        ):
            try:
                async with session.begin_nested():
                    session.add(article)
                stored.append(article)
            except IntegrityError:
                continue
        return stored
    return articles


# --------------------------------------------------------------------------- aggregates


async def tallies(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    coin_ids: Sequence[str] | None = None,
) -> dict[str, dict[str, Tally]]:
    """coin id → kind → label counts and score sum over (since, until]."""
    query = (
        select(
            ArticleCoin.coin_id,
            ArticleCoin.kind,
            ArticleCoin.label,
            func.count(),
            func.coalesce(func.sum(ArticleCoin.score), 0.0),
        )
        .where(ArticleCoin.published_at > since, ArticleCoin.published_at <= until)
        .group_by(ArticleCoin.coin_id, ArticleCoin.kind, ArticleCoin.label)
    )
    if coin_ids is not None:
        query = query.where(ArticleCoin.coin_id.in_(list(coin_ids)))
    result: dict[str, dict[str, Tally]] = defaultdict(dict)
    for coin_id, kind, label, count, score_sum in await session.execute(query):
        by_kind = result[coin_id]
        by_kind[kind] = by_kind.get(kind, Tally()).add(label, float(score_sum), int(count))
    return result


def read(coin_id: str, window: str, kind: str, value: Aggregate, at: datetime) -> dict[str, Any]:
    """The API's (and the cache's and the bus's) form of one aggregate."""
    return {
        "coin_id": coin_id,
        "window": window,
        "kind": kind,
        **value.as_dict(),
        "timestamp": iso(at),
    }


async def current(
    session: AsyncSession,
    *,
    coin_ids: Sequence[str],
    window: str,
    kind: str,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """The live aggregate of each coin over the window ending now."""
    found = await tallies(session, since=now - WINDOWS[window], until=now, coin_ids=coin_ids)
    return {
        coin_id: read(coin_id, window, kind, aggregate(combine(found.get(coin_id, {}), kind)), now)
        for coin_id in coin_ids
    }


async def compute_all(
    session: AsyncSession, *, coin_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, dict[str, Aggregate]]]:
    """coin id → window → kind filter (news, social, all) → aggregate, every tracked coin."""
    result: dict[str, dict[str, dict[str, Aggregate]]] = {c: {} for c in coin_ids}
    for window, span in WINDOWS.items():
        found = await tallies(session, since=now - span, until=now, coin_ids=coin_ids)
        for coin_id in coin_ids:
            by_kind = found.get(coin_id, {})
            result[coin_id][window] = {k: aggregate(combine(by_kind, k)) for k in KIND_FILTERS}
    return result


def _upsert(session: AsyncSession) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert


async def save_snapshots(
    session: AsyncSession,
    aggregates: Mapping[str, Mapping[str, Mapping[str, Aggregate]]],
    *,
    at: datetime,
) -> int:
    rows = [
        {
            "coin_id": coin_id,
            "period": window,
            "kind": kind,
            "timestamp": at,
            "score": value.score,
            "positive_pct": value.positive_pct,
            "negative_pct": value.negative_pct,
            "neutral_pct": value.neutral_pct,
            "article_count": value.article_count,
        }
        for coin_id, windows in aggregates.items()
        for window, kinds in windows.items()
        for kind, value in kinds.items()
    ]
    if not rows:
        return 0
    insert = _upsert(session)
    statement = insert(Sentiment).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["coin_id", "period", "kind", "timestamp"],
        set_={
            column: statement.excluded[column]
            for column in ("score", "positive_pct", "negative_pct", "neutral_pct", "article_count")
        },
    )
    await session.execute(statement)
    return len(rows)


def update_message(
    coin_id: str, windows: Mapping[str, Mapping[str, Aggregate]], at: datetime
) -> dict[str, Any]:
    """A `sentiment_updates` message: the 24 h all-kinds aggregate (the cached value) plus
    every window and kind."""
    headline = read(coin_id, CACHE_WINDOW, CACHE_KIND, windows[CACHE_WINDOW][CACHE_KIND], at)
    headline["windows"] = {
        window: {kind: value.as_dict() for kind, value in kinds.items()}
        for window, kinds in windows.items()
    }
    return headline


async def publish(
    cache: Cache,
    bus: Bus,
    aggregates: Mapping[str, Mapping[str, Mapping[str, Aggregate]]],
    *,
    at: datetime,
) -> None:
    """Cache `sentiment:{coin_id}` and publish one `sentiment_updates` message per coin."""
    items = {
        cache_key(coin_id): orjson.dumps(
            read(coin_id, CACHE_WINDOW, CACHE_KIND, windows[CACHE_WINDOW][CACHE_KIND], at)
        )
        for coin_id, windows in aggregates.items()
    }
    await cache.set_many(items, CACHE_TTL)
    for coin_id, windows in aggregates.items():
        try:
            await bus.publish(TOPIC, coin_id, update_message(coin_id, windows, at), schema=SCHEMA)
        except BackendUnavailable as exc:
            log.warning("sentiment_publish_failed", coin_id=coin_id, error=exc.detail)
            return


async def prune(session: AsyncSession, *, before: datetime) -> None:
    await session.execute(delete(Sentiment).where(Sentiment.timestamp < before))
    await session.execute(delete(Article).where(Article.published_at < before))


# --------------------------------------------------------------------------- reads


async def trend_points(
    session: AsyncSession,
    *,
    coin_id: str,
    kind: str,
    interval: timedelta,
    span: timedelta,
    now: datetime,
) -> list[TrendPoint]:
    query = select(ArticleCoin.published_at, ArticleCoin.label, ArticleCoin.score).where(
        ArticleCoin.coin_id == coin_id,
        ArticleCoin.published_at > now - span,
        ArticleCoin.published_at <= now,
    )
    if kind != "all":
        query = query.where(ArticleCoin.kind == kind)
    rows = [(at, label, score) for at, label, score in await session.execute(query)]
    return trend(rows, end=now, span=span, interval=interval)


async def list_articles(
    session: AsyncSession,
    *,
    coin_id: str | None,
    kind: str,
    limit: int,
    before: datetime | None,
) -> list[Article]:
    query = select(Article)
    if coin_id is not None:
        query = query.join(
            ArticleCoin,
            and_(ArticleCoin.article_id == Article.id, ArticleCoin.coin_id == coin_id),
        )
    if kind != "all":
        query = query.where(Article.kind == kind)
    if before is not None:
        query = query.where(Article.published_at < before)
    query = query.order_by(Article.published_at.desc(), Article.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


def article_read(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "provider": article.provider,
        "kind": article.kind,
        "published_at": iso(article.published_at),
        "coins": sorted(link.coin_id for link in article.coins),
        "label": article.label,
        "score": round(article.score, 4),
        "model": article.model,
        "demo": article.demo,
    }


async def get_sentiment(
    db: Database, cache: Cache, *, coin_id: str, window: str, kind: str, now: datetime
) -> dict[str, Any]:
    """The coin's latest aggregate: the cached one for 24 h / all kinds, else computed now (a
    read session is opened only then).

    Only the pipeline writes the cache: a reader that cached its own result could overwrite a
    fresher aggregate with a stale one."""
    if window == CACHE_WINDOW and kind == CACHE_KIND:
        hit = await get_json(cache, cache_key(coin_id))
        if hit is not None:
            return dict(hit)
    async with db.read_session() as session:
        values = await current(session, coin_ids=[coin_id], window=window, kind=kind, now=now)
    return values[coin_id]


async def overview(
    db: Database,
    cache: Cache,
    *,
    coin_ids: Sequence[str],
    window: str,
    kind: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """Every tracked coin's aggregate, from the cache where it holds them."""
    values: dict[str, dict[str, Any]] = {}
    if window == CACHE_WINDOW and kind == CACHE_KIND:
        raw = await cache.get_many([cache_key(c) for c in coin_ids])
        values = {c: orjson.loads(v) for c, v in zip(coin_ids, raw, strict=True) if v is not None}
    missing = [c for c in coin_ids if c not in values]
    if missing:
        async with db.read_session() as session:
            values.update(
                await current(session, coin_ids=missing, window=window, kind=kind, now=now)
            )
    return [values[c] for c in coin_ids]


async def get_status(cache: Cache) -> dict[str, Any] | None:
    value = await get_json(cache, STATUS_KEY)
    return dict(value) if value is not None else None
