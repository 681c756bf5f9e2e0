"""Tokens: what we issue decodes; everything forged, expired or misused is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptodash.users import tokens

SECRET = "s" * 64


def claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    base: dict[str, object] = {
        "sub": "7",
        "role": "user",
        "type": "access",
        "jti": "abc",
        "sid": "f" * 32,
        "iat": now,
        "exp": now + 600,
        "iss": tokens.ISSUER,
        "aud": tokens.AUDIENCE,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_issued_tokens_decode() -> None:
    token, issued = tokens.issue(
        SECRET, user_id=7, role="admin", type="access", sid="abc", ttl_seconds=3600
    )
    decoded = tokens.decode(SECRET, token, expected="access")
    assert decoded == issued
    assert decoded.user_id == 7
    assert decoded.role == "admin"
    assert decoded.expires_at - decoded.issued_at == timedelta(hours=1)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"sub", "role", "type", "jti", "sid", "iat", "exp", "iss", "aud"}
    assert payload["sub"] == "7"


def test_every_token_has_its_own_id() -> None:
    one, a = tokens.issue(SECRET, user_id=1, role="user", type="access", sid="s", ttl_seconds=60)
    two, b = tokens.issue(SECRET, user_id=1, role="user", type="access", sid="s", ttl_seconds=60)
    assert one != two
    assert a.jti != b.jti


def forged() -> dict[str, str]:
    good = jwt.encode(claims(), SECRET, algorithm="HS256")
    head, body, signature = good.split(".")
    none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    admin_body = b64(json.dumps(claims(role="admin", sub="1")).encode())
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    return {
        "tampered signature": f"{head}.{body}.{flipped}",
        "tampered payload": f"{head}.{admin_body}.{signature}",
        "alg none": f"{none_header}.{admin_body}.",
        "alg none with signature": f"{none_header}.{body}.{signature}",
        "HS512": jwt.encode(claims(), SECRET, algorithm="HS512"),
        "HS384": jwt.encode(claims(), SECRET, algorithm="HS384"),
        "another secret": jwt.encode(claims(), "another-secret-" + "x" * 60, algorithm="HS256"),
        "expired": jwt.encode(claims(iat=1_000_000, exp=1_000_600), SECRET, algorithm="HS256"),
        "wrong audience": jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
        "wrong issuer": jwt.encode(claims(iss="evil"), SECRET, algorithm="HS256"),
        "refresh as access": jwt.encode(claims(type="refresh"), SECRET, algorithm="HS256"),
        "no type": jwt.encode(claims(type=None), SECRET, algorithm="HS256"),
        "no exp": jwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
        "no sid": jwt.encode(claims(sid=None), SECRET, algorithm="HS256"),
        "no audience": jwt.encode(claims(aud=None), SECRET, algorithm="HS256"),
        "sub not an id": jwt.encode(claims(sub="admin"), SECRET, algorithm="HS256"),
        "sub negative": jwt.encode(claims(sub="-1"), SECRET, algorithm="HS256"),
        "sub huge": jwt.encode(claims(sub="9" * 30), SECRET, algorithm="HS256"),
        "iat in the future": jwt.encode(
            claims(iat=2_000_000_000_0, exp=2_000_000_000_0 + 60), SECRET, algorithm="HS256"
        ),
        "empty": "",
        "garbage": "not.a.token",
        "too long": "a" * 10_000,
    }


@pytest.mark.parametrize("name", list(forged()))
def test_forged_and_misused_tokens_are_refused(name: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SECRET, forged()[name], expected="access")


def test_access_token_is_not_a_refresh_token() -> None:
    access, _ = tokens.issue(SECRET, user_id=1, role="user", type="access", sid="s", ttl_seconds=60)
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SECRET, access, expected="refresh")


@given(st.text(max_size=300))
def test_any_string_is_refused_cleanly(text: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SECRET, text, expected="access")


@given(
    st.dictionaries(
        st.sampled_from(list(claims())),
        st.one_of(st.integers(), st.text(), st.none(), st.lists(st.integers())),
    )
)
def test_any_claims_signed_with_our_key_decode_or_are_refused(overrides: dict[str, object]) -> None:
    try:
        token = jwt.encode(claims(**overrides), SECRET, algorithm="HS256")
    except TypeError:  # PyJWT itself will not sign some of these (a list as exp)
        return
    try:
        decoded = tokens.decode(SECRET, token, expected="access")
    except tokens.InvalidToken:
        return
    assert decoded.user_id >= 1


def test_fingerprint_is_a_sha256() -> None:
    assert len(tokens.fingerprint("x")) == 64
    assert tokens.fingerprint("x") != tokens.fingerprint("y")


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = tokens.issue(SECRET, user_id=7, role="user", type="access", sid="s1", ttl_seconds=60)
    first = tokens.decode(SECRET, token, expected="access")
    assert tokens.decode(SECRET, token, expected="access") is first  # remembered
    with pytest.raises(tokens.InvalidToken):  # another secret is another key: checked again
        tokens.decode("another-secret-of-enough-length-0123456789", token, expected="access")
    later = first.expires_at.timestamp() + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode(SECRET, token, expected="access")
