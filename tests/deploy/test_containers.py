"""Containers: the multi-stage Dockerfile (web app build, slim non-root runtime, health check)
and compose.yaml (valid against the Compose Specification; every split service plus the data
stores and the monitoring stack, wired the way the app and Prometheus expect)."""

from __future__ import annotations

import base64
import re
from typing import Any

import dockerfile
import pytest

from cryptodash.config import SERVICE_PORTS, SERVICES
from tests.deploy.tools import DEPLOY, ROOT, load_yaml, run, tool


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(ROOT / "compose.yaml")  # type: ignore[no-any-return]


def stages() -> dict[str, list[dockerfile.Command]]:
    """Stage name → its instructions, in file order."""
    result: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            current = []
            result[command.value[-1]] = current
        current.append(command)
    return result


def test_compose_file_is_valid_compose_spec() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", ROOT / "compose.yaml")


def test_compose_runs_every_split_service_on_its_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["environment"]["CRYPTODASH_PORT"] == str(SERVICE_PORTS[name])
        assert service["labels"]["io.cryptodash.logs"] == "json", "promtail parses its JSON"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["JWT_SECRET"].startswith("${JWT_SECRET:?"), "no default signing secret"
    assert services["migrate"]["command"] == ["migrate"]


def test_compose_has_the_backends_and_the_monitoring_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"postgres", "redis", "kafka", "prometheus", "alertmanager", "grafana", "loki"}
    assert expected <= set(services)
    for name in ("postgres", "redis", "kafka"):
        assert services[name]["healthcheck"]["test"], name
    assert "--appendonly" in services["redis"]["command"], "Redis keeps an AOF"
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    cluster_id = kafka["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "Kafka needs a base64 UUID"
    assert "--storage.tsdb.retention.time=15d" in services["prometheus"]["command"]


def test_compose_scrape_targets_exist(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    hosts = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    } - {"localhost"}
    assert hosts <= set(compose["services"]), hosts - set(compose["services"])


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_dockerfile_has_the_build_and_runtime_stages() -> None:
    found = stages()
    assert list(found) == ["frontend-build", "build", "frontend", "runtime"]
    # The last stage is the default target: `docker build .` gives the app image.
    assert list(found)[-1] == "runtime"


def test_dockerfile_builds_the_frontend_when_it_exists() -> None:
    commands = stages()["frontend-build"]
    runs = " ".join(c.value[0] for c in commands if c.cmd == "RUN")
    assert "[ -f package.json ]" in runs
    assert "npm ci" in runs
    assert "npm run build" in runs
    copies = [c for c in stages()["runtime"] if c.cmd == "COPY"]
    assert any("--from=frontend-build" in c.flags for c in copies)


@pytest.mark.parametrize("stage", ["runtime", "frontend"])
def test_images_run_as_non_root_with_a_health_check(stage: str) -> None:
    commands = stages()[stage]
    users = [c.value[0] for c in commands if c.cmd == "USER"]
    assert users, f"{stage} sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric uid, so runAsNonRoot can check it"
    assert int(uid) != 0
    checks = [c for c in commands if c.cmd == "HEALTHCHECK"]
    assert checks
    assert re.search(r"/health\b|/healthz\b", " ".join(checks[-1].value))


def test_runtime_is_slim_and_starts_cryptodash() -> None:
    commands = stages()["runtime"]
    assert "slim" in commands[0].value[0]
    assert next(c for c in commands if c.cmd == "ENTRYPOINT").value == ("cryptodash",)


def test_copied_sources_exist_and_are_in_the_build_context() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    included = {line[1:].strip("/") for line in ignore if line.startswith("!")}
    for commands in stages().values():
        for command in commands:
            if command.cmd != "COPY" or any(f.startswith("--from") for f in command.flags):
                continue
            for source in command.value[:-1]:
                if "*" in source:
                    continue  # optional (frontend*): BuildKit allows an empty match
                assert (ROOT / source).exists(), source
                assert any(source == inc or source.startswith(inc + "/") for inc in included), (
                    f"{source} is excluded by .dockerignore"
                )
