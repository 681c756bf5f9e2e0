"""Settings read from the environment: conventional names, CRYPTODASH_* for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptodash.config import Settings

CONVENTIONAL = ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "JWT_SECRET", "NEWSAPI_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CRYPTODASH_") or name in CONVENTIONAL:
            monkeypatch.delenv(name)


def test_all_in_one_defaults() -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.kafka_bootstrap_servers is None
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("data/cryptodash.db")
    assert settings.port == 8000


def test_conventional_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/x")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    monkeypatch.setenv("NEWSAPI_KEY", "key")
    settings = Settings()
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.effective_database_url == "postgresql://u@db/x"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.newsapi_key == "key"
    assert settings.missing_backends(frozenset({"database", "redis", "kafka"})) == []


def test_blank_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    assert Settings().redis_url is None


@pytest.mark.parametrize(
    "raw", ["http://a.example,http://b.example", '["http://a.example", "http://b.example"]']
)
def test_lists_are_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CRYPTODASH_CORS_ORIGINS", raw)
    assert Settings().cors_origins == ["http://a.example", "http://b.example"]


def test_prefixed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTODASH_PORT", "9000")
    monkeypatch.setenv("CRYPTODASH_DEMO", "true")
    monkeypatch.setenv("CRYPTODASH_DATA_DIR", "/tmp/somewhere")
    settings = Settings()
    assert settings.port == 9000
    assert settings.demo is True
    assert settings.data_dir == Path("/tmp/somewhere")


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTODASH_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_jwt_secret_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.resolve_jwt_secret(all_in_one=True)
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).resolve_jwt_secret(all_in_one=True) == first
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_jwt_secret_required_and_long_outside_all_in_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="required"):
        Settings(data_dir=tmp_path).resolve_jwt_secret(all_in_one=False)
    with pytest.raises(ValueError, match="32 bytes"):
        Settings(data_dir=tmp_path, jwt_secret="short", env="prod").resolve_jwt_secret(
            all_in_one=False
        )


def test_missing_backends_names_the_variables() -> None:
    settings = Settings()
    assert settings.missing_backends(frozenset({"database", "kafka"})) == [
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
    ]
