"""``sanyi funding`` commands against the test database, committing for real in a region of their
own: set up from a JSON document, prepay a month, clear the year, print the summary."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from claims import budget_cli
from claims.models import Person
from engine import cli as engine_cli
from engine.settings import get_settings
from tests.claims.funding_factories import budget_body
from tests.factories import unique_code


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("BROKER_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _insured(admdvs: str) -> str:
    """A person insured in ``admdvs``, committed (a bundle signs only those)."""
    psn_no = unique_code("PCLI")
    engine = create_engine(get_settings().sync_database_url)
    try:
        with Session(engine) as session, session.begin():
            session.add(
                Person(
                    psn_no=psn_no,
                    admdvs=admdvs,
                    psn_name="测试",
                    certno_masked="230102********0000",
                    certno_hash=uuid.uuid4().hex,
                    insutype="390",
                )
            )
    finally:
        engine.dispose()
    return psn_no


def test_set_up_prepay_clear_and_summarise(configured: None, tmp_path: Path) -> None:
    runner = CliRunner()
    region, code = f"7{secrets.randbelow(10**5):05d}", unique_code("H")
    created = runner.invoke(
        engine_cli.app,
        ["org", "create", "--name", "H", "--role", "hospital", "--code", code, "--region", region],
    )
    assert created.exit_code == 0, created.output
    member = _insured(region)
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

    prepay = runner.invoke(budget_cli.app, ["prepay", region, "2025", "1"])
    assert prepay.exit_code == 0, prepay.output
    assert "9.50" in prepay.output  # the bundle: one member × 10.00, 5% withheld

    bad = runner.invoke(budget_cli.app, ["clear", region, "2025", "--score", code])
    assert bad.exit_code != 0
    clear = runner.invoke(budget_cli.app, ["clear", region, "2025", "--score", f"{code}=95"])
    assert clear.exit_code == 0, clear.output

    summary = runner.invoke(budget_cli.app, ["summary", region, "2025"])
    assert summary.exit_code == 0, summary.output
    body = json.loads(summary.output)
    assert [b["cleared"] for b in body["budgets"] + body["bundles"]] == [True, True]
    assert body["totals"]["withheld_pending"] == "0.00"
