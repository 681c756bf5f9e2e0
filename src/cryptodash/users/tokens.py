"""JSON Web Tokens: HS256 only, with issuer, audience, expiry and a token type.

Every token names its user (`sub`, the id as a string), the role at issue time, its type
(`access` or `refresh`), a unique id (`jti`) and its session (`sid`: the refresh-token family,
shared by every token that came from one login). Anything else — another algorithm (`none`,
HS512, RS256), another secret, a wrong issuer or audience, an expired token, a refresh token
presented as an access token — is refused with `InvalidToken`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import jwt

ALGORITHM = "HS256"
ISSUER = "cryptodash"
AUDIENCE = "cryptodash"
MAX_TOKEN_LENGTH = 4096
MAX_USER_ID = 2**63 - 1
REQUIRED_CLAIMS = ["sub", "role", "type", "jti", "sid", "iat", "exp", "iss", "aud"]

TokenType = Literal["access", "refresh"]


class InvalidToken(Exception):
    """The token is malformed, forged, expired or of the wrong type."""


@dataclass(frozen=True)
class Claims:
    user_id: int
    role: str
    type: TokenType
    jti: str
    sid: str
    issued_at: datetime
    expires_at: datetime


def new_session_id() -> str:
    return uuid.uuid4().hex


def issue(
    secret: str,
    *,
    user_id: int,
    role: str,
    type: TokenType,
    sid: str,
    ttl_seconds: int,
    now: datetime | None = None,
) -> tuple[str, Claims]:
    issued = int((now or datetime.now(UTC)).timestamp())
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "type": type,
        "jti": secrets.token_urlsafe(16),
        "sid": sid,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    token = jwt.encode(payload, secret, algorithm=ALGORITHM)
    return token, _claims(payload)


VERIFIED_MEMO = 10_000
"""Tokens this process has verified, kept with their claims: an authenticated request checks
its token twice (the rate limiter, then the route) and a client sends the same one for its
lifetime; an HMAC, two base64 decodes and a JSON parse each time cost more than the lookup.
A hit still checks the expiry; the signature was checked when it was stored."""
_verified: OrderedDict[tuple[str, str, str], Claims] = OrderedDict()


def decode(secret: str, token: str, *, expected: TokenType) -> Claims:
    key = (secret, token, expected)
    claims = _verified.get(key)
    if claims is not None:
        if time.time() < claims.expires_at.timestamp():
            return claims
        _verified.pop(key, None)
        raise InvalidToken("Signature has expired")
    claims = _decode(secret, token, expected=expected)
    _verified[key] = claims
    while len(_verified) > VERIFIED_MEMO:
        _verified.popitem(last=False)
    return claims


def _decode(secret: str, token: str, *, expected: TokenType) -> Claims:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("malformed token")
    try:
        # Checked before PyJWT sees the token, so no future default can widen what we accept.
        if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
            raise InvalidToken("unsupported algorithm")
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if payload.get("type") != expected:
        raise InvalidToken(f"not an {expected} token")
    try:
        return _claims(payload)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        # OSError: `fromtimestamp` of a time the platform cannot represent (EOVERFLOW).
        raise InvalidToken("malformed claims") from exc


def _claims(payload: dict[str, Any]) -> Claims:
    sub, role, jti, sid = payload["sub"], payload["role"], payload["jti"], payload["sid"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
        raise ValueError("sub is not a user id")
    user_id = int(sub)
    if not 1 <= user_id <= MAX_USER_ID:
        raise ValueError("sub out of range")
    if not all(isinstance(value, str) and 0 < len(value) <= 64 for value in (role, jti, sid)):
        raise ValueError("bad role, jti or sid")
    return Claims(
        user_id=user_id,
        role=role,
        type=payload["type"],
        jti=jti,
        sid=sid,
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
    )


def fingerprint(token: str) -> str:
    """What the database keeps of a refresh token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
