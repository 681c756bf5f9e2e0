"""The sentiment pipeline: poll the sources when due, classify new articles off the event
loop, store them, and aggregate per coin (DB snapshot, cache `sentiment:{coin_id}`, bus
`sentiment_updates`) after new articles and on a schedule.

It runs once across replicas (a PostgreSQL advisory lock; all-in-one just runs it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from cryptodash.config import Settings
from cryptodash.market.coins import COINS_BY_ID, Universe
from cryptodash.platform.bus import Bus
from cryptodash.platform.cache import Cache
from cryptodash.platform.db import Database
from cryptodash.platform.logging import get_logger
from cryptodash.platform.metrics import Metrics
from cryptodash.platform.singleton import run_singleton
from cryptodash.runtime import Platform
from cryptodash.sentiment import service
from cryptodash.sentiment.classifier import ClassifierRunner
from cryptodash.sentiment.mentions import MentionDetector
from cryptodash.sentiment.normalize import iso
from cryptodash.sentiment.sources import RawArticle, Source
from cryptodash.sentiment.sources.demo import DemoSource
from cryptodash.sentiment.sources.newsapi import NewsApiSource
from cryptodash.sentiment.sources.rss import USER_AGENT, reddit_source, rss_source

log = get_logger(__name__)

SOURCE_NAMES = ("newsapi", "rss", "reddit", "demo")
MIN_SLEEP = 0.2
RETRY_SECONDS = 5.0
MAX_PENDING = 5000


def build_sources(
    settings: Settings, client: httpx.AsyncClient, coin_ids: Sequence[str]
) -> list[Source]:
    """The configured sources; `--demo` replaces them all with the demo source."""
    coins = [COINS_BY_ID[c] for c in coin_ids]
    poll = settings.news_poll_seconds
    if settings.demo:
        return [DemoSource(coins, poll_seconds=min(poll, 60.0))]
    unknown = [name for name in settings.news_sources if name not in SOURCE_NAMES]
    if unknown:
        raise ValueError(
            f"CRYPTODASH_NEWS_SOURCES: unknown {', '.join(unknown)}; known: "
            + ", ".join(SOURCE_NAMES)
        )
    sources: list[Source] = []
    for name in dict.fromkeys(settings.news_sources):
        if name == "newsapi":
            if not settings.newsapi_key:
                log.warning("newsapi_off", reason="NEWSAPI_KEY is not set")
                continue
            sources.append(
                NewsApiSource(
                    client,
                    base_url=settings.newsapi_url,
                    api_key=settings.newsapi_key,
                    coins=coins,
                    poll_seconds=poll,
                    daily_requests=settings.newsapi_daily_requests,
                )
            )
        elif name == "rss" and settings.rss_feeds:
            sources.append(rss_source(client, settings.rss_feeds, poll_seconds=poll))
        elif name == "reddit" and settings.reddit_subreddits:
            sources.append(
                reddit_source(
                    client,
                    settings.reddit_subreddits,
                    base_url=settings.reddit_url,
                    poll_seconds=poll,
                )
            )
        elif name == "demo":
            sources.append(DemoSource(coins, poll_seconds=poll))
    return sources


class Pipeline:
    def __init__(
        self,
        *,
        db: Database,
        cache: Cache,
        bus: Bus,
        metrics: Metrics,
        sources: Sequence[Source],
        runner: ClassifierRunner,
        coin_ids: Sequence[str],
        aggregate_seconds: float = 300.0,
        retention: timedelta = timedelta(days=90),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.cache = cache
        self.bus = bus
        self.metrics = metrics
        self.sources = list(sources)
        self.runner = runner
        self.coin_ids = tuple(coin_ids)
        self.detector = MentionDetector(coin_ids)
        self.aggregate_seconds = aggregate_seconds
        self.retention = retention
        self.clock = clock
        self._dirty = asyncio.Event()
        self._last_prune: datetime | None = None
        self._pending: list[RawArticle] = []

    # ----------------------------------------------------------------- one step each

    async def poll_due(self) -> int:
        """Poll every due source concurrently, then ingest what they returned (and what a
        failed ingest left behind: the sources' watermarks have moved past it)."""
        now = self.clock()
        due = [source for source in self.sources if source.due(now)]
        if not due and not self._pending:
            return 0
        batches = await asyncio.gather(*(source.poll(now) for source in due))
        raws = self._pending + [a for batch in batches for a in batch]
        self._pending = []
        try:
            stored = await self.ingest(raws)
        except Exception:
            self._pending = raws[-MAX_PENDING:]
            raise
        finally:
            await self.publish_status()
        return stored

    async def ingest(self, raws: Sequence[RawArticle]) -> int:
        now = self.clock()
        prepared = service.prepare(raws, self.detector, now)
        async with self.db.session(writes=False) as session:  # a read: no write lock
            fresh = await service.drop_known(session, prepared)
        if not fresh:
            return 0
        model, predictions = await self.runner.classify([item.text for item in fresh])
        async with self.db.session() as session:
            stored = await service.store_articles(
                session, fresh, predictions, model=model, now=self.clock()
            )
        for article in stored:
            self.metrics.sentiment_articles.labels(article.provider, article.kind).inc()
        log.info(
            "sentiment_ingested",
            fetched=len(raws),
            new=len(stored),
            model=model,
            coins=sum(1 for item in fresh if item.coins),
        )
        if stored:
            self._dirty.set()
        return len(stored)

    async def aggregate(self) -> dict[str, Any]:
        now = self.clock().replace(microsecond=0)
        async with self.db.session(inline=False) as session:  # reads every window: off the loop
            aggregates = await service.compute_all(session, coin_ids=self.coin_ids, now=now)
            await service.save_snapshots(session, aggregates, at=now)
            if self._last_prune is None or now - self._last_prune > timedelta(hours=1):
                await service.prune(session, before=now - self.retention)
                self._last_prune = now
        await service.publish(self.cache, self.bus, aggregates, at=now)
        return aggregates

    async def publish_status(self) -> None:
        status = {
            "model": self.runner.describe(),
            "sources": [source.status() for source in self.sources],
            "updated_at": iso(self.clock()),
        }
        await self.cache.set(service.STATUS_KEY, orjson.dumps(status), service.STATUS_TTL)

    # ----------------------------------------------------------------- loops

    async def run(self) -> None:
        if not self.sources:
            log.warning("sentiment_no_sources", message="no news source configured")
        await self.publish_status()
        await self.runner.load()
        await self.publish_status()
        await asyncio.gather(self._poll_loop(), self._aggregate_loop())

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll_due()
            except Exception as exc:  # e.g. the database is away: keep the sources' state
                log.exception(
                    "sentiment_ingest_failed", error=repr(exc), pending=len(self._pending)
                )
                await asyncio.sleep(RETRY_SECONDS)
                continue
            now = self.clock()
            waits = [
                (s.next_poll_at - now).total_seconds()
                for s in self.sources
                if s.state != "stopped" and s.next_poll_at is not None
            ]
            await asyncio.sleep(max(MIN_SLEEP, min(waits, default=60.0)))

    async def _aggregate_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.aggregate_seconds)
            self._dirty.clear()
            try:
                await self.aggregate()
            except Exception as exc:  # the next run tries again; ingest goes on meanwhile
                log.exception("sentiment_aggregate_failed", error=repr(exc))
                await asyncio.sleep(min(self.aggregate_seconds, 10.0))


async def pipeline_worker(platform: Platform) -> None:
    """The domain's worker: builds the pipeline from the settings and runs it as a singleton."""
    settings = platform.settings
    if platform.db is None:
        raise RuntimeError("the sentiment pipeline needs a database")
    await platform.schema_ready.wait()
    coin_ids = Universe.from_settings(settings).ids
    runner = ClassifierRunner(
        settings.sentiment_model,
        batch_size=settings.sentiment_batch_size,
        neutral_threshold=settings.sentiment_neutral_threshold,
        download=settings.sentiment_model_download,
    )
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(20.0, connect=10.0), headers={"User-Agent": USER_AGENT}
    ) as client:
        pipeline = Pipeline(
            db=platform.db,
            cache=platform.cache,
            bus=platform.bus,
            metrics=platform.metrics,
            sources=build_sources(settings, client, coin_ids),
            runner=runner,
            coin_ids=coin_ids,
            aggregate_seconds=settings.sentiment_aggregate_seconds,
            retention=timedelta(days=settings.sentiment_retention_days),
        )
        try:
            await run_singleton(platform.db, "sentiment.pipeline", pipeline.run)
        finally:
            await runner.close()
