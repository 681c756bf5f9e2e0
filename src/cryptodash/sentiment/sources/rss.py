"""RSS 2.0 and Atom feeds (feedparser), including Reddit's per-subreddit Atom feeds.

Each feed is fetched with a conditional GET (If-None-Match / If-Modified-Since from the last
answer's ETag / Last-Modified), so an unchanged feed costs a 304 and no parsing. Feeds fail
and back off independently; a 429 honours Retry-After. Requests are spaced by
`min_interval` seconds (Reddit allows about ten unauthenticated requests a minute) and carry
a descriptive User-Agent.
"""

from __future__ import annotations

import asyncio
import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx

from cryptodash import __version__
from cryptodash.platform.tasks import raise_if_cancelled
from cryptodash.sentiment.normalize import plain_text
from cryptodash.sentiment.sources import (
    MAX_BACKOFF,
    MIN_BACKOFF,
    RawArticle,
    Source,
    iso_or_none,
    retry_after_seconds,
)

USER_AGENT = f"cryptodash/{__version__} (self-hosted crypto news sentiment; feed reader)"
REDDIT_MIN_INTERVAL = 6.0
_REDDIT_BOILERPLATE = re.compile(r"submitted by\s+/u/\S+|\[link\]|\[comments\]")
# WordPress feeds end summaries with a link back, often to another story about another coin.
_FEED_BOILERPLATE = re.compile(r"The post .{0,300}? appeared first on .{0,100}$", re.DOTALL)


class _Deferred(Exception):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Feed:
    url: str
    source: str | None = None  # display name; None: the feed's own title
    etag: str | None = None
    last_modified: str | None = None
    resume_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    last_status: int | None = None

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "resume_at": iso_or_none(self.resume_at),
        }


def _entry_time(entry: Any, fallback: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return fallback


class FeedSource(Source):
    def __init__(
        self,
        client: httpx.AsyncClient,
        feeds: Sequence[Feed],
        *,
        name: str,
        kind: str,
        poll_seconds: float,
        min_interval: float = 0.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self.name = self.provider = name
        self.kind = kind
        self.feeds = list(feeds)
        self._client = client
        self._min_interval = min_interval
        self._user_agent = user_agent

    async def poll(self, now: datetime) -> list[RawArticle]:
        articles = await super().poll(now)
        # A feed told to wait (429, errors) is retried when it may be, not a full poll later.
        waits = [f.resume_at for f in self.feeds if f.resume_at is not None]
        if waits and self.next_poll_at is not None and self.state != "stopped":
            self.next_poll_at = min(self.next_poll_at, max(min(waits), now))
        return articles

    async def fetch(self, now: datetime) -> list[RawArticle]:
        articles: list[RawArticle] = []
        errors = 0
        attempted = 0
        for feed in self.feeds:
            if feed.resume_at is not None and now < feed.resume_at:
                continue
            if attempted and self._min_interval:
                await asyncio.sleep(self._min_interval)
            attempted += 1
            try:
                articles.extend(await self._fetch_feed(feed, now))
            except _Deferred as exc:
                errors += 1
                self._fail(feed, now, str(exc), exc.retry_after)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                raise_if_cancelled()
                errors += 1
                self._fail(feed, now, f"{type(exc).__name__}: {exc}")
        if attempted and errors == attempted:
            raise ValueError(f"all {attempted} feeds failed; first: {self._first_error()}")
        return articles

    def _first_error(self) -> str | None:
        return next((f.last_error for f in self.feeds if f.last_error), None)

    def _fail(
        self, feed: Feed, now: datetime, error: str, retry_after: float | None = None
    ) -> None:
        feed.failures += 1
        feed.last_error = error
        delay = retry_after
        if delay is None:
            delay = min(MAX_BACKOFF, MIN_BACKOFF * 2 ** (feed.failures - 1))
        feed.resume_at = now + timedelta(seconds=delay)

    async def _fetch_feed(self, feed: Feed, now: datetime) -> list[RawArticle]:
        headers = {"User-Agent": self._user_agent}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        response = await self._client.get(feed.url, headers=headers, follow_redirects=True)
        feed.last_status = response.status_code
        if response.status_code == 304:
            feed.failures, feed.last_error, feed.resume_at = 0, None, None
            return []
        if response.status_code == 429:
            raise _Deferred("HTTP 429 Too Many Requests", retry_after_seconds(response, now))
        response.raise_for_status()
        parsed = await asyncio.to_thread(feedparser.parse, response.content)
        if parsed.bozo and not parsed.entries:
            raise ValueError(f"not a feed: {parsed.get('bozo_exception')!r}")
        feed.etag = response.headers.get("ETag") or feed.etag
        feed.last_modified = response.headers.get("Last-Modified") or feed.last_modified
        feed.failures, feed.last_error, feed.resume_at = 0, None, None
        source = feed.source or plain_text(parsed.feed.get("title")) or urlsplit(feed.url).netloc
        return [a for entry in parsed.entries if (a := self._article(entry, source, now))]

    def _article(self, entry: Any, source: str, now: datetime) -> RawArticle | None:
        title = plain_text(entry.get("title"))
        url = entry.get("link")
        if not title or not url:
            return None
        summary = plain_text(entry.get("summary") or entry.get("description"))
        boilerplate = _REDDIT_BOILERPLATE if self.kind == "social" else _FEED_BOILERPLATE
        summary = re.sub(r"\s+", " ", boilerplate.sub(" ", summary)).strip()
        return RawArticle(
            title=title,
            url=str(url),
            source=source,
            provider=self.provider,
            kind=self.kind,
            published_at=min(_entry_time(entry, now), now),
            summary=summary,
        )

    def status(self) -> dict[str, Any]:
        return {**super().status(), "feeds": [feed.status() for feed in self.feeds]}


def rss_source(
    client: httpx.AsyncClient, urls: Sequence[str], *, poll_seconds: float
) -> FeedSource:
    return FeedSource(
        client, [Feed(url) for url in urls], name="rss", kind="news", poll_seconds=poll_seconds
    )


def reddit_source(
    client: httpx.AsyncClient,
    subreddits: Sequence[str],
    *,
    base_url: str,
    poll_seconds: float,
    min_interval: float = REDDIT_MIN_INTERVAL,
) -> FeedSource:
    """Posts of each subreddit's Atom feed (`/r/<name>/new/.rss`), kept as kind `social`."""
    feeds = [
        Feed(f"{base_url.rstrip('/')}/r/{name.strip().removeprefix('r/')}/new/.rss", f"r/{name}")
        for name in subreddits
    ]
    return FeedSource(
        client,
        feeds,
        name="reddit",
        kind="social",
        poll_seconds=poll_seconds,
        min_interval=min_interval,
    )
