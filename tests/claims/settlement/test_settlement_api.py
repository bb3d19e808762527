"""One-stop settlement through the HTTP API: docs/domain.md section 13 worked examples A-D, the
lifecycle pre-settle → settle → revoke → settle again, and the refusals that change nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Settlement
from tests.support.factories.settlement import ledger_state
from tests.support.factories.world import CLASS_A_ITEM, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


def _amounts(body: dict[str, Any], *names: str) -> dict[str, str]:
    return {name: body[name] for name in names}


async def _in_person_history(world: World, psn_no: str, certno: str) -> None:
    """The in-person diagnosis an internet follow-up needs (same ICD-10 category, I10)."""
    await world.visit(psn_no, certno, when=datetime(2026, 1, 10, 10, 0))


async def test_example_a_employee_internet_followup(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="310", acct_balc="100.00")
    await world.opening(
        psn_no, categories=[{"insutype": "310", "med_type": "11", "deductible_used": "150.00"}]
    )
    await _in_person_history(world, psn_no, certno)
    visit = await world.visit(psn_no, certno, biz_type_code="02")
    assert visit["insurance_payable"] is True
    fees = await world.example_a_lines(visit["mdtrt_id"])
    assert [line["det_item_fee_sumamt"] for line in fees["feedetail"]] == [
        "7.00",
        "51.00",
        "128.40",
        "15.00",
        "10.00",
    ]
    assert fees["feedetail"][2]["overlmt_amt"] == "8.40"
    assert fees["feedetail"][2]["preselfpay_amt"] == "12.00"

    response = await world.settle(visit["mdtrt_id"], acct_used_flag=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert _amounts(
        body,
        "medfee_sumamt",
        "fulamt_ownpay_amt",
        "overlmt_selfpay",
        "preselfpay_amt",
        "inscp_scp_amt",
        "act_pay_dedc",
        "hifp_pay",
        "fund_pay_sumamt",
        "psn_part_amt",
        "acct_pay",
        "psn_cash_pay",
        "balc",
    ) == {
        "medfee_sumamt": "211.40",
        "fulamt_ownpay_amt": "25.00",
        "overlmt_selfpay": "8.40",
        "preselfpay_amt": "12.00",
        "inscp_scp_amt": "166.00",
        "act_pay_dedc": "50.00",
        "hifp_pay": "58.00",
        "fund_pay_sumamt": "58.00",
        "psn_part_amt": "153.40",
        "acct_pay": "100.00",
        "psn_cash_pay": "53.40",
        "balc": "0.00",
    }
    assert body["setldetail"] == [
        {
            "fund_pay_type": "310100",
            "fund_payamt": "58.00",
            "inscp_scp_amt": "116.00",
            "crt_payb_lmt_amt": "5000.00",
            "setl_proc_info": body["setldetail"][0]["setl_proc_info"],
        }
    ]
    assert body["clr_type"] == "11" and body["status"] == "settled"
    explained = body["explanation"]
    assert {line["feedetl_sn"] for line in explained["lines"]} == {"1", "2", "3", "4", "5"}
    assert explained["deductible"]["act_pay_dedc"] == "50.00"


async def test_example_b_resident_dibao_chronic(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="390", asst_type="dibao", opsp_dise_codes=["I10"])
    visit = await world.visit(psn_no, certno, med_type="14")
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "300.00")])
    body = (await world.settle(visit["mdtrt_id"])).json()
    assert _amounts(
        body,
        "inscp_scp_amt",
        "hifp_pay",
        "maf_pay",
        "fund_pay_sumamt",
        "psn_part_amt",
        "psn_cash_pay",
    ) == {
        "inscp_scp_amt": "300.00",
        "hifp_pay": "180.00",
        "maf_pay": "84.00",
        "fund_pay_sumamt": "264.00",
        "psn_part_amt": "36.00",
        "psn_cash_pay": "36.00",
    }
    assert {d["fund_pay_type"]: d["fund_payamt"] for d in body["setldetail"]} == {
        "390100": "180.00",
        "610100": "84.00",
    }


async def test_example_c_resident_crossing_critical_illness_threshold(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="390", opsp_dise_codes=["E11"])
    await world.opening(psn_no, inscp_psn_cum="14800.00")
    visit = await world.visit(psn_no, certno, med_type="14", diag="E11.900")
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "2000.00")])
    body = (await world.settle(visit["mdtrt_id"])).json()
    assert _amounts(body, "hifp_pay", "hifmi_pay", "psn_part_amt") == {
        "hifp_pay": "1200.00",
        "hifmi_pay": "360.00",
        "psn_part_amt": "440.00",
    }


async def test_example_d_annual_cap(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="310")
    await world.opening(
        psn_no,
        categories=[
            {
                "insutype": "310",
                "med_type": "11",
                "deductible_used": "200.00",
                "hifp_paid": "4950.00",
            }
        ],
    )
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "300.00")])
    body = (await world.settle(visit["mdtrt_id"])).json()
    assert body["hifp_pay"] == "50.00"
    assert body["psn_part_amt"] == "250.00"


async def test_a_claim_counts_against_its_own_category_and_the_year_it_began_in_china(
    world: World,
) -> None:
    """The claim read brings every accumulator category of the person's year, and the year is the
    visit's in China Standard Time: a visit at 00:30 on 1 January (16:30 UTC the day before)
    settles on that year's figures of the category its policy names, whatever else is on file."""
    spent = {"hifp_paid": "100.00"}
    exhausted = {"hifp_paid": "800.00"}  # 390-11's annual cap, within the others'
    # (a visit read in UTC would fall in 2025 and find no figures: `alone != without_opening`)
    amounts: list[dict[str, str]] = []
    for noise in (True, False, None):  # other categories and years on file, none, no opening
        psn_no, certno = await world.enrol(insutype="390")
        if noise is not None:
            await world.opening(psn_no, categories=[{"insutype": "390", "med_type": "11"} | spent])
        if noise:
            other = [{"insutype": "310", "med_type": "11"}, {"insutype": "390", "med_type": "14"}]
            await world.opening(psn_no, categories=[o | exhausted for o in other])
            await world.opening(
                psn_no, year=2027, categories=[{"insutype": "390", "med_type": "11"} | exhausted]
            )
        visit = await world.visit(psn_no, certno, when=datetime(2026, 1, 1, 0, 30))
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "3000.00")])
        response = await world.settle(visit["mdtrt_id"])
        assert response.status_code == 201, response.text
        amounts.append(_amounts(response.json(), "act_pay_dedc", "hifp_pay", "psn_part_amt"))
    with_noise, alone, without_opening = amounts
    assert with_noise == alone
    assert alone != without_opening  # the opening figures were read at all
    assert alone["hifp_pay"] != "0.00"


