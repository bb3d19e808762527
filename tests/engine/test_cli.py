"""The ``sanyi`` CLI as an operator runs it: a real process against a real database."""

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
import typer
import typer.main
from typer._click import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from engine.cli import app
from engine.settings import DEMO_SECRET_KEY
from engine.terminal import money
from tests.scratch import scratch_database_url

TESTS_SECRET_KEY = os.environ["SANYI_SECRET_KEY"]  # set by conftest


def _sanyi(
    url: str, *args: str, secret_key: str | None = TESTS_SECRET_KEY
) -> subprocess.CompletedProcess[str]:
    """``sanyi ARGS`` on the database at ``url``, with ``secret_key`` (None: unset)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BROKER_URL", "SANYI_SECRET_KEY")
    }
    env["DATABASE_URL"] = url
    if secret_key is not None:
        env["SANYI_SECRET_KEY"] = secret_key
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


def test_org_and_key_commands_list_and_revoke(migrated_url: str) -> None:
    org = _sanyi(
        migrated_url,
        "org",
        "create",
        "--name",
        "Daoli Hospital",
        "--role",
        "hospital",
        "--code",
        "H23010000009",
        "--region",
        "230100",
    )
    assert org.returncode == 0, org.stderr
    token = _sanyi(migrated_url, "key", "create", "--org", "H23010000009", "--label", "HIS")
    key_id = token.stdout.strip().split("_")[1]

    orgs = _sanyi(migrated_url, "org", "list")
    assert orgs.returncode == 0, orgs.stderr
    assert "Daoli Hospital" in orgs.stdout and org.stdout.strip() in orgs.stdout
    keys = _sanyi(migrated_url, "key", "list", "--org", "H23010000009")
    assert keys.returncode == 0, keys.stderr
    assert f"sk_{key_id}_" in keys.stdout and "never" in keys.stdout
    assert token.stdout.strip() not in keys.stdout

    revoked = _sanyi(migrated_url, "key", "revoke", f"sk_{key_id}_")
    assert revoked.returncode == 0, revoked.stderr
    assert "within 5 s" in revoked.stdout
    again = _sanyi(migrated_url, "key", "revoke", key_id)
    assert again.returncode == 1
    assert "already_revoked" in again.stderr
    with sa.create_engine(migrated_url).connect() as conn:
        revoked_at = conn.execute(sa.text("SELECT revoked_at FROM api_key")).scalar_one()
    assert revoked_at is not None


def test_key_create_refuses_the_demo_secret_outside_the_embedded_default(
    migrated_url: str,
) -> None:
    org = _sanyi(migrated_url, "org", "create", "--name", "Ops", "--role", "admin")
    assert org.returncode == 0, org.stderr
    for secret in (DEMO_SECRET_KEY, "too-short"):
        refused = _sanyi(
            migrated_url, "key", "create", "--org", org.stdout.strip(), secret_key=secret
        )
        assert refused.returncode == 1
        assert "SANYI_SECRET_KEY" in refused.stderr
        assert refused.stdout == ""
    with sa.create_engine(migrated_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM api_key")).scalar_one() == 0


@pytest.mark.parametrize("command", ["serve", "scheduler"])
def test_servers_refuse_to_start_on_the_demo_secret(command: str) -> None:
    refused = _sanyi("postgresql+psycopg://127.0.0.1:1/none", command, secret_key=None)
    assert refused.returncode == 1
    assert "SANYI_SECRET_KEY is not set" in refused.stderr


def test_the_cli_module_imports_neither_the_web_stack_nor_the_database() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, engine.cli; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not {"fastapi", "sqlalchemy", "uvicorn", "dramatiq", "pika"} & set(loaded)


def _commands(group: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(group, TyperGroup):
        context = typer.Context(group)
        for name in group.list_commands(context):
            found = group.get_command(context, name)
            assert found is not None, name
            yield from _commands(found, (*path, name))


def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = list(_commands(typer.main.get_command(app)))
    assert ("recon", "details") in paths and ("clearing", "approve") in paths
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"])
        assert shown.exit_code == 0, (path, shown.output)
        assert "Usage:" in shown.output


def test_money_has_one_format() -> None:
    assert money(Decimal("1200000")) == "1,200,000.00"
    assert money(Decimal("35093.15")) == "35,093.15"
    assert money(Decimal("-0.50")) == "-0.50"
    with pytest.raises(ValueError, match="fen"):
        money(Decimal("0.125"))
