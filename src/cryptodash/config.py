"""Settings: one pydantic-settings model read from the environment.

Conventional names (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, JWT_SECRET, NEWSAPI_KEY,
NEWSAPI_URL) stay as they are; everything else is CRYPTODASH_*. Which backend runs is decided by
which URL is set (ARCHITECTURE §5b): no URL means the in-process backend.
"""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ServiceName = Literal["gateway", "users", "market", "analytics", "sentiment", "portfolio"]
SERVICES: tuple[ServiceName, ...] = (
    "gateway",
    "users",
    "market",
    "analytics",
    "sentiment",
    "portfolio",
)
SERVICE_PORTS: dict[str, int] = {
    "gateway": 8000,
    "users": 8001,
    "market": 8002,
    "analytics": 8003,
    "sentiment": 8004,
    "portfolio": 8005,
}

CommaList = Annotated[list[str], NoDecode]

DEFAULT_RSS_FEEDS = (
    "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "https://cointelegraph.com/rss",
    "https://decrypt.co/feed",
    "https://bitcoinmagazine.com/feed",
    "https://cryptoslate.com/feed/",
)
DEFAULT_SUBREDDITS = (
    "CryptoCurrency",
    "Bitcoin",
    "ethereum",
    "solana",
    "Ripple",
    "dogecoin",
    "cardano",
)


