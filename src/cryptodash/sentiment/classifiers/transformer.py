"""A Hugging Face text-classification model (DistilBERT fine-tuned on SST-2 by default), run
with plain `transformers` + `torch` on the CPU: tokenize a batch, one forward pass, softmax.

Labels come from the model's `id2label` (names containing pos/neg/neu). Unnamed labels
(`LABEL_0`…) follow the usual conventions: two labels are negative, positive (SST-2); three
are negative, neutral, positive. A two-label model has no neutral class, so an article is
neutral when neither probability reaches `neutral_threshold` (default 0.75); the score is
always P(positive) - P(negative).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from cryptodash.sentiment.classifiers import Label, Prediction

MAX_TOKENS = 128  # headlines and summaries fit; longer text adds latency, not signal


def may_download(model: str) -> bool:
    """A hub id may be downloaded unless HF_HUB_OFFLINE is set; a local directory never is."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    return not offline and not Path(model).is_dir()


def label_map(id2label: dict[int, str]) -> dict[int, Label]:
    """Map a model's class indices to our three labels."""
    named: dict[int, Label] = {}
    for index, name in id2label.items():
        lowered = name.lower()
        if "pos" in lowered:
            named[int(index)] = "positive"
        elif "neg" in lowered:
            named[int(index)] = "negative"
        elif "neu" in lowered:
            named[int(index)] = "neutral"
    if len(named) == len(id2label) and "positive" in named.values():
        return named
    if len(id2label) == 2:
        return {0: "negative", 1: "positive"}
    if len(id2label) == 3:
        return {0: "negative", 1: "neutral", 2: "positive"}
    raise ValueError(f"cannot map the model's labels {sorted(id2label.values())} to sentiment")


class TransformerClassifier:
    kind: Literal["transformer"] = "transformer"

    def __init__(
        self,
        model: str,
        *,
        neutral_threshold: float = 0.75,
        max_tokens: int = MAX_TOKENS,
        local_files_only: bool = True,
    ) -> None:
        # Imported here: the `nlp` extra is optional, and importing torch takes seconds.
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = model
        self.neutral_threshold = neutral_threshold
        self.max_tokens = max_tokens
        local_only = local_files_only or not may_download(model)
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_only)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            model, local_files_only=local_only
        )
        self._model.eval()
        self._labels = label_map(dict(self._model.config.id2label))
        self._three_way = "neutral" in self._labels.values()
        self._index = {label: index for index, label in self._labels.items()}

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        torch = self._torch
        encoded = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        with torch.inference_mode():
            probabilities = self._model(**encoded).logits.float().softmax(dim=-1).tolist()
        return [self._predict(row) for row in probabilities]

    def _predict(self, row: list[float]) -> Prediction:
        positive = row[self._index["positive"]]
        negative = row[self._index["negative"]]
        score = max(-1.0, min(1.0, positive - negative))
        if self._three_way:
            best = max(range(len(row)), key=row.__getitem__)
            return Prediction(self._labels[best], score, row[best])
        if positive >= self.neutral_threshold:
            return Prediction("positive", score, positive)
        if negative >= self.neutral_threshold:
            return Prediction("negative", score, negative)
        return Prediction("neutral", score, max(positive, negative))

    def describe(self) -> dict[str, Any]:
        return {
            "labels": sorted(set(self._labels.values())),
            "neutral_rule": (
                "the model's neutral class"
                if self._three_way
                else f"max(P(positive), P(negative)) < {self.neutral_threshold}"
            ),
            "max_tokens": self.max_tokens,
            "parameters": sum(p.numel() for p in self._model.parameters()),
        }
