"""Alembic, driven from code: ``sanyi migrate``, the embedded start-up, and the test fixtures."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(sync_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    config.attributes["configured_by_sanyi"] = True
    return config


def upgrade(sync_url: str, revision: str = "head") -> None:
    if sync_url.startswith("sqlite:///"):
        Path(sync_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(sync_url), revision)


def downgrade(sync_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(sync_url), revision)
