"""Articles classified per second on this CPU: the VADER lexicon and a DistilBERT-sized
transformer (the real architecture — 6 layers, dim 768, 12 heads, 3072 hidden, 30 522-token
vocabulary, ~67 M parameters — with random weights: speed does not depend on the weights).

    .venv/bin/python bench/sentiment.py [--articles 256] [--batch-sizes 1,16,32]

Both run through the product's own classifier classes (tokenize, pad, one forward pass per
batch, softmax). Headlines are generated from templates (10-25 words). Nothing is downloaded:
the model and its WordPiece vocabulary are built in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SUBJECTS = ["Bitcoin", "Ethereum", "Solana", "XRP", "Cardano", "Dogecoin", "Chainlink", "Polkadot"]
EVENTS = [
    "surges to a record high as ETF inflows continue",
    "slides after regulators announce a fresh crackdown on exchanges",
    "trades sideways ahead of the weekly close as volumes thin",
    "rallies while analysts warn that the momentum may fade soon",
    "plunges as a major exchange halts withdrawals following a hack",
    "network upgrade goes live with faster blocks and lower fees",
]
TAILS = [
    "",
    "Traders remain cautious.",
    "Investors cheered the news on Monday.",
    "The move wiped out leveraged positions worth millions of dollars.",
    "Developers say the roadmap is on track for next quarter.",
]


def headlines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(EVENTS)}. {rng.choice(TAILS)}".strip()
        for _ in range(count)
    ]


def rate(classify: object, texts: list[str], batch: int) -> float:
    run = classify  # callable(list[str]) -> list
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        run(texts[i : i + batch])  # type: ignore[operator]
    return len(texts) / (time.perf_counter() - start)


def build_distilbert(path: Path, texts: list[str]) -> None:
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertTokenizerFast,
    )

    config = DistilBertConfig(  # the defaults are distilbert-base-uncased's dimensions
        id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}
    )
    words = sorted({w.strip(".,").lower() for t in texts for w in t.split()} - {""})
    chars = [*"abcdefghijklmnopqrstuvwxyz0123456789.,'$%-"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    vocab += [w for w in words if w not in vocab]
    vocab += [f"[unused{i}]" for i in range(config.vocab_size - len(vocab))]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    DistilBertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).save_pretrained(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,16,32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = headlines(args.articles)
    batches = [int(b) for b in args.batch_sizes.split(",")]

    from cryptodash.sentiment.classifiers.vader import VaderClassifier

    vader = VaderClassifier()
    vader_rates = [rate(vader.classify, texts * 4, 256) for _ in range(args.repeats)]
    print(f"VADER lexicon: {statistics.median(vader_rates):,.0f} articles/s", flush=True)

    import torch

    from cryptodash.sentiment.classifiers.transformer import TransformerClassifier

    with tempfile.TemporaryDirectory() as tmp:
        build_distilbert(Path(tmp), texts)
        model = TransformerClassifier(tmp)
        params = model.describe()["parameters"]
        lengths = model._tokenizer(texts, truncation=True, max_length=128)["input_ids"]
        tokens = statistics.mean(len(ids) for ids in lengths)
        print(
            f"DistilBERT-sized model: {params / 1e6:.1f} M parameters, "
            f"{torch.get_num_threads()} torch threads, mean {tokens:.1f} tokens/article",
            flush=True,
        )
        model.classify(texts[:32])  # warm-up
        for batch in batches:
            sample = texts if batch > 1 else texts[:64]
            rates = [rate(model.classify, sample, batch) for _ in range(args.repeats)]
            print(
                f"  batch {batch:>3}: {statistics.median(rates):6.1f} articles/s "
                f"(min {min(rates):.1f}, max {max(rates):.1f}; {len(sample)} articles x "
                f"{args.repeats})",
                flush=True,
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, cpus {os.cpu_count()}, "
        f"load average {load} (other work on the machine slows the figures)"
    )


if __name__ == "__main__":
    main()
