"""The `cryptodash` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

CLI = [sys.executable, "-m", "cryptodash.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRYPTODASH_")
        and k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "JWT_SECRET"}
    }
    env["CRYPTODASH_ENV"] = "test"
    env.update(extra)
    return env


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def server(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(port: int, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/health did not answer within {timeout} s")


@pytest.mark.parametrize(
    "command",
    [[], ["up"], ["serve"], ["migrate"], ["create-admin"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_up_has_its_options() -> None:
    out = run("up", "--help").stdout
    for option in ("--host", "--port", "--data-dir", "--demo"):
        assert option in out


@pytest.mark.parametrize(
    ("service", "missing"),
    [
        ("market", ["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"]),
        ("users", ["DATABASE_URL", "REDIS_URL"]),
        ("gateway", ["KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"]),
    ],
)
def test_split_service_refuses_in_process_backends(service: str, missing: list[str]) -> None:
    started = time.monotonic()
    result = run("serve", service, timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - started < 10
    for name in missing:
        assert name in result.stderr
    if service == "gateway":
        assert "DATABASE_URL" not in result.stderr


def test_serve_unknown_service() -> None:
    result = run("serve", "nonsense")
    assert result.returncode != 0
    assert "unknown service" in result.stderr


@pytest.mark.e2e
def test_up_answers_health_quickly_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with server(
        "up", "--port", str(port), "--data-dir", str(tmp_path / "data"), env=clean_env()
    ) as process:
        # The < 10 s start-up figure is measured by bench/startup.py on an idle machine; here
        # the suite may share two cores with other work, so only a generous bound is checked.
        wait_healthy(port)
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready").json()
        assert ready["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it caught once shutdown is complete.
        assert process.wait(15) in (0, -signal.SIGTERM)
        output = process.stdout.read() if process.stdout else ""
    assert (tmp_path / "data" / "cryptodash.db").exists()
    assert '"message":"started"' in output
    assert '"message":"stopped"' in output


# An app whose shutdown leaves a task that outlives its cancellation, the way aiosqlite's
# close() waits forever on a worker thread that already ended (seen as a Ctrl-C that never
# returned from `cryptodash up`).
STUCK_AT_EXIT = """
import asyncio, contextlib, sys
from fastapi import FastAPI
from cryptodash.cli import serve_app
from cryptodash.platform.logging import configure_logging

leftovers = []

async def outlives_cancellation():
    never = asyncio.get_running_loop().create_future()
    try:
        await asyncio.sleep(3600)
    finally:
        await never

@contextlib.asynccontextmanager
async def lifespan(app):
    yield
    leftovers.append(asyncio.create_task(outlives_cancellation()))

configure_logging(service="test", level="INFO", json=True)
serve_app(FastAPI(lifespan=lifespan), "127.0.0.1", int(sys.argv[1]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_process_ends_soon_after_the_app_shut_down(sig: signal.Signals) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK_AT_EXIT, str(port)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        process.send_signal(sig)
        code = process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read() if process.stdout else ""
    assert code in (128 + sig, -sig), output
    if code == 128 + sig:  # SIGTERM usually ends it first, by uvicorn's re-raised signal
        assert "shutdown_forced" in output


@pytest.mark.integration
def test_migrate_then_split_service_starts_and_refuses_when_behind(
    pg_url: str, redis_url: str, kafka_bootstrap: str
) -> None:
    env = clean_env(
        DATABASE_URL=pg_url,
        REDIS_URL=redis_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        JWT_SECRET="x" * 40,
    )
    # Nothing migrated yet: the service refuses to start and says why.
    port = free_port()
    behind = run("serve", "users", "--port", str(port), env=env, timeout=30)
    assert behind.returncode != 0
    assert "cryptodash migrate" in behind.stdout + behind.stderr

    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    at, _, expects = (
        migrated.stdout.strip().removeprefix("migrated: database at ").partition(", code expects ")
    )
    assert at == expects, migrated.stdout

    with server("serve", "users", "--port", str(port), env=env):
        wait_healthy(port, timeout=60)  # a loaded CI machine starts slowly
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["service"] == "users"


def test_create_admin_then_promote(tmp_path: Path) -> None:
    env = clean_env(CRYPTODASH_DATA_DIR=str(tmp_path), CRYPTODASH_BCRYPT_ROUNDS="4")
    args = ["create-admin", "--username", "root_admin", "--email", "admin@example.com"]
    created = run(*args, "--password", "correct horse battery", env=env)
    assert created.returncode == 0, created.stderr
    assert "created admin 'root_admin'" in created.stdout
    again = run(*args, "--password", "correct horse battery", env=env)
    assert "promoted existing user 'root_admin'" in again.stdout

    weak = run(
        "create-admin",
        "--username",
        "x",
        "--email",
        "not-an-email",
        "--password",
        "short",
        env=env,
    )
    assert weak.returncode != 0
    for field in ("username", "email", "password"):
        assert field in weak.stderr


def test_bcrypt_cost_below_12_is_refused_outside_test(tmp_path: Path) -> None:
    env = clean_env(CRYPTODASH_DATA_DIR=str(tmp_path), CRYPTODASH_BCRYPT_ROUNDS="4")
    env["CRYPTODASH_ENV"] = "prod"
    result = run(
        "create-admin",
        "--username",
        "admin",
        "--email",
        "a@example.com",
        "--password",
        "correct horse battery",
        env=env,
    )
    assert result.returncode != 0
    assert "below the minimum" in result.stderr
