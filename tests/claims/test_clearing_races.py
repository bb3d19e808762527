"""Clearing under real concurrency on PostgreSQL (separate connections, committed work in a region
of its own): two approvals racing to carry the same revocation carry it once, and two
applications for the same month make one batch."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from claims.budgets import CST
from engine.app import create_app
from engine.db import Database
from engine.settings import Settings
from tests.claims.recon_factories import backdate, revoked, settled
from tests.claims.world import World, build_world

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def committed_world(database: Database) -> AsyncIterator[World]:
    app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sanyi.test", timeout=60) as client,
        database.sessionmaker() as session,
    ):
        admdvs = f"9{secrets.randbelow(10**5):05d}"
        world = await build_world(client, session, admdvs=admdvs)
        await session.commit()
        yield world


async def _apply(world: World, setlym: str) -> httpx.Response:
    return await world.client.post(
        "/v1/clearing/batches",
        json={"setlym": setlym, "clr_type": "11"},
        headers=world.hospital(0)[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def _approve(world: World, batch_id: str) -> httpx.Response:
    return await world.client.post(
        f"/v1/clearing/batches/{batch_id}/approval",
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_racing_approvals_carry_a_revocation_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    july = await settled(world)
    async with database.sessionmaker() as session:
        await backdate(session, july["setl_id"], datetime(2026, 7, 10, tzinfo=CST))
        for month in (8, 9):
            later = await settled(world)
            await backdate(session, later["setl_id"], datetime(2026, month, 10, tzinfo=CST))
    frozen = await _approve(world, (await _apply(world, "202607")).json()["clr_appy_evt_id"])
    assert frozen.status_code == 200, frozen.text
    await revoked(world, july)

    batches = [(await _apply(world, setlym)).json() for setlym in ("202608", "202609")]
    approvals = await asyncio.gather(*(_approve(world, b["clr_appy_evt_id"]) for b in batches))
    assert [a.status_code for a in approvals] == [200, 200], [a.text for a in approvals]
    assert sorted(a.json()["adjustment_cnt"] for a in approvals) == [0, 1]
    assert sum(a.json()["psntime"] for a in approvals) == 2


async def test_racing_applications_make_one_batch(committed_world: World) -> None:
    responses = await asyncio.gather(*(_apply(committed_world, "202606") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_applied"}
