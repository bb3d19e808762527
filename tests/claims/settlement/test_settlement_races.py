"""Concurrency, proven by racing real transactions on PostgreSQL (separate connections).

The world is committed for real (through the API on the real engine) in a region of its own, so
these tests see each other's data as little as production tenants do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from claims.settlement.models import BenefitAccumulator, Person, Settlement
from claims.settlement.store import DriverSettlementStore, Effects, GroupedSettlementStore
from engine.db import Database
from tests.support.factories.settlement import settlements_of
from tests.support.factories.world import CLASS_A_ITEM, NEAR_CAP, World

pytestmark = pytest.mark.postgres_only


async def test_fifty_concurrent_settlements_never_exceed_cap_or_balance(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol(insutype="310", acct_balc="30.00")
    await world.opening(psn_no, categories=[NEAR_CAP])
    mdtrt_ids = []
    for i in range(50):
        visit = await world.visit(psn_no, certno, hospital=i % 2, dr=None)
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")], hospital=i % 2)
        mdtrt_ids.append(visit["mdtrt_id"])

    responses = await asyncio.gather(
        *(world.settle(m, hospital=i % 2, acct_used_flag=True) for i, m in enumerate(mdtrt_ids))
    )
    assert [r.status_code for r in responses] == [201] * 50
    bodies = [r.json() for r in responses]
    assert sum(fen_of(b["hifp_pay"]) for b in bodies) == 5000  # exactly the 50.00 left
    assert sum(fen_of(b["acct_pay"]) for b in bodies) == 3000  # exactly the 30.00 balance
    async with database.sessionmaker() as session:
        person = await session.get_one(Person, psn_no)
        acc = await session.get_one(BenefitAccumulator, (psn_no, 2026, "310-11"))
        assert person.acct_balc == 0
        assert acc.hifp_paid == 500000  # the cap, never above it


def fen_of(amount: str) -> int:
    """Fen from a wire amount, without going through float."""
    yuan, _, fen = amount.partition(".")
    return int(yuan) * 100 + int(fen.ljust(2, "0"))


async def test_same_idempotency_key_replayed_concurrently_settles_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol(insutype="310")
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    key = f"race-{uuid.uuid4().hex}"
    responses = await asyncio.gather(*(world.settle(visit["mdtrt_id"], key=key) for _ in range(20)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["setl_id"] for r in responses}) == 1
    async with database.sessionmaker() as session:
        assert await settlements_of(session, visit["mdtrt_id"]) == 1


async def test_concurrent_settles_of_one_visit_with_different_keys_settle_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol(insutype="310")
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    responses = await asyncio.gather(*(world.settle(visit["mdtrt_id"]) for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_settled"}
    async with database.sessionmaker() as session:
        assert await settlements_of(session, visit["mdtrt_id"]) == 1


ChangeOfLedger = Callable[[], Awaitable[httpx.Response]]


def _change_between_read_and_write(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[bool], list[ChangeOfLedger]]:
    """Make the next settlement write first run a queued change of the person's ledger (through
    the API, committed on a connection of its own), as if it had landed between that settle's read
    and its write; returns what each write answered (applied or not) and the queue."""
    answers: list[bool] = []
    changes: list[ChangeOfLedger] = []

    def after_the_change(
        write: Callable[[Any, Effects], Awaitable[bool]],
    ) -> Callable[[Any, Effects], Awaitable[bool]]:
        async def write_after_the_change(store: Any, effects: Effects) -> bool:
            if changes:
                assert (await changes.pop()()).status_code in (200, 201)
            answers.append(await write(store, effects))
            return answers[-1]

        return write_after_the_change

    # The grouped store writes a settle's first attempt (2207), the driver store the others.
    for store in (DriverSettlementStore, GroupedSettlementStore):
        monkeypatch.setattr(store, "write", after_the_change(store.write))
    return answers, changes


async def test_a_settlement_landing_between_read_and_write_sends_the_settle_back_to_the_lock(
    committed_world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = committed_world
    psn_no, certno = await world.enrol(insutype="310", acct_balc="30.00")
    await world.opening(psn_no, categories=[NEAR_CAP])
    first, second = [await world.visit(psn_no, certno) for _ in range(2)]
    for visit in (first, second):
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    answers, changes = _change_between_read_and_write(monkeypatch)
    changes.append(lambda: world.settle(second["mdtrt_id"], acct_used_flag=True))

    response = await world.settle(first["mdtrt_id"], acct_used_flag=True)

    assert response.status_code == 201
    # the second's write, the first's on what it read (refused), the first's under the lock
    assert answers == [True, False, True]
    async with database.sessionmaker() as session:
        settled = (
            await session.scalars(select(Settlement).where(Settlement.psn_no == psn_no))
        ).all()
        person = await session.get_one(Person, psn_no)
        acc = await session.get_one(BenefitAccumulator, (psn_no, 2026, "310-11"))
    assert len(settled) == 2
    assert sum(s.hifp_pay for s in settled) == 5000  # the 50.00 left under the cap, once
    assert sum(s.acct_pay for s in settled) == 3000  # the 30.00 balance, once
    assert (person.acct_balc, acc.hifp_paid) == (0, 500000)


async def test_a_revocation_landing_between_read_and_write_sends_the_settle_back_to_the_lock(
    committed_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation moves the ledger version on even when it gives no account money back."""
    world = committed_world
    psn_no, certno = await world.enrol(insutype="310")
    await world.opening(psn_no, categories=[NEAR_CAP])
    first, second = [await world.visit(psn_no, certno) for _ in range(2)]
    for visit in (first, second):
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    revoked = (await world.settle(first["mdtrt_id"])).json()
    assert fen_of(revoked["hifp_pay"]) == 5000 and revoked["acct_pay"] == "0.00"
    answers, changes = _change_between_read_and_write(monkeypatch)
    changes.append(lambda: world.revoke(revoked["setl_id"]))

    response = await world.settle(second["mdtrt_id"])

    assert answers == [False, True]
    # settled on the room under the cap the revocation gave back, as the first was
    assert response.json()["hifp_pay"] == revoked["hifp_pay"]


async def test_a_key_another_request_stored_meanwhile_refuses_the_write_and_writes_nothing(
    committed_world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people's visits settled under one key: the request whose write meets the other's
    record (a unique violation) writes nothing and answers as a reused key."""
    world = committed_world
    visits = []
    for _ in range(2):
        psn_no, certno = await world.enrol(insutype="310")
        visits.append(await world.visit(psn_no, certno))
        await world.fees(visits[-1]["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    key = f"race-{uuid.uuid4().hex}"
    answers, changes = _change_between_read_and_write(monkeypatch)
    changes.append(lambda: world.settle(visits[1]["mdtrt_id"], key=key))

    response = await world.settle(visits[0]["mdtrt_id"], key=key)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    # The other's write; this one's, refused in its batch by the other's record, applied
    # nothing, and under the lock this one read the record and wrote nothing more.
    assert answers == [True, False]
    async with database.sessionmaker() as session:
        settled = (
            await session.scalars(
                select(Settlement.mdtrt_id).where(
                    Settlement.mdtrt_id.in_([v["mdtrt_id"] for v in visits])
                )
            )
        ).all()
    assert settled == [visits[1]["mdtrt_id"]]
