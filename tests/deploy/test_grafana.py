"""Grafana: the provisioning files and the seed's three dashboards are well formed and show
what SEED-SPEC §7.2 lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.promql import metric_names
from tests.deploy.tools import DEPLOY, load_yaml

GRAFANA = DEPLOY / "grafana"
BOARDS = {
    "api-gateway.json": "cryptodash · API Gateway & Application",
    "infrastructure.json": "cryptodash · Infrastructure & System",
    "business-pipeline.json": "cryptodash · Business & Data Pipeline",
}
# What each dashboard must chart (seed §7.2), by the metrics that carry it.
MUST_CHART = {
    "api-gateway.json": {
        "http_request_duration_seconds_bucket",  # p95, p99
        "http_requests_total",  # request rate by endpoint, errors by status
        "rate_limit_rejections_total",
    },
    "infrastructure.json": {
        "up",
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    },
    "business-pipeline.json": {
        "bus_messages_total",  # price update rate, Kafka throughput
        "source_kind:sentiment_articles:rate5m",
        "portfolio_calculations_total",
        "cache_requests_total",
        "job:cache_hit_ratio:rate5m",
        "group_topic:kafka_consumer_lag:sum",
    },
}


def board(name: str) -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / name).read_text())  # type: ignore[no-any-return]


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def test_exactly_the_three_dashboards() -> None:
    assert sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json")) == sorted(BOARDS)
    uids = [board(name)["uid"] for name in BOARDS]
    assert len(set(uids)) == 3


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_is_well_formed(name: str) -> None:
    data = board(name)
    assert data["title"] == BOARDS[name]
    assert "id" not in data or data["id"] is None, "a provisioned dashboard has no database id"
    datasource_uids = {
        d["uid"]
        for d in load_yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]
    }
    ids = [p["id"] for p in panels(data["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels(data["panels"]):
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in datasource_uids, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] in datasource_uids
    for variable in data["templating"]["list"]:
        assert variable["datasource"]["uid"] in datasource_uids


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_charts_what_the_seed_lists(name: str) -> None:
    used: set[str] = set()
    for panel in panels(board(name)["panels"]):
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == "prometheus":
                used |= metric_names(target["expr"])
    assert MUST_CHART[name] <= used, MUST_CHART[name] - used


def test_latency_panels_show_p95_and_p99() -> None:
    exprs = " ".join(
        t["expr"] for p in panels(board("api-gateway.json")["panels"]) for t in p.get("targets", [])
    )
    assert "histogram_quantile(0.95" in exprs
    assert "histogram_quantile(0.99" in exprs


def test_provisioning_points_at_the_dashboards() -> None:
    provider = load_yaml(GRAFANA / "provisioning/dashboards/dashboards.yml")["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/cryptodash"
    sources = load_yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]
    assert {(s["uid"], s["type"]) for s in sources} >= {
        ("prometheus", "prometheus"),
        ("loki", "loki"),
    }
