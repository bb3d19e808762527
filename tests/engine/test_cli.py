"""The ``sanyi`` CLI as an operator runs it: a real process against a real database."""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.scratch import scratch_database_url


def _sanyi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def migrated_url() -> Iterator[str]:
    with scratch_database_url() as url:
        result = _sanyi(url, "migrate")
        assert result.returncode == 0, result.stderr
        yield url


def test_key_create_prints_a_token_once_and_stores_a_hash(migrated_url: str) -> None:
    org = _sanyi(
        migrated_url,
        "org",
        "create",
        "--name",
        "Insurer",
        "--role",
        "insurer",
        "--region",
        "230100",
    )
    assert org.returncode == 0, org.stderr
    key = _sanyi(migrated_url, "key", "create", "--org", org.stdout.strip())
    assert key.returncode == 0, key.stderr
    token = key.stdout.strip()
    assert token.startswith("sk_")
    with sa.create_engine(migrated_url).connect() as conn:
        hashes = conn.execute(sa.text("SELECT key_hash FROM api_key")).scalars().all()
    assert len(hashes) == 1 and token not in hashes[0]


def test_audit_verify_names_an_edited_row(migrated_url: str) -> None:
    assert _sanyi(migrated_url, "org", "create", "--name", "A", "--role", "admin").returncode == 0
    clean = _sanyi(migrated_url, "audit", "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "intact" in clean.stdout
    engine = sa.create_engine(migrated_url)
    with engine.begin() as conn:
        entry_id = conn.execute(sa.text("SELECT id FROM audit_entry")).scalar_one()
        conn.execute(
            sa.text("UPDATE audit_entry SET action = 'forged' WHERE id = :id"), {"id": entry_id}
        )
    tampered = _sanyi(migrated_url, "audit", "verify")
    assert tampered.returncode == 1
    assert f"id={entry_id}" in tampered.stdout
