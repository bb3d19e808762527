"""Inter-region claims through the API, to the fen: 510100's monthly claim on 230100 lists the
fund share of each cross-region settlement of the month, a revocation after the freeze lands in
the next month's claim, and 230100 reconciles each claim against its own record, as stored, as
the exported CSV and as a file with mismatches seeded into it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from engine.clock import CST
from tests.support.factories.clearing import backdate, settled
from tests.support.factories.crossregion import INSURED, TREATMENT, CrossRegion, treatment_world
from tests.support.factories.world import build_world

OCTOBER = datetime(2026, 10, 15, 10, 0, tzinfo=CST)


@pytest.fixture
async def xr(client: httpx.AsyncClient, session: AsyncSession) -> CrossRegion:
    home = await build_world(client, session, admdvs=INSURED)
    return CrossRegion(home=home, away=await treatment_world(client, session))


async def make_claim(
    xr: CrossRegion, setlym: str, *, key: str | None = None, expect: int = 201
) -> dict[str, Any]:
    response = await xr.away.client.post(
        "/v1/cross-region/claims",
        json={"insuplc_admdvs": INSURED, "setlym": setlym},
        headers=xr.away.insurer | {"Idempotency-Key": key or uuid.uuid4().hex},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


async def reconcile(xr: CrossRegion, claim_id: str, content: bytes = b"") -> dict[str, Any]:
    response = await xr.home.client.post(
        f"/v1/cross-region/claims/{claim_id}/reconciliation",
        content=content,
        headers=xr.home.insurer | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def lines_csv(
    xr: CrossRegion, claim_id: str, headers: dict[str, str]
) -> list[dict[str, str]]:
    response = await xr.home.client.get(
        f"/v1/cross-region/claims/{claim_id}/lines.csv", headers=headers
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def totals(claim: dict[str, Any]) -> dict[str, Any]:
    return {k: claim[k] for k in ("setl_cnt", "adjustment_cnt", "medfee_sumamt", "fund_pay_sumamt")}


def as_file(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


async def october(xr: CrossRegion, session: AsyncSession) -> dict[str, dict[str, Any]]:
    """One cross-region settlement per filing type and one unfiled, moved into October; and
    settlements of the same month that are not cross-region (A's insured at home, B's at B)."""
    made = {}
    for filing_type in ("temporary_travel", "long_term_residence", "referral", None):
        settlement = await xr.settled(filing_type)
        await backdate(session, settlement["setl_id"], OCTOBER)
        made[filing_type or "unfiled"] = settlement
    for world in (xr.home, xr.away):
        await backdate(session, (await settled(world))["setl_id"], OCTOBER)
    return made


async def test_the_claim_lists_the_months_fund_shares_and_reconciles(
    xr: CrossRegion, session: AsyncSession
) -> None:
    made = await october(xr, session)
    key = uuid.uuid4().hex
    claim = await make_claim(xr, "202610", key=key)
    assert claim == await make_claim(xr, "202610", key=key)
    # 60.32 + 75.40 + 75.40 + 45.24 of the fund; 4 × 185.60 of fees.
    assert totals(claim) == {
        "setl_cnt": 4,
        "adjustment_cnt": 0,
        "medfee_sumamt": "742.40",
        "fund_pay_sumamt": "256.36",
    }  # fmt: skip
    assert (claim["mdtrtarea_admvs"], claim["insuplc_admdvs"]) == (TREATMENT, INSURED)
    again = await make_claim(xr, "202610", expect=409)
    assert again["code"] == "claim_exists"

    rows = await lines_csv(xr, claim["claim_id"], xr.home.insurer)
    assert rows == await lines_csv(xr, claim["claim_id"], xr.away.insurer)
    assert {(r["setl_id"], r["kind"], r["filing_type"], r["fund_pay_sumamt"]) for r in rows} == {
        (s["setl_id"], "settlement", t, s["fund_pay_sumamt"]) for t, s in made.items()
    }
    assert sum(int(r["fund_pay_sumamt"].replace(".", "")) for r in rows) == 25636

    stored = await reconcile(xr, claim["claim_id"])
    received = await reconcile(xr, claim["claim_id"], as_file(rows))
    for result in (stored, received):
        assert result["balanced"] is True
        assert result["mismatches"] == []
        assert result["claim"] == result["record"] == {"lines": 4, "fund_pay_sumamt": "256.36"}

    # B's file as it might differ from A's record: a line dropped, an amount changed, a line
    # A has no settlement for.
    by_type = {r["filing_type"]: r for r in rows}
    seeded = [r for r in rows if r is not by_type["referral"]]
    by_type["temporary_travel"]["fund_pay_sumamt"] = "60.33"
    ghost = "S" + "0" * 20
    seeded.append(by_type["unfiled"] | {"setl_id": ghost, "fund_pay_sumamt": "10.00"})
    result = await reconcile(xr, claim["claim_id"], as_file(seeded))
    assert result["balanced"] is False
    assert result["claim"] == {
        "lines": 4,
        "fund_pay_sumamt": "190.97",
    }  # 256.36 - 75.40 + 0.01 + 10.00
    assert result["record"] == {"lines": 4, "fund_pay_sumamt": "256.36"}
    expected = [
        {"setl_id": made["referral"]["setl_id"], "kind": "settlement",
         "mismatch": "missing_there", "claimed": None, "recorded": "75.40"},
        {"setl_id": made["temporary_travel"]["setl_id"], "kind": "settlement",
         "mismatch": "amount_differs", "claimed": "60.33", "recorded": "60.32"},
        {"setl_id": ghost, "kind": "settlement", "mismatch": "missing_here",
         "claimed": "10.00", "recorded": None},
    ]  # fmt: skip
    assert result["mismatches"] == sorted(expected, key=lambda m: (m["setl_id"], m["kind"]))


async def test_a_revocation_after_the_freeze_is_carried_into_the_next_claim(
    xr: CrossRegion, session: AsyncSession
) -> None:
    made = await october(xr, session)
    frozen = await make_claim(xr, "202610")
    revoked = await xr.away.revoke(made["unfiled"]["setl_id"])
    assert revoked.status_code == 200, revoked.text

    november = await make_claim(xr, "202611")
    assert totals(november) == {
        "setl_cnt": 0,
        "adjustment_cnt": 1,
        "medfee_sumamt": "-185.60",
        "fund_pay_sumamt": "-45.24",
    }  # fmt: skip
    rows = await lines_csv(xr, november["claim_id"], xr.away.insurer)
    assert [(r["setl_id"], r["kind"], r["fund_pay_sumamt"]) for r in rows] == [
        (made["unfiled"]["setl_id"], "adjustment", "-45.24")
    ]
    # October's claim is frozen: unchanged, and still reconciles against A's record as it was.
    read = await xr.home.client.get(
        f"/v1/cross-region/claims/{frozen['claim_id']}", headers=xr.home.insurer
    )
    assert read.json() == frozen
    for claim in (frozen, november):
        assert (await reconcile(xr, claim["claim_id"]))["balanced"] is True
    # A later claim carries nothing twice.
    december_like = await make_claim(xr, "202609")
    assert (december_like["adjustment_cnt"], december_like["fund_pay_sumamt"]) == (0, "0.00")


async def test_who_may_see_make_and_reconcile_a_claim(
    xr: CrossRegion, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await october(xr, session)
    claim = await make_claim(xr, "202610")
    claim_id = claim["claim_id"]
    third = await build_world(client, session, admdvs="230200")
    listed = await client.get("/v1/cross-region/claims", headers=xr.home.insurer)
    assert [c["claim_id"] for c in listed.json()["items"]] == [claim_id]
    assert (await client.get("/v1/cross-region/claims", headers=third.insurer)).json() == {
        "items": []
    }
    for path in (
        f"/v1/cross-region/claims/{claim_id}",
        f"/v1/cross-region/claims/{claim_id}/lines.csv",
    ):
        theirs = await client.get(path, headers=third.insurer)
        nothing = await client.get(path.replace(claim_id, "X" + "0" * 20), headers=third.insurer)
        assert (theirs.status_code, theirs.json()) == (nothing.status_code, nothing.json())
        assert theirs.json()["code"] == "unknown_claim"
        hospital = await client.get(path, headers=xr.away.hospital(0)[1])
        assert (hospital.status_code, hospital.json()["code"]) == (403, "forbidden")
    payer_only = await client.post(
        f"/v1/cross-region/claims/{claim_id}/reconciliation",
        content=b"",
        headers=xr.away.insurer | {"Content-Type": "text/csv"},
    )
    assert (payer_only.status_code, payer_only.json()["code"]) == (403, "forbidden")
    bad = await client.post(
        f"/v1/cross-region/claims/{claim_id}/reconciliation",
        content=b"setl_id,kind,fund_pay_sumamt\nS1,settlement,1.5e3\n",
        headers=xr.home.insurer | {"Content-Type": "text/csv"},
    )
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        400,
        "invalid_claim_file",
        "line 2",
    )
    own = await client.post(
        "/v1/cross-region/claims",
        json={"insuplc_admdvs": TREATMENT, "setlym": "202610"},
        headers=xr.away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    running = await client.post(
        "/v1/cross-region/claims",
        json={"insuplc_admdvs": INSURED, "setlym": "209901"},
        headers=xr.away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert [(r.status_code, r.json()["code"]) for r in (own, running)] == [
        (400, "same_region"),
        (400, "period_not_over"),
    ]


async def test_the_treatment_place_clears_its_institution_as_usual(
    xr: CrossRegion, session: AsyncSession
) -> None:
    """3203 at B is unchanged: the hospital's October batch holds its cross-region settlements
    with its own insured's, and B's insurer approves it as any batch."""
    made = await october(xr, session)
    code, hospital = xr.away.hospital(0)
    applied = await xr.away.client.post(
        "/v1/clearing/batches",
        json={"setlym": "202610", "clr_type": "11"},
        headers=hospital | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert applied.status_code == 201, applied.text
    approved = await xr.away.client.post(
        f"/v1/clearing/batches/{applied.json()['clr_appy_evt_id']}/approval",
        headers=xr.away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert approved.status_code == 200, approved.text
    batch = approved.json()
    rows = list(csv.DictReader(io.StringIO((await xr.away.client.get(
        f"/v1/clearing/batches/{batch['clr_appy_evt_id']}/lines.csv", headers=xr.away.insurer
    )).text)))  # fmt: skip
    cleared = {r["setl_id"] for r in rows}
    assert {s["setl_id"] for s in made.values()} < cleared
    assert (batch["fixmedins_code"], batch["psntime"]) == (code, 5)  # and B's own insured's
    assert Decimal(batch["fund_appy_sum"]) == sum(Decimal(r["fund_pay_sumamt"]) for r in rows)
