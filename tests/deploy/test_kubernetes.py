"""Kubernetes: the kustomize base and both overlays render (kubectl's built-in kustomize),
every object validates against the Kubernetes OpenAPI schemas in strict mode (unknown fields
are errors; kubernetes-validate, offline), and the objects say what SEED-SPEC §8 and §11 ask."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest

from cryptodash.config import SERVICE_PORTS
from tests.deploy.tools import DEPLOY, load_yaml_all, run, tool

K8S = DEPLOY / "k8s"
TARGETS = ["base", "overlays/staging", "overlays/production"]
# The oldest Kubernetes we support and the newest schema kubernetes-validate ships.
VERSIONS = ["1.30.0", "1.37.0"]
NAMESPACE = "crypto-analytics"
# SEED-SPEC §8.1: min, max, CPU, memory. Portfolio takes the user service's row (ARCHITECTURE §9).
SEED_TABLE = {
    "gateway": (2, 10, "500m", "512Mi"),
    "users": (2, 5, "500m", "512Mi"),
    "market": (2, 10, "1000m", "1Gi"),
    "analytics": (2, 10, "2000m", "2Gi"),
    "sentiment": (1, 5, "1000m", "2Gi"),
    "portfolio": (2, 5, "500m", "512Mi"),
    "frontend": (2, 10, "200m", "256Mi"),
}
WORKLOADS = ("Deployment", "StatefulSet", "Job")

Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Docs]:
    kubectl = tool("kubectl")
    return {target: load_yaml_all(run(kubectl, "kustomize", K8S / target)) for target in TARGETS}


def find(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_strictly(
    rendered: dict[str, Docs], target: str, version: str
) -> None:
    errors = []
    for doc in rendered[target]:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("target", TARGETS)
def test_everything_lives_in_the_namespace(rendered: dict[str, Docs], target: str) -> None:
    docs = rendered[target]
    assert find(docs, "Namespace", NAMESPACE)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("name", sorted(SEED_TABLE))
def test_each_service_has_deployment_service_hpa_and_pdb_sized_by_the_seed(
    rendered: dict[str, Docs], name: str
) -> None:
    docs = rendered["overlays/production"]
    low, high, cpu, memory = SEED_TABLE[name]
    deployment = find(docs, "Deployment", name)
    hpa = find(docs, "HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    container = pod_spec(deployment)["containers"][0]
    assert container["resources"]["requests"] == {"cpu": cpu, "memory": memory}
    assert container["resources"]["limits"] == {"cpu": cpu, "memory": memory}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    pdb = find(docs, "PodDisruptionBudget", name)
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    service = find(docs, "Service", name)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", sorted(SERVICE_PORTS))
def test_python_services_run_split_with_config_secrets_and_metrics(
    rendered: dict[str, Docs], name: str
) -> None:
    deployment = find(rendered["base"], "Deployment", name)
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    port = SERVICE_PORTS[name]
    assert container["args"] == ["serve", name]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert {"name": "CRYPTODASH_PORT", "value": str(port)} in container["env"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "cryptodash-config"}},
        {"secretRef": {"name": "cryptodash-secrets"}},
    ]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    # prometheus.k8s.yml and promtail.k8s.yml key `job="cryptodash"` on this label.
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "service"


@pytest.mark.parametrize("target", TARGETS)
def test_pods_meet_the_restricted_pod_security_standard(
    rendered: dict[str, Docs], target: str
) -> None:
    for doc in rendered[target]:
        if doc["kind"] not in (*WORKLOADS, "CronJob"):
            continue
        spec = pod_spec(doc)
        pod = spec.get("securityContext", {})
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, doc["metadata"]["name"]
        for container in spec["containers"]:
            context = container.get("securityContext", {})
            where = f"{doc['metadata']['name']}/{container['name']}"
            assert pod.get("runAsNonRoot") or context.get("runAsNonRoot"), where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities") == {"drop": ["ALL"]}, where
            assert container["resources"]["limits"]["memory"], where


@pytest.mark.parametrize("target", TARGETS)
def test_services_select_pods_and_name_real_ports(rendered: dict[str, Docs], target: str) -> None:
    docs = rendered[target]
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        backing = [
            w
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert backing, f"Service {service['metadata']['name']} selects no pods"
        ports = {
            p["name"]
            for w in backing
            for c in pod_spec(w)["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{service['metadata']['name']}: {port}"
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_data_stores_are_stateful_sets(rendered: dict[str, Docs]) -> None:
    docs = rendered["overlays/production"]
    postgres = find(docs, "StatefulSet", "postgres")
    redis = find(docs, "StatefulSet", "redis")
    kafka = find(docs, "StatefulSet", "kafka")
    for store in (postgres, redis, kafka):
        assert store["spec"]["volumeClaimTemplates"], store["metadata"]["name"]
    assert kafka["spec"]["replicas"] == 3
    kafka_env = {e["name"]: e.get("value") for e in pod_spec(kafka)["containers"][0]["env"]}
    assert kafka_env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert len(base64.urlsafe_b64decode(kafka_env["CLUSTER_ID"] + "==")) == 16
    redis_args = pod_spec(redis)["containers"][0]["args"]
    assert redis_args[redis_args.index("--appendonly") + 1] == "yes"
    config = find(docs, "ConfigMap", "cryptodash-config")["data"]
    assert config["CRYPTODASH_KAFKA_REPLICATION_FACTOR"] == "3"
    assert config["KAFKA_BOOTSTRAP_SERVERS"].count("kafka-headless:9092") == 3


@pytest.mark.parametrize("target", TARGETS)
def test_postgres_archives_wal_within_the_rpo(rendered: dict[str, Docs], target: str) -> None:
    args = pod_spec(find(rendered[target], "StatefulSet", "postgres"))["containers"][0]["args"]
    settings = dict(a.split("=", 1) for a in args if "=" in a)
    assert settings["wal_level"] == "replica"
    assert settings["archive_mode"] == "on"
    assert int(settings["archive_timeout"]) <= 15 * 60, "RPO 15 minutes"
    assert "/backups/wal" in settings["archive_command"]


def test_daily_backup_keeps_thirty_days(rendered: dict[str, Docs]) -> None:
    cronjob = find(rendered["overlays/production"], "CronJob", "postgres-backup")
    minute, hour, day, month, weekday = cronjob["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*")
    assert minute.isdigit()
    assert hour.isdigit()
    container = pod_spec(cronjob)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RETENTION_DAYS"] == "30"
    script = container["args"][0]
    assert "pg_basebackup" in script
    assert "pg_dump" in script
    assert '-mtime +"$RETENTION_DAYS"' in script
    claim = pod_spec(cronjob)["volumes"][0]["persistentVolumeClaim"]["claimName"]
    postgres_volumes = pod_spec(find(rendered["base"], "StatefulSet", "postgres"))["volumes"]
    assert {"name": "backups", "persistentVolumeClaim": {"claimName": claim}} in postgres_volumes


def test_network_policies_deny_by_default(rendered: dict[str, Docs]) -> None:
    docs = rendered["base"]
    deny = find(docs, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert len([d for d in docs if d["kind"] == "NetworkPolicy"]) >= 5


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("overlays/staging", "staging.cryptodash.example.com"),
        ("overlays/production", "cryptodash.example.com"),
    ],
)
def test_ingress_serves_https_only(rendered: dict[str, Docs], target: str, host: str) -> None:
    ingress = find(rendered[target], "Ingress", "cryptodash")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"].startswith("letsencrypt")
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "cryptodash-tls"}]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {"/api": "gateway", "/ws": "gateway", "/": "frontend"}


def test_staging_is_smaller(rendered: dict[str, Docs]) -> None:
    docs = rendered["overlays/staging"]
    for hpa in (d for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    config = find(docs, "ConfigMap", "cryptodash-config")["data"]
    assert config["CRYPTODASH_CORS_ORIGINS"] == "https://staging.cryptodash.example.com"


@pytest.mark.parametrize("target", ["overlays/staging", "overlays/production"])
def test_overlays_pull_our_images_from_the_registry(rendered: dict[str, Docs], target: str) -> None:
    for doc in rendered[target]:
        if doc["kind"] in (*WORKLOADS, "CronJob"):
            for container in pod_spec(doc)["containers"]:
                image = container["image"]
                assert "/" in image or ":" in image, f"{image} is not pinned to a registry and tag"


def test_migrations_run_as_a_job(rendered: dict[str, Docs]) -> None:
    job = find(rendered["base"], "Job", "cryptodash-migrate")
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["migrate"]
    assert {"secretRef": {"name": "cryptodash-secrets"}} in container["envFrom"]
