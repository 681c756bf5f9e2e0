"""Sentiment fixtures: a tiny randomly initialized DistilBERT built from a config and saved
with a locally built WordPiece tokenizer (no hub, no downloads), once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = [
    "bitcoin",
    "ethereum",
    "solana",
    "cardano",
    "dogecoin",
    "price",
    "prices",
    "crash",
    "crashes",
    "surge",
    "surges",
    "rally",
    "record",
    "high",
    "low",
    "hack",
    "fears",
    "great",
    "terrible",
    "good",
    "bad",
    "up",
    "down",
    "market",
    "markets",
    "the",
    "a",
    "an",
    "of",
    "to",
    "as",
    "on",
    "in",
    "and",
    "after",
    "for",
    "with",
    "is",
    "are",
    "was",
    "new",
    "best",
    "worst",
    "panic",
    "cheer",
    "investors",
    "traders",
    "network",
    "upgrade",
    "outage",
    "regulators",
    "crackdown",
    "inflows",
    "outflows",
    "week",
    "day",
]


def build_tiny_distilbert(path: Path, *, labels: dict[int, str] | None = None) -> Path:
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizerFast,
    )

    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = [
        *"abcdefghijklmnopqrstuvwxyz0123456789",
        *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"),
    ]
    vocab = [
        *specials,
        *dict.fromkeys([*WORDS, *pieces, ".", ",", "$", "%", "!", "?", "'", "-", "(", ")"]),
    ]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = DistilBertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    id2label = labels or {0: "NEGATIVE", 1: "POSITIVE"}
    config = DistilBertConfig(
        vocab_size=len(vocab),
        dim=32,
        hidden_dim=64,
        n_layers=2,
        n_heads=2,
        max_position_embeddings=256,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(7)
    model = DistilBertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_distilbert(tmp_path_factory.mktemp("tiny-distilbert"))
