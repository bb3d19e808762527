"""Group commit (claims/settlement/store.py, engine/batching.py), proven by real races on
PostgreSQL: concurrent 2207 settles of one process share their state read and their write, and
a settlement its batch cannot apply settles alone under its person's row lock, racing the
batched settlements of the same person."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select

from claims.settlement.models import BenefitAccumulator, Person, Settlement
from claims.settlement.store import Effects, GroupedSettlementStore
from engine import metrics
from engine.db import Database
from tests.support.factories.world import CLASS_A_ITEM, NEAR_CAP, World

pytestmark = pytest.mark.postgres_only


def _batched() -> tuple[float, float]:
    """Write batches formed so far in this process, and the settlements written in them."""
    batches = sum(
        s.value
        for m in metrics.SETTLE_BATCH_SIZE.collect()
        for s in m.samples
        if s.name.endswith("_count")
    )
    settlements = sum(
        s.value
        for m in metrics.SETTLE_BATCH_SIZE.collect()
        for s in m.samples
        if s.name.endswith("_sum")
    )
    return batches, settlements


async def _people_near_their_limits(world: World, people: int, visits: int) -> dict[str, list[str]]:
    """People with 30.00 in their account and 50.00 left under the pooled fund's annual cap,
    each with ``visits`` visits of a 100.00 class A item: together their visits ask for more
    than either limit leaves."""
    claims: dict[str, list[str]] = {}
    for _ in range(people):
        psn_no, certno = await world.enrol(insutype="310", acct_balc="30.00")
        await world.opening(psn_no, categories=[NEAR_CAP])
        claims[psn_no] = []
        for _ in range(visits):
            visit = await world.visit(psn_no, certno)
            await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
            claims[psn_no].append(visit["mdtrt_id"])
    return claims


async def _assert_ledgers_add_up(database: Database, claims: dict[str, list[str]]) -> None:
    """Each person's limits used exactly, never above; one settlement per visit; accumulators
    and balance equal to the opening figures moved by the settlements' own deltas; the ledger
    version moved once per settlement."""
    async with database.sessionmaker() as session:
        for psn_no, mdtrt_ids in claims.items():
            settled = (
                await session.scalars(select(Settlement).where(Settlement.psn_no == psn_no))
            ).all()
            assert sorted(s.mdtrt_id for s in settled) == sorted(mdtrt_ids)
            person = await session.get_one(Person, psn_no, populate_existing=True)
            acc = await session.get_one(
                BenefitAccumulator, (psn_no, 2026, "310-11"), populate_existing=True
            )
            assert sum(s.hifp_pay for s in settled) == 5000  # the 50.00 left under the cap
            assert sum(s.acct_pay for s in settled) == 3000  # the 30.00 balance
            assert person.acct_balc == 0
            assert acc.hifp_paid == 495000 + sum(s.d_hifp_paid for s in settled) == 500000
            assert acc.deductible_used == 20000 + sum(s.d_deductible_used for s in settled)
            assert person.ledger_version == len(settled) + 1  # the opening moved it once


def _refuse_some_batched_writes(
    monkeypatch: pytest.MonkeyPatch, refused: Callable[[Effects], bool]
) -> list[str]:
    """Make the grouped write answer "not applied" without writing for the settlements
    ``refused`` picks, as a moved ledger version would: those settle again under their
    person's row lock while the others of the same person go on in batches. Returns the
    visits so sent to the lock."""
    sent: list[str] = []
    write = GroupedSettlementStore.write

    async def write_or_refuse(store: GroupedSettlementStore, effects: Effects) -> bool:
        if refused(effects):
            sent.append(effects.settlement["mdtrt_id"])
            return False
        return await write(store, effects)

    monkeypatch.setattr(GroupedSettlementStore, "write", write_or_refuse)
    return sent


async def _settle_all(world: World, mdtrt_ids: list[str]) -> list[Any]:
    responses = await asyncio.gather(*(world.settle(m, acct_used_flag=True) for m in mdtrt_ids))
    return [r.status_code for r in responses]


async def test_batched_and_locked_settles_of_the_same_person_never_overdraw(
    committed_world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = await _people_near_their_limits(committed_world, people=6, visits=8)
    every = [m for mdtrt_ids in claims.values() for m in mdtrt_ids]
    locked = set(every[::3])
    sent = _refuse_some_batched_writes(monkeypatch, lambda e: e.settlement["mdtrt_id"] in locked)
    batches_before = _batched()

    codes = await _settle_all(committed_world, every)

    assert codes == [201] * len(every)
    assert set(sent) == locked  # each of those settled under the lock, racing the batches
    batches, settlements = (a - b for a, b in zip(_batched(), batches_before, strict=True))
    assert settlements > batches  # some writes were shared
    await _assert_ledgers_add_up(database, claims)


async def test_many_people_batched_together_with_some_guards_failing(
    committed_world: World, database: Database
) -> None:
    """Several visits of each person in the same batches: the first of a person's settlements
    in a batch applies, the others meet a moved version (or are held back from the batch) and
    settle again under the lock, and every person's limits hold."""
    claims = await _people_near_their_limits(committed_world, people=12, visits=4)
    every = [m for round_ in zip(*claims.values(), strict=True) for m in round_]
    batches_before = _batched()

    codes = await _settle_all(committed_world, every)

    assert codes == [201] * len(every)
    batches, settlements = (a - b for a, b in zip(_batched(), batches_before, strict=True))
    assert settlements > batches
    await _assert_ledgers_add_up(database, claims)