async def test_presettle_settle_revoke_and_settle_again(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol(insutype="310", acct_balc="100.00")
    await world.opening(
        psn_no, categories=[{"insutype": "310", "med_type": "11", "deductible_used": "150.00"}]
    )
    visit = await world.visit(psn_no, certno)
    mdtrt_id = visit["mdtrt_id"]
    await world.example_a_lines(mdtrt_id)
    before = await ledger_state(session, psn_no)

    _, headers = world.hospital()
    pre = await world.client.post(
        f"/v1/visits/{mdtrt_id}/pre-settlement", json={"acct_used_flag": True}, headers=headers
    )
    assert pre.status_code == 200, pre.text
    assert pre.json()["setl_id"] is None and pre.json()["status"] == "presettled"
    assert await ledger_state(session, psn_no) == before  # pre-settle changes nothing

    settled = await world.settle(
        mdtrt_id, acct_used_flag=True, presettle_token=pre.json()["presettle_token"]
    )
    body = settled.json()
    assert body["accumulators_changed"] is False
    for name in ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay"):
        assert body[name] == pre.json()[name]
    assert await ledger_state(session, psn_no) != before

    revoked = await world.revoke(body["setl_id"])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["refd_setl_flag"] == "1"
    assert await ledger_state(session, psn_no) == before  # exact reversal

    again = await world.settle(mdtrt_id, acct_used_flag=True)
    assert again.status_code == 201
    assert again.json()["hifp_pay"] == body["hifp_pay"]
    assert again.json()["setl_id"] != body["setl_id"]


async def test_settle_reports_accumulators_moved_since_presettle(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="310")
    first = await world.visit(psn_no, certno)
    second = await world.visit(psn_no, certno)
    for visit in (first, second):
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "300.00")])
    _, headers = world.hospital()
    pre = (
        await world.client.post(
            f"/v1/visits/{second['mdtrt_id']}/pre-settlement", json={}, headers=headers
        )
    ).json()
    assert (await world.settle(first["mdtrt_id"])).status_code == 201
    settled = (
        await world.settle(second["mdtrt_id"], presettle_token=pre["presettle_token"])
    ).json()
    assert settled["accumulators_changed"] is True
    assert settled["act_pay_dedc"] != pre["act_pay_dedc"]


