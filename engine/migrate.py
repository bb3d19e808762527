"""Alembic, driven from code: ``sanyi migrate``, the embedded start-up, and the test fixtures."""

from __future__ import annotations

import fcntl
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
    if not sync_url.startswith("sqlite:///"):
        command.upgrade(alembic_config(sync_url), revision)
        return
    database = Path(sync_url.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    # Every process of `sanyi serve --workers N` migrates the embedded file as it starts: one at a
    # time, or two would create the same tables at once.
    with open(database.with_name(database.name + ".migrate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(alembic_config(sync_url), revision)


def downgrade(sync_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(sync_url), revision)
