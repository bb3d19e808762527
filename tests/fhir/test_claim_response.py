"""A settlement as a FHIR R4 ClaimResponse: valid for the R4 models, every amount the exact
figure /v1 answers, cancelled once revoked, and scoped exactly like ``GET /v1/settlements``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from tests.fhir.validation import fhir_json, identifier_value, money, refusal
from tests.support.factories.orgs import make_key, make_org
from tests.support.factories.world import World, build_world

ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


async def _settled(world: World) -> dict[str, Any]:
    """Worked example A's lines, settled for an employee with an account whose deductible is
    used up, so the pooled fund pays."""
    psn_no, certno = await world.enrol(insutype="310", acct_balc="100.00")
    await world.opening(
        psn_no, categories=[{"insutype": "310", "med_type": "11", "deductible_used": "150.00"}]
    )
    visit = await world.visit(psn_no, certno)
    await world.example_a_lines(visit["mdtrt_id"])
    response = await world.settle(visit["mdtrt_id"], acct_used_flag=True)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _amounts(adjudications: list[dict[str, Any]], system: str) -> dict[str, Decimal]:
    return {
        a["category"]["coding"][0]["code"]: money(a["amount"])
        for a in adjudications
        if a["category"]["coding"][0]["system"] == system
    }


async def _read(world: World, setl_id: str, headers: dict[str, str]) -> httpx.Response:
    return await world.client.get(f"/v1/fhir/ClaimResponse/{setl_id}", headers=headers)


async def test_a_settlement_is_a_valid_claim_response_with_its_exact_figures(
    world: World,
) -> None:
    settled = await _settled(world)
    _, hospital = world.hospital()
    resource = fhir_json(await _read(world, settled["setl_id"], hospital))

    assert (resource["resourceType"], resource["id"]) == ("ClaimResponse", settled["setl_id"])
    assert (resource["status"], resource["use"], resource["outcome"]) == (
        "active",
        "claim",
        "complete",
    )
    assert identifier_value(resource["identifier"], "setl_id") == settled["setl_id"]
    assert identifier_value(resource["identifier"], "mdtrt_id") == settled["mdtrt_id"]
    assert resource["patient"]["identifier"]["value"] == settled["psn_no"]

    # One item per fee line, in order, adjudicated to the fen.
    assert [item["itemSequence"] for item in resource["item"]] == [1, 2, 3, 4, 5]
    for item, line in zip(resource["item"], settled["lines"], strict=True):
        assert item["extension"][0]["valueString"] == line["feedetl_sn"]
        hl7 = _amounts(item["adjudication"], ADJUDICATION)
        assert hl7 == {
            "submitted": Decimal(line["det_item_fee_sumamt"]),
            "eligible": Decimal(line["inscp_scp_amt"]),
        }
    drug_y = resource["item"][2]["adjudication"]
    national = {a["category"]["coding"][0]["code"]: money(a["amount"]) for a in drug_y}
    assert (national["overlmt_amt"], national["preselfpay_amt"]) == (
        Decimal("8.40"),
        Decimal("12.00"),
    )

    # A total per fund of setldetail, which sum to what the funds pay.
    funds = {
        a["category"]["coding"][0]["code"]: money(a["amount"])
        for a in resource["total"]
        if a["category"]["coding"][0]["system"].endswith("/CodeSystem/fund_pay_type")
    }
    assert funds == {d["fund_pay_type"]: Decimal(d["fund_payamt"]) for d in settled["setldetail"]}
    assert funds and sum(funds.values()) == Decimal(settled["fund_pay_sumamt"])
    totals = _amounts(resource["total"], ADJUDICATION)
    assert totals == {
        "submitted": Decimal(settled["medfee_sumamt"]),
        "eligible": Decimal(settled["inscp_scp_amt"]),
        "deductible": Decimal(settled["act_pay_dedc"]),
        "benefit": Decimal(settled["fund_pay_sumamt"]),
        "copay": Decimal(settled["psn_part_amt"]),
    }
    assert money(resource["payment"]["amount"]) == Decimal(settled["fund_pay_sumamt"])


async def test_a_revoked_settlement_is_cancelled(world: World) -> None:
    settled = await _settled(world)
    revoked = await world.revoke(settled["setl_id"])
    assert revoked.status_code == 200, revoked.text
    resource = fhir_json(await _read(world, settled["setl_id"], world.insurer))
    assert resource["status"] == "cancelled"
    assert money(resource["payment"]["amount"]) == Decimal(settled["fund_pay_sumamt"])


async def test_scope_is_that_of_the_v1_read(world: World, session: AsyncSession) -> None:
    """Another hospital and another region's insurer get the 404 an unknown settlement gets,
    the same as ``GET /v1/settlements/{setl_id}``; a hospital's own and its insurer read it."""
    settled = await _settled(world)
    setl_id = settled["setl_id"]
    stranger = await make_key(session, await make_org(session, role=Role.insurer, admdvs="110100"))
    await session.commit()
    _, other_hospital = world.hospital(1)
    assert (await _read(world, setl_id, world.insurer)).status_code == 200
    for headers in (other_hospital, stranger):
        fhir = await _read(world, setl_id, headers)
        v1 = await world.client.get(f"/v1/settlements/{setl_id}", headers=headers)
        assert refusal(fhir) == refusal(v1)
        assert refusal(fhir)[0] == 404 and refusal(fhir)[1]["code"] == "unknown_settlement"
        unknown = await _read(world, "S0000000000000000000", headers)
        assert refusal(unknown) == refusal(fhir)
    anonymous = await world.client.get(f"/v1/fhir/ClaimResponse/{setl_id}")
    assert anonymous.status_code == 401
