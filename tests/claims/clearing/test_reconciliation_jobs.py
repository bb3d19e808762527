"""3202 done by a worker, through the HTTP API against committed data, on both backends: a
submitted file gives exactly the synchronous answer, a bad one is refused and leaves nothing, and
however often the job's message is delivered (again after a crash mid-diff) it yields one result.

The actors run on dramatiq's StubBroker with a real Worker, on their own connections to the test
database (``DATABASE_URL``), as ``sanyi serve`` runs them in the embedded default; the job's
message is sent by the dispatcher, as the scheduler would every second.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, inspect, select

from claims.clearing import reconciliation
from claims.clearing import repository as recon_repository
from claims.clearing import tasks as recon_tasks
from claims.clearing.models import ReconJob, ReconMismatch, ReconRun
from engine.audit import AuditEntry
from engine.db import Database, unit_of_work
from engine.outbox import OutboxEvent
from tests.support.factories.clearing import (
    HEADER,
    detail_file,
    file_row,
    revoked,
    settled,
    statement_period,
)
from tests.support.factories.world import World

JOBS = "/v1/reconciliation/detail-jobs"


@pytest.fixture
def world(committed_world: World) -> World:
    """A committed world: the workers read it on their own connections."""
    return committed_world


async def _run_jobs(broker: StubBroker) -> None:
    """One dispatcher tick, then every job message it sent."""
    recon_tasks.dispatch_reconciliations.send()
    for queue in ("default", recon_tasks.QUEUE):
        await asyncio.to_thread(broker.join, queue, fail_fast=True)


async def _submit(world: World, body: bytes, key: str | None = None) -> httpx.Response:
    return await world.client.post(
        JOBS,
        params=statement_period(),
        content=body,
        headers=world.hospital(0)[1]
        | {"Content-Type": "text/csv", "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def _get(world: World, path: str) -> httpx.Response:
    return await world.client.get(path, headers=world.hospital(0)[1])


async def _seeded_file(world: World) -> bytes:
    """Settlements with one mismatch of each kind the issue names: missing on each side, an
    amount that differs, a revocation the file does not know."""
    same = await settled(world, price="100.00")
    amount = await settled(world, price="80.00")
    revoked_here = await settled(world, price="60.00")
    await revoked(world, revoked_here)
    await settled(world, price="40.00")  # missing there
    return detail_file(
        [
            file_row(same),
            file_row(amount, medfee_sumamt="80.01"),
            file_row(revoked_here, refd_setl_flag="0"),
            file_row(same, setl_id="SNOTINTHEENGINE", medfee_sumamt="5.00"),
        ]
    )


def _without_identity(document: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in document.items() if k not in ("recon_id", "created_at", "mismatches_csv")
    }


async def _staging_tables(database: Database) -> list[str]:
    async with database.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return [name for name in names if name.startswith("recon_staged_")]


async def test_a_submitted_file_gives_the_synchronous_answer(
    world: World, stub_broker: StubBroker, database: Database
) -> None:
    body = await _seeded_file(world)
    submitted = await _submit(world, body)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status"] == "queued" and job["result"] is None
    assert submitted.headers["location"] == job["status_url"]
    assert job["file"]["rows"] == 4 and job["file"]["medfee_sumamt"] == "245.01"
    recon_id = job["recon_id"]
    assert f"recon_staged_{uuid.UUID(recon_id).hex}" in await _staging_tables(database)
    early = await _get(world, f"/v1/reconciliation/details/{recon_id}")
    assert early.status_code == 409 and early.json()["code"] == "reconciliation_not_done"

    await _run_jobs(stub_broker)

    done = (await _get(world, job["status_url"])).json()
    assert done["status"] == "done", done
    assert done["started_at"] is not None and done["finished_at"] is not None
    synchronous = await world.client.post(
        "/v1/reconciliation/details",
        params=statement_period(),
        content=body,
        headers=world.hospital(0)[1] | {"Content-Type": "text/csv"},
    )
    assert synchronous.status_code == 201, synchronous.text
    assert _without_identity(done["result"]) == _without_identity(synchronous.json())
    assert done["result"]["counts"] == {
        "missing_here": 1,
        "missing_there": 1,
        "amount_differs": 1,
        "revocation_differs": 1,
        "identity_differs": 0,
    }
    assert done["result"]["recon_id"] == recon_id
    assert done["result"] == (await _get(world, f"/v1/reconciliation/details/{recon_id}")).json()
    export = await _get(world, f"/v1/reconciliation/details/{recon_id}/mismatches.csv")
    assert export.status_code == 200 and len(export.text.strip().splitlines()) == 1 + 4

    assert f"recon_staged_{uuid.UUID(recon_id).hex}" not in await _staging_tables(database)
    code, _ = world.hospital(0)
    async with database.sessionmaker() as session:
        events = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.routing_key == f"reconciliation.completed.{code}"
                )
            )
        ).all()
    assert [e.payload["recon_id"] for e in events] == [recon_id]
    assert events[0].payload["counts"] == done["result"]["counts"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("S1,M1,P1,1.001,1.00,0.00,0", "medfee_sumamt"),
        ("S1,M1,P1,1.00,1.00,0.00,2", "refd_setl_flag"),
        ("S" + "9" * 30 + ",M1,P1,1.00,1.00,0.00,0", "setl_id"),
        ("S1,M1,P1,1.00,1.00,0.00,0\nS1,M1,P1,1.00,1.00,0.00,0", "setl_id"),
    ],
)
async def test_a_bad_file_is_refused_and_leaves_nothing(
    world: World, database: Database, line: str, field: str
) -> None:
    before = await _staging_tables(database)
    response = await _submit(world, f"{HEADER}\n{line}\n".encode())
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_detail_file"
    assert response.json()["field"] == field
    assert await _staging_tables(database) == before
    async with database.sessionmaker() as session:
        runs = await session.scalar(
            select(func.count())
            .select_from(ReconRun)
            .where(ReconRun.fixmedins_code == world.hospital(0)[0])
        )
    assert runs == 0


async def test_a_retried_submission_is_the_same_job(world: World, database: Database) -> None:
    key = uuid.uuid4().hex
    first = await _submit(world, detail_file([]), key)
    again = await _submit(world, detail_file([]), key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    async with database.sessionmaker() as session:
        jobs = await session.scalar(
            select(func.count())
            .select_from(ReconJob)
            .join(ReconRun, ReconRun.id == ReconJob.recon_id)
            .where(ReconRun.fixmedins_code == world.hospital(0)[0])
        )
    assert jobs == 1


async def _outcome(database: Database, recon_id: uuid.UUID) -> tuple[int, int, int]:
    """(mismatches, completion audit entries, completion events) of a job."""
    async with database.sessionmaker() as session:
        mismatches = await session.scalar(
            select(func.count())
            .select_from(ReconMismatch)
            .where(ReconMismatch.recon_id == recon_id)
        )
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.object_id == str(recon_id),
                AuditEntry.action == "reconciliation.details",
            )
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(
                OutboxEvent.event_type == "reconciliation.completed",
                OutboxEvent.payload["recon_id"].as_string() == str(recon_id),
            )
        )
    return int(mismatches or 0), int(audited or 0), int(events or 0)


async def test_a_job_delivered_again_and_again_yields_one_result(
    world: World, stub_broker: StubBroker, database: Database
) -> None:
    submitted = await _submit(world, await _seeded_file(world))
    recon_id = uuid.UUID(submitted.json()["recon_id"])
    for _ in range(3):
        recon_tasks.reconcile_details.send(str(recon_id))
    await _run_jobs(stub_broker)
    recon_tasks.reconcile_details.send(str(recon_id))  # redelivered after it was done
    await _run_jobs(stub_broker)
    assert await _outcome(database, recon_id) == (4, 1, 1)
    job = (await _get(world, submitted.json()["status_url"])).json()
    assert job["status"] == "done" and job["result"]["stmt_rslt"] == "1"


async def test_a_job_killed_mid_diff_is_diffed_again_from_its_staged_rows(
    world: World, stub_broker: StubBroker, database: Database
) -> None:
    submitted = await _submit(world, await _seeded_file(world))
    recon_id = uuid.UUID(submitted.json()["recon_id"])
    # A worker took it and wrote every mismatch, then died before committing: its transaction
    # is rolled back, as PostgreSQL does when the connection of a killed process goes away.
    async with unit_of_work(database.sessionmaker) as session:
        assert await recon_repository.start_job(session, recon_id)
    async with database.sessionmaker() as session, session.begin():
        run = await session.get(ReconRun, recon_id)
        job = await session.get(ReconJob, recon_id)
        assert run is not None and job is not None
        upload = recon_repository.staged_upload(session, recon_id)
        scope = reconciliation.run_scope(run, job)
        await recon_repository.diff_upload(session, upload, scope, recon_id)
        written = select(func.count()).where(ReconMismatch.recon_id == recon_id)
        assert await session.scalar(written) == 4
        await session.rollback()
    assert (await _get(world, submitted.json()["status_url"])).json()["status"] == "running"

    recon_tasks.reconcile_details.send(str(recon_id))  # the message, redelivered
    await _run_jobs(stub_broker)
    assert await _outcome(database, recon_id) == (4, 1, 1)
    job_out = (await _get(world, submitted.json()["status_url"])).json()
    assert job_out["status"] == "done"
    assert job_out["result"]["counts"]["amount_differs"] == 1


async def test_a_job_out_of_retries_is_failed(
    world: World, stub_broker: StubBroker, database: Database
) -> None:
    submitted = await _submit(world, await _seeded_file(world))
    recon_id = submitted.json()["recon_id"]
    message = recon_tasks.reconcile_details.message(recon_id).asdict()
    message["options"]["traceback"] = "Traceback ...\nOperationalError: the database went away"
    recon_tasks.give_up_reconciliation.send(message, {"retries": 5, "max_retries": 5})
    await _run_jobs(stub_broker)
    job = (await _get(world, submitted.json()["status_url"])).json()
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"] == "gave up after 6 attempts: OperationalError: the database went away"
    assert f"recon_staged_{uuid.UUID(recon_id).hex}" not in await _staging_tables(database)
    gone = await _get(world, f"/v1/reconciliation/details/{recon_id}")
    assert gone.status_code == 409
    async with database.sessionmaker() as session:
        failed = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.routing_key == f"reconciliation.failed.{world.hospital(0)[0]}")
        )
    assert failed == 1


async def test_another_institution_sees_no_job(world: World) -> None:
    submitted = await _submit(world, detail_file([]))
    hidden = await world.client.get(submitted.json()["status_url"], headers=world.hospital(1)[1])
    assert hidden.status_code == 404
    unknown = await _get(world, f"{JOBS}/{uuid.uuid4()}")
    assert unknown.status_code == 404
