"""Filings (备案) for cross-region care through the API and the CLI: the insured place's insurer
files, ends and revokes; the treatment place's insurer reads the filings naming its region;
nobody else sees them."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from claims.settlement.schemas import PersonIn
from claims.settlement.service import persons
from engine.audit import AuditEntry
from engine.auth import Role, cli_insurer
from engine.cli import app
from engine.db import run_in_unit_of_work
from tests.support.factories.orgs import make_key, make_org, unique_code
from tests.support.factories.world import World, build_world, make_certno

INSURED, TREATMENT, ELSEWHERE = "230100", "510100", "230200"


@pytest.fixture
async def home(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=INSURED)


@pytest.fixture
async def away(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=TREATMENT)


@pytest.fixture
async def third(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=ELSEWHERE)


def filing_body(psn_no: str, **changes: Any) -> dict[str, Any]:
    return {
        "psn_no": psn_no,
        "filing_type": "temporary_travel",
        "mdtrtarea_admvs": TREATMENT,
        "begndate": "2026-03-01",
        "enddate": "2026-03-31",
    } | changes


async def file(
    world: World, body: dict[str, Any], *, key: str | None = None, expect: int = 201
) -> dict[str, Any]:
    response = await world.client.post(
        "/v1/cross-region/filings",
        json=body,
        headers=world.insurer | {"Idempotency-Key": key or uuid.uuid4().hex},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


async def test_a_filing_is_made_once_per_key_audited_and_read_by_both_regions(
    home: World, away: World, third: World, session: AsyncSession
) -> None:
    psn_no, _ = await home.enrol()
    key = uuid.uuid4().hex
    made = await file(home, filing_body(psn_no), key=key)
    assert made == await file(home, filing_body(psn_no), key=key)
    assert made | {"trt_dcla_detl_sn": None} == {
        "trt_dcla_detl_sn": None,
        "psn_no": psn_no,
        "insuplc_admdvs": INSURED,
        "mdtrtarea_admvs": TREATMENT,
        "filing_type": "temporary_travel",
        "begndate": "2026-03-01",
        "enddate": "2026-03-31",
        "status": "active",
        "revoked_at": None,
    }
    sn = made["trt_dcla_detl_sn"]
    actions = (
        await session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == sn))
    ).all()
    assert list(actions) == ["filing.created"]

    for world in (home, away):
        read = await world.client.get(f"/v1/cross-region/filings/{sn}", headers=world.insurer)
        assert read.json() == made
        listed = await world.client.get("/v1/cross-region/filings", headers=world.insurer)
        assert [f["trt_dcla_detl_sn"] for f in listed.json()["items"]] == [sn]
    # The treatment place sees the filing and nothing else of the person.
    person = await away.client.get(f"/v1/persons/{psn_no}", headers=away.insurer)
    assert (person.status_code, person.json()["code"]) == (404, "unknown_person")
    hidden = await third.client.get(f"/v1/cross-region/filings/{sn}", headers=third.insurer)
    nothing = await third.client.get(
        f"/v1/cross-region/filings/{'F' + '0' * 20}", headers=third.insurer
    )
    assert (hidden.status_code, hidden.json()) == (nothing.status_code, nothing.json())
    assert (hidden.status_code, hidden.json()["code"]) == (404, "unknown_filing")
    listed = await third.client.get("/v1/cross-region/filings", headers=third.insurer)
    assert listed.json()["items"] == []


async def test_only_the_insured_places_insurer_files_ends_and_revokes(
    home: World, away: World, session: AsyncSession
) -> None:
    psn_no, _ = await home.enrol()
    refused = await file(away, filing_body(psn_no, mdtrtarea_admvs=ELSEWHERE), expect=404)
    assert refused["code"] == "unknown_person"
    sn = (await file(home, filing_body(psn_no)))["trt_dcla_detl_sn"]
    for path, body in ((f"{sn}/end", {"enddate": "2026-03-10"}), (f"{sn}/revocation", None)):
        response = await away.client.post(
            f"/v1/cross-region/filings/{path}",
            json=body,
            headers=away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert (response.status_code, response.json()["code"]) == (404, "unknown_filing")
    _, hospital = home.hospital(0)
    pharmacies = [
        await make_key(
            session,
            await make_org(
                session, role=Role.pharmacy, admdvs=admdvs, institution_code=unique_code("Y")
            ),
        )
        for admdvs in (INSURED, TREATMENT)
    ]
    operator = await make_key(session, await make_org(session, role=Role.admin, admdvs=None))
    for headers in (hospital, away.hospital(0)[1], *pharmacies, operator):
        attempt = await home.client.post(
            "/v1/cross-region/filings",
            json=filing_body(psn_no),
            headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        read = await home.client.get(f"/v1/cross-region/filings/{sn}", headers=headers)
        assert {(r.status_code, r.json()["code"]) for r in (attempt, read)} == {(403, "forbidden")}


async def test_filings_are_coherent(home: World) -> None:
    psn_no, _ = await home.enrol()
    same = await file(home, filing_body(psn_no, mdtrtarea_admvs=INSURED), expect=400)
    backwards = await file(home, filing_body(psn_no, enddate="2026-02-01"), expect=400)
    assert (same["code"], backwards["code"]) == ("same_region", "invalid_period")
    sn = (await file(home, filing_body(psn_no, filing_type="long_term_residence", enddate=None)))[
        "trt_dcla_detl_sn"
    ]
    overlapping = await file(
        home, filing_body(psn_no, begndate="2027-01-01", enddate=None), expect=409
    )
    assert overlapping["code"] == "overlapping_filing"

    async def post(path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await home.client.post(
            f"/v1/cross-region/filings/{sn}/{path}",
            json=body,
            headers=home.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )

    ended = await post("end", {"enddate": "2026-06-30"})
    assert ended.json()["enddate"] == "2026-06-30"
    longer = await post("end", {"enddate": "2026-07-31"})
    assert (longer.status_code, longer.json()["code"]) == (400, "invalid_period")
    # After the end, the next period is free.
    await file(home, filing_body(psn_no, begndate="2026-07-01", enddate="2026-07-31"))
    revoked = await post("revocation")
    assert (revoked.json()["status"], revoked.json()["revoked_at"] is not None) == (
        "revoked",
        True,
    )
    again = await post("revocation")
    assert (again.status_code, again.json()["code"]) == (409, "filing_revoked")


def test_the_cli_files_lists_ends_and_revokes(configured: None) -> None:
    region = f"6{secrets.randbelow(10**5):05d}"
    psn_no = "P" + secrets.token_hex(8).upper()

    async def enrol(session: AsyncSession) -> None:
        body = PersonIn.model_validate(
            {
                "psn_no": psn_no,
                "psn_name": "测试",
                "certno": make_certno(),
                "admdvs": region,
                "insutype": "390",
            }
        )
        await persons.enrol(session, cli_insurer(region), body)

    run_in_unit_of_work(enrol)
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            *("claims", "filing", "create", "--region", region, "--psn-no", psn_no),
            *("--filing-type", "referral", "--treatment-region", TREATMENT, "--from", "2026-01-01"),
        ],
    )
    assert made.exit_code == 0, made.output
    sn = made.output.split()[0]
    listed = runner.invoke(app, ["claims", "filing", "list", "--region", region])
    assert sn in listed.output and "referral" in listed.output
    ended = runner.invoke(
        app, ["claims", "filing", "end", sn, "--region", region, "--to", "2026-02-01"]
    )
    assert ended.exit_code == 0 and "2026-02-01" in ended.output, ended.output
    revoked = runner.invoke(app, ["claims", "filing", "revoke", sn, "--region", region])
    assert revoked.exit_code == 0 and "revoked" in revoked.output, revoked.output
    again = runner.invoke(app, ["claims", "filing", "revoke", sn, "--region", region])
    assert again.exit_code == 1 and "filing_revoked" in again.output
    elsewhere = runner.invoke(app, ["claims", "filing", "revoke", sn, "--region", TREATMENT])
    assert elsewhere.exit_code == 1 and "unknown_filing" in elsewhere.output


def test_the_cli_makes_exports_and_reconciles_a_claim(configured: None, tmp_path: Path) -> None:
    """A claim with nothing to claim in a pair of regions of their own: the file B exports
    reconciles at A; a line A has no record of does not."""
    treatment, insured = (f"6{secrets.randbelow(10**5):05d}" for _ in range(2))
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            *("clearing", "interregion", "make", "--region", treatment),
            *("--insured-region", insured, "--setlym", "202609"),
        ],
    )
    assert made.exit_code == 0, made.output
    claim_id = made.output.split()[0]
    exported = tmp_path / "claim.csv"
    lines = runner.invoke(
        app,
        [
            "clearing",
            "interregion",
            "lines",
            claim_id,
            "--region",
            treatment,
            "--out",
            str(exported),
        ],
    )
    assert lines.exit_code == 0, lines.output
    balanced = runner.invoke(
        app,
        [
            "clearing",
            "interregion",
            "reconcile",
            claim_id,
            "--region",
            insured,
            "--file",
            str(exported),
        ],
    )
    assert balanced.exit_code == 0 and "balanced" in balanced.output, balanced.output
    exported.write_text(exported.read_text() + "S1,settlement,,,,,,1.00,1.00\n")
    differs = runner.invoke(
        app,
        [
            "clearing",
            "interregion",
            "reconcile",
            claim_id,
            "--region",
            insured,
            "--file",
            str(exported),
        ],
    )
    assert differs.exit_code == 1 and "missing_here" in differs.output, differs.output
