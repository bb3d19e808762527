"""The national envelope driven by HIS-shaped messages: a whole visit through 1101 → 2201 →
2204 → 2206 → 2207 → 3201 → 3202 → 2208, every amount compared with the same visit through
/v1; replay by msgid; the HIS's figures refused on a mismatch; 2202 and 2205; refusals in the
national shape that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import FeeLine, Settlement, Visit
from engine.clock import local_date
from engine.db import utcnow
from tests.nhsa.his import His, fee_line, registration, settle_data
from tests.support.factories.world import (
    DELIVERY,
    DRUG_X,
    DRUG_Y,
    DRUG_Z,
    FOLLOWUP,
    World,
    build_world,
    make_certno,
)

BEGNTIME = "2026-03-02 09:30:00"
#: Worked example A's lines: (code, cnt, pric, det_item_fee_sumamt).
EXAMPLE_A = [
    (FOLLOWUP, "1", "7.00", "7.00"),
    (DRUG_X, "2", "25.50", "51.00"),
    (DRUG_Y, "3", "42.80", "128.40"),
    (DRUG_Z, "1", "15.00", "15.00"),
    (DELIVERY, "1", "10.00", "10.00"),
]


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


@pytest.fixture
def his(world: World) -> His:
    return His(world)


async def _person(world: World) -> tuple[str, str]:
    """An employee with 100.00 in the account and 150.00 of the deductible used."""
    psn_no, certno = await world.enrol(insutype="310", acct_balc="100.00")
    await world.opening(
        psn_no, categories=[{"insutype": "310", "med_type": "11", "deductible_used": "150.00"}]
    )
    return psn_no, certno


async def _visit(his: His, psn_no: str, certno: str) -> str:
    registered = await his.call(
        "2201", registration(psn_no, certno, his.world.doctors["chief"], begntime=BEGNTIME)
    )
    return str(registered["data"]["mdtrt_id"])


def _lines(mdtrt_id: str, psn_no: str) -> dict[str, Any]:
    return {
        "feedetail": [
            fee_line(mdtrt_id, psn_no, str(i + 1), code, cnt, pric, sumamt)
            for i, (code, cnt, pric, sumamt) in enumerate(EXAMPLE_A)
        ]
    }


def _without_ids(setlinfo: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in setlinfo.items() if k not in ("setl_id", "mdtrt_id", "psn_no", "setl_time")
    }


async def _v1_visit(world: World, psn_no: str, certno: str) -> tuple[str, list[dict[str, Any]]]:
    """The same visit through /v1: its mdtrt_id and its priced fee lines."""
    visit = await world.visit(psn_no, certno, when=None, dr="chief")
    fees = await world.fees(
        visit["mdtrt_id"], [(code, cnt, pric) for code, cnt, pric, _ in EXAMPLE_A]
    )
    return str(visit["mdtrt_id"]), list(fees["feedetail"])


async def test_a_visit_through_the_envelope_settles_as_through_v1(
    world: World, his: His, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    v1_psn_no, v1_certno = await _person(world)

    person = await his.call(
        "1101",
        {
            "data": {
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": certno,
                "card_sn": "",
                "begntime": BEGNTIME,
                "psn_cert_type": "01",
                "certno": certno,
                "psn_name": "测试",
            }
        },
    )
    assert person["baseinfo"]["psn_no"] == psn_no
    assert person["baseinfo"]["brdy"] == f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}"
    assert person["baseinfo"]["gend"] == ("1" if int(certno[16]) % 2 else "2")
    assert person["insuinfo"] == [
        {
            "balc": "100.00",
            "insutype": "310",
            "psn_type": "11",
            "psn_insu_stas": "1",
            "cvlserv_flag": "0",
            "insuplc_admdvs": world.admdvs,
        }
    ]

    registered = await his.call(
        "2201", registration(psn_no, certno, world.doctors["chief"], begntime=BEGNTIME)
    )
    mdtrt_id = registered["data"]["mdtrt_id"]
    assert registered["data"] == {
        "mdtrt_id": mdtrt_id,
        "psn_no": psn_no,
        "ipt_otp_no": "MZ20260302001",
    }
    visit = await session.get_one(Visit, mdtrt_id)
    assert visit.begntime == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in UTC+8

    uploaded = await his.call("2204", _lines(mdtrt_id, psn_no))
    v1_mdtrt_id, v1_lines = await _v1_visit(world, v1_psn_no, v1_certno)
    assert [
        {k: v for k, v in line.items() if k != "chrgitm_lv"} for line in uploaded["result"]
    ] == [{k: line[k] for k in uploaded["result"][0] if k != "chrgitm_lv"} for line in v1_lines]
    assert [line["chrgitm_lv"] for line in uploaded["result"]] == [
        f"0{line['chrgitm_lv']}" for line in v1_lines
    ]
    assert uploaded["result"][2]["overlmt_amt"] == "8.40"

    presettled = await his.call("2206", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    assert presettled["setlinfo"]["setl_id"] is None
    settled = await his.call("2207", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    response = await world.settle(v1_mdtrt_id, acct_used_flag=True)
    assert response.status_code == 201, response.text
    v1 = response.json()

    amounts = {k: v for k, v in v1.items() if k in settled["setlinfo"]} | {
        "acct_used_flag": "1",
        "psn_setlway": "01",
        "setl_time": settled["setlinfo"]["setl_time"],
    }
    assert _without_ids(settled["setlinfo"]) == _without_ids(amounts)
    assert _without_ids(presettled["setlinfo"]) == _without_ids(settled["setlinfo"])
    assert settled["setlinfo"]["medfee_sumamt"] == "211.40"
    assert settled["setlinfo"]["hifp_pay"] == "58.00"
    assert settled["setlinfo"]["acct_pay"] == "100.00"
    assert settled["setldetail"] == [
        {k: d[k] for k in settled["setldetail"][0]} for d in v1["setldetail"]
    ]

    today = local_date(utcnow())
    reconciled_period = (
        (today - timedelta(days=1)).isoformat(),
        (today + timedelta(days=1)).isoformat(),
    )
    reconciled = await his.call(
        "3201",
        {
            "data": {
                "insutype": "310",
                "clr_type": "11",
                "setl_optins": world.admdvs,
                "stmt_begndate": reconciled_period[0],
                "stmt_enddate": reconciled_period[1],
                "medfee_sumamt": "422.80",
                "fund_pay_sumamt": "116.00",
                "acct_pay": "200.00",
                "cash_payamt": "",
                "fixmedins_setl_cnt": "2",
            }
        },
    )
    assert reconciled["stmtinfo"]["stmt_rslt"] == "0", reconciled
    rows = [
        {
            "setl_id": body["setl_id"],
            "mdtrt_id": body["mdtrt_id"],
            "psn_no": body["psn_no"],
            "medfee_sumamt": "211.40",
            "fund_pay_sumamt": "58.00",
            "acct_pay": "100.00",
            "refd_setl_flag": "0",
        }
        for body in (settled["setlinfo"], v1)
    ]
    period = {"stmt_begndate": reconciled_period[0], "stmt_enddate": reconciled_period[1]}
    detailed = await his.call("3202", {"data": period | {"file_qury_no": ""}, "detail": rows})
    assert detailed["stmtinfo"]["stmt_rslt"] == "0", detailed
    rows[1]["acct_pay"] = "99.00"
    differs = await his.call("3202", {"data": period, "detail": rows})
    assert differs["stmtinfo"] == {
        "setl_optins": None,
        "stmt_rslt": "1",
        "stmt_rslt_dscr": "amount_differs 1",
    }
    assert differs["mismatches"] == [{"setl_id": v1["setl_id"], "kinds": ["amount_differs"]}]

    setl_id = settled["setlinfo"]["setl_id"]
    revoked = await his.call(
        "2208", {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}
    )
    v1_revoked = (await world.revoke(v1["setl_id"])).json()
    assert revoked["setlinfo"]["refd_setl_flag"] == "1"
    assert _without_ids(revoked["setlinfo"]) == _without_ids(
        {k: v for k, v in v1_revoked.items() if k in revoked["setlinfo"]}
        | {"acct_used_flag": "1", "psn_setlway": "01"}
    )
    row = await session.get_one(Settlement, setl_id)
    assert row.status == "revoked"


async def _count(
    session: AsyncSession, model: type[Visit] | type[FeeLine] | type[Settlement], **where: str
) -> int:
    query = select(func.count()).select_from(model).filter_by(**where)
    return int(await session.scalar(query) or 0)


async def test_a_resent_message_is_answered_alike_and_another_under_its_msgid_refused(
    world: World, his: His, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    message = his.message(
        "2201", registration(psn_no, certno, world.doctors["chief"], begntime=BEGNTIME)
    )
    first = await his.post(message)
    again = await his.post(message)
    assert first["infcode"] == 0
    assert again == first
    assert await _count(session, Visit, psn_no=psn_no) == 1

    mdtrt_id = first["output"]["data"]["mdtrt_id"]
    lines = his.message("2204", _lines(mdtrt_id, psn_no))
    assert (await his.post(lines))["infcode"] == 0
    assert (await his.post(lines))["infcode"] == 0
    assert await _count(session, FeeLine, mdtrt_id=mdtrt_id) == len(EXAMPLE_A)

    settle = his.message("2207", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    settled = await his.post(settle)
    assert await his.post(settle) == settled
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 1

    other = his.message(
        "2207", settle_data(mdtrt_id, psn_no, certno, "211.40", acct_used_flag="0"),
        msgid=settle["msgid"],
    )  # fmt: skip
    reused = await his.post(other)
    assert reused["infcode"] == -1
    assert reused["err_code"] == "idempotency_key_reused"
    assert reused["inf_refmsgid"] == settle["msgid"]


async def test_the_his_figures_are_refused_on_a_mismatch_before_anything_settles(
    world: World, his: His, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    mdtrt_id = await _visit(his, psn_no, certno)
    await his.call("2204", _lines(mdtrt_id, psn_no))

    cases = [
        (settle_data(mdtrt_id, psn_no, certno, "211.39"), "medfee_sumamt_mismatch",
         "input.data.medfee_sumamt"),
        (settle_data(mdtrt_id, psn_no, certno, "211.40", psn_setlway="02"),
         "psn_setlway_unsupported", "input.data.psn_setlway"),
        (settle_data(mdtrt_id, psn_no, certno, "211.40", insutype="390"), "insutype_mismatch",
         "input.data.insutype"),
        (settle_data(mdtrt_id, psn_no, certno, "211.40", med_type="14"), "med_type_mismatch",
         "input.data.med_type"),
        (settle_data(mdtrt_id, psn_no, certno, "211.40", fulamt_ownpay_amt="24.00"),
         "fulamt_ownpay_amt_mismatch", "input.data.fulamt_ownpay_amt"),
        (settle_data(mdtrt_id, "P" + "0" * 16, certno, "211.40"), "psn_no_mismatch",
         "input.data.psn_no"),
    ]  # fmt: skip
    for infno in ("2206", "2207"):
        for body, code, field in cases:
            refused = await his.refused(infno, body)
            assert (refused["err_code"], refused["err_field"]) == (code, field), refused
            assert refused["err_msg"].startswith(f"{code}: ")
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 0

    wrong_line = _lines(mdtrt_id, psn_no)
    wrong_line["feedetail"] = [fee_line(mdtrt_id, psn_no, "9", DRUG_X, "1", "25.50", "25.00")]
    refused = await his.refused("2204", wrong_line)
    assert refused["err_code"] == "det_item_fee_sumamt_mismatch"
    assert refused["err_field"] == "input.feedetail.0.det_item_fee_sumamt"
    unpriced = await his.refused(
        "2204", {"feedetail": [fee_line(mdtrt_id, psn_no, "9", "NOSUCHCODE0001", "1", "1.00", "")]}
    )
    assert unpriced["err_field"] == "input.feedetail.0.med_list_codg", unpriced
    assert await _count(session, FeeLine, mdtrt_id=mdtrt_id) == len(EXAMPLE_A)


async def test_fee_lines_and_visits_are_cancelled_until_settled(
    world: World, his: His, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    mdtrt_id = await _visit(his, psn_no, certno)
    await his.call("2204", _lines(mdtrt_id, psn_no))

    await his.call("2205", {"data": {"feedetl_sn": "5", "mdtrt_id": mdtrt_id, "psn_no": psn_no}})
    presettled = await his.call("2206", settle_data(mdtrt_id, psn_no, certno, "201.40"))
    assert presettled["setlinfo"]["medfee_sumamt"] == "201.40"
    unknown = await his.refused(
        "2205", {"data": {"feedetl_sn": "5", "mdtrt_id": mdtrt_id, "psn_no": psn_no}}
    )
    assert (unknown["err_code"], unknown["err_field"]) == (
        "unknown_fee_line", "input.data.feedetl_sn",
    )  # fmt: skip
    for data, code in (
        ({"chrg_bchno": "B0009"}, "unknown_chrg_bchno"),
        ({}, "fee_lines_unnamed"),
        ({"chrg_bchno": "0000", "feedetl_sn": "1"}, "fee_lines_unnamed"),
    ):
        unnamed = await his.refused(
            "2205", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no} | data}
        )
        assert (unnamed["err_code"], unnamed["err_field"]) == (code, "input.data.chrg_bchno")
    assert await _count(session, FeeLine, mdtrt_id=mdtrt_id) == len(EXAMPLE_A) - 1
    await his.call("2205", {"data": {"chrg_bchno": "0000", "mdtrt_id": mdtrt_id, "psn_no": psn_no}})
    assert await _count(session, FeeLine, mdtrt_id=mdtrt_id) == 0

    await his.call("2204", _lines(mdtrt_id, psn_no))
    settled = await his.call("2207", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    for infno, data in (
        ("2202", {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "ipt_otp_no": "MZ1"}),
        ("2205", {"chrg_bchno": "0000", "mdtrt_id": mdtrt_id, "psn_no": psn_no}),
    ):
        refused = await his.refused(infno, {"data": data})
        assert refused["err_code"] == "visit_settled"
    # The same upload again is a retry, answered as stored; a new line is refused.
    again = await his.call("2204", _lines(mdtrt_id, psn_no))
    assert [line["feedetl_sn"] for line in again["result"]] == ["1", "2", "3", "4", "5"]
    new_line = _lines(mdtrt_id, psn_no)
    new_line["feedetail"] = [new_line["feedetail"][0] | {"feedetl_sn": "9"}]
    more = await his.refused("2204", new_line)
    assert (more["err_code"], more["err_field"]) == ("visit_settled", "input.feedetail.0.mdtrt_id")
    await his.call(
        "2208",
        {"data": {"setl_id": settled["setlinfo"]["setl_id"], "mdtrt_id": mdtrt_id,
                  "psn_no": psn_no}},
    )  # fmt: skip
    kept = await his.refused("2202", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id}})
    assert kept["err_code"] == "visit_has_settlements"

    fresh = await _visit(his, psn_no, certno)
    await his.call("2204", _lines(fresh, psn_no))
    other_person = await his.refused("2202", {"data": {"psn_no": "P1", "mdtrt_id": fresh}})
    assert other_person["err_code"] == "unknown_visit"
    await his.call("2202", {"data": {"psn_no": psn_no, "mdtrt_id": fresh, "ipt_otp_no": ""}})
    assert await _count(session, Visit, mdtrt_id=fresh) == 0
    gone = await his.refused("2204", _lines(fresh, psn_no))
    assert (gone["err_code"], gone["err_field"]) == ("unknown_visit", "input.feedetail.0.mdtrt_id")


def _batch_refs(mdtrt_id: str, psn_no: str, chrg_bchno: str) -> dict[str, Any]:
    return {"data": {"chrg_bchno": chrg_bchno, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}


async def test_a_settlement_naming_a_batch_settles_only_a_visit_of_that_batch(
    world: World, his: His, session: AsyncSession
) -> None:
    """The engine settles every line of the visit: a 2206/2207 naming a batch is refused while
    a line of another batch is on the visit, and 2205 cancels one batch's lines."""
    psn_no, certno = await _person(world)
    mdtrt_id = await _visit(his, psn_no, certno)
    await his.call("2204", _lines(mdtrt_id, psn_no))  # batch B0001
    later = fee_line(mdtrt_id, psn_no, "6", DRUG_Z, "1", "15.00", "15.00")
    await his.call("2204", {"feedetail": [later | {"chrg_bchno": "B0002"}]})

    for batch in ("B0001", "B0002", "B0009"):
        for infno in ("2206", "2207"):
            body = settle_data(mdtrt_id, psn_no, certno, "226.40", chrg_bchno=batch)
            refused = await his.refused(infno, body)
            assert (refused["err_code"], refused["err_field"]) == (
                "chrg_bchno_mismatch", "input.data.chrg_bchno",
            ), refused  # fmt: skip
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 0

    await his.call("2205", _batch_refs(mdtrt_id, psn_no, "B0002"))
    kept = await session.scalars(
        select(FeeLine.chrg_bchno).where(FeeLine.mdtrt_id == mdtrt_id).order_by(FeeLine.id)
    )
    assert list(kept) == ["B0001"] * len(EXAMPLE_A)
    gone = await his.refused("2205", _batch_refs(mdtrt_id, psn_no, "B0002"))
    assert (gone["err_code"], gone["err_field"]) == ("unknown_chrg_bchno", "input.data.chrg_bchno")
    unknown = settle_data(mdtrt_id, psn_no, certno, "211.40", chrg_bchno="B0009")
    assert (await his.refused("2207", unknown))["err_code"] == "chrg_bchno_mismatch"
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 0

    settled = await his.call("2207", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    assert settled["setlinfo"]["medfee_sumamt"] == "211.40"
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 1


async def test_lines_uploaded_without_a_batch_match_only_a_settlement_naming_none(
    world: World, his: His, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    mdtrt_id, _ = await _v1_visit(world, psn_no, certno)

    named = await his.refused("2207", settle_data(mdtrt_id, psn_no, certno, "211.40"))
    assert (named["err_code"], named["err_field"]) == (
        "chrg_bchno_mismatch", "input.data.chrg_bchno",
    )  # fmt: skip
    assert await _count(session, Settlement, mdtrt_id=mdtrt_id) == 0
    unnamed = settle_data(mdtrt_id, psn_no, certno, "211.40", chrg_bchno="")
    settled = await his.call("2207", unnamed)
    assert settled["setlinfo"]["medfee_sumamt"] == "211.40"


async def test_refusals_are_national_envelopes_that_change_nothing(
    world: World, his: His, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    psn_no, certno = await _person(world)
    good = his.message(
        "2201", registration(psn_no, certno, world.doctors["chief"], begntime=BEGNTIME)
    )
    headers = world.hospital(0)[1]

    async def refused(body: Any, *, path: str = "/nhsa", send: dict[str, str] = headers) -> Any:
        response = await client.post(path, content=body, headers=send)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["infcode"] == -1 and answer["output"] is None, answer
        return answer

    malformed = await refused(b'{"infno": "2201", "msgid": ')
    assert malformed["err_code"] == "malformed_json"
    assert malformed["inf_refmsgid"] is None

    def sent(message: dict[str, Any]) -> bytes:
        return httpx.Request("POST", "/", json=message).content

    nobody = await refused(sent(good), send={})
    assert (nobody["err_code"], nobody["inf_refmsgid"]) == ("unauthenticated", good["msgid"])
    insurer = await refused(sent(good), send=world.insurer)
    assert insurer["err_code"] == "forbidden"
    someone_else = await refused(sent(good | {"fixmedins_code": "H" + "0" * 10}))
    assert (someone_else["err_code"], someone_else["err_field"]) == ("forbidden", "fixmedins_code")
    elsewhere = await refused(sent(good | {"mdtrtarea_admvs": "230200"}))
    assert elsewhere["err_field"] == "mdtrtarea_admvs"
    mismatch = await refused(sent(good), path="/nhsa/2207")
    assert (mismatch["err_code"], mismatch["err_field"]) == ("infno_mismatch", "infno")
    unknown = await refused(sent(good | {"infno": "9999"}))
    assert (unknown["err_code"], unknown["err_field"]) == ("unknown_infno", "infno")
    no_time = await refused(sent(good | {"inf_time": "2026-03-02"}))
    assert (no_time["err_code"], no_time["err_field"]) == ("validation_error", "inf_time")
    extra = await refused(sent(good | {"input": good["input"] | {"extra": "1"}}))
    assert (extra["err_code"], extra["err_field"]) == ("validation_error", "input.extra")
    two_mains = good["input"] | {"diseinfo": good["input"]["diseinfo"] * 2}
    mains = await refused(sent(good | {"input": two_mains}))
    assert (mains["err_code"], mains["err_field"]) == ("validation_error", "input.diseinfo")
    assert await _count(session, Visit, psn_no=psn_no) == 0

    # The refused message's msgid was not used up: the same message now succeeds.
    assert (await his.post(good))["infcode"] == 0


async def test_another_institution_cannot_tell_a_visit_from_none(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(client, session, hospital_levels=(3, 3))
    psn_no, certno = await _person(world)
    mdtrt_id = await _visit(His(world), psn_no, certno)
    stranger = His(world, hospital=1)
    answers = []
    for visit in (mdtrt_id, "M" + "0" * 20):
        refused = await stranger.refused("2207", settle_data(visit, psn_no, certno, "0"))
        answers.append((refused["err_code"], refused["err_field"], refused["err_msg"]))
    assert answers[0] == answers[1] == (
        "unknown_visit", "input.data.mdtrt_id", "unknown_visit: no such visit",
    )  # fmt: skip
    person = await stranger.refused(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": "token", "certno": ""}}
    )
    assert person["err_code"] == "certno_required"


async def test_clearing_is_applied_for_once_a_month(world: World, his: His) -> None:
    application = {"data": {"clr_type": "11", "clr_way": "1", "setlym": "202603", "psntime": ""}}
    message = his.message("3203", application)
    applied = await his.post(message)
    assert applied["infcode"] == 0, applied
    assert applied["output"]["data"]["clr_stas"] == "applied"
    assert applied["output"]["data"]["clr_appy_evt_id"].startswith("C")
    assert await his.post(message) == applied
    again = await his.refused("3203", application)
    assert (again["err_code"], again["err_field"]) == ("already_applied", "input.data.setlym")
    ahead = await his.refused("3203", {"data": {"clr_type": "11", "setlym": "209901"}})
    assert (ahead["err_code"], ahead["err_field"]) == ("period_not_over", "input.data.setlym")


async def test_a_person_is_found_only_by_their_own_resident_id(world: World, his: His) -> None:
    psn_no, certno = await _person(world)
    by_voucher = await his.call(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": "ecToken", "certno": certno}}
    )
    assert by_voucher["baseinfo"]["psn_no"] == psn_no
    assert by_voucher["baseinfo"]["certno"] == certno[:6] + "********" + certno[-4:]
    nobody = await his.refused(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": make_certno()}}
    )
    assert (nobody["err_code"], nobody["err_field"]) == (
        "unknown_person", "input.data.mdtrt_cert_no",
    )  # fmt: skip
    broken = await his.refused(
        "1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno[:17] + "Y"}}
    )
    assert (broken["err_code"], broken["err_field"]) == (
        "invalid_certno", "input.data.mdtrt_cert_no",
    )  # fmt: skip
