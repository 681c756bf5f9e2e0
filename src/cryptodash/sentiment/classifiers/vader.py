"""The VADER lexicon (vaderSentiment): fast, no model files, the fallback classifier.

Labels follow VADER's documented thresholds: compound >= 0.05 positive, <= -0.05 negative,
neutral in between. The score is the compound score itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from cryptodash.sentiment.classifiers import Label, Prediction

THRESHOLD = 0.05


class VaderClassifier:
    name = "vader"
    kind: Literal["lexicon"] = "lexicon"

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        predictions = []
        for text in texts:
            compound = float(self._analyzer.polarity_scores(text)["compound"])
            label: Label = (
                "positive"
                if compound >= THRESHOLD
                else "negative"
                if compound <= -THRESHOLD
                else "neutral"
            )
            predictions.append(Prediction(label, compound, abs(compound)))
        return predictions

    def describe(self) -> dict[str, Any]:
        return {
            "labels": ["negative", "neutral", "positive"],
            "neutral_rule": f"|compound| < {THRESHOLD}",
        }
