"""The periodic expiry job: registered with the scheduler, draining what is due in committed
batches, and runnable as a dramatiq actor (StubBroker and a real Worker)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from apscheduler.triggers.interval import IntervalTrigger
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

import workers
from engine.db import Database
from engine.scheduler import JOBS
from prescriptions import tasks
from tests.prescriptions.world import build_rx_world, day


def test_the_expiry_job_is_registered_as_a_periodic_job() -> None:
    job = JOBS["prescriptions.expire"]
    assert job.actor is tasks.expire_prescriptions
    assert isinstance(job.trigger, IntervalTrigger)
    assert tasks.expire_prescriptions.actor_name in workers.broker.get_declared_actors()


async def test_lapse_due_drains_every_batch(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    tx_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await build_rx_world(app, client, session)
    code, headers = world.pharmacy(0)
    due = [(await world.issue(nominate=code))[1] for _ in range(3)]
    _, locked, _ = await world.issue(nominate=code, repeat=True)
    assert (await world.lock(0, locked)).status_code == 200
    monkeypatch.setattr(tasks, "BATCH", 2)  # three due: two batches

    later = day(1, 1)
    expired, released = await tasks.lapse_due(tx_database, later)
    assert expired >= 3 and released >= 1
    world.at(later)
    for hi_rxno in due:
        shown = (await world.get(hi_rxno, headers)).json()
        assert (shown["status"], shown["rx_stas_codg"]) == ("expired", "2")
    still = (await world.get(locked, headers)).json()
    assert (still["status"], still["locked"]) == ("circulating", False)
    assert await tasks.lapse_due(tx_database, later) == (0, 0)


async def test_the_actor_runs_to_completion(stub_broker: StubBroker) -> None:
    tasks.expire_prescriptions.send()
    await asyncio.to_thread(
        stub_broker.join, tasks.expire_prescriptions.queue_name, fail_fast=True, timeout=60_000
    )
