"""structlog JSON logging: timestamp, level, service, request_id, message, plus fields.

The request id lives in a context variable bound by the gateway middleware, so every log line
written while a request is handled carries it without being passed around.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    return event_dict


def _rename_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["message"] = event_dict.pop("event", "")
    event_dict.pop("color_message", None)  # uvicorn's ANSI copy of the message
    return event_dict


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def _dumps_bytes(obj: Any, default: Any = None) -> bytes:
    return orjson.dumps(obj, default=default or str)


class _StderrLogger:
    """Writes rendered lines to whatever `sys.stderr` is at the time of the call (test
    harnesses swap it), as bytes when it has a buffer."""

    def msg(self, message: bytes | str) -> None:
        stream = sys.stderr
        if isinstance(message, bytes):
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(message + b"\n")
                buffer.flush()
                return
            message = message.decode()
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on the current `sys.stderr`, like `_StderrLogger`."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """One JSON line per event on stderr, for our own loggers and the standard library's.

    Our loggers (structlog) render straight to bytes on stderr with level filtering done before
    any processing, which keeps the per-request log line cheap on the hot path. The standard
    library's records (uvicorn, aiokafka, alembic) go through a formatter with the same fields.
    """
    level_number = logging.getLevelName(level.upper())
    if not isinstance(level_number, int):
        raise ValueError(f"unknown log level {level!r}")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_request_id,
    ]
    if json:
        native: list[Any] = [
            *shared,
            structlog.processors.format_exc_info,
            _rename_event,
            structlog.processors.JSONRenderer(serializer=_dumps_bytes),
        ]
        foreign_final: list[Any] = [
            structlog.processors.format_exc_info,
            _rename_event,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
    else:
        native = [*shared, structlog.dev.ConsoleRenderer()]
        foreign_final = [structlog.dev.ConsoleRenderer()]

    structlog.configure(
        processors=native,
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *foreign_final],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The gateway logs each request with its request id; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for noisy in ("aiokafka", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level_number))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
