"""Sentiment classifiers: a Hugging Face transformer (the `nlp` extra) or the VADER lexicon.

Both are synchronous and CPU-bound; `cryptodash.sentiment.classifier` runs them in a worker
thread so the event loop never waits on inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Label = Literal["positive", "negative", "neutral"]


@dataclass(frozen=True, slots=True)
class Prediction:
    label: Label
    score: float  # in [-1, 1]: P(positive) - P(negative), or VADER's compound score
    confidence: float  # in [0, 1]: the probability (or strength) behind the label


class Classifier(Protocol):
    @property
    def name(self) -> str: ...  # the model id or path, or "vader"

    @property
    def kind(self) -> Literal["transformer", "lexicon"]: ...

    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...

    def describe(self) -> dict[str, Any]: ...
