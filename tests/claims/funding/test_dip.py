"""DIP through the HTTP API (domain.md section 7): a region of three providers with known points
gives the point value, entitlements and balances due to the fen; the points table maps diagnoses
by exact code, then longest prefix; the clearing is reproducible."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door
from claims.funding.dip import entitlement, point_value
from claims.funding.models import FundingCaseEntry
from engine.money import ZERO, Money, cny
from tests.support.factories.funding import (
    REGION,
    Case,
    facts,
    insurer_headers,
    provider,
    route,
    settle,
)

YEAR = 2025


def scheme_body(**overrides: Any) -> dict[str, Any]:
    return {
        "admdvs": REGION,
        "year": YEAR,
        "regional_budget": "1000000.00",
        "adjustment_reserve": "100000.00",
        "provisional_point_value": "250.0000",
        "withhold_ratio": "0.05",
        "quality_full_score": "90",
        "quality_zero_score": "60",
        "med_types": ["21"],
        "groups": [
            {"dise_grp_code": "G-I10", "dise_grp_name": "高血压", "points": "100",
             "icd_prefixes": ["I10"]},
            {"dise_grp_code": "G-E11", "dise_grp_name": "2型糖尿病", "points": "250.5",
             "icd_prefixes": ["E11"]},
            {"dise_grp_code": "G-E11.9", "dise_grp_name": "2型糖尿病不伴并发症", "points": "300",
             "icd_codes": ["E11.900"]},
            {"dise_grp_code": "G-J", "dise_grp_name": "呼吸系统疾病", "points": "1000",
             "icd_prefixes": ["J"]},
            {"dise_grp_code": "G-J18", "dise_grp_name": "肺炎", "points": "1200",
             "icd_prefixes": ["J18"]},
        ],
    } | overrides  # fmt: skip


async def _scheme(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/v1/funding/dip-schemes", json=scheme_body(), headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _case(code: str, month: int, diagnosis: str, med_type: str = "21") -> Case:
    return facts(
        code, datetime(YEAR, month, 8, tzinfo=UTC), "1000.00", med_type=med_type,
        dise_codg=diagnosis,
    )  # fmt: skip


async def test_cases_map_by_exact_code_then_longest_prefix(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _scheme(client, await insurer_headers(session))
    code = await provider(session)
    expected = {
        "E11.900": ("05", "G-E11.9"),  # the exact code beats the E11 prefix
        "E11.200": ("05", "G-E11"),
        "J18.000": ("05", "G-J18"),  # the longer prefix wins
        "J45.900": ("05", "G-J"),
        "i10.x00": ("05", "G-I10"),  # codes are compared upper-cased
        "K35.800": ("01", None),  # no group
    }
    for diagnosis, (clr_way, group) in expected.items():
        case = _case(code, 3, diagnosis)
        assert await settle(session, case) == clr_way, diagnosis
        [entry] = await session.scalars(
            select(FundingCaseEntry).where(FundingCaseEntry.setl_id == case.setl_id)
        )
        assert (entry.kind, entry.dise_grp_code) == (
            ("dip_points", group) if group else ("fund_share", None)
        )
    outpatient = _case(code, 3, "I10.x00", med_type="11")
    assert (await route(session, outpatient)).clr_way == "01"  # not a DIP med_type
    no_scheme_year = facts(code, datetime(YEAR + 1, 3, 8, tzinfo=UTC), "1.00", med_type="21")
    assert (await route(session, no_scheme_year)).clr_way == "01"


async def test_three_providers_point_value_entitlements_and_balances_to_the_fen(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    await _scheme(client, headers)
    a, b, c = [await provider(session) for _ in range(3)]
    # A: four hypertension cases in March (400 points), one revoked in May: 300 points.
    a_cases = [_case(a, 3, "I10.x00") for _ in range(4)]
    for case in a_cases:
        assert await settle(session, case) == "05"
    await door.record_revocation(session, a_cases[0].setl_id, datetime(YEAR, 5, 2, tzinfo=UTC))
    # B: 2 × 300 (exact E11.900) + 250.5 (E11 prefix) in March: 850.5 points.
    for diagnosis in ("E11.900", "E11.900", "E11.200"):
        await settle(session, _case(b, 3, diagnosis))
    # C: 1,200 (J18) + 1,000 (J) in April: 2,200 points.
    for diagnosis in ("J18.000", "J45.900"):
        await settle(session, _case(c, 4, diagnosis))

    paid: dict[str, tuple[str, str]] = {}
    for month in (3, 4, 5):
        run = await client.post(
            f"/v1/funding/regions/{REGION}/{YEAR}/months/{month}/prepayment", headers=headers
        )
        assert run.status_code == 200, run.text
        for p in run.json()["prepayments"]:
            paid[f"{p['fixmedins_code']}/{month}"] = (p["prepaid"], p["withheld"])
    assert paid == {
        f"{a}/3": ("95000.00", "5000.00"),  # 400 × 250.0000 = 100,000.00, 5% deposit
        f"{b}/3": ("201993.75", "10631.25"),  # 850.5 × 250 = 212,625.00
        f"{c}/4": ("522500.00", "27500.00"),  # 2,200 × 250 = 550,000.00
        f"{a}/5": ("0.00", "0.00"),  # −100 points: nothing prepaid
    }

    response = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/clearing",
        json={
            "quality_scores": [
                {"fixmedins_code": a, "quality_score": "95"},
                {"fixmedins_code": b, "quality_score": "75"},
                {"fixmedins_code": c, "quality_score": "50"},
            ]
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    clearings = {x["fixmedins_code"]: x for x in response.json()["clearings"]}
    # Point value = (1,000,000 − 100,000) ÷ 3,350.5 = 268.61662438442023…, rounded down at 10.
    for x in clearings.values():
        assert x["dip"]["point_value"] == "268.6166243844"
        assert x["dip"]["total_points"] == "3350.5000"
        assert x["dip"]["distributable"] == "900000.00"
    figures = {
        code: (x["dip"]["points"], x["entitlement"], x["forfeited"], x["final_clearing"])
        for code, x in clearings.items()
    }
    assert figures == {
        # 300 × v = 80,584.98731532: A overpaid by its revoked case, so it pays back.
        a: ("300.0000", "80584.99", "0.00", "-14415.01"),
        # 850.5 × v = 228,458.43903893; q 75 releases half of 10,631.25 (5,315.63).
        b: ("850.5000", "228458.44", "5315.62", "21149.07"),
        # 2,200 × v = 590,956.57364568; q 50 forfeits the whole 27,500.00 deposit.
        c: ("2200.0000", "590956.57", "27500.00", "40956.57"),
    }
    total = sum((cny(x["entitlement"]) for x in clearings.values()), ZERO)
    assert abs(total.amount - Decimal("900000.00")) <= Decimal("0.01") * len(clearings)

    scheme = await client.get(f"/v1/funding/dip-schemes/{REGION}/{YEAR}", headers=headers)
    assert scheme.json()["point_value"] == "268.6166243844"
    assert [(p["fixmedins_code"], p["totals"]["paid_out"]) for p in scheme.json()["providers"]] == (
        sorted((code, x["paid_out"]) for code, x in clearings.items())
    )

    again = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/clearing",
        json={
            "quality_scores": [
                {"fixmedins_code": code, "quality_score": q}
                for code, q in ((c, "50"), (a, "95"), (b, "75"))
            ]
        },
        headers=headers,
    )
    assert again.json() == response.json()


async def test_scheme_set_up_refusals(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await insurer_headers(session)
    url = "/v1/funding/dip-schemes"
    twice = scheme_body(
        groups=[
            {"dise_grp_code": "A", "dise_grp_name": "a", "points": "1", "icd_prefixes": ["I10"]},
            {"dise_grp_code": "B", "dise_grp_name": "b", "points": "2", "icd_prefixes": ["i10"]},
        ]
    )
    refused = await client.post(url, json=twice, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (400, "icd_mapped_twice")
    unmapped = scheme_body(groups=[{"dise_grp_code": "A", "dise_grp_name": "a", "points": "1"}])
    refused = await client.post(url, json=unmapped, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (400, "group_unmapped")
    reserve = scheme_body(adjustment_reserve="1000000.01")
    refused = await client.post(url, json=reserve, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (400, "adjustment_reserve")
    assert (await client.post(url, json=scheme_body(), headers=headers)).status_code == 201
    refused = await client.post(url, json=scheme_body(), headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "dip_scheme_exists")


points = st.decimals(min_value=0, max_value=10_000_000, places=4, allow_nan=False)


@given(
    budget_fen=st.integers(1, 10**13),
    provider_points=st.lists(points, min_size=1, max_size=40).filter(lambda ps: sum(ps) > 0),
)
def test_entitlements_sum_to_the_distributable_budget_within_a_fen_per_provider(
    budget_fen: int, provider_points: list[Decimal]
) -> None:
    distributable = Money(Decimal(budget_fen) / 100, "CNY")
    value = point_value(distributable, sum(provider_points, Decimal(0)))
    assert value == point_value(distributable, sum(reversed(provider_points), Decimal(0)))
    total = sum((entitlement(p, value) for p in provider_points), ZERO)
    assert abs(total.amount - distributable.amount) <= Decimal("0.01") * len(provider_points)
    assert total.amount <= distributable.amount + Decimal("0.005") * len(provider_points)
