"""Bad input at scale: schemathesis against the all-in-one app's own OpenAPI schema.

The app runs behind a real uvicorn server (in a thread, on PostgreSQL) and every operation of
its schema gets a bounded number of generated requests — authenticated ones with a fresh
bearer token of a registered user — and each response is checked: never a 5xx, and its body
and content type as the schema documents them for its status code.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from cryptodash.app import create_app
from cryptodash.cli import server_config
from tests.apps import make_settings
from tests.conftest import PG_ADMIN_URL, pg_admin
from tests.helpers import free_port, unique

EXAMPLES = 10
"""Generated requests per operation (bounded: the whole run stays within about 2 minutes)."""
NEGATIVE_EXAMPLES = 4
"""Generated requests per operation that violate its schema."""
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
PASSWORD = "correct horse battery"
# Operations that end the session the other requests use: run, but with their own token.
SESSION_ENDERS = ("/api/users/logout", "/api/users/me", "/api/users/password")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # not the main thread: no signal handlers
        yield


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from sqlalchemy.engine import make_url

    name = unique("cdfuzz_")
    pg_admin(f'CREATE DATABASE "{name}"')
    data_dir = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        make_settings(
            data_dir,
            sentiment_model="vader",  # no model download in the background
            database_url=make_url(PG_ADMIN_URL).set(database=name).render_as_string(False),
            log_level="WARNING",
            edge_cache=True,  # cached answers must match the schema too
        )
    )
    port = free_port()
    config = server_config(app, "127.0.0.1", port)
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_token(base: str) -> dict[str, str]:
    username = unique("fz_")
    with httpx.Client(base_url=base, timeout=30) as client:
        registered = client.post(
            "/api/users/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        login = client.post("/api/users/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        # A portfolio, so that generated small ids sometimes hit a real one.
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        client.post("/api/portfolio", json={"name": "fuzz"}, headers=headers)
        return headers


def fuzz(
    api: str,
    operation: Any,
    headers: dict[str, str],
    statuses: dict[int, int],
    mode: GenerationMode = GenerationMode.POSITIVE,
    examples: int = EXAMPLES,
) -> list[str]:
    """Up to EXAMPLES generated requests to one operation; a description of each failure.
    Counts the status codes answered in `statuses`."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=api, headers=headers, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # collected: one report of every operation's failures
            found.append(
                f"{case.method} {case.formatted_path} query={case.query} "
                f"body={str(case.body)[:200]} -> {response.status_code} {response.text[:300]}\n"
                f"{str(exc)[:600]}"
            )

    try:
        run()
    except Unsatisfiable:  # nothing to break: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE
    return found


@pytest.mark.timeout(600)  # about a minute alone; several on a machine loaded by make test
def test_every_operation_answers_within_its_schema_and_never_5xx(api: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api}/api/openapi.json")
    failures: dict[str, list[str]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    shared = new_token(api)
    statuses: dict[int, int] = {}
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        headers = new_token(api) if operation.path.startswith(SESSION_ENDERS) else shared
        found = fuzz(api, operation, headers, statuses)
        # Requests that break the schema on purpose: refused with a 4xx, never a 5xx.
        found += fuzz(api, operation, headers, statuses, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
        if found:
            failures[label] = found
    report = "\n\n".join(f"{label}:\n" + "\n".join(items[:2]) for label, items in failures.items())
    assert not failures, f"{len(failures)} operations failed:\n{report}"
    # It really ran: many requests, and real answers among them, not only refusals.
    print(f"{len(operations)} operations, status codes: {sorted(statuses.items())}")
    assert sum(statuses.values()) >= len(operations) * 3
    assert statuses.get(200, 0) + statuses.get(201, 0) + statuses.get(204, 0) > len(operations)