def _split_list(value: Any) -> Any:
    """Comma-separated strings are the documented form; JSON lists are accepted too."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _conventional(name: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(name, f"CRYPTODASH_{name}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRYPTODASH_", extra="ignore", populate_by_name=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("./data")
    demo: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    access_log_sample: float = Field(default=0.01, ge=0, le=1)
    """The share of successful requests the access log writes (4xx, 5xx and slow requests are
    always written); 1 = every request."""
    loop_block_ms: int = Field(default=100, ge=0, le=10_000)
    """Log `event_loop_blocked` with the culprit's stack when the event loop is held longer
    than this (and time the loop's lag and GC pauses); 0 turns the watch off."""
    edge_cache: bool = True
    """Answer public reads marked `fresh_for` from the gateway's edge cache (`cryptodash.edge`)
    for up to their TTL (0.5 to 1 s) instead of routing every request."""

    host: str = "127.0.0.1"
    port: int = 8000

    database_url: str | None = _conventional("DATABASE_URL")
    database_read_url: str | None = _conventional("DATABASE_READ_URL")
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)

    redis_url: str | None = _conventional("REDIS_URL")
    redis_max_connections: int = Field(default=50, ge=1)
    redis_min_connections: int = Field(default=10, ge=0)

    kafka_bootstrap_servers: str | None = _conventional("KAFKA_BOOTSTRAP_SERVERS")
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=500)
    bus_topic_prefix: str = ""

    jwt_secret: str | None = _conventional("JWT_SECRET")
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    newsapi_key: str | None = _conventional("NEWSAPI_KEY")
    newsapi_url: str = Field(
        default="https://newsapi.org",
        validation_alias=AliasChoices("NEWSAPI_URL", "CRYPTODASH_NEWSAPI_URL"),
    )

    cors_origins: CommaList = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=7 * 86_400, ge=300)
    # Token buckets, per minute: anonymous calls per IP, authenticated calls per user, the
    # stricter bucket per IP for login, register, refresh and password changes, and WebSocket
    # handshakes per IP (a socket lives long; the bucket stops connection floods).
    rate_limit_anon_per_min: int = Field(default=300, ge=1)
    rate_limit_user_per_min: int = Field(default=600, ge=1)
    rate_limit_auth_per_min: int = Field(default=10, ge=1)
    rate_limit_ws_per_min: int = Field(default=600, ge=1)
    # Secure cookies: unset means "exactly when the request came over HTTPS".
    cookie_secure: bool | None = None
    proxy_timeout_seconds: float = Field(default=30.0, gt=0)

    # Market data (README: Configuration). Empty coins = the default top 20 (market.coins).
    coins: CommaList = Field(default_factory=list)
    exchanges: CommaList = Field(default_factory=lambda: ["binance", "coinbase"])
    simulator_ticks_per_second: float = Field(default=40.0, gt=0, le=100_000)
    simulator_history_days: float = Field(default=3.0, ge=0, le=30)
    simulator_seed: int | None = None
    price_stale_seconds: float = Field(default=30.0, gt=0)
    price_retention_days: int = Field(default=30, ge=1)
    candle_1m_retention_days: int = Field(default=90, ge=1)
    market_flush_seconds: float = Field(default=0.25, gt=0, le=10)
    # Exchange endpoints (tests, proxies, testnets); the connectors append the paths.
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    coinbase_ws_url: str = "wss://ws-feed.exchange.coinbase.com"
    coinbase_rest_url: str = "https://api.exchange.coinbase.com"
    backfill_days: float = Field(default=1.0, ge=0, le=90)
    feed_stale_seconds: float = Field(default=15.0, gt=0, le=600)

    # Sentiment (README: Configuration). `demo` replaces the sources under `up --demo`.
    news_sources: CommaList = Field(default_factory=lambda: ["newsapi", "rss", "reddit"])
    rss_feeds: CommaList = Field(default_factory=lambda: list(DEFAULT_RSS_FEEDS))
    reddit_subreddits: CommaList = Field(default_factory=lambda: list(DEFAULT_SUBREDDITS))
    reddit_url: str = "https://www.reddit.com"
    news_poll_seconds: float = Field(default=300.0, ge=1)
    newsapi_daily_requests: int = Field(default=100, ge=1)
    sentiment_model: str = "distilbert-base-uncased-finetuned-sst-2-english"
    # Off: a hub model that is not in the local Hugging Face cache means VADER at once, with no
    # network attempt (offline machines start and stop without waiting on the hub's retries).
    sentiment_model_download: bool = False
    sentiment_neutral_threshold: float = Field(default=0.75, ge=0.5, le=1.0)
    sentiment_batch_size: int = Field(default=16, ge=1, le=512)
    sentiment_aggregate_seconds: float = Field(default=300.0, ge=1)
    sentiment_retention_days: int = Field(default=90, ge=1)

    # WebSockets (README: Real-time).
    ws_stall_seconds: float = Field(default=30.0, gt=0)
    ws_portfolio_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    users_url: str = "http://users:8001"
    market_url: str = "http://market:8002"
    analytics_url: str = "http://analytics:8003"
    sentiment_url: str = "http://sentiment:8004"
    portfolio_url: str = "http://portfolio:8005"

    # The web app's static export; unset: `frontend/out` of the source tree, when built.
    frontend_dir: Path | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("coins", "exchanges", mode="before")
    @classmethod
    def _market_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("news_sources", "rss_feeds", "reddit_subreddits", mode="before")
    @classmethod
    def _sentiment_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("database_url", "database_read_url", "redis_url", "kafka_bootstrap_servers")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "cryptodash.db"

    @property
    def effective_database_url(self) -> str:
        """The URL the database layer uses: the configured one or the SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.sqlite_path.resolve()}"

    def missing_backends(self, needs: frozenset[str]) -> list[str]:
        """Names of the environment variables a split service needs but lacks."""
        have = {
            "database": self.database_url,
            "redis": self.redis_url,
            "kafka": self.kafka_bootstrap_servers,
        }
        names = {
            "database": "DATABASE_URL",
            "redis": "REDIS_URL",
            "kafka": "KAFKA_BOOTSTRAP_SERVERS",
        }
        return [names[need] for need in sorted(needs) if not have[need]]

    def resolve_jwt_secret(self, *, all_in_one: bool) -> str:
        """The signing secret; all-in-one generates one and keeps it in the data dir."""
        if self.jwt_secret:
            if self.env != "test" and len(self.jwt_secret.encode()) < 32:
                raise ValueError("JWT_SECRET must be at least 32 bytes")
            return self.jwt_secret
        if not all_in_one:
            raise ValueError("JWT_SECRET is required outside all-in-one mode")
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(secret)
        return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
