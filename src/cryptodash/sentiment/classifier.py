"""The classifier a sentiment worker uses, loaded and run off the event loop.

`ClassifierRunner` builds the configured model in its own worker thread (importing torch and
loading weights takes seconds) and classifies in batches there, one batch per hop, so the
event loop keeps serving while a backlog is scored. When the transformer cannot be had (the
`nlp` extra is not installed, or the model files are absent) it falls back to VADER and says
so: a warning in the log and `fallback`/`reason` in `GET /api/sentiment/model`. A model that
is not in the local cache is fetched from the hub only when downloads are enabled
(`CRYPTODASH_SENTIMENT_MODEL_DOWNLOAD`); otherwise nothing touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptodash.platform.logging import get_logger
from cryptodash.sentiment.classifiers import Classifier, Prediction
from cryptodash.sentiment.normalize import iso

log = get_logger(__name__)

LEXICON = "vader"
Builder = Callable[[bool], tuple[Classifier, str | None]]


def build_classifier(
    model: str, *, neutral_threshold: float, local_files_only: bool = True
) -> tuple[Classifier, str | None]:
    """The classifier for `model` and, when it had to fall back to VADER, why. With
    `local_files_only` a hub id is looked up in the local cache only (no network)."""
    from cryptodash.sentiment.classifiers.vader import VaderClassifier

    if model.strip().lower() == LEXICON:
        return VaderClassifier(), None
    if model.startswith((".", "/", "~")) and not Path(model).expanduser().is_dir():
        return VaderClassifier(), f"model directory {model!r} does not exist"
    if local_files_only and not Path(model).is_dir():
        # Answer "not cached" without importing torch and transformers (seconds).
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError as exc:
            return VaderClassifier(), f"the nlp extra (transformers, torch) is not installed: {exc}"
        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            return VaderClassifier(), f"model {model!r} is not in the local Hugging Face cache"
    try:
        from cryptodash.sentiment.classifiers.transformer import TransformerClassifier

        return TransformerClassifier(
            model, neutral_threshold=neutral_threshold, local_files_only=local_files_only
        ), None
    except ImportError as exc:
        reason = f"the nlp extra (transformers, torch) is not installed: {exc}"
    except Exception as exc:  # any failure to load means the lexicon, said loudly
        reason = f"model {model!r} could not be loaded: {str(exc).splitlines()[0]}"
    return VaderClassifier(), reason


class ClassifierRunner:
    """Loads the configured classifier and runs it on a dedicated worker thread.

    With `download`, a hub model that is not in the local cache is downloaded in the background
    while VADER scores the articles (each article records the model that scored it); the
    transformer takes over once it is loaded. The download runs on a daemon thread: the hub
    client retries for a minute when offline, and a shutdown must not wait for it.
    """

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 16,
        neutral_threshold: float = 0.75,
        builder: Builder | None = None,
        download: bool = False,
        download_delay: float = 10.0,
    ) -> None:
        self.model = model
        self.download = download
        self.download_delay = download_delay
        self.batch_size = batch_size
        self.neutral_threshold = neutral_threshold
        self._builder = builder or (
            lambda local_only: build_classifier(
                model, neutral_threshold=neutral_threshold, local_files_only=local_only
            )
        )
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sentiment-classifier")
        self._classifier: Classifier | None = None
        self._lock = asyncio.Lock()
        self._download: asyncio.Task[None] | None = None
        self.fallback_reason: str | None = None
        self.loaded_at: datetime | None = None

    @property
    def classifier(self) -> Classifier | None:
        return self._classifier

    async def load(self) -> Classifier:
        async with self._lock:
            if self._classifier is None:
                loop = asyncio.get_running_loop()
                classifier, reason = await loop.run_in_executor(self._executor, self._builder, True)
                if reason and self._may_download():
                    reason = f"downloading {self.model!r} from the hub; VADER until it is loaded"
                    self._download = asyncio.create_task(self._download_model())
                elif reason and self.model.strip().lower() != LEXICON:
                    reason += " (downloads are off: CRYPTODASH_SENTIMENT_MODEL_DOWNLOAD=true)"
                self._set(classifier, reason)
            return self._classifier  # type: ignore[return-value]

    def _may_download(self) -> bool:
        if not self.download or self.model.strip().lower() == LEXICON:
            return False
        try:
            from cryptodash.sentiment.classifiers.transformer import may_download
        except ImportError:
            return False
        return may_download(self.model)

    async def _download_model(self) -> None:
        # Importing torch takes seconds of CPU: let the server come up first. Its own thread:
        # a download must not hold up the batches of the interim classifier.
        await asyncio.sleep(self.download_delay)
        classifier, reason = await _in_daemon_thread(self._builder, False)
        self._set(classifier, reason)

    def _set(self, classifier: Classifier, reason: str | None) -> None:
        self._classifier, self.fallback_reason = classifier, reason
        self.loaded_at = datetime.now(UTC)
        if reason:
            log.warning(
                "sentiment_model_fallback",
                configured=self.model,
                active=classifier.name,
                reason=reason,
                message="SENTIMENT USES THE VADER LEXICON, NOT THE CONFIGURED TRANSFORMER",
            )
        else:
            log.info("sentiment_model_loaded", model=classifier.name, kind=classifier.kind)

    async def classify(self, texts: Sequence[str]) -> tuple[str, list[Prediction]]:
        """The model's name and its predictions in input order. Texts are batched by length
        (less padding), one batch per trip to the worker thread."""
        classifier = await self.load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[Prediction | None] = [None] * len(texts)
        loop = asyncio.get_running_loop()
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            batch = [texts[i] for i in indices]
            predictions = await loop.run_in_executor(self._executor, classifier.classify, batch)
            for index, prediction in zip(indices, predictions, strict=True):
                results[index] = prediction
        return classifier.name, [p for p in results if p is not None]

    def describe(self) -> dict[str, Any]:
        classifier = self._classifier
        info: dict[str, Any] = {
            "configured": self.model,
            "batch_size": self.batch_size,
            "state": "loaded" if classifier else "loading",
        }
        if classifier is not None:
            info.update(
                active=classifier.name,
                kind=classifier.kind,
                fallback=self.fallback_reason is not None,
                reason=self.fallback_reason,
                loaded_at=iso(self.loaded_at) if self.loaded_at else None,
                **classifier.describe(),
            )
        return info

    async def close(self) -> None:
        if self._download is not None:
            self._download.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _in_daemon_thread(builder: Builder, local_only: bool) -> tuple[Classifier, str | None]:
    """`builder(local_only)` on a daemon thread. Not `asyncio.to_thread`: the loop's default
    executor is joined when the loop closes and executor threads at interpreter exit, so a
    download retrying against an unreachable hub held up every shutdown for most of a minute."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[Classifier, str | None]] = loop.create_future()

    def settle(result: tuple[Classifier, str | None] | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, exc = builder(local_only), None
        except BaseException as error:  # handed to the awaiting task
            result, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, name="sentiment-download", daemon=True).start()
    return await future
