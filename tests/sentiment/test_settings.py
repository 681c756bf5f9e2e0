"""Sentiment settings from the environment: comma lists, the model, unknown sources refused."""

from __future__ import annotations

import httpx
import pytest

from cryptodash.config import Settings
from cryptodash.sentiment.ingest import build_sources


def test_sentiment_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTODASH_NEWS_SOURCES", "rss, reddit")
    monkeypatch.setenv(
        "CRYPTODASH_RSS_FEEDS", '["https://a.example/feed", "https://b.example/rss"]'
    )
    monkeypatch.setenv("CRYPTODASH_REDDIT_SUBREDDITS", "CryptoCurrency,solana")
    monkeypatch.setenv("CRYPTODASH_NEWS_POLL_SECONDS", "60")
    monkeypatch.setenv("CRYPTODASH_SENTIMENT_MODEL", "vader")
    settings = Settings()
    assert settings.news_sources == ["rss", "reddit"]
    assert settings.rss_feeds == ["https://a.example/feed", "https://b.example/rss"]
    assert settings.reddit_subreddits == ["CryptoCurrency", "solana"]
    assert settings.news_poll_seconds == 60
    assert settings.sentiment_model == "vader"


async def test_sources_built_from_settings() -> None:
    async with httpx.AsyncClient() as client:
        default = build_sources(Settings(newsapi_key=None), client, ["bitcoin"])
        keyed = build_sources(Settings(newsapi_key="k"), client, ["bitcoin"])
        demo = build_sources(Settings(demo=True, newsapi_key="k"), client, ["bitcoin"])
        with pytest.raises(ValueError, match="CRYPTODASH_NEWS_SOURCES"):
            build_sources(Settings(news_sources=["twitter"]), client, ["bitcoin"])
    assert [s.name for s in default] == ["rss", "reddit"]  # no key: NewsAPI is off
    assert [s.name for s in keyed] == ["newsapi", "rss", "reddit"]
    assert [s.name for s in demo] == ["demo"]
    reddit = keyed[2]
    assert reddit.kind == "social"
    assert reddit.feeds[0].url == "https://www.reddit.com/r/CryptoCurrency/new/.rss"  # type: ignore[attr-defined]
