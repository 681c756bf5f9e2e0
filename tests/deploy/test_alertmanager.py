"""Alertmanager: amtool accepts the config; severities route to the right receivers; secrets
come from files; a service that is down silences its latency and error alerts."""

from __future__ import annotations

import pytest

from tests.deploy.tools import DEPLOY, load_yaml, run, tool

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def test_config_passes_amtool_check() -> None:
    out = run(tool("amtool"), "check-config", CONFIG)
    assert "SUCCESS" in out


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ServiceDown", "service=gateway"], "pagerduty-and-slack"),
        (["severity=warning", "alertname=HighLatency", "service=market"], "slack"),
        (["alertname=Unlabelled"], "slack"),
    ],
)
def test_severity_routes_to_its_receivers(labels: list[str], receiver: str) -> None:
    out = run(tool("amtool"), "config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert out.splitlines()[0].strip() == receiver


def test_receivers_take_secrets_from_files_only() -> None:
    config = load_yaml(CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    pagerduty = receivers["pagerduty-and-slack"]["pagerduty_configs"][0]
    assert "routing_key" not in pagerduty
    assert pagerduty["routing_key_file"].startswith("/etc/alertmanager/secrets/")
    for receiver in receivers.values():
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack
            assert slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert "slack_api_url" not in config.get("global", {})


def test_service_down_inhibits_its_latency_and_error_alerts() -> None:
    config = load_yaml(CONFIG)
    rule = next(
        r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname="ServiceDown"']
    )
    assert rule["target_matchers"] == ['alertname=~"HighLatency|HighErrorRate"']
    assert rule["equal"] == ["service"]
    assert config["route"]["group_by"] == ["alertname", "service"]


def test_every_alert_severity_is_routed() -> None:
    rules = load_yaml(DEPLOY / "prometheus" / "rules" / "alerts.yml")["groups"][0]["rules"]
    routed = {r["matchers"][0] for r in load_yaml(CONFIG)["route"]["routes"]}
    for rule in rules:
        assert f'severity="{rule["labels"]["severity"]}"' in routed
