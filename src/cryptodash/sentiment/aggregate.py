"""Aggregation math: per-coin sentiment over a window, and trend buckets.

Pure: no I/O. An article's `score` is in [-1, 1] (positive probability minus negative
probability for a transformer, VADER's compound score for the lexicon). A window's `score` is
the mean of its articles' scores; the percentages count labels (0-100, summing to 100). An
empty window has no score and no percentages (None), never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Label = Literal["positive", "negative", "neutral"]
LABELS: tuple[Label, ...] = ("positive", "negative", "neutral")
Kind = Literal["news", "social"]
KINDS: tuple[Kind, ...] = ("news", "social")
KIND_FILTERS = ("news", "social", "all")

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
INTERVALS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
RANGES: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
MAX_TREND_POINTS = 744


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts per label and the sum of scores: what SQL can add up for us."""

    positive: int = 0
    negative: int = 0
    neutral: int = 0
    score_sum: float = 0.0

    @property
    def count(self) -> int:
        return self.positive + self.negative + self.neutral

    def add(self, label: str, score: float, count: int = 1) -> Tally:
        return Tally(
            self.positive + (count if label == "positive" else 0),
            self.negative + (count if label == "negative" else 0),
            self.neutral + (count if label == "neutral" else 0),
            self.score_sum + score,
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.positive + other.positive,
            self.negative + other.negative,
            self.neutral + other.neutral,
            self.score_sum + other.score_sum,
        )


@dataclass(frozen=True, slots=True)
class Aggregate:
    score: float | None
    positive_pct: float | None
    negative_pct: float | None
    neutral_pct: float | None
    article_count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def aggregate(tally: Tally) -> Aggregate:
    n = tally.count
    if n == 0:
        return Aggregate(None, None, None, None, 0)
    return Aggregate(
        score=round(max(-1.0, min(1.0, tally.score_sum / n)), 4),
        positive_pct=round(100.0 * tally.positive / n, 2),
        negative_pct=round(100.0 * tally.negative / n, 2),
        neutral_pct=round(100.0 * tally.neutral / n, 2),
        article_count=n,
    )


def tally(items: Iterable[tuple[str, float]]) -> Tally:
    result = Tally()
    for label, score in items:
        result = result.add(label, score)
    return result


def combine(tallies: Mapping[str, Tally], kind: str) -> Tally:
    """The tally for `kind` (news, social or all) from per-kind tallies."""
    if kind == "all":
        total = Tally()
        for value in tallies.values():
            total = total + value
        return total
    return tallies.get(kind, Tally())


def bucket_start(at: datetime, interval: timedelta) -> datetime:
    """The start of the interval bucket holding `at`, aligned to the Unix epoch (UTC)."""
    step = int(interval.total_seconds())
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=at.tzinfo)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    timestamp: datetime
    aggregate: Aggregate


def trend(
    items: Iterable[tuple[datetime, str, float]],
    *,
    end: datetime,
    span: timedelta,
    interval: timedelta,
) -> list[TrendPoint]:
    """Tumbling buckets of `interval` covering (end - span, end], oldest first, empty ones
    included (article_count 0, no score) so a chart shows the gaps."""
    last = bucket_start(end, interval)
    first = bucket_start(end - span + interval, interval)
    if first > last:
        first = last
    buckets: dict[datetime, Tally] = {}
    cursor = first
    while cursor <= last:
        buckets[cursor] = Tally()
        cursor += interval
    for published_at, label, score in items:
        start = bucket_start(published_at, interval)
        if start in buckets:
            buckets[start] = buckets[start].add(label, score)
    return [TrendPoint(at, aggregate(value)) for at, value in buckets.items()]
