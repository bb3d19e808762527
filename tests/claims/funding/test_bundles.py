"""Per-capita bundles (domain.md section 8): a member's care at the holder and elsewhere produce
the right entries and revoking either reverses them; monthly capitation counts member-months; the
year-end retains the surplus by quality score and never tops up an overspend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door
from claims.funding.models import FundingCaseEntry
from tests.support.factories.funding import (
    OTHER_REGION,
    REGION,
    facts,
    insured,
    insurer_headers,
    provider,
    settle,
)

YEAR = 2025
P1, P2, P3 = "PBUNDLE0000001", "PBUNDLE0000002", "PBUNDLE0000003"


async def _bundle(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: dict[str, str],
    **terms: Any,
) -> str:
    """A bundle at a new holder: 100.00 per member-month, 5% withheld, P1 and P2 signed all year,
    P3 from 15 March to 10 April."""
    holder = await provider(session)
    await insured(session, P1, P2, P3)
    body = {
        "admdvs": REGION,
        "fixmedins_code": holder,
        "year": YEAR,
        "rate_per_member_month": "100.00",
        "withhold_ratio": "0.05",
        "surplus_retention_ratio": "0.80",
        "quality_full_score": "90",
        "quality_zero_score": "60",
    } | terms
    created = await client.post("/v1/funding/bundles", json=body, headers=headers)
    assert created.status_code == 201, created.text
    for psn_no in (P1, P2, P3):
        await insured(session, psn_no)
    members = [
        {"psn_no": P1, "sign_date": "2024-07-01"},
        {"psn_no": P2, "sign_date": "2025-01-01"},
        {"psn_no": P3, "sign_date": "2025-03-15", "end_date": "2025-04-10"},
    ]
    signed = await client.post(
        f"/v1/funding/bundles/{holder}/{YEAR}/members", json={"members": members}, headers=headers
    )
    assert signed.json() == {"fixmedins_code": holder, "year": YEAR, "signed": 3, "updated": 0}
    return holder


async def _entries(session: AsyncSession, setl_id: str) -> list[tuple[Any, ...]]:
    rows = await session.scalars(
        select(FundingCaseEntry)
        .where(FundingCaseEntry.setl_id == setl_id)
        .order_by(FundingCaseEntry.id)
    )
    return [(e.kind, e.fixmedins_code, e.treated_by, e.month, e.amount) for e in rows]


def _on(month: int, day: int) -> datetime:
    return datetime(YEAR, month, day, 2, 0, tzinfo=UTC)


async def test_member_care_at_the_holder_and_elsewhere_and_their_revocation(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    holder = await _bundle(client, session, headers)
    other = await provider(session)

    at_holder = facts(holder, _on(2, 3), "80.00", psn_no=P1)
    elsewhere = facts(other, _on(2, 4), "50.00", psn_no=P1)
    assert await settle(session, at_holder) == "04"
    assert await settle(session, elsewhere) == "04"
    # Care at the holder is charged to the bundle, not paid item by item.
    assert await _entries(session, at_holder.setl_id) == [("bundle_care", holder, holder, 2, 8000)]
    # Care elsewhere is paid to that provider (its fund share) and deducted from the bundle.
    assert await _entries(session, elsewhere.setl_id) == [
        ("bundle_care", holder, other, 2, 5000),
        ("fund_share", other, other, 2, 5000),
    ]
    # Not a member (never signed, or after the signing ended): fee for item.
    stranger = facts(holder, _on(2, 5), "30.00", psn_no="PNOTAMEMBER001")
    lapsed = facts(holder, _on(4, 11), "30.00", psn_no=P3)
    assert await settle(session, stranger) == "01"
    assert await settle(session, lapsed) == "01"
    assert await _entries(session, lapsed.setl_id) == [("fund_share", holder, holder, 4, 3000)]

    bundle = (await client.get(f"/v1/funding/bundles/{holder}/{YEAR}", headers=headers)).json()
    assert (bundle["care_at_holder"], bundle["care_elsewhere"]) == ("80.00", "50.00")

    await door.record_revocation(session, at_holder.setl_id, _on(3, 1))
    await door.record_revocation(session, elsewhere.setl_id, _on(3, 2))
    await door.record_revocation(session, elsewhere.setl_id, _on(3, 3))  # nothing left
    assert await _entries(session, at_holder.setl_id) == [
        ("bundle_care", holder, holder, 2, 8000),
        ("bundle_care", holder, holder, 3, -8000),
    ]
    assert await _entries(session, elsewhere.setl_id) == [
        ("bundle_care", holder, other, 2, 5000),
        ("fund_share", other, other, 2, 5000),
        ("bundle_care", holder, other, 3, -5000),
        ("fund_share", other, other, 3, -5000),
    ]
    bundle = (await client.get(f"/v1/funding/bundles/{holder}/{YEAR}", headers=headers)).json()
    assert (bundle["care_at_holder"], bundle["care_elsewhere"]) == ("0.00", "0.00")
    months = {m["month"]: m for m in bundle["months"]}
    assert (months[2]["care_at_holder"], months[3]["care_at_holder"]) == ("80.00", "-80.00")


async def test_monthly_capitation_counts_member_months_less_withholding(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    await _bundle(client, session, headers)
    paid = {}
    for month in (1, 3, 4, 5):
        run = await client.post(
            f"/v1/funding/regions/{REGION}/{YEAR}/months/{month}/prepayment", headers=headers
        )
        [prepayment] = run.json()["prepayments"]
        paid[month] = (
            prepayment["basis"]["members"],
            prepayment["prepaid"],
            prepayment["withheld"],
        )
    assert paid == {
        1: ("2", "190.00", "10.00"),
        3: ("3", "285.00", "15.00"),  # P3 signed on 15 March counts for March
        4: ("3", "285.00", "15.00"),  # ... and for April, until the 10th
        5: ("2", "190.00", "10.00"),
    }


@pytest.mark.parametrize(
    ("care_at_holder", "care_elsewhere", "quality", "expected"),
    [
        # Capitation 26 member-months × 100.00 = 2,600.00, prepaid 2,470.00, withheld 130.00.
        # Surplus 2,600 − 800 − 500 = 1,300; retained 80% × 1,300 × quality share.
        # expected: (entitlement, retained surplus, released, forfeited, final clearing)
        ("800.00", "500.00", "95", ("1840.00", "1040.00", "130.00", "0.00", "-630.00")),
        ("800.00", "500.00", "75", ("1320.00", "520.00", "65.00", "65.00", "-1215.00")),
        ("800.00", "500.00", "50", ("800.00", "0.00", "0.00", "130.00", "-1800.00")),
        # Overspend: care 3,000 > 2,600: the holder gets 2,600 − 1,000 elsewhere = 1,600, not
        # its 2,000 of own care (超支不补).
        ("2000.00", "1000.00", "95", ("1600.00", "0.00", "130.00", "0.00", "-870.00")),
        # Elsewhere care beyond the whole capitation: nothing, never below zero.
        ("0.00", "3000.00", "95", ("0.00", "0.00", "130.00", "0.00", "-2470.00")),
    ],
)
async def test_year_end_retains_surplus_by_quality_and_never_tops_up(
    client: httpx.AsyncClient,
    session: AsyncSession,
    care_at_holder: str,
    care_elsewhere: str,
    quality: str,
    expected: tuple[str, ...],
) -> None:
    headers = await insurer_headers(session)
    holder = await _bundle(client, session, headers)
    other = await provider(session)
    await settle(session, facts(holder, _on(6, 1), care_at_holder, psn_no=P1))
    await settle(session, facts(other, _on(7, 1), care_elsewhere, psn_no=P2))
    for month in range(1, 13):
        await client.post(
            f"/v1/funding/regions/{REGION}/{YEAR}/months/{month}/prepayment", headers=headers
        )
    response = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/clearing",
        json={"quality_scores": [{"fixmedins_code": holder, "quality_score": quality}]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    [clearing] = response.json()["clearings"]
    assert clearing["bundle"]["capitation"] == "2600.00"
    assert clearing["bundle"]["member_months"] == 26
    assert (clearing["prepaid"], clearing["withheld"]) == ("2470.00", "130.00")
    assert (
        clearing["entitlement"],
        clearing["bundle"]["retained_surplus"],
        clearing["released"],
        clearing["forfeited"],
        clearing["final_clearing"],
    ) == expected
    summary = await client.get(f"/v1/funding/regions/{REGION}/{YEAR}/summary", headers=headers)
    [line] = summary.json()["bundles"]
    assert line["totals"]["paid_out"] == clearing["paid_out"]
    assert line["totals"]["withheld_pending"] == "0.00"


async def test_signing_rules(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await insurer_headers(session)
    holder = await _bundle(client, session, headers)
    other = await provider(session)
    await client.post(
        "/v1/funding/bundles",
        json={
            "admdvs": REGION,
            "fixmedins_code": other,
            "year": YEAR,
            "rate_per_member_month": "10.00",
            "withhold_ratio": "0",
            "surplus_retention_ratio": "1",
            "quality_full_score": "90",
            "quality_zero_score": "60",
        },
        headers=headers,
    )

    async def sign(code: str, *members: dict[str, str]) -> httpx.Response:
        return await client.post(
            f"/v1/funding/bundles/{code}/{YEAR}/members",
            json={"members": list(members)},
            headers=headers,
        )

    clash = await sign(other, {"psn_no": P1, "sign_date": "2025-06-01"})
    assert (clash.status_code, clash.json()["code"]) == (409, "already_signed")
    # P3 left the holder on 10 April, so another bundle may sign P3 from the 11th.
    moved = await sign(other, {"psn_no": P3, "sign_date": "2025-04-11"})
    assert moved.json()["signed"] == 1
    # Ending P1's signing is an update of the same signing.
    ended = await sign(holder, {"psn_no": P1, "sign_date": "2024-07-01", "end_date": "2025-05-31"})
    assert (ended.json()["signed"], ended.json()["updated"]) == (0, 1)
    assert (await sign(other, {"psn_no": P1, "sign_date": "2025-06-01"})).status_code == 200
    backwards = await sign(
        holder, {"psn_no": P2, "sign_date": "2025-06-01", "end_date": "2025-05-01"}
    )
    assert (backwards.status_code, backwards.json()["field"]) == (400, "members.0.end_date")
    outside = await sign(holder, {"psn_no": P2, "sign_date": "2026-01-01"})
    assert (outside.status_code, outside.json()["field"]) == (400, "members.0.sign_date")
    # Someone insured in another region reads as someone not insured at all.
    await insured(session, "PELSEWHERE0001", admdvs=OTHER_REGION)
    answers = [
        (r.status_code, r.json())
        for r in [
            await sign(holder, {"psn_no": psn_no, "sign_date": "2025-01-01"})
            for psn_no in ("PELSEWHERE0001", "PNOBODY0000001")
        ]
    ]
    assert answers[0] == answers[1]
    assert (answers[0][0], answers[0][1]["code"]) == (400, "unknown_person")
    care = facts(holder, _on(6, 2), "10.00", psn_no=P1)
    assert await settle(session, care) == "04"  # P1 is now the other bundle's member
    assert (await _entries(session, care.setl_id))[0][1] == other
