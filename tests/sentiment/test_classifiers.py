"""The transformer path on a tiny random DistilBERT (real loading, tokenizing, batching), VADER
for real, the neutral threshold, the fallback, and an event loop that never waits on
inference."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from cryptodash.sentiment.classifier import ClassifierRunner, build_classifier
from cryptodash.sentiment.classifiers import Classifier, Prediction
from cryptodash.sentiment.classifiers.transformer import TransformerClassifier, label_map
from cryptodash.sentiment.classifiers.vader import VaderClassifier
from tests.sentiment.conftest import build_tiny_distilbert

HEADLINES = [
    "Bitcoin surges to a record high as investors cheer",
    "Solana crashes after hack fears",
    "Cardano network upgrade",
    "a",
    "Dogecoin " * 200,  # longer than the model's 128 tokens: truncated, not an error
]


@pytest.fixture(scope="module")
def transformer(tiny_model: Path) -> TransformerClassifier:
    return TransformerClassifier(str(tiny_model), neutral_threshold=0.75)


def test_transformer_loads_from_a_local_dir_and_classifies(
    transformer: TransformerClassifier,
) -> None:
    predictions = transformer.classify(HEADLINES)
    assert len(predictions) == len(HEADLINES)
    for prediction in predictions:
        assert prediction.label in ("positive", "negative", "neutral")
        assert -1.0 <= prediction.score <= 1.0
        assert 0.0 <= prediction.confidence <= 1.0
    info = transformer.describe()
    assert info["labels"] == ["negative", "positive"]
    assert info["parameters"] < 200_000


def test_batching_does_not_change_the_answers(transformer: TransformerClassifier) -> None:
    batched = transformer.classify(HEADLINES)
    single = [transformer.classify([text])[0] for text in HEADLINES]
    for a, b in zip(batched, single, strict=True):
        assert a.label == b.label
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_two_label_neutral_threshold(transformer: TransformerClassifier) -> None:
    # Probabilities in the model's label order: NEGATIVE, POSITIVE.
    assert transformer._predict([0.1, 0.9]) == Prediction("positive", pytest.approx(0.8), 0.9)
    assert transformer._predict([0.8, 0.2]).label == "negative"
    middle = transformer._predict([0.4, 0.6])
    assert middle.label == "neutral"
    assert middle.score == pytest.approx(0.2)


def test_three_label_models_use_their_neutral_class(tmp_path: Path) -> None:
    path = build_tiny_distilbert(
        tmp_path / "three", labels={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    )
    classifier = TransformerClassifier(str(path))
    assert classifier._predict([0.2, 0.5, 0.3]) == Prediction("neutral", pytest.approx(0.1), 0.5)
    assert classifier._predict([0.1, 0.2, 0.7]).label == "positive"
    assert len(classifier.classify(["Bitcoin up", "down"])) == 2


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "NEGATIVE", 1: "POSITIVE"}, {0: "negative", 1: "positive"}),
        ({0: "positive", 1: "negative"}, {0: "positive", 1: "negative"}),
        ({0: "LABEL_0", 1: "LABEL_1"}, {0: "negative", 1: "positive"}),
        ({0: "neg", 1: "neu", 2: "pos"}, {0: "negative", 1: "neutral", 2: "positive"}),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, {0: "negative", 1: "neutral", 2: "positive"}),
    ],
)
def test_label_map(id2label: dict[int, str], expected: dict[int, str]) -> None:
    assert label_map(id2label) == expected


def test_label_map_refuses_what_it_cannot_map() -> None:
    with pytest.raises(ValueError, match="cannot map"):
        label_map({0: "joy", 1: "anger", 2: "fear", 3: "love"})


def test_vader_for_real() -> None:
    vader = VaderClassifier()
    good, bad, flat = vader.classify(
        [
            "Great news: Bitcoin rallies to a record high, investors are thrilled",
            "Solana crashes after a devastating hack, traders panic",
            "Cardano publishes its roadmap",
        ]
    )
    assert good.label == "positive"
    assert good.score > 0.5
    assert bad.label == "negative"
    assert bad.score < -0.5
    assert flat.label == "neutral"
    assert flat.score == 0.0


def test_missing_model_falls_back_to_vader_and_says_why(tmp_path: Path) -> None:
    classifier, reason = build_classifier(str(tmp_path / "nothing-here"), neutral_threshold=0.75)
    assert classifier.name == "vader"
    assert reason is not None
    assert "does not exist" in reason
    uncached, why = build_classifier("org/uncached-model", neutral_threshold=0.75)
    assert uncached.name == "vader"
    assert why == "model 'org/uncached-model' is not in the local Hugging Face cache"
    vader, none = build_classifier("vader", neutral_threshold=0.75)
    assert vader.kind == "lexicon"
    assert none is None


async def test_runner_reports_the_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = ClassifierRunner(str(tmp_path / "absent"))
    try:
        model, predictions = await runner.classify(["Bitcoin rallies, great news"])
    finally:
        await runner.close()
    assert model == "vader"
    assert predictions[0].label == "positive"
    info = runner.describe()
    assert info["fallback"] is True
    assert info["kind"] == "lexicon"
    assert "does not exist" in info["reason"]


async def test_runner_with_the_transformer_keeps_input_order(tiny_model: Path) -> None:
    runner = ClassifierRunner(str(tiny_model), batch_size=2)
    try:
        model, predictions = await runner.classify(HEADLINES)
        direct = TransformerClassifier(str(tiny_model)).classify(HEADLINES)
    finally:
        await runner.close()
    assert model == str(tiny_model)
    assert runner.describe()["fallback"] is False
    assert [p.score for p in predictions] == pytest.approx([p.score for p in direct], abs=1e-5)


class SlowClassifier:
    """Stands in for a heavy model: 150 ms of blocking work per batch."""

    name = "slow"
    kind: Literal["transformer"] = "transformer"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.spans: list[tuple[float, float]] = []
        self.threads: set[int] = set()

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        time.sleep(0.15)
        self.spans.append((started, time.perf_counter()))
        self.threads.add(threading.get_ident())
        self.batches.append(len(texts))
        return [Prediction("neutral", 0.0, 0.5) for _ in texts]

    def describe(self) -> dict[str, Any]:
        return {}


async def test_inference_never_blocks_the_event_loop() -> None:
    slow = SlowClassifier()
    load_threads: list[int] = []

    def builder(local_only: bool) -> tuple[Classifier, str | None]:
        load_threads.append(threading.get_ident())
        time.sleep(0.3)  # loading weights blocks too: it happens on the worker thread
        return slow, None

    runner = ClassifierRunner("slow", batch_size=8, builder=builder)
    ticks: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks.append(time.perf_counter())

    beat = asyncio.create_task(heartbeat())
    try:
        _, predictions = await runner.classify([f"text {i}" for i in range(40)])
    finally:
        stop.set()
        await beat
        await runner.close()
    assert len(predictions) == 40
    assert slow.batches == [8] * 5
    loop_thread = threading.get_ident()
    assert loop_thread not in slow.threads
    assert loop_thread not in load_threads
    # While each batch was busy, the loop went on ticking (it was never the one blocked).
    for started, ended in slow.spans:
        assert any(started < tick < ended for tick in ticks)


async def test_uncached_hub_model_scores_with_vader_until_downloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    release = asyncio.Event()
    calls: list[bool] = []
    slow = SlowClassifier()
    loop = asyncio.get_running_loop()

    def builder(local_only: bool) -> tuple[Classifier, str | None]:
        calls.append(local_only)
        if local_only:
            return VaderClassifier(), "not in the local cache"
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
        return slow, None

    runner = ClassifierRunner("org/some-model", builder=builder, download=True, download_delay=0)
    try:
        model, _ = await runner.classify(["Bitcoin rallies, great news"])
        assert model == "vader"
        assert runner.describe()["fallback"] is True
        assert "downloading" in runner.describe()["reason"]
        release.set()
        for _ in range(100):
            if runner.classifier is slow:
                break
            await asyncio.sleep(0.02)
        model, _ = await runner.classify(["Bitcoin rallies, great news"])
    finally:
        await runner.close()
    assert model == "slow"
    assert runner.describe()["fallback"] is False
    assert calls == [True, False]


async def test_uncached_hub_model_is_never_downloaded_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offline is the default: no hub request (whose retries held up shutdown for a minute),
    VADER at once, and the reason says how to allow downloads."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls: list[bool] = []

    def builder(local_only: bool) -> tuple[Classifier, str | None]:
        calls.append(local_only)
        return VaderClassifier(), "model 'org/some-model' is not in the local Hugging Face cache"

    runner = ClassifierRunner("org/some-model", builder=builder, download_delay=0)
    try:
        model, _ = await runner.classify(["Bitcoin rallies, great news"])
        await asyncio.sleep(0.05)  # a download, were one started, would have begun
        model_again, _ = await runner.classify(["Ether slides"])
    finally:
        await runner.close()
    assert (model, model_again) == ("vader", "vader")
    assert calls == [True]
    described = runner.describe()
    assert described["fallback"] is True
    assert "CRYPTODASH_SENTIMENT_MODEL_DOWNLOAD" in described["reason"]


def test_downloads_are_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptodash.config import Settings

    assert Settings().sentiment_model_download is False
    monkeypatch.setenv("CRYPTODASH_SENTIMENT_MODEL_DOWNLOAD", "true")
    assert Settings().sentiment_model_download is True


async def test_a_download_in_progress_does_not_hold_up_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The download runs on a daemon thread: `asyncio.run` (which joins its loop's default
    executor at exit) returns at once although the hub is still being retried."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    release = threading.Event()
    started = threading.Event()
    threads: list[threading.Thread] = []

    def builder(local_only: bool) -> tuple[Classifier, str | None]:
        if local_only:
            return VaderClassifier(), "not in the local cache"
        threads.append(threading.current_thread())
        started.set()
        release.wait(30)  # a hub that keeps retrying
        return VaderClassifier(), "could not be downloaded"

    async def a_process_that_stops() -> None:
        runner = ClassifierRunner(
            "org/some-model", builder=builder, download=True, download_delay=0
        )
        await runner.load()
        await asyncio.to_thread(started.wait, 5)
        await runner.close()

    began = time.perf_counter()
    try:
        # Its own event loop, as `cryptodash up` has (this test's loop is shared).
        await asyncio.to_thread(asyncio.run, a_process_that_stops())
        elapsed = time.perf_counter() - began
    finally:
        release.set()
    assert started.is_set()
    assert elapsed < 5.0
    assert threads[0].daemon
