"""Pure pieces: aggregation math, trend buckets, canonical URLs and title keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptodash.sentiment.aggregate import (
    Aggregate,
    Tally,
    aggregate,
    bucket_start,
    combine,
    tally,
    trend,
)
from cryptodash.sentiment.normalize import (
    canonical_url,
    classification_text,
    normalized_title,
    plain_text,
    strip_source_suffix,
    title_key,
    url_key,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_aggregate_means_scores_and_counts_labels() -> None:
    value = aggregate(
        tally([("positive", 0.9), ("positive", 0.5), ("negative", -0.8), ("neutral", 0.0)])
    )
    assert value == Aggregate(
        score=0.15, positive_pct=50.0, negative_pct=25.0, neutral_pct=25.0, article_count=4
    )


def test_empty_window_has_no_score() -> None:
    assert aggregate(Tally()) == Aggregate(None, None, None, None, 0)


labels = st.sampled_from(["positive", "negative", "neutral"])
scores = st.floats(min_value=-1, max_value=1, allow_nan=False)


@given(st.lists(st.tuples(labels, scores), min_size=1, max_size=200))
def test_aggregate_bounds(items: list[tuple[str, float]]) -> None:
    value = aggregate(tally(items))
    assert value.score is not None
    assert -1 <= value.score <= 1
    assert value.positive_pct is not None
    assert value.negative_pct is not None
    assert value.neutral_pct is not None
    assert value.positive_pct + value.negative_pct + value.neutral_pct == pytest.approx(
        100, abs=0.02
    )
    assert value.article_count == len(items)
    assert value.score == pytest.approx(sum(s for _, s in items) / len(items), abs=1e-4)


def test_combine_kinds() -> None:
    by_kind = {"news": tally([("positive", 1.0)]), "social": tally([("negative", -1.0)])}
    assert aggregate(combine(by_kind, "news")).score == 1.0
    assert aggregate(combine(by_kind, "social")).score == -1.0
    assert aggregate(combine(by_kind, "all")).score == 0.0
    assert combine({}, "news").count == 0


def test_trend_buckets_are_aligned_and_include_empty_ones() -> None:
    now = T0 + timedelta(minutes=30)
    items = [
        (T0 - timedelta(minutes=10), "positive", 0.8),  # bucket 11:00
        (T0 + timedelta(minutes=5), "negative", -0.6),  # bucket 12:00
        (T0 + timedelta(minutes=25), "positive", 0.4),  # bucket 12:00
        (T0 - timedelta(hours=5), "positive", 1.0),  # outside the range
    ]
    points = trend(items, end=now, span=timedelta(hours=3), interval=timedelta(hours=1))
    assert [p.timestamp for p in points] == [
        T0 - timedelta(hours=2),
        T0 - timedelta(hours=1),
        T0,
    ]
    assert [p.aggregate.article_count for p in points] == [0, 1, 2]
    assert points[0].aggregate.score is None
    assert points[1].aggregate.score == 0.8
    assert points[2].aggregate.score == pytest.approx(-0.1)


def test_bucket_start() -> None:
    assert bucket_start(T0 + timedelta(hours=3, minutes=7), timedelta(hours=4)) == T0
    assert bucket_start(T0 + timedelta(minutes=14), timedelta(minutes=15)) == T0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.coindesk.com/markets/btc/", "http://coindesk.com/markets/btc"),
        ("https://x.com/a?utm_source=rss&id=3", "https://x.com/a?id=3"),
        ("https://x.com/a?b=2&a=1#comments", "https://x.com/a?a=1&b=2"),
        ("https://X.COM/a?fbclid=abc", "https://x.com/a"),
    ],
)
def test_canonical_url_identifies_copies(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)
    assert url_key(a) == url_key(b)


def test_canonical_url_keeps_what_matters() -> None:
    assert canonical_url("https://x.com/a?id=3") != canonical_url("https://x.com/a?id=4")
    assert canonical_url("https://x.com/a") != canonical_url("https://x.com/b")


def test_titles() -> None:
    assert title_key("Bitcoin Hits $100K!") == title_key("bitcoin hits  $100k")
    assert normalized_title("Ether\u2019s \u201cbig\u201d week") == "ether s big week"
    assert strip_source_suffix("Bitcoin rallies - CoinDesk", "CoinDesk") == "Bitcoin rallies"
    assert strip_source_suffix("Bitcoin - what next?", "CoinDesk") == "Bitcoin - what next?"
    assert plain_text("<p>A &amp; B</p><br/>C") == "A & B C"
    assert classification_text("Title", "") == "Title"
    assert classification_text("Title", "Title and more") == "Title"
    assert classification_text("Title", "Body") == "Title. Body"