async def _settlement_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Settlement)) or 0)


async def test_refusals_have_stable_codes_and_change_nothing(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol(insutype="310")
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    code, headers = world.hospital()

    unknown_person = await world.client.post(
        "/v1/visits",
        headers=headers,
        json={
            "psn_no": "NOBODY",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "fixmedins_code": code,
            "med_type": "11",
            "biz_type_code": "01",
            "begntime": "2026-03-02T09:00:00+08:00",
            "diseinfo": [{"diag_code": "I10", "diag_name": "x", "maindiag_flag": "1"}],
        },
    )
    assert (unknown_person.status_code, unknown_person.json()["code"]) == (404, "unknown_person")

    wrong_institution = await world.client.post(
        "/v1/visits",
        headers=headers,
        json={
            "psn_no": psn_no,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "fixmedins_code": "SOMEONE_ELSE",
            "med_type": "11",
            "biz_type_code": "01",
            "begntime": "2026-03-02T09:00:00+08:00",
            "diseinfo": [{"diag_code": "I10", "diag_name": "x", "maindiag_flag": "1"}],
        },
    )
    assert wrong_institution.status_code == 403

    first = await world.settle(visit["mdtrt_id"])
    assert first.status_code == 201
    count = await _settlement_count(session)
    twice = await world.settle(visit["mdtrt_id"])
    assert (twice.status_code, twice.json()["code"]) == (409, "already_settled")
    unknown = await world.revoke("S0000000000000000000")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_settlement")
    assert await _settlement_count(session) == count

    revoked = await world.revoke(first.json()["setl_id"])
    assert revoked.status_code == 200
    again = await world.revoke(first.json()["setl_id"])
    assert (again.status_code, again.json()["code"]) == (409, "already_revoked")


async def test_other_hospitals_cannot_see_or_touch_a_visit(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(client, session, hospital_levels=(3, 2))
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    foreign = await world.settle(visit["mdtrt_id"], hospital=1)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "unknown_visit")
    mine = await world.settle(visit["mdtrt_id"])
    setl_id = mine.json()["setl_id"]
    _, other = world.hospital(1)
    peek = await client.get(f"/v1/settlements/{setl_id}", headers=other)
    assert peek.status_code == 404
    assert (
        await client.get(f"/v1/settlements/{setl_id}", headers=world.insurer)
    ).status_code == 200


async def test_idempotent_settle_replays_and_refuses_another_body(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol(acct_balc="50.00")
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    first = await world.settle(visit["mdtrt_id"], key="same-key-0001")
    replay = await world.settle(visit["mdtrt_id"], key="same-key-0001")
    assert replay.status_code == 201 and replay.json() == first.json()
    other = await world.settle(visit["mdtrt_id"], key="same-key-0001", acct_used_flag=True)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    rows = await session.scalar(
        select(func.count()).select_from(Settlement).where(Settlement.mdtrt_id == visit["mdtrt_id"])
    )
    assert rows == 1


async def test_a_refused_settle_leaves_its_idempotency_key_unclaimed(world: World) -> None:
    """The key is claimed in the settle's own transaction, so a refusal rolls the claim back
    and the corrected request under the same key settles."""
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    refused = await world.settle(visit["mdtrt_id"], key="retry-key-0001")
    assert (refused.status_code, refused.json()["code"]) == (400, "no_fee_lines")
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    settled = await world.settle(visit["mdtrt_id"], key="retry-key-0001")
    assert settled.status_code == 201
    replay = await world.settle(visit["mdtrt_id"], key="retry-key-0001")
    assert replay.json() == settled.json()


async def test_hospital_lists_its_settlements_by_date_range(world: World) -> None:
    psn_no, certno = await world.enrol()
    setl_ids = []
    for _ in range(5):
        visit = await world.visit(psn_no, certno)
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "10.00")])
        setl_ids.append((await world.settle(visit["mdtrt_id"])).json()["setl_id"])
    _, headers = world.hospital()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {
            "begin": "2000-01-01T00:00:00Z",
            "end": "2100-01-01T00:00:00Z",
            "limit": 2,
        }
        if cursor:
            params["cursor"] = cursor
        page = (await world.client.get("/v1/settlements", params=params, headers=headers)).json()
        seen += [item["setl_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(setl_ids)
