"""CI/CD: the workflows pass actionlint (with shellcheck on their `run:` scripts) and the
GitHub workflow schema; the pipeline has the seed's stages in order with production gated;
the deploy and smoke scripts pass shellcheck, and the smoke test passes against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.tools import ROOT, load_yaml, run, tool
from tests.helpers import free_port, wait_for_port

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


def test_workflows_pass_actionlint() -> None:
    assert WORKFLOWS
    # actionlint runs shellcheck on every `run:` block when shellcheck is on PATH.
    shellcheck_dir = str(Path(tool("shellcheck")).parent)
    env_path = f"{shellcheck_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": env_path},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)


def test_pipeline_runs_the_seeds_stages_in_order() -> None:
    jobs = load_yaml(ROOT / ".github/workflows/pipeline.yml")["jobs"]

    def needs(job: str) -> set[str]:
        value = jobs[job].get("needs", [])
        return {value} if isinstance(value, str) else set(value)

    assert list(jobs) == [
        "lint",
        "test",
        "build",
        "deploy-staging",
        "smoke-staging",
        "deploy-production",
    ]
    assert needs("build") == {"lint", "test"}
    assert needs("deploy-staging") == {"build"}
    assert needs("smoke-staging") == {"deploy-staging"}
    assert "smoke-staging" in needs("deploy-production")
    assert jobs["deploy-staging"]["environment"]["name"] == "staging"
    # The gate: the production environment's required reviewers.
    assert jobs["deploy-production"]["environment"]["name"] == "production"
    steps = " ".join(str(s.get("run", "")) for s in jobs["test"]["steps"])
    assert "make test" in steps
    pushes = [s for s in jobs["build"]["steps"] if "build-push-action" in s.get("uses", "")]
    assert {s["with"]["target"] for s in pushes} == {"runtime", "frontend"}


def test_scripts_pass_shellcheck() -> None:
    run(tool("shellcheck"), "--severity=warning", *SCRIPTS)
    for script in SCRIPTS:
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`cryptodash up` in a subprocess on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "CRYPTODASH_DATA_DIR": str(tmp_path / "data"),
        "CRYPTODASH_PORT": str(port),
        "CRYPTODASH_ENV": "test",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "cryptodash"), "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_smoke_script_passes_against_a_running_server(server: str) -> None:
    out = run(ROOT / "scripts" / "smoke.sh", server)
    assert f"smoke: passed {server}" in out
    assert "smoke: ok error shape" in out
