"""The national envelope driven by HIS-shaped messages: a whole visit through 1101 → 2201 →
2204 → 2206 → 2207 → 3201 → 2208, every amount compared with the same visit through /v1; replay
by msgid; the HIS's figures refused on a mismatch; 2202 and 2205; refusals in the national
shape that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from claims.budgets import local_date
from claims.models import Settlement, Visit
from engine.db import utcnow
from tests.claims.world import DELIVERY, DRUG_X, DRUG_Y, DRUG_Z, FOLLOWUP, World, build_world
from tests.nhsa.his import His, fee_line, registration, settle_data

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


async def _v1_visit(world: World, psn_no: str, certno: str) -> str:
    visit = await world.visit(psn_no, certno, when=None, dr="chief")
    await world.fees(visit["mdtrt_id"], [(code, cnt, pric) for code, cnt, pric, _ in EXAMPLE_A])
    return str(visit["mdtrt_id"])


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
    v1_mdtrt_id = await _v1_visit(world, v1_psn_no, v1_certno)
    v1_lines = (
        await world.client.post(
            f"/v1/visits/{v1_mdtrt_id}/pre-settlement",
            json={"acct_used_flag": True},
            headers=world.hospital(0)[1],
        )
    ).json()["lines"]
    assert [line["det_item_fee_sumamt"] for line in uploaded["result"]] == [
        line["det_item_fee_sumamt"] for line in v1_lines
    ]
    assert uploaded["result"][2]["chrgitm_lv"] == "02"
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
    reconciled = await his.call(
        "3201",
        {
            "data": {
                "insutype": "310",
                "clr_type": "11",
                "setl_optins": world.admdvs,
                "stmt_begndate": (today - timedelta(days=1)).isoformat(),
                "stmt_enddate": (today + timedelta(days=1)).isoformat(),
                "medfee_sumamt": "422.80",
                "fund_pay_sumamt": "116.00",
                "acct_pay": "200.00",
                "cash_payamt": "",
                "fixmedins_setl_cnt": "2",
            }
        },
    )
    assert reconciled["stmtinfo"]["stmt_rslt"] == "0", reconciled

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
