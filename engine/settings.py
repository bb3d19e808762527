"""Runtime settings, from the environment (prefix-free names as operators expect them).

With neither ``DATABASE_URL`` nor ``BROKER_URL`` set, Sanyi runs *embedded*: a SQLite file under
``./var/`` and dramatiq's in-process broker, so a fresh clone works with nothing but Python.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    # Keys of the audit log's HMAC (docs/audit.md), comma-separated, newest first: the first signs
    # new entries and seals, the others still verify what they signed. Unset, one key is derived
    # from SANYI_SECRET_KEY. Kept out of the database, so write access to it cannot forge entries.
    audit_keys: SecretStr | None = Field(default=None, alias="SANYI_AUDIT_KEYS")
    events_exchange: str = Field(default="sanyi.events", alias="SANYI_EVENTS_EXCHANGE")
    broker_timeout_seconds: float = Field(default=2.0, alias="SANYI_BROKER_TIMEOUT")
    db_pool_size: int = Field(default=20, alias="SANYI_DB_POOL_SIZE")
    # Every wait on the database is bounded (engine.db.DatabaseBounds); a request that runs out
    # of any of them answers 503 database_unavailable. Seconds.
    db_connect_timeout: int = Field(default=3, ge=2, alias="SANYI_DB_CONNECT_TIMEOUT")
    db_pool_timeout: float = Field(default=2.0, gt=0, alias="SANYI_DB_POOL_TIMEOUT")
    db_statement_timeout: float = Field(default=5.0, gt=0, alias="SANYI_DB_STATEMENT_TIMEOUT")
    db_deadline: float = Field(default=8.0, gt=0, alias="SANYI_DB_DEADLINE")
    db_file_deadline: float = Field(default=120.0, gt=0, alias="SANYI_DB_FILE_DEADLINE")
    host: str = Field(default="127.0.0.1", alias="SANYI_HOST")
    port: int = Field(default=8000, alias="SANYI_PORT")
    # FastAPI's native OpenTelemetry spans and metrics, for a process with an OTel SDK provider
    # configured. Off by default: while on, FastAPI looks for a provider on every request.
    otel: bool = Field(default=False, alias="SANYI_OTEL")
    # Prescription presentations by trace code (prescriptions.presentation): attempts allowed per
    # pharmacy and per trace code in each window, and the wrong certificates that lock a trace
    # code until the hospital reissues it. The per-code limit sits above the number of pharmacies
    # one open prescription is legitimately presented to at once.
    rx_present_window_seconds: int = Field(default=60, ge=1, alias="SANYI_RX_PRESENT_WINDOW")
    rx_present_per_pharmacy: int = Field(default=60, ge=1, alias="SANYI_RX_PRESENT_PER_PHARMACY")
    rx_present_per_trace_code: int = Field(
        default=40, ge=1, alias="SANYI_RX_PRESENT_PER_TRACE_CODE"
    )
    rx_trace_code_max_failures: int = Field(
        default=5, ge=1, alias="SANYI_RX_TRACE_CODE_MAX_FAILURES"
    )
    log_level: str = Field(default="INFO", alias="SANYI_LOG_LEVEL")
    # json: one JSON object per line, for a log pipeline; console: readable lines for a terminal.
    log_format: Literal["json", "console"] = Field(default="json", alias="SANYI_LOG_FORMAT")
    # /readyz and /health answer 503 when the database does not answer within this bound.
    probe_timeout_seconds: float = Field(default=1.0, alias="SANYI_PROBE_TIMEOUT", gt=0)

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
