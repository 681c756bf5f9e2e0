"""News and social sources. Each adapter speaks its provider's wire format, normalizes at the
edge into `RawArticle`, and turns the provider's errors into a state: back off and retry later
(`SourceBackoff`), stop and report (`SourceStopped`), or a transient failure retried at the
next poll. The ingest loop polls each source when it is due (`next_poll_at`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from cryptodash.platform.logging import get_logger
from cryptodash.platform.tasks import raise_if_cancelled
from cryptodash.sentiment.normalize import iso

log = get_logger(__name__)

MIN_BACKOFF = 20.0
MAX_BACKOFF = 3600.0


@dataclass(frozen=True, slots=True)
class RawArticle:
    title: str
    url: str
    source: str  # the outlet or community: "CoinDesk", "r/CryptoCurrency"
    provider: str  # newsapi, rss, reddit, demo
    kind: str  # news or social
    published_at: datetime
    summary: str = ""
    demo: bool = False


class SourceBackoff(Exception):
    """The provider asked us to slow down (HTTP 429, rateLimited): retry after a while."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceStopped(Exception):
    """The provider refused us for good (an invalid key): stop polling and report it."""


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unusable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def iso_or_none(at: datetime | None) -> str | None:
    return iso(at) if at else None


class Source(ABC):
    """One provider, with its polling schedule and a state the API reports."""

    name: str
    provider: str
    kind: str

    def __init__(self, *, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self.state = "ok"  # ok, backoff, error, stopped
        self.last_error: str | None = None
        self.last_success_at: datetime | None = None
        self.next_poll_at: datetime | None = None  # None: due now
        self.articles_fetched = 0
        self._backoff = 0.0
        self._backed_off = False

    def due(self, now: datetime) -> bool:
        return self.state != "stopped" and (self.next_poll_at is None or now >= self.next_poll_at)

    async def poll(self, now: datetime) -> list[RawArticle]:
        """Fetch once; never raises for the provider's errors, records them instead."""
        if self.state == "stopped":
            return []
        self._backed_off = False
        try:
            articles = await self.fetch(now)
        except SourceStopped as exc:
            self.state, self.last_error, self.next_poll_at = "stopped", str(exc), None
            log.error("news_source_stopped", source=self.name, error=str(exc))
            return []
        except SourceBackoff as exc:
            self.back_off(now, str(exc), exc.retry_after)
            return []
        except (httpx.HTTPError, OSError, ValueError) as exc:
            raise_if_cancelled()
            self.state, self.last_error = "error", f"{type(exc).__name__}: {exc}"
            self.next_poll_at = now + timedelta(seconds=min(self.poll_seconds, 60.0))
            log.warning("news_source_failed", source=self.name, error=self.last_error)
            return []
        if not self._backed_off:  # a source may back off after a partial success
            self.state, self.last_error, self._backoff = "ok", None, 0.0
            self.next_poll_at = now + timedelta(seconds=self.poll_seconds)
        self.last_success_at = now
        self.articles_fetched += len(articles)
        return articles

    def back_off(self, now: datetime, reason: str, retry_after: float | None = None) -> None:
        self._backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, self._backoff * 2))
        delay = retry_after if retry_after is not None else self._backoff * random.uniform(1, 1.2)
        self.state, self.last_error, self._backed_off = "backoff", reason, True
        self.next_poll_at = now + timedelta(seconds=delay)
        log.warning("news_source_backoff", source=self.name, error=reason, retry_in=round(delay, 1))

    @abstractmethod
    async def fetch(self, now: datetime) -> list[RawArticle]: ...

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "kind": self.kind,
            "state": self.state,
            "last_error": self.last_error,
            "last_success_at": iso_or_none(self.last_success_at),
            "next_poll_at": iso_or_none(self.next_poll_at),
            "articles_fetched": self.articles_fetched,
        }
