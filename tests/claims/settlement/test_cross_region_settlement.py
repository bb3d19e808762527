"""Cross-region settlement through the API, to the fen: a person insured in 230100 treated at an
institution of 510100 is priced by 510100's catalogue and paid by 230100's policy for the filing
type (demo: temporary travel 10 points lower, long-term residence and referral unchanged,
unfiled 20 points lower), against the person's accumulators in 230100. Then who may read it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import BenefitAccumulator, Settlement
from engine.auth import Role
from tests.support.factories.crossregion import (
    INSURED,
    TREATMENT,
    CrossRegion,
    treatment_world,
)
from tests.support.factories.orgs import make_key, make_org, unique_code
from tests.support.factories.world import build_world

ELSEWHERE = "230200"


@pytest.fixture
async def xr(client: httpx.AsyncClient, session: AsyncSession) -> CrossRegion:
    home = await build_world(client, session, admdvs=INSURED)
    return CrossRegion(home=home, away=await treatment_world(client, session))


def figures(settlement: dict[str, Any]) -> dict[str, str]:
    names = (
        "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
        "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt",
        "psn_cash_pay",
    )  # fmt: skip
    return {name: settlement[name] for name in names}


#: B's pricing of the lines (tests.support.factories.crossregion.LINES), whatever the ratio.
PRICED_BY_B = {
    "medfee_sumamt": "185.60",
    "fulamt_ownpay_amt": "0.00",
    "overlmt_selfpay": "9.60",
    "preselfpay_amt": "25.20",
    "inscp_scp_amt": "150.80",
    "act_pay_dedc": "0.00",
}


@pytest.mark.parametrize(
    ("filing_type", "ratio", "hifp", "psn_part"),
    [
        # Resident 390, general outpatient: A pays 50% at home, no deductible.
        ("temporary_travel", "0.4", "60.32", "125.28"),  # 150.80 × 40%
        ("long_term_residence", "0.5", "75.40", "110.20"),  # 150.80 × 50%
        ("referral", "0.5", "75.40", "110.20"),
        (None, "0.3", "45.24", "140.36"),  # unfiled: 150.80 × 30%
    ],
)
async def test_priced_by_the_treatment_place_paid_by_the_insured_places_ratio(
    xr: CrossRegion,
    session: AsyncSession,
    filing_type: str | None,
    ratio: str,
    hifp: str,
    psn_part: str,
) -> None:
    settlement = await xr.settled(filing_type)
    assert figures(settlement) == PRICED_BY_B | {
        "hifp_pay": hifp,
        "fund_pay_sumamt": hifp,
        "psn_part_amt": psn_part,
        "psn_cash_pay": psn_part,
    }
    assert (
        settlement["insuplc_admdvs"],
        settlement["mdtrtarea_admvs"],
        settlement["filing_type"],
    ) == (INSURED, TREATMENT, filing_type or "unfiled")
    pool = settlement["explanation"]["funds"][0]
    assert pool["bands"][0]["ratio"] == ratio
    assert f"{filing_type or 'unfiled'} care in another region" in pool["basis"]
    accumulator = await session.get_one(BenefitAccumulator, (settlement["psn_no"], 2026, "390-11"))
    assert accumulator.hifp_paid == round(float(hifp) * 100)


async def test_the_insured_places_cap_and_exact_revocation(
    xr: CrossRegion, session: AsyncSession
) -> None:
    """A's annual cap (800.00 for residents' general outpatient) limits the fund at B; revoking
    gives back exactly what the settlement took, and the visit settles again the same."""
    psn_no, certno = await xr.insured("long_term_residence")
    opening = {"insutype": "390", "med_type": "11", "deductible_used": "0", "hifp_paid": "750.00"}
    await xr.home.opening(psn_no, categories=[opening])
    visit = await xr.visit_with_lines(psn_no, certno)
    presettled = await xr.away.client.post(
        f"/v1/visits/{visit['mdtrt_id']}/pre-settlement", json={}, headers=xr.away.hospital(0)[1]
    )
    first = (await xr.away.settle(visit["mdtrt_id"])).json()
    assert presettled.json()["hifp_pay"] == first["hifp_pay"] == "50.00"  # not 75.40
    assert first["psn_part_amt"] == "135.60"
    revoked = await xr.away.revoke(first["setl_id"])
    assert revoked.status_code == 200, revoked.text
    accumulator = await session.get_one(BenefitAccumulator, (psn_no, 2026, "390-11"))
    await session.refresh(accumulator)
    assert accumulator.hifp_paid == 75000
    again = (await xr.away.settle(visit["mdtrt_id"])).json()
    assert figures(again) == figures(first)
    assert again["setl_id"] != first["setl_id"]


async def test_a_place_that_refuses_unfiled_care_refuses_the_visit(xr: CrossRegion) -> None:
    """A's newer terms refuse unfiled care from February: the visit is refused for insurance
    with its own code, and may still be registered as self-pay, paid by no fund."""
    loaded = await xr.home.client.post(
        f"/v1/policies/{INSURED}",
        json={"cross_region": [{"care_type": "unfiled", "valid_from": "2026-02-01",
                                "payable": False}]},
        headers=xr.home.insurer,
    )  # fmt: skip
    assert loaded.status_code == 201, loaded.text
    psn_no, certno = await xr.insured(None)
    refused = await xr.away.visit(psn_no, certno, dr=None, expect=400)
    assert (refused["code"], refused["field"]) == ("cross_region_not_covered", "biz_type_code")
    visit = await xr.away.visit(psn_no, certno, dr=None, selfpay_flag=True)
    assert (visit["insurance_payable"], visit["refusal_code"]) == (
        False,
        "cross_region_not_covered",
    )
    await xr.away.fees(visit["mdtrt_id"], [("XCLASSA0000001", "1", "100.00")])
    response = await xr.away.settle(visit["mdtrt_id"])
    assert response.status_code == 201, response.text
    settled = response.json()
    assert (settled["fund_pay_sumamt"], settled["psn_part_amt"]) == ("0.00", "100.00")
    # Filed people are still paid.
    filed = await xr.settled("referral")
    assert filed["hifp_pay"] == "75.40"


async def test_a_filing_covers_its_period_only(xr: CrossRegion) -> None:
    """A visit on a day outside the filing's period is unfiled care."""
    psn_no, certno = await xr.insured(None)
    response = await xr.home.client.post(
        "/v1/cross-region/filings",
        json={"psn_no": psn_no, "filing_type": "temporary_travel", "mdtrtarea_admvs": TREATMENT,
              "begndate": "2026-04-01", "enddate": "2026-04-30"},
        headers=xr.home.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    march = await xr.away.visit(psn_no, certno, dr=None)
    assert march["filing_type"] == "unfiled"


async def test_who_reads_a_cross_region_settlement(
    xr: CrossRegion, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A's insurer (its insured) and B's insurer and hospital (its institution's) read it; A's
    hospital and pharmacy, B's other hospital and pharmacy, a third region's insurer answer as
    for a settlement that does not exist; the operator's keys do no insurance work."""
    settlement = await xr.settled("temporary_travel")
    setl_id = settlement["setl_id"]
    third = await build_world(client, session, admdvs=ELSEWHERE)

    async def pharmacy(admdvs: str) -> dict[str, str]:
        org = await make_org(
            session, role=Role.pharmacy, admdvs=admdvs, institution_code=unique_code("Y")
        )
        return await make_key(session, org)

    operator = await make_key(session, await make_org(session, role=Role.admin, admdvs=None))
    readers = {
        "insurer A": xr.home.insurer,
        "insurer B": xr.away.insurer,
        "hospital B that settled": xr.away.hospital(0)[1],
    }
    strangers = {
        "hospital A": xr.home.hospital(0)[1],
        "pharmacy A": await pharmacy(INSURED),
        "other hospital B": xr.away.hospital(1)[1],
        "pharmacy B": await pharmacy(TREATMENT),
        "insurer C": third.insurer,
    }
    for name, headers in readers.items():
        read = await client.get(f"/v1/settlements/{setl_id}", headers=headers)
        assert read.status_code == 200, name
        assert read.json()["hifp_pay"] == "60.32"
    for name, headers in strangers.items():
        theirs = await client.get(f"/v1/settlements/{setl_id}", headers=headers)
        nothing = await client.get(f"/v1/settlements/{'S' + '0' * 20}", headers=headers)
        assert (theirs.status_code, theirs.json()) == (nothing.status_code, nothing.json()), name
        assert theirs.json()["code"] == "unknown_settlement", name
        revoke = await client.post(
            f"/v1/settlements/{setl_id}/revocation",
            headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert revoke.status_code in (403, 404), name
    denied = await client.get(f"/v1/settlements/{setl_id}", headers=operator)
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")

    period = {"begin": "2026-01-01T00:00:00+08:00", "end": "2028-01-01T00:00:00+08:00"}

    async def listed(headers: dict[str, str]) -> list[str]:
        response = await client.get("/v1/settlements", params=period, headers=headers)
        assert response.status_code == 200, response.text
        return [s["setl_id"] for s in response.json()["items"]]

    assert setl_id in await listed(xr.home.insurer)
    assert setl_id in await listed(xr.away.insurer)
    assert setl_id in await listed(xr.away.hospital(0)[1])
    for headers in (third.insurer, xr.home.hospital(0)[1], xr.away.hospital(1)[1]):
        assert setl_id not in await listed(headers)
    row = await session.get_one(Settlement, setl_id)
    assert (row.admdvs, row.insuplc_admdvs, row.filing_type) == (
        TREATMENT,
        INSURED,
        "temporary_travel",
    )


async def test_a_moved_ratio_stays_within_nothing_and_everything(xr: CrossRegion) -> None:
    """Terms that would move 50% below zero or above 100% pay nothing, or everything in scope."""
    loaded = await xr.home.client.post(
        f"/v1/policies/{INSURED}",
        json={"cross_region": [
            {"care_type": "unfiled", "valid_from": "2026-02-01", "pool_prop_points": -60},
            {"care_type": "referral", "valid_from": "2026-02-01", "pool_prop_points": 60},
        ]},
        headers=xr.home.insurer,
    )  # fmt: skip
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["cross_region"] == 2
    nothing = await xr.settled(None)
    everything = await xr.settled("referral")
    assert (nothing["hifp_pay"], nothing["psn_part_amt"]) == ("0.00", "185.60")
    assert (everything["hifp_pay"], everything["psn_part_amt"]) == ("150.80", "34.80")
