"""NewsAPI `GET /v2/everything`: the coins' names and tickers as OR-queries, newest first,
paged, from a `publishedAt` watermark, within the plan's daily request budget.

Errors (body `{"status": "error", "code", "message"}`): `rateLimited` / `apiKeyExhausted` / HTTP
429 back off (Retry-After when given) and retry later; `apiKeyInvalid` / `apiKeyMissing` /
`apiKeyDisabled` / HTTP 401 stop the source and report it; `maximumResultsReached` ends paging
(the free plan serves the first 100 results of a query); anything else is retried next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cryptodash.market.coins import Coin
from cryptodash.sentiment.mentions import AMBIGUOUS_TICKERS
from cryptodash.sentiment.normalize import iso, plain_text, strip_source_suffix
from cryptodash.sentiment.sources import (
    RawArticle,
    Source,
    SourceBackoff,
    SourceStopped,
    retry_after_seconds,
)

MAX_QUERY_CHARS = 500
STOP_CODES = frozenset({"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled"})
BACKOFF_CODES = frozenset({"rateLimited", "apiKeyExhausted"})
REMOVED = "[Removed]"  # NewsAPI's placeholder for an article taken down


def build_queries(coins: Sequence[Coin], limit: int = MAX_QUERY_CHARS) -> list[str]:
    """OR-queries of the coins' names and (unambiguous) tickers, each within `limit` chars."""
    terms: list[str] = []
    seen: set[str] = set()
    for coin in coins:
        candidates = [coin.name]
        if coin.symbol.upper() not in AMBIGUOUS_TICKERS and len(coin.symbol) >= 3:
            candidates.append(coin.symbol.upper())
        for term in candidates:
            if term.casefold() in seen:
                continue
            seen.add(term.casefold())
            terms.append(f'"{term}"' if " " in term else term)
    queries: list[str] = []
    current = ""
    for term in terms:
        candidate = f"{current} OR {term}" if current else term
        if len(candidate) > limit and current:
            queries.append(current)
            current = term
        else:
            current = candidate
    if current:
        queries.append(current)
    return queries


class RequestBudget:
    """A token bucket that spends at most `per_day` requests in any 24 hours: a small burst,
    then one request every 86 400 / per_day seconds."""

    def __init__(self, per_day: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(1, min(per_day, max(10, per_day // 10))))
        self.rate = max(per_day - self.capacity, 1.0) / 86_400
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def seconds_until_next(self) -> float:
        return max(0.0, (1 - self._tokens) / self.rate)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class NewsApiSource(Source):
    name = provider = "newsapi"
    kind = "news"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        coins: Sequence[Coin],
        poll_seconds: float,
        daily_requests: int = 100,
        page_size: int = 100,
        max_results: int = 100,
        language: str = "en",
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._client = client
        self._url = base_url.rstrip("/") + "/v2/everything"
        self._api_key = api_key
        self.queries = build_queries(coins)
        self.budget = RequestBudget(daily_requests)
        self.page_size = page_size
        self.max_results = max_results
        self.language = language
        self.watermarks: dict[str, datetime] = {}  # per query: the newest publishedAt read
        self.requests_sent = 0

    async def fetch(self, now: datetime) -> list[RawArticle]:
        articles: list[RawArticle] = []
        for query in self.queries:
            found: list[RawArticle] = []
            page = 1
            while True:
                if not self.budget.take():
                    wait = self.budget.seconds_until_next()
                    self.back_off(now, "daily request budget spent", retry_after=wait)
                    return articles + found
                try:
                    body = await self._get(query, page, now)
                except SourceBackoff as exc:
                    # This query's watermark stays: its unread pages come again next time.
                    self.back_off(now, str(exc), exc.retry_after)
                    return articles + found
                if body is None:  # maximumResultsReached: the plan serves no further pages
                    break
                found.extend(self._articles(body.get("articles") or []))
                total = int(body.get("totalResults") or 0)
                if page * self.page_size >= min(total, self.max_results) or not body.get(
                    "articles"
                ):
                    break
                page += 1
            if found:
                newest = max(article.published_at for article in found)
                self.watermarks[query] = max(newest, self.watermarks.get(query, newest))
            articles.extend(found)
        return articles

    async def _get(self, query: str, page: int, now: datetime) -> dict[str, Any] | None:
        params: dict[str, str | int] = {
            "q": query,
            "searchIn": "title,description",
            "language": self.language,
            "sortBy": "publishedAt",
            "pageSize": self.page_size,
            "page": page,
        }
        # `from` is inclusive: the newest article comes again and is deduplicated.
        since = self.watermarks.get(query, now - timedelta(days=7))
        params["from"] = since.strftime("%Y-%m-%dT%H:%M:%S")
        self.requests_sent += 1
        response = await self._client.get(
            self._url, params=params, headers={"X-Api-Key": self._api_key}
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("code") or "")
        message = str(body.get("message") or response.reason_phrase)
        if response.status_code == 200 and body.get("status") == "ok":
            return body
        if code in STOP_CODES or response.status_code == 401:
            raise SourceStopped(f"NewsAPI refused the key ({code or 401}): {message}")
        if code in BACKOFF_CODES or response.status_code == 429:
            raise SourceBackoff(
                f"NewsAPI rate limit ({code or 429}): {message}",
                retry_after_seconds(response, now),
            )
        if code == "maximumResultsReached":
            return None
        raise ValueError(f"NewsAPI error {response.status_code} {code}: {message}")

    def _articles(self, items: list[Any]) -> list[RawArticle]:
        articles = []
        for item in items:
            if not isinstance(item, dict):
                continue
            title, url = item.get("title"), item.get("url")
            published = item.get("publishedAt")
            if not title or not url or not published or title == REMOVED:
                continue
            source = (item.get("source") or {}).get("name") or "NewsAPI"
            try:
                published_at = _parse_time(str(published))
            except ValueError:
                continue
            articles.append(
                RawArticle(
                    title=strip_source_suffix(plain_text(str(title)), source),
                    url=str(url),
                    source=str(source),
                    provider=self.provider,
                    kind=self.kind,
                    published_at=published_at,
                    summary=plain_text(item.get("description")),
                )
            )
        return articles

    def status(self) -> dict[str, Any]:
        return {
            **super().status(),
            "queries": len(self.queries),
            "requests_sent": self.requests_sent,
            "watermarks": [iso(at) for at in self.watermarks.values()],
        }
