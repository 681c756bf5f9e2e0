"""Split mode as deployed: `cryptodash serve users` and `cryptodash serve gateway` as two
processes on PostgreSQL and Redis; every call goes through the gateway."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import free_port
from tests.test_cli import clean_env, run, server, wait_healthy

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_gateway_and_users_service_as_two_processes(
    pg_url: str, redis_url: str, kafka_bootstrap: str
) -> None:
    users_port, gateway_port = free_port(), free_port()
    env = clean_env(
        DATABASE_URL=pg_url,
        REDIS_URL=redis_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        JWT_SECRET="split-mode-secret-" + "x" * 32,
        CRYPTODASH_BCRYPT_ROUNDS="4",
        CRYPTODASH_USERS_URL=f"http://127.0.0.1:{users_port}",
        CRYPTODASH_MARKET_URL=f"http://127.0.0.1:{free_port()}",
        CRYPTODASH_RATE_LIMIT_AUTH_PER_MIN="6",
        # Every request in the access log (by default 1 % of the successful ones), so the
        # register below is there with its request id.
        CRYPTODASH_ACCESS_LOG_SAMPLE="1",
    )
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with (
        server("serve", "users", "--port", str(users_port), env=env) as users,
        server("serve", "gateway", "--port", str(gateway_port), env=env),
    ):
        wait_healthy(users_port, timeout=20)
        wait_healthy(gateway_port, timeout=20)
        gw = httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=10)

        created = gw.post(
            "/api/users/register",
            json={
                "username": "split_user",
                "email": "s@example.com",
                "password": "correct horse battery",
            },
            headers={"X-Request-ID": "split-register-1"},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == "split-register-1"
        assert created.headers["x-content-type-options"] == "nosniff"

        logged_in = gw.post(
            "/api/users/login", json={"username": "split_user", "password": "correct horse battery"}
        )
        assert logged_in.status_code == 200, logged_in.text
        assert "HttpOnly" in logged_in.headers["set-cookie"]
        tokens = logged_in.json()
        me = gw.get("/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        assert me.json()["username"] == "split_user"
        assert gw.get("/api/users/me").status_code == 401
        assert (
            gw.get(
                "/api/admin/users", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            ).status_code
            == 403
        )

        # The browser way: refresh with the cookie and the CSRF token.
        csrf = gw.cookies["csrf_token"]
        assert gw.post("/api/users/refresh").status_code == 403
        refreshed = gw.post("/api/users/refresh", headers={"X-CSRF-Token": csrf})
        assert refreshed.status_code == 200, refreshed.text
        # Replaying the first refresh token revokes the family.
        replay = gw.post("/api/users/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401
        gone = gw.get(
            "/api/users/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        )
        assert gone.status_code == 401

        # A service that is not running: 503 in our error body.
        down = gw.get("/api/market/coins")
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "service_unavailable"

        # Hammering login: the gateway's shared (Redis) bucket refuses.
        codes = [
            gw.post(
                "/api/users/login", json={"username": "split_user", "password": "wrong guess 1"}
            ).status_code
            for _ in range(8)
        ]
        assert 429 in codes
        assert set(codes) <= {401, 429}

        oversize = gw.patch("/api/users/me", content=b"x" * (2 * 1024 * 1024))
        assert oversize.status_code == 413
        gw.close()
    output = users.stdout.read() if users.stdout else ""
    # The users service logged the request under the id the client gave the gateway.
    assert re.search(r'"request_id":\s*"split-register-1"', output), output[-2000:]
