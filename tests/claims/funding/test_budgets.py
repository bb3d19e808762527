"""Global budgets through the HTTP API (domain.md section 7): hand-computed year-end figures for
each band and quality scores 95, 75 and 50, monthly prepayment paying once, and the refusals.

Every case uses B = 1,200,000.00 (B/12 = 100,000.00), withholding 5%, surplus retention 50% capped
at 5% of B, overspend sharing 50% up to a 110% corridor, quality thresholds 90 / 60.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door
from claims.funding.budgets import BudgetTerms, twelfth
from claims.funding.models import FundingLedgerEntry
from engine.auth import Role
from engine.money import cny
from tests.support.factories.funding import (
    OTHER_REGION,
    REGION,
    budget_body,
    facts,
    insurer_headers,
    provider,
    settle,
)
from tests.support.factories.orgs import make_key, make_org

YEAR = 2025


async def _budget_year(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: dict[str, str],
    monthly_shares: dict[int, str],
    **terms: Any,
) -> str:
    """A provider with a 1,200,000.00 budget for 2025, one settlement per listed month, and all
    twelve months prepaid."""
    code = await provider(session)
    created = await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00", **terms), headers=headers
    )
    assert created.status_code == 201, created.text
    for month, share in monthly_shares.items():
        assert (
            await settle(session, facts(code, datetime(YEAR, month, 10, tzinfo=UTC), share)) == "01"
        )
    for month in range(1, 13):
        run = await client.post(
            f"/v1/funding/regions/{REGION}/{YEAR}/months/{month}/prepayment", headers=headers
        )
        assert run.status_code == 200, run.text
    return code


async def _clear(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, quality_score: str
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/clearing",
        json={"quality_scores": [{"fixmedins_code": code, "quality_score": quality_score}]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    [clearing] = response.json()["clearings"]
    return dict(clearing)


SURPLUS = dict.fromkeys(range(1, 11), "100000.00")  # A = 1,000,000.00
SURPLUS_UNCAPPED = dict.fromkeys(range(1, 12), "100000.00")  # A = 1,100,000.00
WITHIN_CORRIDOR = dict.fromkeys(range(1, 13), "105000.00")  # A = 1,260,000.00
BEYOND_CORRIDOR = dict.fromkeys(range(1, 13), "125000.00")  # A = 1,500,000.00
BEYOND = "overspend_beyond_corridor"


@pytest.mark.parametrize(
    ("shares", "quality", "band", "expected"),
    [
        # A ≤ B: entitlement = A + min(50% × (B − A), 5% × B) = 1,000,000 + min(100,000, 60,000).
        # Ten months prepaid 95,000.00 with 5,000.00 withheld: P = 950,000, W = 50,000.
        # expected: (entitlement, released, forfeited, final clearing, paid out)
        (SURPLUS, "95", "surplus", (1_060_000, 50_000, 0, 110_000, 1_060_000)),
        (SURPLUS, "75", "surplus", (1_060_000, 25_000, 25_000, 85_000, 1_035_000)),
        (SURPLUS, "50", "surplus", (1_060_000, 0, 50_000, 60_000, 1_010_000)),
        # 50% × 100,000 = 50,000 is under the 60,000 cap: entitlement 1,150,000; P = 1,045,000.
        (SURPLUS_UNCAPPED, "95", "surplus", (1_150_000, 55_000, 0, 105_000, 1_150_000)),
        # B < A ≤ 1.1 B: B + 50% × 60,000 = 1,230,000; every month capped at B/12, so
        # P = 12 × 95,000 = 1,140,000 and W = 60,000.
        (WITHIN_CORRIDOR, "95", "overspend_shared", (1_230_000, 60_000, 0, 90_000, 1_230_000)),
        (WITHIN_CORRIDOR, "75", "overspend_shared", (1_230_000, 30_000, 30_000, 60_000, 1_200_000)),
        (WITHIN_CORRIDOR, "50", "overspend_shared", (1_230_000, 0, 60_000, 30_000, 1_170_000)),
        # A > 1.1 B: B + 50% × (1,320,000 − 1,200,000) = 1,260,000; the rest is not paid.
        (BEYOND_CORRIDOR, "95", BEYOND, (1_260_000, 60_000, 0, 120_000, 1_260_000)),
        (BEYOND_CORRIDOR, "75", BEYOND, (1_260_000, 30_000, 30_000, 90_000, 1_230_000)),
        (BEYOND_CORRIDOR, "50", BEYOND, (1_260_000, 0, 60_000, 60_000, 1_200_000)),
    ],
)
async def test_year_end_bands_and_quality_scores_give_exact_figures(
    client: httpx.AsyncClient,
    session: AsyncSession,
    shares: dict[int, str],
    quality: str,
    band: str,
    expected: tuple[int, ...],
) -> None:
    headers = await insurer_headers(session)
    code = await _budget_year(client, session, headers, shares)
    clearing = await _clear(client, headers, code, quality)
    entitlement, released, forfeited, final, paid_out = (f"{yuan}.00" for yuan in expected)
    assert clearing["budget"]["band"] == band
    assert (
        clearing["entitlement"],
        clearing["released"],
        clearing["forfeited"],
        clearing["final_clearing"],
        clearing["paid_out"],
    ) == (entitlement, released, forfeited, final, paid_out)
    # final clearing = entitlement − forfeited withholding − prepayments
    assert cny(clearing["final_clearing"]) == (
        cny(clearing["entitlement"]) - cny(clearing["forfeited"]) - cny(clearing["prepaid"])
    )
    ledger = await client.get(f"/v1/funding/providers/{code}/{YEAR}/ledger", headers=headers)
    assert ledger.json()["totals"] == {
        "balance": paid_out,
        "paid_out": paid_out,
        "withheld_pending": "0.00",
    }


async def test_beyond_corridor_reports_the_unpaid_part(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await _budget_year(client, session, headers, BEYOND_CORRIDOR)
    figures = (await _clear(client, headers, code, "95"))["budget"]
    assert figures == {
        "budget_amt": "1200000.00",
        "fund_share": "1500000.00",
        "band": "overspend_beyond_corridor",
        "retained_surplus": "0.00",
        "shared_overspend": "60000.00",
        "unpaid_overspend": "240000.00",
    }


async def test_final_clearing_is_negative_when_prepayments_exceed_the_entitlement(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """January is prepaid on a 100,000.00 settlement that is revoked in February: the year's fund
    share is 0 and, with no surplus retention, the 95,000.00 prepaid is clawed back."""
    headers = await insurer_headers(session)
    code = await provider(session)
    body = budget_body(code, YEAR, "1200000.00", surplus_retention_ratio="0")
    assert (await client.post("/v1/funding/budgets", json=body, headers=headers)).status_code == 201
    settlement = facts(code, datetime(YEAR, 1, 10, tzinfo=UTC), "100000.00")
    await settle(session, settlement)
    january = f"/v1/funding/regions/{REGION}/{YEAR}/months/1/prepayment"
    assert (await client.post(january, headers=headers)).json()["prepayments"][0]["prepaid"] == (
        "95000.00"
    )
    await door.record_revocation(session, settlement.setl_id, datetime(YEAR, 2, 3, tzinfo=UTC))
    february = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/months/2/prepayment", headers=headers
    )
    assert february.json()["prepayments"][0] | {"scheme_id": None} == {
        "scheme": "global_budget",
        "scheme_id": None,
        "fixmedins_code": code,
        "year": YEAR,
        "month": 2,
        "gross": "0.00",
        "prepaid": "0.00",
        "withheld": "0.00",
        "basis": {"fund_share": "-100000.00", "monthly_cap": "100000.00"},
    }
    clearing = await _clear(client, headers, code, "95")
    assert (clearing["entitlement"], clearing["final_clearing"], clearing["paid_out"]) == (
        "0.00",
        "-95000.00",
        "0.00",
    )


async def test_a_month_is_prepaid_once_however_often_it_is_run(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00"), headers=headers
    )
    await settle(session, facts(code, datetime(YEAR, 3, 5, tzinfo=UTC), "40000.00"))
    url = f"/v1/funding/regions/{REGION}/{YEAR}/months/3/prepayment"
    first = await client.post(url, headers=headers)
    # A settlement arriving after the run does not change what the month paid.
    await settle(session, facts(code, datetime(YEAR, 3, 30, tzinfo=UTC), "1000.00"))
    second = await client.post(url, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["prepayments"][0]["prepaid"] == "38000.00"
    assert first.json()["prepayments"][0]["withheld"] == "2000.00"
    rows = await session.scalar(
        select(func.count())
        .select_from(FundingLedgerEntry)
        .where(FundingLedgerEntry.fixmedins_code == code, FundingLedgerEntry.period == 3)
    )
    assert rows == 2
    budget = (await client.get(f"/v1/funding/budgets/{code}/{YEAR}", headers=headers)).json()
    assert budget["months"] == [
        {"month": 3, "fund_share": "41000.00", "prepaid": "38000.00", "withheld": "2000.00"}
    ]
    assert budget["fund_share"] == "41000.00"
    assert budget["burn_ratio"] == "0.0342"
    assert budget["totals"] == {
        "balance": "40000.00",
        "paid_out": "38000.00",
        "withheld_pending": "2000.00",
    }


async def test_clearing_again_replays_and_another_score_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await _budget_year(client, session, headers, SURPLUS)
    first = await _clear(client, headers, code, "75")
    assert await _clear(client, headers, code, "75") == first
    refused = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/clearing",
        json={"quality_scores": [{"fixmedins_code": code, "quality_score": "95"}]},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "already_cleared"


async def test_a_month_not_run_before_the_clearing_is_never_paid_after_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00"), headers=headers
    )
    await settle(session, facts(code, datetime(YEAR, 1, 10, tzinfo=UTC), "1000.00"))
    january = f"/v1/funding/regions/{REGION}/{YEAR}/months/1/prepayment"
    paid = (await client.post(january, headers=headers)).json()
    await _clear(client, headers, code, "95")
    assert (await client.post(january, headers=headers)).json() == paid
    late = await client.post(
        f"/v1/funding/regions/{REGION}/{YEAR}/months/2/prepayment", headers=headers
    )
    assert (late.status_code, late.json()["code"]) == (409, "year_cleared")
    ledger = await client.get(f"/v1/funding/providers/{code}/{YEAR}/ledger", headers=headers)
    assert [(e["period"], e["kind"], e["amount"]) for e in ledger.json()["entries"]] == [
        (1, "prepaid", "950.00"),
        (1, "withheld", "50.00"),
        (13, "released", "-50.00"),
        (13, "forfeited", "0.00"),
        # 1,000 + min(50% × 1,199,000, 60,000) − 0 − 950
        (13, "clearing", "60050.00"),
    ]


async def test_runs_refuse_periods_that_have_not_begun_or_ended(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    future = await client.post(
        f"/v1/funding/regions/{REGION}/2099/months/1/prepayment", headers=headers
    )
    assert (future.status_code, future.json()["code"]) == (400, "period_not_started")
    this_year = datetime.now(UTC).year
    early = await client.post(
        f"/v1/funding/regions/{REGION}/{this_year}/clearing",
        json={"quality_scores": [{"fixmedins_code": "H1", "quality_score": "90"}]},
        headers=headers,
    )
    assert (early.status_code, early.json()["code"]) == (400, "year_not_over")


async def test_quality_scores_must_cover_exactly_the_region_providers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00"), headers=headers
    )
    url = f"/v1/funding/regions/{REGION}/{YEAR}/clearing"
    stranger = await client.post(
        url,
        json={"quality_scores": [{"fixmedins_code": "H0NOBODY", "quality_score": "90"}]},
        headers=headers,
    )
    assert (stranger.status_code, stranger.json()["code"]) == (400, "no_funding_scheme")
    other = await provider(session)
    await client.post("/v1/funding/budgets", json=budget_body(other, YEAR, "1.00"), headers=headers)
    missing = await client.post(
        url,
        json={"quality_scores": [{"fixmedins_code": code, "quality_score": "90"}]},
        headers=headers,
    )
    assert (missing.status_code, missing.json()["code"]) == (400, "quality_score_missing")
    assert other in missing.json()["message"]


async def test_set_up_refusals(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    body = budget_body(code, YEAR, "1200000.00")
    assert (await client.post("/v1/funding/budgets", json=body, headers=headers)).status_code == 201
    twice = await client.post("/v1/funding/budgets", json=body, headers=headers)
    assert (twice.status_code, twice.json()["code"]) == (409, "budget_exists")
    unknown = await client.post(
        "/v1/funding/budgets", json=budget_body("H0NOBODY", YEAR, "1.00"), headers=headers
    )
    assert (unknown.status_code, unknown.json()["field"]) == (400, "fixmedins_code")
    bad_ratio = await client.post(
        "/v1/funding/budgets",
        json=budget_body(code, YEAR + 1, "1.00", withhold_ratio="1.5"),
        headers=headers,
    )
    assert (bad_ratio.status_code, bad_ratio.json()["field"]) == (422, "withhold_ratio")


async def test_roles_and_regions(client: httpx.AsyncClient, session: AsyncSession) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00"), headers=headers
    )
    hospital = await make_key(session, await make_org(session, role=Role.hospital, admdvs=REGION))
    stranger = await insurer_headers(session, OTHER_REGION)
    admin = await make_key(session, await make_org(session, role=Role.admin))
    budget_url = f"/v1/funding/budgets/{code}/{YEAR}"
    assert (await client.get(budget_url, headers=hospital)).status_code == 403
    foreign = await client.get(budget_url, headers=stranger)
    unknown = await client.get(f"/v1/funding/budgets/{code}/{YEAR + 1}", headers=stranger)
    assert (foreign.status_code, foreign.json()) == (404, unknown.json())
    # The operator's keys manage organisations and keys, not a region's funding.
    assert (await client.get(budget_url, headers=admin)).status_code == 403
    run = f"/v1/funding/regions/{REGION}/{YEAR}/months/1/prepayment"
    assert (await client.post(run, headers=stranger)).status_code == 403
    assert (await client.post(run, headers=admin)).status_code == 403
    assert (await client.post(run, headers=headers)).status_code == 200
    summary = f"/v1/funding/regions/{REGION}/{YEAR}/summary"
    assert (await client.get(summary, headers=stranger)).status_code == 404
    elsewhere = await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR + 1, "1.00"), headers=stranger
    )
    assert elsewhere.status_code == 403


async def test_region_summary_shows_budget_burn(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    await client.post(
        "/v1/funding/budgets", json=budget_body(code, YEAR, "1200000.00"), headers=headers
    )
    await settle(session, facts(code, datetime(YEAR, 1, 31, 15, 59, tzinfo=UTC), "30000.00"))
    # 16:00 UTC on 31 January is 1 February in the region (UTC+8): February's share.
    await settle(session, facts(code, datetime(YEAR, 1, 31, 16, 0, tzinfo=UTC), "120000.00"))
    for month in (1, 2):
        await client.post(
            f"/v1/funding/regions/{REGION}/{YEAR}/months/{month}/prepayment", headers=headers
        )
    summary = await client.get(f"/v1/funding/regions/{REGION}/{YEAR}/summary", headers=headers)
    assert summary.status_code == 200
    [line] = summary.json()["budgets"]
    assert line == {
        "fixmedins_code": code,
        "budget_amt": "1200000.00",
        "fund_share": "150000.00",
        "burn_ratio": "0.1250",
        # January 30,000 × 95%; February capped at 100,000 × 95%.
        "totals": {"balance": "130000.00", "paid_out": "123500.00", "withheld_pending": "6500.00"},
        "cleared": False,
    }


def test_monthly_cap_is_b_over_twelve_half_up() -> None:
    assert twelfth(cny("1000000.06")) == cny("83333.34")  # 83,333.338333…
    assert twelfth(cny("0.06")) == cny("0.01")  # exactly half a fen rounds up
    terms = BudgetTerms(cny("1200000.00"), *(cny("0").amount,) * 3, cny("1.1").amount)
    assert terms.month_gross(cny("-5.00")) == cny("0")
