"""``sanyi tariffs`` as an operator runs it: a real process against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.scratch import scratch_database_url
from tests.tariffs.factories import DEMO_DATA, catalogue_csv, drug_row


def _sanyi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env["DATABASE_URL"] = url
    env["COLUMNS"] = "200"  # rich tables wide enough to read the reasons
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def migrated_url() -> Iterator[str]:
    with scratch_database_url() as url:
        result = _sanyi(url, "migrate")
        assert result.returncode == 0, result.stderr
        added = _sanyi(url, "tariffs", "add-region", "--region", "230100", "--name", "Harbin")
        assert added.returncode == 0, added.stderr
        yield url


def _versions(url: str) -> int:
    with sa.create_engine(url).connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM catalogue_entry")).scalar_one())


def test_import_then_export_the_catalogue_in_force(migrated_url: str, tmp_path: Path) -> None:
    imported = _sanyi(
        migrated_url, "tariffs", "import", str(DEMO_DATA / "drugs.csv"), "--region", "230100"
    )
    assert imported.returncode == 0, imported.stderr
    assert "imported 86 version(s) into 230100" in imported.stdout

    exported = _sanyi(migrated_url, "tariffs", "export", "--region", "230100", "--on", "2026-03-01")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("med_list_codg,name,kind")
    assert len(lines) == 1 + 86
    before = _sanyi(migrated_url, "tariffs", "export", "--region", "230100", "--on", "2024-12-31")
    assert before.stdout.splitlines()[1:] == []

    out = tmp_path / "export.csv"
    to_file = _sanyi(
        migrated_url, "tariffs", "export", "--region", "230100", "--on", "2026-03-01",
        "--out", str(out),
    )  # fmt: skip
    assert to_file.returncode == 0
    assert out.read_text(encoding="utf-8") == exported.stdout


def test_a_bad_file_loads_nothing_and_lists_its_bad_rows(migrated_url: str, tmp_path: Path) -> None:
    rows = [drug_row(f"XCLI{i:03d}", "1.00") for i in range(30)]
    rows[11]["valid_from"] = "someday"
    rows[25]["kind"] = "gizmo"
    bad = tmp_path / "bad.csv"
    bad.write_text(catalogue_csv(rows), encoding="utf-8")
    before = _versions(migrated_url)

    refused = _sanyi(migrated_url, "tariffs", "import", str(bad), "--region", "230100")

    assert refused.returncode == 1
    assert "invalid_rows" in refused.stderr
    assert "XCLI011" in refused.stderr and "XCLI025" in refused.stderr
    assert " 13 " in refused.stderr and " 27 " in refused.stderr
    assert _versions(migrated_url) == before


def test_a_file_not_in_its_encoding_is_refused(migrated_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "gb.csv"
    bad.write_text(catalogue_csv([drug_row("XCLIGB01", "1.00", name="二甲双胍")]), "gb18030")

    refused = _sanyi(migrated_url, "tariffs", "import", str(bad), "--region", "230100")

    assert refused.returncode == 1
    assert "invalid_encoding" in refused.stderr and "Traceback" not in refused.stderr


def test_an_unknown_region_is_refused(migrated_url: str) -> None:
    refused = _sanyi(
        migrated_url, "tariffs", "import", str(DEMO_DATA / "drugs.csv"), "--region", "999999"
    )
    assert refused.returncode == 1
    assert "unknown_region" in refused.stderr
