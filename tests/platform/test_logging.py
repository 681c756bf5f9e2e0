"""JSON log lines carry timestamp, level, service, request_id, message and the fields."""

from __future__ import annotations

import json
import logging

import pytest

from cryptodash.platform.logging import configure_logging, get_logger, request_id_var


def test_json_lines_with_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="market", level="INFO", json=True)
    try:
        token = request_id_var.set("req-42")
        try:
            get_logger("test").info("tick_published", coin_id="bitcoin", price=1.5)
        finally:
            request_id_var.reset(token)
        logging.getLogger("uvicorn.error").warning("from the standard library")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        # Back to the suite's configuration (tests/conftest.py).
        configure_logging(service="test", level="INFO", json=True)
    first = lines[0]
    assert first["message"] == "tick_published"
    assert first["level"] == "info"
    assert first["service"] == "market"
    assert first["request_id"] == "req-42"
    assert first["coin_id"] == "bitcoin"
    assert first["timestamp"].endswith("Z")
    assert lines[1]["message"] == "from the standard library"
    assert lines[1]["level"] == "warning"
    assert "request_id" not in lines[1]
