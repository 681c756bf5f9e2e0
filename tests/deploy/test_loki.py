"""Loki and promtail: 30-day retention; the app's real JSON log lines yield the labels
`service` and `level` (few values each) and a parsed `request_id` (structured metadata, never a
label); compose and Kubernetes ship logs through the same pipeline."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cryptodash.platform.logging import configure_logging
from tests.apps import make_settings, running
from tests.deploy.tools import DEPLOY, load_yaml

LOKI = DEPLOY / "loki"
PROMTAIL_FILES = ("promtail.yml", "promtail.k8s.yml")
LEVELS = {"debug", "info", "warning", "error", "critical"}


def cryptodash_stages(name: str) -> list[dict[str, Any]]:
    job = load_yaml(LOKI / name)["scrape_configs"][0]
    match = next(s["match"] for s in job["pipeline_stages"] if "match" in s)
    assert match["selector"] == '{job="cryptodash"}'
    return match["stages"]  # type: ignore[no-any-return]


def stage(stages: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(s[kind] for s in stages if kind in s)


def test_loki_keeps_logs_thirty_days_and_accepts_structured_metadata() -> None:
    config = load_yaml(LOKI / "loki.yml")
    assert config["limits_config"]["retention_period"] == "720h"
    assert config["limits_config"]["allow_structured_metadata"] is True
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["delete_request_store"] == "filesystem"
    schema = config["schema_config"]["configs"][-1]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")


@pytest.mark.parametrize("name", PROMTAIL_FILES)
def test_promtail_ships_to_loki(name: str) -> None:
    config = load_yaml(LOKI / name)
    assert config["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]
    relabels = config["scrape_configs"][0]["relabel_configs"]
    assert any(
        r.get("replacement") == "cryptodash" and r["target_label"] == "job" for r in relabels
    )


def test_compose_and_kubernetes_share_the_pipeline() -> None:
    assert cryptodash_stages("promtail.yml") == cryptodash_stages("promtail.k8s.yml")


def test_labels_are_service_and_level_and_request_id_is_metadata() -> None:
    stages = cryptodash_stages("promtail.yml")
    assert set(stage(stages, "labels")) == {"service", "level"}
    assert set(stage(stages, "structured_metadata")) == {"request_id"}
    assert stage(stages, "timestamp") == {"source": "timestamp", "format": "RFC3339Nano"}


async def test_the_apps_log_lines_parse_with_the_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run the app, make a request, and apply promtail's json stage to what it logged."""
    configure_logging(service="gateway", level="INFO", json=True)
    try:
        async with running(make_settings(tmp_path)) as (_, client):
            response = await client.get("/api/nothing-here", headers={"X-Request-ID": "req-7"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    finally:
        logging.getLogger().handlers.clear()
    assert response.status_code == 404
    expressions = stage(cryptodash_stages("promtail.yml"), "json")["expressions"]
    extracted = [{key: line.get(field) for key, field in expressions.items()} for line in lines]
    request = next(e for e in extracted if e["request_id"] == "req-7")
    assert request["service"] == "gateway"
    for entry in extracted:
        assert entry["service"] == "gateway"
        assert entry["level"] in LEVELS
        # Go's RFC3339Nano layout parses this; Python's fromisoformat is as strict about shape.
        assert entry["timestamp"].endswith("Z")
        datetime.fromisoformat(entry["timestamp"])
