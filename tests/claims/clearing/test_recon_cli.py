"""``sanyi recon`` and ``sanyi clearing`` against the test database, committing for real in a
region of their own (no settlements there, so every row of a file is missing on the engine's
side)."""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from engine.cli import app
from engine.db import run_in_unit_of_work
from tests.tariffs.factories import make_institution, make_region

DETAIL_HEADER = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag"
PERIOD = ["--from", "2025-01-01", "--to", "2025-01-31"]


@pytest.fixture
def region() -> str:
    return f"6{secrets.randbelow(10**5):05d}"


@pytest.fixture
def code(configured: None, region: str) -> str:
    """A hospital registered in ``region``, committed where the CLI reads it: an institution
    nobody registered is as unknown to reconciliation as one outside the caller's region."""

    async def work(session: AsyncSession) -> str:
        await make_region(session, region)
        info, _ = await make_institution(session, admdvs=region)
        return info.fixmedins_code

    return run_in_unit_of_work(work)


def test_totals_balance_or_name_what_differs(configured: None, region: str, code: str) -> None:
    runner = CliRunner()
    declared = ["--region", region, "--code", code, *PERIOD, "--insutype", "310"]
    declared += ["--clr-type", "11", "--fund-pay", "0.00", "--acct-pay", "0.00"]
    balanced = runner.invoke(app, ["recon", "totals", *declared, "--count", "0", "--medfee", "0"])
    assert balanced.exit_code == 0, balanced.output
    assert "balanced" in balanced.output and "NOT" not in balanced.output

    off = runner.invoke(app, ["recon", "totals", *declared, "--count", "2", "--medfee", "1200000"])
    assert off.exit_code == 1, off.output
    assert "NOT balanced" in off.output
    assert "1,200,000.00" in off.output

    bad = runner.invoke(app, ["recon", "totals", *declared, "--count", "0", "--medfee", "12.345"])
    assert bad.exit_code == 2
    assert "medfee_sumamt" in bad.output


def test_details_list_every_mismatch(
    configured: None, region: str, code: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    setl_id = f"S{secrets.token_hex(10).upper()}"
    detail = tmp_path / "3202.csv"
    detail.write_text(f"{DETAIL_HEADER}\n{setl_id},M1,P1,211.40,58.00,100.00,0\n")
    scope = ["--region", region, "--code", code, *PERIOD]

    result = runner.invoke(app, ["recon", "details", str(detail), *scope])
    assert result.exit_code == 1, result.output
    assert "NOT balanced" in result.output
    assert "missing_here" in result.output
    recon_id = result.output.split("sanyi recon mismatches ")[1].split()[0]

    listed = runner.invoke(app, ["recon", "mismatches", recon_id, "--region", region])
    assert listed.exit_code == 0, listed.output
    rows = list(csv.DictReader(io.StringIO(listed.output)))
    assert [(row["setl_id"], row["kinds"]) for row in rows] == [(setl_id, "missing_here")]
    to_file = tmp_path / "mismatches.csv"
    written = runner.invoke(
        app, ["recon", "mismatches", recon_id, "--region", region, "--out", str(to_file)]
    )
    assert written.exit_code == 0, written.output
    assert "1 row(s) written" in written.output
    assert to_file.read_text(encoding="utf-8") == listed.output

    elsewhere = runner.invoke(app, ["recon", "mismatches", recon_id, "--region", "110100"])
    assert elsewhere.exit_code == 1
    assert "unknown_reconciliation" in elsewhere.output


def test_a_detail_job_is_queued_and_followed(configured: None, region: str, tmp_path: Path) -> None:
    runner = CliRunner()
    detail = tmp_path / "3202.csv"
    detail.write_text(f"{DETAIL_HEADER}\nS{secrets.token_hex(10).upper()},M1,P1,1.00,0,0,0\n")
    submitted = runner.invoke(
        app, ["recon", "details", str(detail), "--region", region, *PERIOD, "--job"]
    )
    assert submitted.exit_code == 0, submitted.output
    recon_id = submitted.output.split("job ")[1].split()[0]
    assert "queued" in submitted.output

    status = runner.invoke(app, ["recon", "job", recon_id, "--region", region])
    assert status.exit_code == 0, status.output
    assert f"job {recon_id} queued (1 row(s) stored)" in status.output


def test_clearing_commands_stay_in_the_region(configured: None, region: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["clearing", "list", "--region", region])
    assert listed.exit_code == 0, listed.output
    assert f"clearing batches of {region}" in listed.output

    for command in ("show", "approve", "lines"):
        unknown = runner.invoke(app, ["clearing", command, "C0000", "--region", region])
        assert unknown.exit_code == 1, (command, unknown.output)
        assert "unknown_batch" in unknown.output
