"""Concurrency, proven by racing real transactions on PostgreSQL (issue 6, judged): 32 pharmacies
racing to lock and dispense one prescription, each request on its own connection against
committed data, give exactly one dispense and one settlement.

The world is committed for real in a region of its own, so these tests see each other's data as
little as production tenants do.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Settlement
from engine.audit import AuditEntry
from engine.db import Database
from engine.settings import Settings
from prescriptions.models import Dispense, Prescription
from prescriptions.signing import sign
from tests.prescriptions.world import RxWorld, build_rx_world
from tests.support.committed import committed

pytestmark = pytest.mark.postgres_only

PHARMACIES = 32


@pytest.fixture
async def committed_world(database: Database) -> AsyncIterator[RxWorld]:
    """The prescriptions world with its pharmacies, committed for real."""

    async def build(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, admdvs: str
    ) -> RxWorld:
        return await build_rx_world(app, client, session, admdvs=admdvs, pharmacies=PHARMACIES)

    async with committed(database, build, region_prefix="8", timeout=120) as world:
        yield world


async def outcome(database: Database, hi_rxno: str, psn_no: str) -> tuple[int, int, Prescription]:
    async with database.sessionmaker() as session:
        dispenses = await session.scalar(
            select(func.count()).select_from(Dispense).where(Dispense.hi_rxno == hi_rxno)
        )
        settlements = await session.scalar(
            select(func.count())
            .select_from(Settlement)
            .where(Settlement.psn_no == psn_no, Settlement.med_type == "41")
        )
        row = await session.get_one(Prescription, hi_rxno)
        return int(dispenses or 0), int(settlements or 0), row


async def test_thirty_two_pharmacies_race_to_lock_and_dispense_one_prescription(
    committed_world: RxWorld, database: Database
) -> None:
    world = committed_world
    patient, hi_rxno, trace = await world.issue()
    presented = await asyncio.gather(
        *(world.present(i, trace, patient.certno) for i in range(PHARMACIES))
    )
    assert [r.status_code for r in presented] == [200] * PHARMACIES

    async def lock_and_dispense(pharmacy: int) -> tuple[int, int, str | None]:
        locked = await world.lock(pharmacy, hi_rxno)
        dispensed = await world.dispense(pharmacy, hi_rxno)
        return locked.status_code, dispensed.status_code, dispensed.json().get("code")

    results = await asyncio.gather(*(lock_and_dispense(i) for i in range(PHARMACIES)))
    dispensed = [r for r in results if r[1] == 201]
    assert len(dispensed) == 1, Counter(results)
    assert dispensed[0][0] == 200  # the winner is the one that got the lock
    losers = Counter(code for _, status, code in results if status != 201)
    assert set(losers) <= {"not_lock_holder", "dispense_limit_reached"}, losers
    assert sum(1 for r in results if r[0] == 200) >= 1

    dispenses, settlements, row = await outcome(database, hi_rxno, patient.psn_no)
    assert (dispenses, settlements) == (1, 1)
    assert (row.dspe_cnt, row.status, row.lock_holder) == (1, "dispensed", None)


async def test_the_lock_holder_dispensing_thirty_two_times_at_once_dispenses_once(
    committed_world: RxWorld, database: Database
) -> None:
    world = committed_world
    code, _ = world.pharmacy(0)
    patient, hi_rxno, _ = await world.issue(nominate=code)
    assert (await world.lock(0, hi_rxno)).status_code == 200

    responses = await asyncio.gather(*(world.dispense(0, hi_rxno) for _ in range(PHARMACIES)))
    statuses = Counter((r.status_code, r.json().get("code")) for r in responses)
    assert statuses[(201, None)] == 1, statuses
    assert set(statuses) - {(201, None)} <= {
        (409, "dispense_limit_reached"),
        (409, "not_lock_holder"),
    }, statuses
    assert (await outcome(database, hi_rxno, patient.psn_no))[:2] == (1, 1)


async def test_one_idempotency_key_retried_at_once_settles_once(
    committed_world: RxWorld, database: Database
) -> None:
    world = committed_world
    code, _ = world.pharmacy(0)
    patient, hi_rxno, _ = await world.issue(nominate=code)
    assert (await world.lock(0, hi_rxno)).status_code == 200
    key = f"race-{uuid.uuid4().hex}"
    traces = [f"RACE-{uuid.uuid4().hex}"]
    responses = await asyncio.gather(
        *(world.dispense(0, hi_rxno, key=key, traces=traces) for _ in range(8))
    )
    ok = [r.json() for r in responses if r.status_code == 201]
    assert ok and all(body == ok[0] for body in ok)
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {
        "idempotency_in_progress"
    }
    assert (await outcome(database, hi_rxno, patient.psn_no))[:2] == (1, 1)


async def test_concurrent_wrong_certificates_lock_the_trace_code_at_the_limit(
    committed_world: RxWorld, database: Database
) -> None:
    """Twenty pharmacies present one trace code with a wrong ID at once: exactly the limit of
    wrong certificates is counted and audited, and then the right ID opens nothing."""
    world = committed_world
    patient, hi_rxno, trace = await world.issue()
    stranger = await world.patient()
    limit = Settings(database_url="postgresql+psycopg://unused").rx_trace_code_max_failures

    answers = await asyncio.gather(*(world.present(i, trace, stranger.certno) for i in range(20)))
    assert {(r.status_code, r.json()["code"]) for r in answers} == {(404, "unknown_prescription")}
    assert (await world.present(20, trace, patient.certno)).status_code == 404

    async with database.sessionmaker() as session:
        row = await session.get_one(Prescription, hi_rxno)
        audited = Counter(
            (
                await session.scalars(
                    select(AuditEntry.action).where(AuditEntry.stream == f"prescription:{hi_rxno}")
                )
            ).all()
        )
    assert (row.trace_code_failures, row.trace_code_locked_at is not None) == (limit, True)
    assert audited["prescription.trace_code_rejected"] == limit
    assert audited["prescription.trace_code_locked"] == 1
    assert audited["prescription.presented"] == 0


async def test_concurrent_presentations_of_one_trace_code_stop_exactly_at_the_limit(
    committed_world: RxWorld,
) -> None:
    world = committed_world
    patient = await world.patient()
    allowed = Settings(database_url="postgresql+psycopg://unused").rx_present_per_trace_code
    code = secrets.token_hex(12).upper()  # no prescription has it

    answers = await asyncio.gather(
        *(world.present(i % PHARMACIES, code, patient.certno) for i in range(allowed + 10))
    )
    statuses = Counter((r.status_code, r.json()["code"]) for r in answers)
    assert statuses == {(404, "unknown_prescription"): allowed, (429, "too_many_attempts"): 10}
    assert all(int(r.headers["Retry-After"]) >= 1 for r in answers if r.status_code == 429)


async def test_concurrent_identical_uploads_store_one_prescription(
    committed_world: RxWorld, database: Database
) -> None:
    """A HIS retrying an upload on timeouts, all at once: one prescription, one trace code."""
    world = committed_world
    patient = await world.patient()
    doc = world.document(await world.visit(patient), patient)
    signature = sign(doc, world.doctors["chief"].key).model_dump(mode="json", exclude_none=True)
    responses = await asyncio.gather(
        *(
            world.client.post(
                "/v1/prescriptions", json=doc | {"signature": signature}, headers=world.hospital[1]
            )
            for _ in range(8)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["hi_rxno"] for r in responses}) == 1
    assert sum(r.json()["rx_trace_code"] is not None for r in responses) == 1
    async with database.sessionmaker() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(Prescription)
            .where(Prescription.hosp_rxno == doc["hosp_rxno"])
        )
    assert stored == 1
