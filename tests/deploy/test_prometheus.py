"""Prometheus: the configs and rules pass promtool, and the seed's eight alerts fire when they
should (promtool's rule unit tests on synthetic series)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.deploy.tools import DEPLOY, load_yaml, run, tool

PROMETHEUS = DEPLOY / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))

# SEED-SPEC §7.4, in order.
SEED_ALERTS = [
    "ServiceDown",
    "HighErrorRate",
    "HighLatency",
    "DatabaseConnectionPoolExhausted",
    "CacheEvictionRateHigh",
    "KafkaConsumerLagHigh",
    "DiskUsageHigh",
    "MemoryUsageHigh",
]


def alert_rules() -> list[dict[str, object]]:
    groups = load_yaml(PROMETHEUS / "rules" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check() -> None:
    out = run(tool("promtool"), "check", "rules", *RULES)
    assert "SUCCESS" in out


def test_compose_config_passes_promtool_check() -> None:
    run(tool("promtool"), "check", "config", PROMETHEUS / "prometheus.yml")


def test_kubernetes_config_passes_promtool_check(tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes service discovery, so the check runs on a
    copy whose `kubernetes_sd_configs` become empty static configs; everything else (relabeling,
    TLS, authorization) is checked as written. `--syntax-only`: the service-account token and CA
    files exist only inside a pod (the rule files are checked by the test above)."""
    config = load_yaml(PROMETHEUS / "prometheus.k8s.yml")
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs", None), f"{job['job_name']} lost its discovery"
        job["static_configs"] = [{"targets": []}]
    (tmp_path / "rules").symlink_to(PROMETHEUS / "rules")
    copy = tmp_path / "prometheus.k8s.yml"
    copy.write_text(yaml.safe_dump(config))
    run(tool("promtool"), "check", "config", "--syntax-only", copy)


def test_scrape_interval_is_fifteen_seconds_everywhere() -> None:
    for name in ("prometheus.yml", "prometheus.k8s.yml"):
        config = load_yaml(PROMETHEUS / name)
        assert config["global"]["scrape_interval"] == "15s", name
        assert all("scrape_interval" not in job for job in config["scrape_configs"]), name
        assert config["rule_files"] == ["rules/recording.yml", "rules/alerts.yml"], name


def test_compose_scrapes_every_split_service_with_its_service_label() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "cryptodash")
    targets = {sc["labels"]["service"]: sc["targets"] for sc in job["static_configs"]}
    assert targets == {
        "gateway": ["gateway:8000"],
        "users": ["users:8001"],
        "market": ["market:8002"],
        "analytics": ["analytics:8003"],
        "sentiment": ["sentiment:8004"],
        "portfolio": ["portfolio:8005"],
    }


def test_the_seed_alerts_exist_with_severity_summary_and_runbook() -> None:
    rules = alert_rules()
    assert [rule["alert"] for rule in rules] == SEED_ALERTS
    for rule in rules:
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict)
        assert isinstance(annotations, dict)
        assert labels["severity"] in ("critical", "warning"), rule["alert"]
        for key in ("summary", "description", "runbook"):
            assert str(annotations.get(key, "")).strip(), f"{rule['alert']} has no {key}"


def test_thresholds_are_the_seeds() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert rules["ServiceDown"]["for"] == "1m"
    assert "> 0.01" in str(rules["HighErrorRate"]["expr"])
    assert "> 0.5" in str(rules["HighLatency"]["expr"])
    assert "p95" in str(rules["HighLatency"]["expr"])
    assert "> 10000" in str(rules["KafkaConsumerLagHigh"]["expr"])
    assert "> 0.85" in str(rules["DiskUsageHigh"]["expr"])
    assert str(rules["MemoryUsageHigh"]["expr"]).count("> 0.9") == 2


def test_every_alert_has_a_firing_unit_test() -> None:
    spec = load_yaml(PROMETHEUS / "tests" / "alerts.test.yml")
    fired = {
        case["alertname"]
        for test in spec["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == set(SEED_ALERTS)


def test_alert_unit_tests_pass() -> None:
    out = run(tool("promtool"), "test", "rules", PROMETHEUS / "tests" / "alerts.test.yml")
    assert "SUCCESS" in out
