"""Source adapters against fake providers over real HTTP: NewsAPI paging, watermark, budget
and error codes; RSS, Atom and Reddit feeds with conditional GET and 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cryptodash.market.coins import COINS_BY_ID, DEFAULT_COINS
from cryptodash.sentiment.sources.demo import DemoSource
from cryptodash.sentiment.sources.newsapi import NewsApiSource, RequestBudget, build_queries
from cryptodash.sentiment.sources.rss import USER_AGENT, reddit_source, rss_source
from tests.sentiment.fakes import (
    API_KEY,
    Feed,
    FeedState,
    NewsApiState,
    ago,
    atom,
    feed_server,
    news_article,
    newsapi_server,
    reddit,
    rss,
)

COINS = [COINS_BY_ID[c] for c in DEFAULT_COINS]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


def newsapi(client: httpx.AsyncClient, url: str, **kwargs: object) -> NewsApiSource:
    options: dict[str, object] = {
        "base_url": url,
        "api_key": API_KEY,
        "coins": COINS,
        "poll_seconds": 300,
        "daily_requests": 10_000,
    }
    options.update(kwargs)
    return NewsApiSource(client, **options)  # type: ignore[arg-type]


def test_queries_use_names_and_unambiguous_tickers_within_500_chars() -> None:
    queries = build_queries(COINS)
    assert all(len(q) <= 500 for q in queries)
    terms = " OR ".join(queries).split(" OR ")
    assert "Bitcoin" in terms
    assert "BTC" in terms
    assert '"Bitcoin Cash"' in terms
    assert "LINK" not in terms
    assert "DOT" not in terms
    assert "SOL" not in terms
    assert len(build_queries(COINS, limit=120)) > 1


def test_budget_spends_at_most_the_daily_requests() -> None:
    now = [0.0]
    budget = RequestBudget(100, clock=lambda: now[0])
    spent = 0
    for _ in range(24 * 60):  # one day, a try every minute
        spent += budget.take()
        now[0] += 60
    assert 90 <= spent <= 100


async def test_newsapi_pages_through_results_and_sends_the_key(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[
            news_article(f"Bitcoin story {i}", f"https://n.example/{i}", ago(minutes=i))
            for i in range(25)
        ]
    )
    with newsapi_server(state) as url:
        source = newsapi(client, url, page_size=10)
        articles = await source.poll(datetime.now(UTC))
    assert len(articles) == 25
    assert source.state == "ok"
    assert [r["params"]["page"] for r in state.requests] == ["1", "2", "3"]
    first = state.requests[0]
    assert first["headers"]["X-Api-Key"] == API_KEY
    assert first["params"]["sortBy"] == "publishedAt"
    assert "Bitcoin" in first["params"]["q"]
    assert articles[0].source == "Example Crypto Daily"
    assert articles[0].kind == "news"
    assert articles[0].provider == "newsapi"


async def test_newsapi_stops_paging_at_the_plan_cap(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[
            news_article(f"Ether story {i}", f"https://n.example/{i}", ago(minutes=i))
            for i in range(40)
        ],
        max_results=20,
    )
    with newsapi_server(state) as url:
        source = newsapi(client, url, page_size=10, max_results=1000)
        articles = await source.poll(datetime.now(UTC))
    assert len(articles) == 20  # page 3 answered maximumResultsReached: the end, no error
    assert source.state == "ok"


async def test_newsapi_watermark_asks_only_for_newer(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[news_article("Old bitcoin", "https://n.example/a", ago(hours=2))]
    )
    with newsapi_server(state) as url:
        source = newsapi(client, url)
        assert len(await source.poll(datetime.now(UTC))) == 1
        state.articles.append(news_article("New bitcoin", "https://n.example/b", ago(minutes=1)))
        source.next_poll_at = None
        second = await source.poll(datetime.now(UTC))
    # `from` is inclusive: the newest article read comes again (the pipeline drops it).
    assert [a.title for a in second] == ["New bitcoin", "Old bitcoin"]
    watermark = datetime.fromisoformat(state.requests[-1]["params"]["from"]).replace(tzinfo=UTC)
    assert abs(watermark - ago(hours=2)) < timedelta(seconds=2)


async def test_newsapi_skips_removed_and_strips_outlet_suffix(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[
            news_article("[Removed]", "https://removed.com", ago(minutes=1)),
            news_article(
                "Bitcoin rallies - Example Crypto Daily",
                "https://n.example/r",
                ago(minutes=2),
                description="<p>Strong &amp; steady</p>",
            ),
        ]
    )
    with newsapi_server(state) as url:
        articles = await newsapi(client, url).poll(datetime.now(UTC))
    assert [(a.title, a.summary) for a in articles] == [("Bitcoin rallies", "Strong & steady")]


async def test_newsapi_invalid_key_stops_and_reports(client: httpx.AsyncClient) -> None:
    state = NewsApiState()
    with newsapi_server(state) as url:
        source = newsapi(client, url, api_key="wrong")
        assert await source.poll(datetime.now(UTC)) == []
        assert source.state == "stopped"
        assert "apiKeyInvalid" in (source.last_error or "")
        assert not source.due(datetime.now(UTC) + timedelta(days=1))
        assert await source.poll(datetime.now(UTC)) == []
    assert len(state.requests) == 1
    assert source.status()["state"] == "stopped"


async def test_newsapi_rate_limited_backs_off_then_recovers(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[news_article("Bitcoin up", "https://n.example/1", ago(minutes=3))],
        queued_errors=[("rateLimited", {"Retry-After": "7"})],
    )
    with newsapi_server(state) as url:
        source = newsapi(client, url)
        now = datetime.now(UTC)
        assert await source.poll(now) == []
        assert source.state == "backoff"
        assert source.next_poll_at == now + timedelta(seconds=7)
        assert not source.due(now + timedelta(seconds=6))
        assert source.due(now + timedelta(seconds=7))
        articles = await source.poll(now + timedelta(seconds=7))
    assert len(articles) == 1
    assert source.state == "ok"
    assert source.last_error is None


async def test_newsapi_429_mid_paging_keeps_the_first_pages(client: httpx.AsyncClient) -> None:
    state = NewsApiState(
        articles=[
            news_article(f"Solana story {i}", f"https://n.example/{i}", ago(minutes=i))
            for i in range(15)
        ]
    )
    with newsapi_server(state) as url:
        source = newsapi(client, url, page_size=10)
        original = source._get

        async def second_page_limited(query: str, page: int, now: datetime) -> object:
            if page == 2:
                state.queued_errors.append(("rateLimited", {}))
            return await original(query, page, now)

        source._get = second_page_limited  # type: ignore[method-assign]
        articles = await source.poll(datetime.now(UTC))
    assert len(articles) == 10
    assert source.state == "backoff"
    assert source.watermarks == {}  # the unread pages come again next time


async def test_newsapi_daily_budget_defers_polls(client: httpx.AsyncClient) -> None:
    state = NewsApiState(articles=[news_article("Bitcoin", "https://n.example/1", ago(minutes=1))])
    with newsapi_server(state) as url:
        source = newsapi(client, url, daily_requests=1)
        now = datetime.now(UTC)
        await source.poll(now)
        source.next_poll_at = None
        await source.poll(now)
    assert len(state.requests) == 1
    assert source.state == "backoff"
    assert source.last_error == "daily request budget spent"


async def test_rss_and_atom_feeds_with_conditional_get(client: httpx.AsyncClient) -> None:
    state = FeedState(
        feeds={
            "/rss": Feed(
                rss(
                    [
                        (
                            "Bitcoin &amp; Ether climb",
                            "https://news.example.com/a?utm_source=rss",
                            ago(hours=1),
                            "<p>Markets <b>rally</b></p><p>The post <a href='x'>Solana"
                            " price prediction</a> appeared first on <a>CoinSite</a>.</p>",
                        )
                    ]
                )
            ),
            "/atom": Feed(
                atom([("Cardano upgrade ships", "https://atom.example.com/b", ago(hours=2), "x")]),
                content_type="application/atom+xml",
            ),
        }
    )
    with feed_server(state) as url:
        source = rss_source(client, [f"{url}/rss", f"{url}/atom"], poll_seconds=300)
        first = await source.poll(datetime.now(UTC))
        source.next_poll_at = None
        second = await source.poll(datetime.now(UTC))
    assert [(a.title, a.source, a.summary) for a in first] == [
        ("Bitcoin & Ether climb", "Example Crypto News", "Markets rally"),
        ("Cardano upgrade ships", "Example Atom News", "x"),
    ]
    assert abs(first[0].published_at - ago(hours=1)) < timedelta(seconds=2)
    assert second == []
    conditional = state.requests[2]["headers"]
    assert conditional["If-None-Match"] == '"v1"'
    assert conditional["If-Modified-Since"].endswith("GMT")
    assert state.requests[0]["headers"]["User-Agent"] == USER_AGENT
    assert [f["last_status"] for f in source.status()["feeds"]] == [304, 304]


async def test_feed_429_waits_for_retry_after_then_recovers(client: httpx.AsyncClient) -> None:
    state = FeedState(
        feeds={"/rss": Feed(rss([("Bitcoin soars", "https://x.example/1", ago(hours=1), "")]))},
        queued_errors=[(429, {"Retry-After": "3"})],
    )
    with feed_server(state) as url:
        source = rss_source(client, [f"{url}/rss"], poll_seconds=300)
        now = datetime.now(UTC)
        assert await source.poll(now) == []
        assert source.next_poll_at == now + timedelta(seconds=3)  # not a whole poll later
        assert source.status()["feeds"][0]["last_error"] == "HTTP 429 Too Many Requests"
        articles = await source.poll(now + timedelta(seconds=3))
    assert [a.title for a in articles] == ["Bitcoin soars"]
    assert source.state == "ok"


async def test_one_broken_feed_does_not_stop_the_others(client: httpx.AsyncClient) -> None:
    state = FeedState(
        feeds={
            "/good": Feed(rss([("Dogecoin pumps", "https://x.example/d", ago(hours=1), "")])),
            "/bad": Feed("this is not a feed at all", content_type="text/plain"),
        }
    )
    with feed_server(state) as url:
        source = rss_source(
            client, [f"{url}/bad", f"{url}/missing", f"{url}/good"], poll_seconds=60
        )
        articles = await source.poll(datetime.now(UTC))
    assert [a.title for a in articles] == ["Dogecoin pumps"]
    errors = [f["last_error"] for f in source.status()["feeds"]]
    assert errors[0]
    assert errors[1]
    assert errors[2] is None


async def test_reddit_posts_are_social_with_the_subreddit_as_source(
    client: httpx.AsyncClient,
) -> None:
    state = FeedState(
        feeds={
            "/r/CryptoCurrency/new/.rss": Feed(
                reddit("CryptoCurrency", [("BTC to the moon", "Bought more today", ago(hours=1))]),
                content_type="application/atom+xml",
            ),
            "/r/solana/new/.rss": Feed(
                reddit("solana", [("Solana outage again?", "Network halted", ago(hours=2))]),
                content_type="application/atom+xml",
            ),
        }
    )
    with feed_server(state) as url:
        source = reddit_source(
            client, ["CryptoCurrency", "solana"], base_url=url, poll_seconds=300, min_interval=0
        )
        posts = await source.poll(datetime.now(UTC))
    assert [(p.title, p.source, p.kind, p.provider, p.summary) for p in posts] == [
        ("BTC to the moon", "r/CryptoCurrency", "social", "reddit", "Bought more today"),
        ("Solana outage again?", "r/solana", "social", "reddit", "Network halted"),
    ]
    assert posts[0].url.startswith("https://www.reddit.com/r/CryptoCurrency/comments/")
    assert "cryptodash" in state.requests[0]["headers"]["User-Agent"]


async def test_demo_source_backfills_a_week_then_adds_a_few() -> None:
    source = DemoSource(COINS[:3], poll_seconds=60, seed=1, backfill=50, per_poll=4)
    now = datetime.now(UTC)
    first = await source.poll(now)
    assert len(first) == 50
    assert all(a.demo and a.provider == "demo" and ".invalid/" in a.url for a in first)
    assert min(a.published_at for a in first) >= now - timedelta(days=7)
    assert {a.kind for a in first} == {"news", "social"}
    assert len(await source.poll(now + timedelta(minutes=1))) == 4
