"""The full path: fake NewsAPI and feeds over real HTTP → mention detection → classifier →
database → cache and bus → `/api/sentiment/*`. Real SQLite/PostgreSQL, Redis and Kafka."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from cryptodash.market.coins import DEFAULT_COINS
from cryptodash.platform import schema
from cryptodash.platform.bus import MemoryBus, Message, build_bus
from cryptodash.platform.cache import MemoryCache, build_cache
from cryptodash.platform.db import Database
from cryptodash.platform.metrics import Metrics
from cryptodash.sentiment import service
from cryptodash.sentiment.classifier import ClassifierRunner
from cryptodash.sentiment.ingest import Pipeline
from cryptodash.sentiment.models import Article, ArticleCoin, Sentiment
from cryptodash.sentiment.sources import RawArticle, Source
from cryptodash.sentiment.sources.newsapi import NewsApiSource
from cryptodash.sentiment.sources.rss import reddit_source, rss_source
from tests.apps import make_settings, running
from tests.helpers import eventually
from tests.sentiment.fakes import (
    API_KEY,
    Feed,
    FeedState,
    NewsApiState,
    ago,
    feed_server,
    news_article,
    newsapi_server,
    reddit,
    rss,
)

GLOWING = [
    "Bitcoin soars to a record high as investors celebrate a great, wonderful week",
    "Great news: Bitcoin ETF inflows hit a record, analysts are thrilled and optimistic",
    "Bitcoin wins big: adoption success delights investors",
]
DIRE = [
    "Solana crashes after a devastating hack; traders panic over terrible losses",
    "Solana outage sparks fear and anger as the network fails again",
    "Disaster for Solana: regulators threaten a brutal crackdown",
]
UNRELATED = [
    "Click the link below to read the full report on the market",  # not chainlink
    "The ADA requires accessible entrances, a terrible oversight says judge",  # not cardano
    "DOGE cuts thousands of federal jobs in a painful reorganisation",  # not dogecoin
]


def newsapi_state() -> NewsApiState:
    articles = [
        news_article(title, f"https://news.example.com/n{i}", ago(minutes=10 + i))
        for i, title in enumerate(GLOWING + UNRELATED)
    ]
    return NewsApiState(articles=articles)


def feed_state() -> FeedState:
    items = [
        (title, f"https://feeds.example.com/f{i}", ago(minutes=20 + i), "")
        for i, title in enumerate(DIRE)
    ]
    # The same story as NewsAPI's first, with tracking parameters: stored once.
    items.append(
        (GLOWING[0], "https://www.news.example.com/n0/?utm_source=rss", ago(minutes=10), "")
    )
    return FeedState(
        feeds={
            "/rss": Feed(rss(items)),
            "/r/CryptoCurrency/new/.rss": Feed(
                reddit(
                    "CryptoCurrency",
                    [("Sold all my SOL, this is awful and I hate it", "Terrible", ago(minutes=5))],
                ),
                content_type="application/atom+xml",
            ),
        }
    )


@pytest.fixture
def servers() -> Iterator[tuple[str, str, NewsApiState, FeedState]]:
    news, feeds = newsapi_state(), feed_state()
    with newsapi_server(news) as news_url, feed_server(feeds) as feed_url:
        yield news_url, feed_url, news, feeds


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = (
        f"sqlite:///{tmp_path / 'sentiment.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    db = Database(url)
    await schema.upgrade(db.engine)
    try:
        yield db
    finally:
        await db.close()


async def test_pipeline_end_to_end(
    database: Database, servers: tuple[str, str, NewsApiState, FeedState]
) -> None:
    news_url, feed_url, _, _ = servers
    metrics = Metrics()
    cache = MemoryCache(metrics)
    bus = MemoryBus(metrics)
    received: list[Message] = []

    async def collect(message: Message) -> None:
        received.append(message)

    await bus.subscribe(["sentiment_updates"], "test.collector", collect)
    runner = ClassifierRunner("vader")
    async with httpx.AsyncClient(timeout=5) as client:
        pipeline = Pipeline(
            db=database,
            cache=cache,
            bus=bus,
            metrics=metrics,
            sources=[
                NewsApiSource(
                    client,
                    base_url=news_url,
                    api_key=API_KEY,
                    coins=[],
                    poll_seconds=300,
                    daily_requests=1000,
                ),
                rss_source(client, [f"{feed_url}/rss"], poll_seconds=300),
                reddit_source(
                    client, ["CryptoCurrency"], base_url=feed_url, poll_seconds=300, min_interval=0
                ),
            ],
            runner=runner,
            coin_ids=DEFAULT_COINS,
        )
        pipeline.sources[0].queries = ["Bitcoin OR Solana"]  # type: ignore[attr-defined]
        stored = await pipeline.poll_due()
        again = await pipeline.ingest(
            [a for s in pipeline.sources for a in await _refetch(s)]
        )  # everything again: nothing new
        await pipeline.aggregate()
    await bus.drain()
    await runner.close()

    assert stored == len(GLOWING) + len(UNRELATED) + len(DIRE) + 1  # one duplicate dropped
    assert again == 0
    async with database.session() as session:
        links = (
            await session.execute(
                select(ArticleCoin.coin_id, func.count()).group_by(ArticleCoin.coin_id)
            )
        ).all()
        unrelated = (
            await session.scalars(select(Article).where(Article.title.in_(UNRELATED)))
        ).all()
        snapshots = await session.scalar(select(func.count()).select_from(Sentiment))
    assert dict(links) == {"bitcoin": 3, "solana": 4}
    assert len(unrelated) == 3
    assert all(article.coins == [] for article in unrelated)
    assert snapshots == len(DEFAULT_COINS) * 3 * 3

    bitcoin = orjson.loads(await cache.get("sentiment:bitcoin") or b"null")
    solana = orjson.loads(await cache.get("sentiment:solana") or b"null")
    assert bitcoin["article_count"] == 3
    assert bitcoin["score"] > 0.5
    assert bitcoin["positive_pct"] == 100.0
    assert solana["article_count"] == 4
    assert solana["score"] < -0.5
    assert solana["negative_pct"] == 100.0

    by_coin = {m.key: m for m in received}
    assert set(by_coin) == set(DEFAULT_COINS)
    message = by_coin["solana"]
    assert message.headers["schema"] == "sentiment_update.v1"
    assert message.value["windows"]["1h"]["social"]["article_count"] == 1
    assert message.value["windows"]["24h"]["news"]["article_count"] == 3
    assert metrics.sentiment_articles.labels("newsapi", "news")._value.get() == 6
    assert metrics.sentiment_articles.labels("reddit", "social")._value.get() == 1


async def _refetch(source: Any) -> list[Any]:
    source.next_poll_at = None
    for feed in getattr(source, "feeds", []):
        feed.etag = feed.last_modified = None
    return list(await source.poll(datetime.now(UTC)))


def app_settings(data_dir: Path, news_url: str, feed_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "newsapi_key": API_KEY,
        "newsapi_url": news_url,
        "news_sources": "newsapi,rss,reddit",
        "rss_feeds": f"{feed_url}/rss",
        "reddit_subreddits": "CryptoCurrency",
        "reddit_url": feed_url,
        "sentiment_model": "vader",
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


async def _counted(client: httpx.AsyncClient, coin: str, n: int) -> dict[str, Any] | None:
    body: dict[str, Any] = (await client.get(f"/api/sentiment/{coin}")).json()
    return body if body["article_count"] >= n else None


async def _news_counts(client: httpx.AsyncClient) -> dict[str, float]:
    """sentiment_articles_total{kind="news"} by source, from /metrics."""
    text = (await client.get("/metrics")).text
    pattern = r'^sentiment_articles_total\{kind="news",source="(\w+)"\} (\S+)$'
    return {source: float(value) for source, value in re.findall(pattern, text, re.M)}


async def test_up_with_fake_providers_whose_first_answer_is_429(
    data_dir: Path, servers: tuple[str, str, NewsApiState, FeedState]
) -> None:
    news_url, feed_url, news, feeds = servers
    news.queued_errors.append(("rateLimited", {"Retry-After": "1"}))
    feeds.queued_errors.append((429, {"Retry-After": "1"}))
    settings = app_settings(data_dir, news_url, feed_url)
    async with running(settings) as (_, client):
        # The reddit feed (asked second) answers at once; NewsAPI and the RSS feed after 1 s.
        bitcoin = await eventually(lambda: _counted(client, "bitcoin", 3), timeout=20)
        solana = await eventually(lambda: _counted(client, "solana", 4), timeout=20)
        cardano = (await client.get("/api/sentiment/cardano")).json()
        chainlink_news = (await client.get("/api/sentiment/news?coin_id=chainlink")).json()
        news_list = (await client.get("/api/sentiment/news?coin_id=solana&limit=2")).json()
        page2 = (
            await client.get(
                "/api/sentiment/news",
                params={"coin_id": "solana", "limit": 2, "before": news_list["next_before"]},
            )
        ).json()
        social = (await client.get("/api/sentiment/solana?kind=social&window=1h")).json()
        posts = (await client.get("/api/sentiment/news?kind=social")).json()["articles"]
        news_only = (await client.get("/api/sentiment/overview?kind=news&window=7d")).json()
        trend = (await client.get("/api/sentiment/bitcoin/trend?interval=1h&range=24h")).json()
        overview = (await client.get("/api/sentiment/overview")).json()
        model = (await client.get("/api/sentiment/model")).json()
        unknown = await client.get("/api/sentiment/not-a-coin")
        unknown_trend = await client.get("/api/sentiment/not-a-coin/trend")
        unknown_news = await client.get("/api/sentiment/news?coin_id=not-a-coin")
        bad_window = await client.get("/api/sentiment/bitcoin?window=2h")
        too_many = await client.get("/api/sentiment/bitcoin/trend?interval=15m&range=30d")
        # Every news article counted once, by the source that delivered it first: the story
        # both NewsAPI and the RSS feed carry goes to whichever answered first after its 429.
        counted: dict[str, float] = {}
        for _ in range(100):
            counted = await _news_counts(client)
            if sum(counted.values()) == 9:
                break
            await asyncio.sleep(0.1)

    assert bitcoin["score"] > 0.5
    assert bitcoin["positive_pct"] == 100.0
    assert solana["score"] < -0.5
    assert cardano["article_count"] == 0
    assert cardano["score"] is None
    assert chainlink_news["articles"] == []

    assert len(news_list["articles"]) == 2
    assert len(page2["articles"]) == 2
    titles = [a["title"] for a in news_list["articles"] + page2["articles"]]
    assert len(set(titles)) == 4
    first = news_list["articles"][0]
    assert set(first) >= {"title", "url", "source", "published_at", "coins", "label", "score"}
    assert first["coins"] == ["solana"]
    assert all(a["label"] == "negative" for a in news_list["articles"])
    assert social["article_count"] == 1
    assert social["kind"] == "social"
    assert [(p["source"], p["kind"], p["coins"]) for p in posts] == [
        ("r/CryptoCurrency", "social", ["solana"])
    ]
    solana_news = next(c for c in news_only["coins"] if c["coin_id"] == "solana")
    assert solana_news["article_count"] == 3

    assert len(trend["points"]) == 24
    assert sum(p["article_count"] for p in trend["points"]) == 3
    coins = {entry["coin_id"]: entry for entry in overview["coins"]}
    assert set(coins) == set(DEFAULT_COINS)
    assert coins["bitcoin"]["symbol"] == "BTC"
    assert coins["bitcoin"]["score"] > 0.5

    assert model["kind"] == "lexicon"
    assert model["fallback"] is False
    states = {s["name"]: s for s in model["sources"]}
    assert set(states) == {"newsapi", "rss", "reddit"}

    for response in (unknown, unknown_trend, unknown_news):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert bad_window.status_code == 422
    assert too_many.status_code == 422
    assert sum(counted.values()) == 9
    assert counted["newsapi"] in (5, 6)
    assert counted["rss"] == 9 - counted["newsapi"]


async def test_invalid_newsapi_key_is_reported_and_the_rest_goes_on(
    data_dir: Path, servers: tuple[str, str, NewsApiState, FeedState]
) -> None:
    news_url, feed_url, news, _ = servers
    settings = app_settings(data_dir, news_url, feed_url, newsapi_key="wrong")
    async with running(settings) as (_, client):
        await eventually(lambda: _counted(client, "solana", 4), timeout=20)
        model = (await client.get("/api/sentiment/model")).json()
    newsapi = next(s for s in model["sources"] if s["name"] == "newsapi")
    assert newsapi["state"] == "stopped"
    assert "apiKeyInvalid" in newsapi["last_error"]
    assert len(news.requests) == 1


async def test_no_newsapi_key_means_no_newsapi(
    data_dir: Path, servers: tuple[str, str, NewsApiState, FeedState]
) -> None:
    news_url, feed_url, news, _ = servers
    settings = app_settings(data_dir, news_url, feed_url, newsapi_key=None)
    async with running(settings) as (_, client):
        await eventually(lambda: _counted(client, "solana", 4), timeout=20)
        model = (await client.get("/api/sentiment/model")).json()
    assert [s["name"] for s in model["sources"]] == ["rss", "reddit"]
    assert news.requests == []


async def test_transformer_path_through_the_app(
    data_dir: Path, servers: tuple[str, str, NewsApiState, FeedState], tiny_model: Path
) -> None:
    news_url, feed_url, _, _ = servers
    settings = app_settings(data_dir, news_url, feed_url, sentiment_model=str(tiny_model))
    async with running(settings) as (_, client):
        await eventually(lambda: _counted(client, "bitcoin", 3), timeout=30)
        model = (await client.get("/api/sentiment/model")).json()
        listed = (await client.get("/api/sentiment/news?coin_id=bitcoin")).json()
    assert model["kind"] == "transformer"
    assert model["active"] == str(tiny_model)
    assert model["fallback"] is False
    assert model["details"]["labels"] == ["negative", "positive"]
    assert {a["model"] for a in listed["articles"]} == {str(tiny_model)}
    assert all(-1 <= a["score"] <= 1 for a in listed["articles"])


async def test_demo_news_is_marked(data_dir: Path) -> None:
    async with running(make_settings(data_dir, demo=True, sentiment_model="vader")) as (_, client):
        listed = await eventually(lambda: _listed(client), timeout=20)
    assert all(a["demo"] for a in listed)
    assert all(a["provider"] == "demo" for a in listed)
    assert all("simulated" in a["source"] for a in listed)


async def _listed(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    articles: list[dict[str, Any]] = (await client.get("/api/sentiment/news?limit=50")).json()[
        "articles"
    ]
    return articles or None


@pytest.mark.integration
async def test_split_sentiment_service_on_postgres_redis_kafka(
    data_dir: Path,
    servers: tuple[str, str, NewsApiState, FeedState],
    pg_url: str,
    redis_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    news_url, feed_url, _, _ = servers
    settings = app_settings(
        data_dir,
        news_url,
        feed_url,
        database_url=pg_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        bus_topic_prefix=topic_prefix,
        jwt_secret="s" * 40,
    )
    db = Database(pg_url)
    await schema.upgrade(db.engine)
    await db.close()
    metrics = Metrics()
    listener = build_bus(kafka_bootstrap, metrics, topic_prefix=topic_prefix)
    received: list[Message] = []

    async def collect(message: Message) -> None:
        received.append(message)

    await listener.start()
    subscription = await listener.subscribe(["sentiment_updates"], "test.listener", collect)
    await subscription.wait_assigned()  # type: ignore[attr-defined]
    try:
        async with running(settings, service="sentiment") as (_, client):
            bitcoin = await eventually(lambda: _counted(client, "bitcoin", 3), timeout=30)
            await eventually(lambda: any(m.key == "bitcoin" for m in received), timeout=30)
    finally:
        await listener.close()
    assert bitcoin["score"] > 0.5
    message = next(m for m in received if m.key == "bitcoin")
    assert message.value["article_count"] == 3
    assert message.headers["schema"] == "sentiment_update.v1"
    cache = build_cache(redis_url, metrics)
    try:
        cached = orjson.loads(await cache.get("sentiment:bitcoin") or b"null")
    finally:
        await cache.close()
    assert cached["article_count"] == 3
    assert cached["window"] == "24h"
    assert cached["kind"] == "all"


class _OneShot(Source):
    name = provider = "oneshot"
    kind = "news"

    async def fetch(self, now: datetime) -> list[RawArticle]:
        return [
            RawArticle(
                "Bitcoin rallies, great news", "https://x.example/1", "X", "oneshot", "news", now
            )
        ]


async def test_articles_survive_a_failed_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    await schema.upgrade(db.engine)
    metrics = Metrics()
    runner = ClassifierRunner("vader")
    pipeline = Pipeline(
        db=db,
        cache=MemoryCache(metrics),
        bus=MemoryBus(metrics),
        metrics=metrics,
        sources=[_OneShot(poll_seconds=3600)],
        runner=runner,
        coin_ids=["bitcoin"],
    )
    original = service.store_articles
    failures = [RuntimeError("database away")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(*args, **kwargs)

    monkeypatch.setattr(service, "store_articles", flaky)
    try:
        with pytest.raises(RuntimeError):
            await pipeline.poll_due()
        assert await pipeline.poll_due() == 1  # the source is not due: the kept article is
        assert await pipeline.poll_due() == 0
    finally:
        await runner.close()
        await db.close()


@pytest.mark.integration
async def test_the_pipeline_runs_once_across_replicas(pg_url: str) -> None:
    import asyncio

    from cryptodash.platform.singleton import run_singleton

    first, second = Database(pg_url), Database(pg_url)
    running_jobs: list[str] = []
    release = asyncio.Event()

    async def job(name: str) -> None:
        running_jobs.append(name)
        await release.wait()

    try:
        a = asyncio.create_task(
            run_singleton(first, "test.job", lambda: job("a"), standby_poll=0.1)
        )
        await eventually(lambda: running_jobs == ["a"])
        b = asyncio.create_task(
            run_singleton(second, "test.job", lambda: job("b"), standby_poll=0.1)
        )
        await asyncio.sleep(0.5)
        assert running_jobs == ["a"]  # b stands by
        a.cancel()  # the holder goes away: b takes over
        with pytest.raises(asyncio.CancelledError):
            await a
        await eventually(lambda: running_jobs == ["a", "b"])
        release.set()
        await b
        # The lock was released on a pooled connection: the same process can take it again.
        await run_singleton(first, "test.job", lambda: job("c"), standby_poll=0.1)
        assert running_jobs == ["a", "b", "c"]
    finally:
        await first.close()
        await second.close()
