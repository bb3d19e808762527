"""Routing, presentation, the lock, return, dispense, revocation and expiry through the HTTP API
(docs/domain.md section 9), with the request clock set by the test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Settlement
from engine.audit import AuditEntry
from engine.outbox import OutboxEvent
from prescriptions import circulation
from tests.prescriptions.world import DAY0, METFORMIN, RxWorld, build_rx_world, day


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session, pharmacies=3)


def unknown(response: httpx.Response, field: str = "hi_rxno") -> dict[str, Any]:
    assert response.status_code == 404, response.text
    body = dict(response.json())
    assert body == {
        "type": "urn:sanyi:problem:unknown_prescription",
        "title": "Not Found",
        "status": 404,
        "detail": "no such prescription",
        "code": "unknown_prescription",
        "message": "no such prescription",
        "field": field,
    }
    return body


async def settlements_of(session: AsyncSession, psn_no: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Settlement).where(Settlement.psn_no == psn_no)
    )
    return int(count or 0)


async def test_a_pharmacy_sees_nothing_routed_to_another(world: RxWorld) -> None:
    """Pharmacy A cannot see, list, lock, dispense or return one routed to B: every answer is
    the answer for a number that does not exist."""
    b_code, b_headers = world.pharmacy(1)
    _, a_headers = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=b_code)

    listed = await world.client.get("/v1/prescriptions", headers=a_headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    missing = "R" + "0" * 20
    for number in (hi_rxno, missing):
        unknown(await world.get(number, a_headers))
        unknown(await world.lock(0, number))
        unknown(await world.dispense(0, number))
        unknown(await world.client.post(f"/v1/prescriptions/{number}/return", headers=a_headers))
    # B sees it, and A's attempts changed nothing.
    shown = await world.get(hi_rxno, b_headers)
    assert shown.json()["locked"] is False and shown.json()["dspe_cnt"] == 0
    # Nor may A open it with the patient's own trace code and ID: it was nominated to B.
    patient, _, trace = await world.issue(nominate=b_code)
    unknown(await world.present(0, trace, patient.certno), "rx_trace_code")


async def test_an_open_prescription_opens_with_the_trace_code_and_the_patients_id(
    world: RxWorld,
) -> None:
    patient, hi_rxno, trace = await world.issue()
    other = await world.patient()
    _, headers = world.pharmacy(0)
    unknown(await world.get(hi_rxno, headers))

    wrong_id = await world.present(0, trace, other.certno)
    wrong_code = await world.present(0, "F" * 24, patient.certno)
    no_code = await world.present(0, "", patient.certno)
    assert wrong_id.json() == wrong_code.json() == unknown(wrong_id, "rx_trace_code")
    assert no_code.status_code == 422
    assert (await world.client.get("/v1/prescriptions", headers=headers)).json()["items"] == []

    opened = await world.present(0, trace.lower(), patient.certno, cert_type="03")
    assert opened.status_code == 200, opened.text
    assert opened.json()["hi_rxno"] == hi_rxno
    listed = (await world.client.get("/v1/prescriptions", headers=headers)).json()["items"]
    assert [(i["hi_rxno"], i["via"]) for i in listed] == [(hi_rxno, "presented")]
    assert (await world.get(hi_rxno, headers)).status_code == 200
    # Presenting again changes nothing; another pharmacy of the region may be presented it too.
    assert (await world.present(0, trace, patient.certno)).status_code == 200
    assert (await world.present(1, trace, patient.certno)).status_code == 200


async def test_the_trace_code_opens_nothing_after_the_prescription_stops_circulating(
    world: RxWorld,
) -> None:
    patient, _, trace = await world.issue()
    world.at(day(1))
    unknown(await world.present(0, trace, patient.certno), "rx_trace_code")


async def test_one_pharmacy_holds_the_lock_until_it_returns_it_or_the_lease_lapses(
    world: RxWorld,
) -> None:
    patient, hi_rxno, trace = await world.issue()
    for pharmacy in (0, 1):
        assert (await world.present(pharmacy, trace, patient.certno)).status_code == 200

    locked = await world.lock(0, hi_rxno, lease_seconds=600)
    assert locked.status_code == 200, locked.text
    assert locked.json()["lock_holder"] == world.pharmacy(0)[0]
    taken = await world.lock(1, hi_rxno)
    assert (taken.status_code, taken.json()["code"]) == (409, "prescription_locked")
    assert (await world.dispense(1, hi_rxno)).json()["code"] == "not_lock_holder"
    # The holder sees its lease; the other only that it is locked.
    seen_by_b = (await world.get(hi_rxno, world.pharmacy(1)[1])).json()
    assert seen_by_b["locked"] is True and seen_by_b["lock_expires_at"] is None

    returned = await world.client.post(
        f"/v1/prescriptions/{hi_rxno}/return", headers=world.pharmacy(0)[1]
    )
    assert returned.status_code == 200 and returned.json()["locked"] is False
    assert (await world.lock(1, hi_rxno)).status_code == 200
    again = await world.client.post(
        f"/v1/prescriptions/{hi_rxno}/return", headers=world.pharmacy(0)[1]
    )
    assert (again.status_code, again.json()["code"]) == (409, "not_lock_holder")

    # B's lease (15 minutes by default) lapses by itself: A takes it, and B cannot dispense.
    world.at(DAY0 + timedelta(minutes=16))
    assert (await world.lock(0, hi_rxno)).status_code == 200
    late = await world.dispense(1, hi_rxno)
    assert (late.status_code, late.json()["code"]) == (409, "not_lock_holder")
    assert (await world.dispense(0, hi_rxno)).status_code == 201


async def test_dispense_records_lines_settles_at_the_pharmacy_once(
    world: RxWorld, session: AsyncSession
) -> None:
    code, headers = world.pharmacy(0)
    patient, hi_rxno, _ = await world.issue(nominate=code)
    unlocked = await world.dispense(0, hi_rxno)
    assert (unlocked.status_code, unlocked.json()["code"]) == (409, "not_lock_holder")
    assert (await world.lock(0, hi_rxno)).status_code == 200

    not_prescribed = await world.dispense(0, hi_rxno, drug=METFORMIN)
    assert (not_prescribed.json()["code"], not_prescribed.json()["field"]) == (
        "drug_not_prescribed",
        "dspe_lines.0.med_list_codg",
    )
    too_many = await world.dispense(0, hi_rxno, cnt="2")
    assert (too_many.json()["code"], too_many.json()["field"]) == (
        "quantity_exceeds_prescription",
        "dspe_lines.0.cnt",
    )
    before = await settlements_of(session, patient.psn_no)
    done = await world.dispense(0, hi_rxno, key="dispense-once-1", traces=["TRACE-A", "TRACE-B"])
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["status"], body["rx_stas_codg"], body["dspe_cnt"]) == ("dispensed", "2", 1)
    (line,) = body["lines"]
    assert (line["cnt"], line["pric"], line["manu_lotnum"], line["drug_trac_codg"]) == (
        "1",
        "25.50",
        "LOT2026A",
        ["TRACE-A", "TRACE-B"],
    )
    settlement = body["settlement"]
    assert (settlement["med_type"], settlement["clr_type"], settlement["fixmedins_code"]) == (
        "41",
        "41",
        code,
    )
    assert settlement["medfee_sumamt"] == "25.50"

    # A retry with the same key replays the answer; nothing is settled twice.
    replay = await world.dispense(0, hi_rxno, key="dispense-once-1", traces=["TRACE-A", "TRACE-B"])
    assert replay.status_code == 201 and replay.json() == body
    assert await settlements_of(session, patient.psn_no) == before + 1
    # A new attempt is refused: dispensed once, and no lock.
    assert (await world.lock(0, hi_rxno)).json()["code"] == "dispense_limit_reached"
    assert (await world.dispense(0, hi_rxno)).json()["code"] == "dispense_limit_reached"

    shown = (await world.get(hi_rxno, headers)).json()
    assert [d["setl_id"] for d in shown["dispenses"]] == [settlement["setl_id"]]
    assert shown["dispenses"][0]["lines"][0]["drug_trac_codg"] == ["TRACE-A", "TRACE-B"]
    hospital_view = (await world.get(hi_rxno, world.hospital[1])).json()
    assert hospital_view["dispenses"][0]["fixmedins_code"] == code


async def test_a_package_trace_code_is_dispensed_once(world: RxWorld) -> None:
    code, _ = world.pharmacy(0)
    _, first, _ = await world.issue(nominate=code)
    _, second, _ = await world.issue(nominate=code)
    for hi_rxno in (first, second):
        assert (await world.lock(0, hi_rxno)).status_code == 200
    assert (await world.dispense(0, first, traces=["PKG-1"])).status_code == 201
    twice = await world.dispense(0, second, traces=["PKG-2", "PKG-1"])
    assert (twice.status_code, twice.json()["code"]) == (409, "duplicate_trace_code")
    listed_twice = await world.dispense(0, second, traces=["PKG-3", "PKG-3"])
    assert listed_twice.json()["code"] == "duplicate_trace_code"
    assert (await world.dispense(0, second, traces=["PKG-2"])).status_code == 201


async def test_the_doctor_revokes_before_dispensing_only(world: RxWorld) -> None:
    code, headers = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=code)
    assert (await world.lock(0, hi_rxno)).status_code == 200
    path = f"/v1/prescriptions/{hi_rxno}/revocation"
    other = world.doctors["offline"].dr_code
    by_other = await world.client.post(
        path, json={"dr_code": other, "revoke_reason": "x"}, headers=world.hospital[1]
    )
    assert (by_other.status_code, by_other.json()["field"]) == (403, "dr_code")
    dr_code = world.doctors["chief"].dr_code
    revoked = await world.client.post(
        path, json={"dr_code": dr_code, "revoke_reason": "诊断变更"}, headers=world.hospital[1]
    )
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.json()["rx_stas_codg"]) == ("revoked", "3")
    # The pharmacy's lock does not survive it, and it cannot be dispensed.
    refused = await world.dispense(0, hi_rxno)
    assert (refused.status_code, refused.json()["code"]) == (409, "prescription_revoked")
    assert (await world.get(hi_rxno, headers)).json()["rx_stas_codg"] == "3"

    _, dispensed, _ = await world.issue(nominate=code)
    await world.lock(0, dispensed)
    assert (await world.dispense(0, dispensed)).status_code == 201
    late = await world.client.post(
        f"/v1/prescriptions/{dispensed}/revocation",
        json={"dr_code": dr_code, "revoke_reason": "x"},
        headers=world.hospital[1],
    )
    assert (late.status_code, late.json()["code"]) == (409, "prescription_dispensed")


async def test_expiry_is_checked_on_every_access(world: RxWorld, session: AsyncSession) -> None:
    code, headers = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=code)
    assert (await world.lock(0, hi_rxno)).status_code == 200
    world.at(day(1, 0))  # midnight after the day of issue: past vali_end_time
    refused = await world.dispense(0, hi_rxno)
    assert (refused.status_code, refused.json()["code"]) == (409, "prescription_expired")
    shown = (await world.get(hi_rxno, headers)).json()
    assert (shown["status"], shown["rx_stas_codg"], shown["locked"]) == ("expired", "2", False)
    audit = (
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.stream == f"prescription:{hi_rxno}")
        )
    ).all()
    assert "prescription.expired" in audit


async def test_the_periodic_job_expires_what_is_due_and_clears_lapsed_locks(
    world: RxWorld, session: AsyncSession
) -> None:
    code, headers = world.pharmacy(0)
    _, due, _ = await world.issue(nominate=code)
    _, repeat, _ = await world.issue(nominate=code, repeat=True)
    assert (await world.lock(0, repeat)).status_code == 200
    later = day(1, 0) + timedelta(hours=1)
    assert await circulation.expire_due(session, later, 1000) >= 1
    assert await circulation.release_lapsed_locks(session, later, 1000) >= 1
    world.at(later)
    shown = (await world.get(due, headers)).json()
    assert (shown["status"], shown["rx_stas_codg"]) == ("expired", "2")
    still = (await world.get(repeat, headers)).json()  # valid for three days
    assert (still["status"], still["locked"]) == ("circulating", False)
    assert await circulation.expire_due(session, later, 1000) == 0  # nothing left: idempotent


async def test_every_transition_is_audited_and_announced(
    world: RxWorld, session: AsyncSession
) -> None:
    code, _ = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=code)
    await world.lock(0, hi_rxno)
    await world.dispense(0, hi_rxno)
    _, revoked, _ = await world.issue(nominate=code)
    await world.client.post(
        f"/v1/prescriptions/{revoked}/revocation",
        json={"dr_code": world.doctors["chief"].dr_code, "revoke_reason": "x"},
        headers=world.hospital[1],
    )
    actions = (
        await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.stream == f"prescription:{hi_rxno}")
            .order_by(AuditEntry.seq)
        )
    ).all()
    assert actions == [
        "prescription.uploaded",
        "prescription.approved",
        "prescription.routed",
        "prescription.locked",
        "prescription.dispensed",
    ]
    keys = set(
        (
            await session.scalars(
                select(OutboxEvent.routing_key).where(
                    OutboxEvent.payload["hi_rxno"].as_string().in_([hi_rxno, revoked])
                )
            )
        ).all()
    )
    hospital = world.hospital[0]
    assert {
        f"prescription.routed.{code}",
        f"prescription.locked.{hospital}",
        f"prescription.locked.{code}",
        f"prescription.dispensed.{hospital}",
        f"prescription.dispensed.{code}",
        f"prescription.revoked.{hospital}",
        f"prescription.revoked.{code}",
    } <= keys
