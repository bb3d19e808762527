"""Throw-away databases for tests that must commit for real (CLI, migrations, races)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.conftest import BACKEND, PG_SERVER


@contextmanager
def scratch_database_url() -> Iterator[str]:
    """A new empty database of the backend under test, dropped afterwards."""
    if BACKEND == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'scratch.db'}"
        return
    name = f"sanyi_scratch_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{PG_SERVER}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
