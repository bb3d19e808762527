"""``sanyi funding`` commands against the test database, committing for real in a region of their
own: set up from a JSON document, prepay a month, clear the year, print the summary."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

from typer.testing import CliRunner

from claims.funding import cli as budget_cli
from engine import cli as engine_cli
from engine.db import Database, unit_of_work
from engine.settings import get_settings
from tests.support.factories.funding import budget_body, insured
from tests.support.factories.orgs import unique_code


def _insured_committed(psn_no: str, admdvs: str) -> None:
    """A person of the CLI's region, committed where the CLI reads it."""

    async def main() -> None:
        db = Database.connect(get_settings().async_database_url, null_pool=True)
        try:
            async with unit_of_work(db.sessionmaker) as session:
                await insured(session, psn_no, admdvs=admdvs)
        finally:
            await db.dispose()

    asyncio.run(main())


def test_set_up_prepay_clear_and_summarise(configured: None, tmp_path: Path) -> None:
    runner = CliRunner()
    region, code = f"7{secrets.randbelow(10**5):05d}", unique_code("H")
    member = unique_code("P")
    _insured_committed(member, region)
    created = runner.invoke(
        engine_cli.app,
        ["org", "create", "--name", "H", "--role", "hospital", "--code", code, "--region", region],
    )
    assert created.exit_code == 0, created.output
    doc = tmp_path / "funding.json"
    doc.write_text(
        json.dumps(
            {
                "budgets": [budget_body(code, 2025, "1200.00") | {"admdvs": region}],
                "bundles": [
                    {
                        "admdvs": region,
                        "fixmedins_code": code,
                        "year": 2025,
                        "rate_per_member_month": "10.00",
                        "withhold_ratio": "0.05",
                        "surplus_retention_ratio": "1",
                        "quality_full_score": "90",
                        "quality_zero_score": "60",
                        "members": [{"psn_no": member, "sign_date": "2025-01-01"}],
                    }
                ],
            }
        )
    )
    setup = runner.invoke(budget_cli.app, ["setup", str(doc)])
    assert setup.exit_code == 0, setup.output
    assert "1 budget(s), 0 DIP scheme(s) and 1 bundle(s)" in setup.output

    year = ["--region", region, "--year", "2025"]
    prepay = runner.invoke(budget_cli.app, ["prepay", *year, "--month", "1"])
    assert prepay.exit_code == 0, prepay.output
    assert "9.50" in prepay.output  # the bundle: one member × 10.00, 5% withheld

    bad = runner.invoke(budget_cli.app, ["clear", *year, "--score", code])
    assert bad.exit_code != 0
    clear = runner.invoke(budget_cli.app, ["clear", *year, "--score", f"{code}=95"])
    assert clear.exit_code == 0, clear.output

    summary = runner.invoke(budget_cli.app, ["summary", *year])
    assert summary.exit_code == 0, summary.output
    rows = [line for line in summary.output.splitlines() if code in line]
    assert len(rows) == 2 and all(row.rstrip(" │").endswith("yes") for row in rows), rows
    assert "region total: paid out" in summary.output
    assert "withheld 0.00" in summary.output
