"""Runtime settings, from the environment (prefix-free names as operators expect them).

With neither ``DATABASE_URL`` nor ``BROKER_URL`` set, Sanyi runs *embedded*: a SQLite file under
``./var/`` and dramatiq's in-process broker, so a fresh clone works with nothing but Python.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "sanyi-embedded-demo-secret"
MIN_SECRET_KEY_CHARS = 32


class InsecureSecretKey(RuntimeError):
    """The process is about to serve real data keyed by the demo (or a guessable) secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, description="postgresql+psycopg://... or sqlite")
    broker_url: str | None = Field(default=None, description="amqp://... for RabbitMQ")
    data_dir: Path = Field(default=Path("var"), alias="SANYI_DATA_DIR")
    # Keyed hash for resident-ID lookups and API-key hashing. The default is for the embedded demo
    # only: outside it, require_secret_key() refuses it (docs/deployment.md "The secret key").
    secret_key: SecretStr = Field(default=SecretStr(DEMO_SECRET_KEY), alias="SANYI_SECRET_KEY")
    # How long an API process trusts a verified key before reading it again: the bound within
    # which a revoked key stops working on every process.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=60, alias="SANYI_KEY_CACHE_SECONDS")
    events_exchange: str = Field(default="sanyi.events", alias="SANYI_EVENTS_EXCHANGE")
    broker_timeout_seconds: float = Field(default=2.0, alias="SANYI_BROKER_TIMEOUT")
    db_pool_size: int = Field(default=20, alias="SANYI_DB_POOL_SIZE")
    host: str = Field(default="127.0.0.1", alias="SANYI_HOST")
    port: int = Field(default=8000, alias="SANYI_PORT")
    # FastAPI's native OpenTelemetry spans and metrics, for a process with an OTel SDK provider
    # configured. Off by default: while on, FastAPI looks for a provider on every request.
    otel: bool = Field(default=False, alias="SANYI_OTEL")

    @property
    def embedded(self) -> bool:
        """True when running on the embedded default (SQLite, in-process broker)."""
        return self.database_url is None and self.broker_url is None

    def require_secret_key(self) -> None:
        """Refuse to go on outside the embedded default without a real ``SANYI_SECRET_KEY``.

        The secret keys every API-key hash and resident-ID lookup: on the public demo value
        anyone could recompute them from a database copy, and a key made on it stops working
        once a real secret is set.
        """
        if self.embedded:
            return
        secret = self.secret_key.get_secret_value()
        if secret == DEMO_SECRET_KEY:
            problem = "is not set (or is the embedded demo value)"
        elif len(secret) < MIN_SECRET_KEY_CHARS:
            problem = f"is shorter than {MIN_SECRET_KEY_CHARS} characters"
        else:
            return
        raise InsecureSecretKey(
            f"SANYI_SECRET_KEY {problem}, and DATABASE_URL or BROKER_URL is set. Generate one "
            "with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` and set it in "
            'the environment of every Sanyi process (docs/deployment.md, "The secret key").'
        )

    @property
    def sync_database_url(self) -> str:
        """URL for Alembic and synchronous tools."""
        if self.database_url:
            return _sync_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'sanyi.db').resolve()}"

    @property
    def async_database_url(self) -> str:
        """URL for the request path (async drivers: psycopg 3 async, aiosqlite)."""
        return to_async_url(self.sync_database_url)


def _sync_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url.split("://", 1)[1]
    return url


def to_async_url(url: str) -> str:
    """The async-driver form of a database URL (psycopg 3 serves both; SQLite needs aiosqlite)."""
    url = _sync_url(url)
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
