"""Reconciliation through the HTTP API (docs/domain.md section 10): totals (3201) and details (3202)
against real settlements, a seeded mismatch of every kind reported exactly, balanced when there
are none, the scope each role may reconcile, and the refusals of a bad file."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing.models import ReconRun
from engine.audit import AuditEntry
from tests.support.factories.clearing import (
    HEADER,
    detail_file,
    file_row,
    revoked,
    settled,
    statement_period,
)
from tests.support.factories.world import World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


async def _details(
    world: World, body: bytes, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return await world.client.post(
        "/v1/reconciliation/details",
        params=statement_period() | params,
        content=body,
        headers=(headers or world.hospital(0)[1]) | {"Content-Type": "text/csv"},
    )


def _kinds(body: dict[str, Any]) -> dict[str, list[str]]:
    return {m["setl_id"]: m["kinds"] for m in body["mismatches"]}


async def test_details_report_each_seeded_mismatch_exactly(world: World) -> None:
    same = await settled(world, price="100.00")
    amount = await settled(world, price="80.00")
    revoked_here = await settled(world, price="60.00")
    await revoked(world, revoked_here)
    missing_there = await settled(world, price="40.00")
    identity = await settled(world, price="20.00")
    elsewhere = await settled(world, hospital=1, price="10.00")  # another institution's

    rows = [
        file_row(same),
        file_row(amount, medfee_sumamt="80.01"),
        file_row(revoked_here, refd_setl_flag="0"),  # the HIS missed the revocation
        file_row(identity, psn_no="PSOMEONEELSE"),
        file_row(same, setl_id="SNOTINTHEENGINE", medfee_sumamt="5.00"),
    ]
    response = await _details(world, detail_file(rows))
    assert response.status_code == 201, response.text
    body = response.json()

    assert body["stmt_rslt"] == "1"
    assert _kinds(body) == {
        amount["setl_id"]: ["amount_differs"],
        revoked_here["setl_id"]: ["revocation_differs"],
        missing_there["setl_id"]: ["missing_there"],
        identity["setl_id"]: ["identity_differs"],
        "SNOTINTHEENGINE": ["missing_here"],
    }
    assert elsewhere["setl_id"] not in _kinds(body)
    assert body["counts"] == {
        "missing_here": 1,
        "missing_there": 1,
        "amount_differs": 1,
        "revocation_differs": 1,
        "identity_differs": 1,
    }
    by_id = {m["setl_id"]: m for m in body["mismatches"]}
    assert by_id[amount["setl_id"]]["file"]["medfee_sumamt"] == "80.01"
    assert by_id[amount["setl_id"]]["here"]["medfee_sumamt"] == "80.00"
    assert by_id[missing_there["setl_id"]]["file"] is None
    assert by_id["SNOTINTHEENGINE"]["here"] is None
    assert by_id[revoked_here["setl_id"]]["here"]["refd_setl_flag"] == "1"

    # The file's totals are the file's; the engine's are its live settlements, as 3201 has them.
    assert body["file"] == {
        "rows": 5,
        "fixmedins_setl_cnt": 5,
        "medfee_sumamt": "265.01",  # 100 + 80.01 + 60 + 20 + 5
        "fund_pay_sumamt": "180.00",  # 50 + 40 + 30 + 10 + 50 (the made-up row copies "same")
        "acct_pay": "0.00",
    }
    assert body["here"] == {
        "rows": 5,
        "fixmedins_setl_cnt": 4,
        "medfee_sumamt": "240.00",  # 100 + 80 + 40 + 20 (60 is revoked)
        "fund_pay_sumamt": "120.00",
        "acct_pay": "0.00",
    }
    totals = await _totals(world, count=4, medfee="240.00", fund="120.00")
    assert totals["stmt_rslt"] == "0"


async def test_details_balanced_when_the_file_agrees(world: World) -> None:
    first = await settled(world)
    second = await settled(world, price="55.55")
    await revoked(world, second)
    response = await _details(
        world, detail_file([file_row(first), file_row(second, refd_setl_flag="1")])
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stmt_rslt"] == "0"
    assert body["mismatches"] == []
    assert set(body["counts"].values()) == {0}
    assert body["file"] == body["here"]

    again = await world.client.get(
        f"/v1/reconciliation/details/{body['recon_id']}", headers=world.hospital(0)[1]
    )
    assert again.status_code == 200
    assert again.json() == body


async def test_an_empty_file_against_no_settlements_is_balanced(world: World) -> None:
    response = await _details(world, detail_file([]))
    assert response.status_code == 201, response.text
    assert response.json()["stmt_rslt"] == "0"


async def test_mismatches_csv_lists_every_mismatch(world: World) -> None:
    kept = await settled(world)
    response = await _details(world, detail_file([file_row(kept, acct_pay="1.00")]))
    recon_id = response.json()["recon_id"]
    export = await world.client.get(
        f"/v1/reconciliation/details/{recon_id}/mismatches.csv", headers=world.hospital(0)[1]
    )
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert row["setl_id"] == kept["setl_id"]
    assert row["kinds"] == "amount_differs"
    assert (row["file_acct_pay"], row["here_acct_pay"]) == ("1.00", "0.00")
    assert row["here_medfee_sumamt"] == "100.00"


async def test_insurer_reconciles_the_whole_region_or_one_institution(
    world: World, session: AsyncSession
) -> None:
    ours = await settled(world)
    theirs = await settled(world, hospital=1)
    region = await _details(world, detail_file([file_row(ours)]), world.insurer)
    assert region.status_code == 201, region.text
    assert _kinds(region.json()) == {theirs["setl_id"]: ["missing_there"]}
    code, _ = world.hospital(0)
    one = await _details(world, detail_file([file_row(ours)]), world.insurer, fixmedins_code=code)
    assert one.json()["stmt_rslt"] == "0"

    audited = await session.scalar(
        select(AuditEntry.action).where(AuditEntry.object_id == one.json()["recon_id"])
    )
    assert audited == "reconciliation.details"


async def test_an_institution_reconciles_only_its_own_settlements(world: World) -> None:
    other, _ = world.hospital(1)
    response = await _details(world, detail_file([]), fixmedins_code=other)
    unknown = await _details(world, detail_file([]), fixmedins_code="H-NOBODY")
    assert (response.status_code, response.json()) == (404, unknown.json())
    assert response.json()["code"] == "unknown_institution"
    recon = await _details(world, detail_file([]))
    hidden = await world.client.get(
        f"/v1/reconciliation/details/{recon.json()['recon_id']}", headers=world.hospital(1)[1]
    )
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("S1,M1,P1,abc,1.00,0.00,0", "medfee_sumamt", "line 2"),
        ("S1,M1,P1,1.001,1.00,0.00,0", "medfee_sumamt", "at most two decimals"),
        ("S1,M1,P1,1.00,-1.00,0.00,0", "fund_pay_sumamt", "at most two decimals"),
        ("S1,M1,P1,1.00,1.00,0.00,2", "refd_setl_flag", "0 or 1"),
        ("S1,M1,P1,1.00,1.00,0.00", None, "line 2"),
        ("S" + "9" * 30 + ",M1,P1,1.00,1.00,0.00,0", "setl_id", "1 to 30 characters"),
        ("S1,M1,P1,1.00,1.00,100000000000000.00,0", "acct_pay", "at most two decimals"),
    ],
)
async def test_a_bad_value_is_refused_naming_where(
    world: World, line: str, field: str | None, reason: str
) -> None:
    response = await _details(world, f"{HEADER}\n{line}\n".encode())
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_detail_file"
    assert reason in body["message"]
    if field is not None:
        assert body["field"] == field


@pytest.mark.parametrize(
    ("column", "suffix", "value"),
    [
        ("refd_setl_flag", None, "2"),
        ("medfee_sumamt", "4", None),  # 100.004: the engine's amount once rounded to the fen
        ("acct_pay", None, "-0.01"),
    ],
)
async def test_a_bad_value_on_a_settled_row_is_refused_first_by_setl_id_leaving_nothing(
    world: World, session: AsyncSession, column: str, suffix: str | None, value: str | None
) -> None:
    bad = await settled(world)
    fine = await settled(world)
    changed = value if value is not None else f"{bad[column]}{suffix}"
    later = file_row(fine, setl_id="ZZZZZZZZ", medfee_sumamt="1.001")  # invalid too, sorts last
    rows = [file_row(fine), file_row(bad, **{column: changed}), later]
    runs = await session.scalar(select(func.count()).select_from(ReconRun))

    response = await _details(world, detail_file(rows))

    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid_detail_file", column)
    # PostgreSQL names the first bad row by setl_id, SQLite (parsing as it reads) by line.
    named = (f"the row of setl_id {bad['setl_id']}: {column} ", f"line 3: {column} ")
    assert body["message"].startswith(named)
    assert await session.scalar(select(func.count()).select_from(ReconRun)) == runs


async def test_a_duplicate_setl_id_or_a_wrong_header_is_refused(world: World) -> None:
    row = "S1,M1,P1,1.00,1.00,0.00,0"
    duplicate = await _details(world, f"{HEADER}\n{row}\n{row}\n".encode())
    assert duplicate.status_code == 400
    assert duplicate.json()["field"] == "setl_id"
    header = await _details(world, f"setl_id,psn_no\n{row}\n".encode())
    assert header.status_code == 400
    assert "line 1" in header.json()["message"]


async def test_a_byte_order_mark_is_ignored(world: World) -> None:
    kept = await settled(world)
    response = await _details(world, b"\xef\xbb\xbf" + detail_file([file_row(kept)]))
    assert response.status_code == 201, response.text
    assert response.json()["stmt_rslt"] == "0"


async def _totals(
    world: World,
    *,
    count: int,
    medfee: str,
    fund: str,
    acct: str = "0.00",
    headers: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, Any]:
    response = await world.client.post(
        "/v1/reconciliation/totals",
        json=statement_period()
        | {
            "insutype": "390",
            "clr_type": "11",
            "fixmedins_setl_cnt": count,
            "medfee_sumamt": medfee,
            "fund_pay_sumamt": fund,
            "acct_pay": acct,
        }
        | extra,
        headers=headers or world.hospital(0)[1],
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_totals_balanced_or_not_with_the_engine_figures(world: World) -> None:
    await settled(world, price="100.00")
    await settled(world, price="30.00")
    gone = await settled(world, price="7.00")
    await revoked(world, gone)
    await settled(world, hospital=1, price="1000.00")
    await settled(world, insutype="310", price="1000.00")  # another insutype

    balanced = await _totals(world, count=2, medfee="130.00", fund="65.00")
    assert balanced["stmt_rslt"] == "0"
    assert balanced["stmt_rslt_dscr"] == "balanced"
    assert balanced["here"] == {
        "fixmedins_setl_cnt": 2,
        "medfee_sumamt": "130.00",
        "fund_pay_sumamt": "65.00",
        "acct_pay": "0.00",
    }
    off = await _totals(world, count=3, medfee="137.00", fund="65.00")
    assert off["stmt_rslt"] == "1"
    assert off["stmt_rslt_dscr"] == (
        "fixmedins_setl_cnt: declared 3, engine 2; medfee_sumamt: declared 137.00, engine 130.00"
    )
    code, _ = world.hospital(1)
    insurer = await _totals(
        world, count=1, medfee="1000.00", fund="500.00", headers=world.insurer, fixmedins_code=code
    )
    assert insurer["stmt_rslt"] == "0"


async def test_totals_refusals(world: World) -> None:
    missing_code = await world.client.post(
        "/v1/reconciliation/totals",
        json=statement_period()
        | {
            "insutype": "390",
            "clr_type": "11",
            "fixmedins_setl_cnt": 0,
            "medfee_sumamt": "0",
            "fund_pay_sumamt": "0",
            "acct_pay": "0",
        },
        headers=world.insurer,
    )
    assert missing_code.status_code == 400
    assert missing_code.json()["code"] == "fixmedins_code_required"
    backwards = await world.client.post(
        "/v1/reconciliation/totals",
        json={
            "insutype": "390",
            "clr_type": "11",
            "stmt_begndate": "2026-10-02",
            "stmt_enddate": "2026-10-01",
            "fixmedins_setl_cnt": 0,
            "medfee_sumamt": "0",
            "fund_pay_sumamt": "0",
            "acct_pay": "0",
        },
        headers=world.hospital(0)[1],
    )
    assert backwards.status_code == 400
    assert backwards.json()["code"] == "invalid_period"