async def test_a_row_refused_in_a_batch_does_not_fail_its_neighbours(
    committed_world: World, database: Database
) -> None:
    """Two requests of different people under one Idempotency-Key, among others: a batch
    holding both is refused by the key's unique index as a whole, and each of its settlements
    settles alone. The neighbours settle; of the two, one settles and one is refused."""
    world = committed_world
    visits = []
    for _ in range(10):
        psn_no, certno = await world.enrol(insutype="310")
        visit = await world.visit(psn_no, certno)
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
        visits.append(visit["mdtrt_id"])
    shared = f"shared-{uuid.uuid4().hex}"
    keys = [shared, shared, *(uuid.uuid4().hex for _ in visits[2:])]

    responses = await asyncio.gather(
        *(world.settle(m, key=k) for m, k in zip(visits, keys, strict=True))
    )

    codes = [r.status_code for r in responses]
    assert sorted(codes[:2]) == [201, 409] and codes[2:] == [201] * 8
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["code"] == "idempotency_key_reused"
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Settlement).where(Settlement.mdtrt_id.in_(visits))
        )
    assert count == 9


async def test_retried_keys_racing_their_first_requests_settle_once(
    committed_world: World, database: Database
) -> None:
    """Each request sent three times at once under its key, all in the same batches: one
    settlement per key, every answer the same."""
    world = committed_world
    visits = []
    for _ in range(8):
        psn_no, certno = await world.enrol(insutype="310")
        visit = await world.visit(psn_no, certno)
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
        visits.append(visit["mdtrt_id"])
    keys = {m: uuid.uuid4().hex for m in visits}

    sends: list[Awaitable[Any]] = [world.settle(m, key=keys[m]) for _ in range(3) for m in visits]
    responses = await asyncio.gather(*sends)

    assert {r.status_code for r in responses} == {201}
    by_visit: dict[str, set[str]] = {}
    for response in responses:
        by_visit.setdefault(response.json()["mdtrt_id"], set()).add(response.json()["setl_id"])
    assert all(len(ids) == 1 for ids in by_visit.values()) and len(by_visit) == len(visits)
    async with database.sessionmaker() as session:
        per_visit = (
            await session.execute(
                select(Settlement.mdtrt_id, func.count())
                .where(Settlement.mdtrt_id.in_(visits))
                .group_by(Settlement.mdtrt_id)
            )
        ).all()
    assert sorted(count for _, count in per_visit) == [1] * len(visits)
    assert {r.json()["medfee_sumamt"] for r in responses} == {"100.00"}


async def test_a_lone_settle_reads_and_writes_on_one_connection_and_gives_it_back(
    committed_world: World, database: Database
) -> None:
    """A lone settle's write takes the connection its read left behind (one pool checkout for
    both), and the process holds no connection once it has answered."""
    world = committed_world
    visits = []
    for _ in range(2):
        psn_no, certno = await world.enrol(insutype="310")
        visit = await world.visit(psn_no, certno)
        await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
        visits.append(visit["mdtrt_id"])
    assert (await world.settle(visits[0])).status_code == 201  # the policy is cached now
    pool = database.engine.sync_engine.pool
    moves: list[str] = []

    def checked_out(*_: object) -> None:
        moves.append("out")

    def checked_in(*_: object) -> None:
        moves.append("in")

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    try:
        assert (await world.settle(visits[1])).status_code == 201
    finally:
        event.remove(pool, "checkout", checked_out)
        event.remove(pool, "checkin", checked_in)

    assert moves == ["out", "in"]
