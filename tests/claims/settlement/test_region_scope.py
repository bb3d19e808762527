"""Region scope: a visit only for a person insured in the institution's own region, insurers
reading and listing their own region only, and the operator's keys doing no insurer work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Visit
from engine.auth import Role
from tests.support.factories.clearing import revoked, settled
from tests.support.factories.funding import budget_body
from tests.support.factories.orgs import make_key, make_org
from tests.support.factories.world import World, build_world, make_certno

REGION_A, REGION_B = "230100", "230200"
THIS_YEAR_AND_NEXT = {"begin": "2026-01-01T00:00:00+08:00", "end": "2028-01-01T00:00:00+08:00"}


@pytest.fixture
async def here(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=REGION_A, hospital_levels=(3, 2))


@pytest.fixture
async def there(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=REGION_B)


async def _visits(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Visit)) or 0)


def _refusal(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


async def test_a_person_insured_in_another_region_reads_as_unknown_and_nothing_changes(
    here: World, there: World, session: AsyncSession
) -> None:
    psn_no, certno = await here.enrol(acct_balc="500.00")
    visits_before = await _visits(session)

    elsewhere = await there.visit(psn_no, certno, expect=404)
    unknown = await there.visit("P" + "0" * 16, make_certno(), expect=404)
    wrong_certificate = await here.visit(psn_no, make_certno(), expect=404)
    assert elsewhere == unknown == wrong_certificate
    assert (elsewhere["code"], elsewhere["field"]) == ("unknown_person", "psn_no")
    assert await _visits(session) == visits_before

    person = await here.client.get(f"/v1/persons/{psn_no}", headers=here.insurer)
    assert person.json()["acct_balc"] == "500.00"
    # The person's own region still registers the visit.
    assert (await here.visit(psn_no, certno, dr=None))["psn_no"] == psn_no


async def test_an_insurer_sees_no_person_or_settlement_of_another_region(
    here: World, there: World
) -> None:
    settlement = await settled(here)
    person = await there.client.get(f"/v1/persons/{settlement['psn_no']}", headers=there.insurer)
    nobody = await there.client.get(f"/v1/persons/{'P' + '0' * 16}", headers=there.insurer)
    assert _refusal(person) == _refusal(nobody)
    assert person.status_code == 404
    read = await there.client.get(f"/v1/settlements/{settlement['setl_id']}", headers=there.insurer)
    missing = await there.client.get(f"/v1/settlements/{'S' + '0' * 20}", headers=there.insurer)
    assert _refusal(read) == _refusal(missing)
    assert read.status_code == 404


async def test_an_insurer_lists_its_regions_settlements_page_by_page(
    here: World, there: World
) -> None:
    first = await settled(here, hospital=0)
    second = await settled(here, hospital=1)
    await settled(there)
    await revoked(here, second, hospital=1)

    async def page(**params: Any) -> dict[str, Any]:
        response = await here.client.get(
            "/v1/settlements", params=THIS_YEAR_AND_NEXT | params, headers=here.insurer
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    listed = await page()
    assert {s["setl_id"] for s in listed["items"]} == {first["setl_id"], second["setl_id"]}
    one = await page(limit=1)
    rest = await page(limit=1, cursor=one["next_cursor"])
    assert [*one["items"], *rest["items"]] == listed["items"]
    assert rest["next_cursor"] is None
    code, _ = here.hospital(1)
    only = await page(fixmedins_code=code)
    assert [s["setl_id"] for s in only["items"]] == [second["setl_id"]]
    assert [s["setl_id"] for s in (await page(status="revoked"))["items"]] == [second["setl_id"]]
    assert [s["setl_id"] for s in (await page(status="settled"))["items"]] == [first["setl_id"]]


async def test_naming_an_institution_out_of_scope_reads_as_an_unknown_one(
    here: World, there: World
) -> None:
    """Listing, 3201 and 3202 for another region's institution (an insurer) or another
    institution (a hospital) answer as for a code nobody registered."""
    await settled(here)
    theirs, _ = here.hospital(0)
    nobody = "H" + "0" * 10
    totals = {
        "insutype": "390",
        "clr_type": "11",
        "stmt_begndate": "2026-01-01",
        "stmt_enddate": "2026-12-31",
        "fixmedins_setl_cnt": 0,
        "medfee_sumamt": "0",
        "fund_pay_sumamt": "0",
        "acct_pay": "0",
    }
    for headers in (there.insurer, there.hospital(0)[1], here.hospital(1)[1]):
        answers = [
            [
                await here.client.get(
                    "/v1/settlements",
                    params=THIS_YEAR_AND_NEXT | {"fixmedins_code": code},
                    headers=headers,
                ),
                await here.client.post(
                    "/v1/reconciliation/totals",
                    json=totals | {"fixmedins_code": code},
                    headers=headers,
                ),
                await here.client.get(
                    "/v1/clearing/batches", params={"fixmedins_code": code}, headers=headers
                ),
            ]
            for code in (theirs, nobody)
        ]
        assert [_refusal(r) for r in answers[0]] == [_refusal(r) for r in answers[1]]
        assert {(r.status_code, r.json()["code"]) for r in answers[0]} == {
            (404, "unknown_institution")
        }


async def test_an_insurer_cannot_fund_another_regions_institution(
    here: World, there: World
) -> None:
    theirs, _ = here.hospital(0)
    attempts = [
        await there.client.post(
            "/v1/funding/budgets",
            json=budget_body(code, 2026, "1000.00", admdvs=REGION_B),
            headers=there.insurer,
        )
        for code in (theirs, "H" + "0" * 10)
    ]
    assert _refusal(attempts[0]) == _refusal(attempts[1])
    assert (attempts[0].status_code, attempts[0].json()["code"]) == (400, "unknown_institution")


async def test_the_operator_manages_organisations_not_insurance(
    here: World, session: AsyncSession
) -> None:
    operator = await make_key(session, await make_org(session, role=Role.admin))
    psn_no, _ = await here.enrol()
    code, _ = here.hospital(0)
    attempts = [
        await here.client.post(
            "/v1/persons",
            json={
                "psn_no": "PX1",
                "psn_name": "x",
                "certno": make_certno(),
                "admdvs": REGION_A,
                "insutype": "310",
            },
            headers=operator,
        ),
        await here.client.get(f"/v1/persons/{psn_no}", headers=operator),
        await here.client.post(
            "/v1/funding/budgets", json=budget_body(code, 2026, "1000.00"), headers=operator
        ),
        await here.client.post(
            f"/v1/funding/regions/{REGION_A}/2026/months/1/prepayment", headers=operator
        ),
        await here.client.patch(
            f"/v1/registry/institutions/{code}", json={"fixmedins_name": "x"}, headers=operator
        ),
        await here.client.get("/v1/settlements", params=THIS_YEAR_AND_NEXT, headers=operator),
    ]
    assert [(a.status_code, a.json()["code"]) for a in attempts] == [(403, "forbidden")] * len(
        attempts
    )
    created = await here.client.post(
        "/v1/admin/organisations",
        json={"name": "insurer", "role": "insurer", "admdvs": "230300"},
        headers=operator,
    )
    assert created.status_code == 201, created.text
