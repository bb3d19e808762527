"""Idempotent registration writes: 2201 and 2204 under an ``Idempotency-Key`` and under their
natural keys (the institution's ``ipt_otp_no``, the visit's ``feedetl_sn``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import FeeLine, Visit
from engine.db import Database
from tests.support.factories.world import CLASS_A_ITEM, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


def visit_body(world: World, psn_no: str, certno: str, **extra: Any) -> dict[str, Any]:
    code, _ = world.hospital(0)
    return {
        "psn_no": psn_no,
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": certno,
        "fixmedins_code": code,
        "med_type": "11",
        "biz_type_code": "01",
        "begntime": datetime(2026, 3, 2, 9, 30).isoformat() + "+08:00",
        "diseinfo": [{"diag_code": "I10.x00", "diag_name": "诊断", "maindiag_flag": "1"}],
    } | extra


async def register(
    world: World, body: dict[str, Any], *, key: str | None = None, hospital: int = 0
) -> httpx.Response:
    _, headers = world.hospital(hospital)
    return await world.client.post(
        "/v1/visits", json=body, headers=headers | ({"Idempotency-Key": key} if key else {})
    )


async def upload(
    world: World, mdtrt_id: str, lines: list[dict[str, Any]], *, key: str | None = None
) -> httpx.Response:
    _, headers = world.hospital(0)
    return await world.client.post(
        f"/v1/visits/{mdtrt_id}/fee-lines",
        json={"feedetail": lines},
        headers=headers | ({"Idempotency-Key": key} if key else {}),
    )


async def visits_of(session: AsyncSession, psn_no: str) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no))
        or 0
    )


async def test_a_retried_2201_under_its_key_answers_the_first_visit(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    body = visit_body(world, psn_no, certno)
    key = f"reg-{uuid.uuid4().hex}"
    first = await register(world, body, key=key)
    again = await register(world, body, key=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await visits_of(session, psn_no) == 1


async def test_a_key_reused_for_another_registration_is_refused(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    key = f"reg-{uuid.uuid4().hex}"
    assert (await register(world, visit_body(world, psn_no, certno), key=key)).status_code == 201
    other = await register(world, visit_body(world, psn_no, certno, med_type="14"), key=key)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["field"] == "Idempotency-Key"
    assert await visits_of(session, psn_no) == 1


async def test_the_institutions_visit_number_dedupes_without_a_key(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    body = visit_body(world, psn_no, certno, ipt_otp_no="MZ2026030200017")
    first = await register(world, body)
    again = await register(world, body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert first.json()["ipt_otp_no"] == "MZ2026030200017"
    assert await visits_of(session, psn_no) == 1


async def test_a_visit_number_reused_for_another_registration_is_refused(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    number = "ZY2026000001"
    assert (await register(world, visit_body(world, psn_no, certno, ipt_otp_no=number))).is_success
    other = await register(
        world,
        visit_body(world, psn_no, certno, ipt_otp_no=number, begntime="2026-03-02T10:30:00+08:00"),
    )
    assert other.status_code == 409
    assert other.json()["code"] == "visit_number_reused"
    assert other.json()["field"] == "ipt_otp_no"
    assert await visits_of(session, psn_no) == 1


async def test_visit_numbers_are_the_institutions_own(world: World, session: AsyncSession) -> None:
    """Two hospitals may number visits alike: each number is unique per institution only."""
    psn_no, certno = await world.enrol()
    code, _ = world.hospital(1)
    number = "MZ0001"
    first = await register(world, visit_body(world, psn_no, certno, ipt_otp_no=number))
    second = await register(
        world, visit_body(world, psn_no, certno, ipt_otp_no=number, fixmedins_code=code), hospital=1
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["mdtrt_id"] != second.json()["mdtrt_id"]
    assert await visits_of(session, psn_no) == 2


async def test_a_retried_2204_answers_the_stored_lines(world: World, session: AsyncSession) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    lines = [{"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "2", "pric": "50.00"}]
    first = await upload(world, visit["mdtrt_id"], lines)
    again = await upload(world, visit["mdtrt_id"], lines)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    stored = await session.scalar(
        select(func.count()).select_from(FeeLine).where(FeeLine.mdtrt_id == visit["mdtrt_id"])
    )
    assert stored == 1


async def test_a_2204_line_number_used_for_another_line_is_refused(world: World) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    line = {"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "2", "pric": "50.00"}
    assert (await upload(world, visit["mdtrt_id"], [line])).status_code == 201
    refused = await upload(world, visit["mdtrt_id"], [line | {"cnt": "3"}])
    assert refused.status_code == 409
    assert refused.json()["code"] == "duplicate_line"
    assert refused.json()["field"] == "feedetail.0.feedetl_sn"
    # Old and new lines mixed are not a retry either.
    mixed = await upload(world, visit["mdtrt_id"], [line, line | {"feedetl_sn": "2"}])
    assert mixed.status_code == 409


async def test_a_2204_line_keeps_its_charge_batch_and_a_retry_names_the_same(
    world: World, session: AsyncSession
) -> None:
    """The batch is part of the line: the same line in another batch, or without one, is not
    a retry of it."""
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    line = {
        "feedetl_sn": "1",
        "med_list_codg": CLASS_A_ITEM,
        "cnt": "1",
        "pric": "10.00",
        "chrg_bchno": "B0001",
    }
    first = await upload(world, visit["mdtrt_id"], [line])
    assert first.status_code == 201, first.text
    assert (await upload(world, visit["mdtrt_id"], [line])).json() == first.json()
    for other in (
        line | {"chrg_bchno": "B0002"},
        {k: v for k, v in line.items() if k != "chrg_bchno"},
    ):
        refused = await upload(world, visit["mdtrt_id"], [other])
        assert (refused.status_code, refused.json()["code"]) == (409, "duplicate_line")
    batches = await session.scalars(
        select(FeeLine.chrg_bchno).where(FeeLine.mdtrt_id == visit["mdtrt_id"])
    )
    assert list(batches) == ["B0001"]


async def test_a_2204_under_its_key_replays_and_refuses_another_body(world: World) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    key = f"fee-{uuid.uuid4().hex}"
    line = {"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "10.00"}
    first = await upload(world, visit["mdtrt_id"], [line], key=key)
    assert (await upload(world, visit["mdtrt_id"], [line], key=key)).json() == first.json()
    other = await upload(world, visit["mdtrt_id"], [line | {"feedetl_sn": "2"}], key=key)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


async def test_a_retried_2204_after_settlement_still_answers_the_lines(world: World) -> None:
    """A retry whose first attempt succeeded is answered as that attempt was, even once the
    visit is settled; new lines for a settled visit are still refused."""
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    line = {"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "10.00"}
    first = await upload(world, visit["mdtrt_id"], [line])
    assert (await world.settle(visit["mdtrt_id"])).status_code == 201
    assert (await upload(world, visit["mdtrt_id"], [line])).json() == first.json()
    refused = await upload(world, visit["mdtrt_id"], [line | {"feedetl_sn": "2"}])
    assert refused.status_code == 409
    assert refused.json()["code"] == "visit_settled"


@pytest.mark.postgres_only
@pytest.mark.parametrize("keyed", [False, True], ids=["by-visit-number", "by-key"])
async def test_concurrent_identical_2201s_make_one_visit(
    committed_world: World, database: Database, keyed: bool
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol()
    body = visit_body(world, psn_no, certno, ipt_otp_no=f"MZ{uuid.uuid4().hex[:12]}")
    key = f"race-{uuid.uuid4().hex}" if keyed else None
    responses = await asyncio.gather(*(register(world, body, key=key) for _ in range(12)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["mdtrt_id"] for r in responses}) == 1
    async with database.sessionmaker() as session:
        assert await visits_of(session, psn_no) == 1


@pytest.mark.postgres_only
async def test_concurrent_identical_2204s_store_the_lines_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    lines = [{"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "10.00"}]
    responses = await asyncio.gather(*(upload(world, visit["mdtrt_id"], lines) for _ in range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    async with database.sessionmaker() as session:
        stored = await session.scalar(
            select(func.count()).select_from(FeeLine).where(FeeLine.mdtrt_id == visit["mdtrt_id"])
        )
    assert stored == 1
