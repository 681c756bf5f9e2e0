"""Password hashing with bcrypt: cost 12 by default, never below 12 outside CRYPTODASH_ENV=test."""

from __future__ import annotations

import bcrypt

MIN_ROUNDS = 12
TEST_MIN_ROUNDS = 4


def check_rounds(rounds: int, env: str) -> int:
    floor = TEST_MIN_ROUNDS if env == "test" else MIN_ROUNDS
    if rounds < floor:
        raise ValueError(f"bcrypt cost {rounds} is below the minimum of {floor} for env {env!r}")
    return rounds


def hash_password(password: str, rounds: int) -> str:
    # bcrypt only reads the first 72 bytes; longer passwords are refused at the schema.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


def rounds_of(password_hash: str) -> int:
    """The cost a hash was made with (`$2b$12$…` → 12), to rehash when the cost is raised."""
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return 0
