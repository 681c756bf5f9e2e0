"""Every metric the alerts, recording rules and dashboards read is one the app really exports.

The app's names come from a live `/metrics` scrape of the running app (prometheus_client prints
a `# TYPE` line even for a labelled metric with no samples yet); exporter metrics (node_, pg_,
redis_, kafka_ exporter, kube_, container_, `up`) are allowed by prefix. Label matchers on the
app's metrics must use labels the metric has, or ones Prometheus adds at scrape time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from cryptodash.platform.metrics import Metrics
from tests.apps import make_settings, running
from tests.deploy.promql import metric_names, selector_labels
from tests.deploy.tools import DEPLOY, load_yaml

EXPORTER_PREFIXES = ("node_", "pg_", "redis_", "kafka_", "kube_", "container_")
EXPORTER_NAMES = frozenset({"up"})
# Our own names that share an exporter's prefix: these must be in the app's exposition.
APP_PREFIXES = ("kafka_consumer_lag",)
# Labels Prometheus or our scrape configs attach to every series of a target.
TARGET_LABELS = frozenset({"job", "instance", "service", "namespace", "pod", "node", "cluster"})
_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,)]+?)\s*(?:,|\))")

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def sample_names(name: str, kind: str) -> set[str]:
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    return {name}


@pytest.fixture(scope="module")
async def exposition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Sample name → metric name, from the running all-in-one app's /metrics."""
    settings = make_settings(tmp_path_factory.mktemp("data"))
    async with running(settings) as (_, client):
        await client.get("/health")
        response = await client.get("/metrics")
    assert response.status_code == 200
    names: dict[str, str] = {}
    for name, kind in _TYPE_LINE.findall(response.text):
        for sample in sample_names(name, kind):
            names[sample] = name
    return names


def app_labels() -> dict[str, set[str]]:
    """Metric name → its label names, from the same definitions the app registers."""
    labels: dict[str, set[str]] = {}
    for value in vars(Metrics()).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            for sample in sample_names(name, value._type):
                labels[sample] = set(value._labelnames) | (
                    {"le"} if sample.endswith("_bucket") else set()
                )
    return labels


def rule_files() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path.name, rule


def recorded_names() -> set[str]:
    return {rule["record"] for _, rule in rule_files() if "record" in rule}


def _dashboard_targets(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield from _dashboard_targets(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield {"panel": panel["title"], **target}


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every Prometheus expression in rules and dashboards."""
    found = [
        (f"{name}:{rule.get('record') or rule['alert']}", rule["expr"])
        for name, rule in rule_files()
    ]
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for target in _dashboard_targets(board["panels"]):
            if target["datasource"]["type"] == "prometheus":
                found.append((f"{path.name}:{target['panel']}", target["expr"]))
        for variable in board["templating"]["list"]:
            if variable.get("type") == "query":
                query = variable["query"]["query"]
                found.extend(
                    (f"{path.name}:${variable['name']}", m) for m in _LABEL_VALUES.findall(query)
                )
    return found


def test_expressions_are_found() -> None:
    where = [w for w, _ in expressions()]
    assert len(where) > 60
    assert {Path(p).name for p in DASHBOARDS} <= {w.split(":")[0] for w in where}


def test_every_metric_used_is_exported(exposition: dict[str, str]) -> None:
    recorded = recorded_names()
    unknown: list[str] = []
    for where, expr in expressions():
        for name in metric_names(expr):
            if ":" in name:
                ok = name in recorded
            elif name in exposition:
                ok = True
            else:
                ok = (
                    name in EXPORTER_NAMES or name.startswith(EXPORTER_PREFIXES)
                ) and not name.startswith(APP_PREFIXES)
            if not ok:
                unknown.append(f"{where}: {name}")
    assert not unknown, "metrics neither exported by the app nor by an exporter:\n" + "\n".join(
        unknown
    )


def test_label_matchers_on_app_metrics_use_real_labels(exposition: dict[str, str]) -> None:
    labels = app_labels()
    assert set(labels) <= set(exposition), "the registry and the exposition disagree"
    wrong: list[str] = []
    for where, expr in expressions():
        for name, used in selector_labels(expr).items():
            if name in labels:
                extra = used - labels[name] - TARGET_LABELS
                if extra:
                    wrong.append(f"{where}: {name} has no label {sorted(extra)}")
    assert not wrong, "\n".join(wrong)


def test_every_app_metric_appears_on_a_dashboard_or_in_a_rule(exposition: dict[str, str]) -> None:
    used = {exposition.get(n, n) for _, expr in expressions() for n in metric_names(expr)}
    exported = set(exposition.values()) - {n for n in exposition.values() if n.endswith("_created")}
    missing = sorted(exported - used)
    assert not missing, f"exported but neither charted nor alerted on: {missing}"


def test_readme_documents_every_app_metric(exposition: dict[str, str]) -> None:
    readme = (DEPLOY.parent / "README.md").read_text()
    section = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    exported = {n for n in exposition.values() if not n.endswith("_created")}
    missing = sorted(name for name in exported if f"`{name}" not in section)
    assert not missing, f"not in the README's metrics section: {missing}"
