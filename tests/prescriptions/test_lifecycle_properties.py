"""The lock and dispense state machine, against a reference model (hypothesis): any sequence of
locks, returns, dispenses by three pharmacies and passing time gives the answers the model
predicts, and never more dispenses than the prescription allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from engine.clock import CST
from prescriptions.rules import may_dispense
from tests.prescriptions.world import DAY0, RxWorld, build_rx_world, day

LEASE = timedelta(minutes=15)
VALI_END = day(2, 23).replace(minute=59, second=59)  # RxWorld.repeat_document's validity

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["lock", "return", "dispense"]), st.integers(0, 2)),
        st.tuples(st.just("wait"), st.sampled_from([10, 20, 60 * 24, 60 * 24 * 14])),
    ),
    max_size=14,
)


@dataclass
class Model:
    """What the engine should answer, for a 3-portion, 28-day repeat prescription."""

    now: datetime = DAY0
    holder: int | None = None
    lease_until: datetime = DAY0
    dispensed: list[date] = field(default_factory=list)

    def held_by(self, pharmacy: int) -> bool:
        return self.holder == pharmacy and self.lease_until > self.now

    def live(self) -> bool:
        expired = not self.dispensed and self.now >= VALI_END
        return not expired and len(self.dispensed) < 3

    def lock(self, pharmacy: int) -> int:
        free = self.holder in (None, pharmacy) or self.lease_until <= self.now
        if not (self.live() and free):
            return 409
        self.holder, self.lease_until = pharmacy, self.now + LEASE
        return 200

    def release(self, pharmacy: int) -> int:
        if not self.held_by(pharmacy):
            return 409
        self.holder = None
        return 200

    def dispense(self, pharmacy: int) -> int:
        today = self.now.astimezone(CST).date()
        if not (self.live() and self.held_by(pharmacy)):
            return 409
        if may_dispense(self.dispensed, today, 3, 28) is not None:
            return 409
        self.dispensed.append(today)
        self.holder = None
        return 201


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    """One world for every example (hypothesis runs them all inside one test)."""
    return await build_rx_world(app, client, session, pharmacies=3)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
async def test_any_sequence_matches_the_model(world: RxWorld, script: list[Step]) -> None:
    world.at(DAY0)
    patient, hi_rxno, trace = await world.issue(repeat=True)
    for pharmacy in range(3):
        assert (await world.present(pharmacy, trace, patient.certno)).status_code == 200
    model = Model()
    for action, arg in script:
        if action == "wait":
            model.now += timedelta(minutes=arg)
            world.at(model.now)
            continue
        if action == "lock":
            expected, response = model.lock(arg), await world.lock(arg, hi_rxno)
        elif action == "return":
            expected = model.release(arg)
            response = await world.client.post(
                f"/v1/prescriptions/{hi_rxno}/return", headers=world.pharmacy(arg)[1]
            )
        else:
            expected, response = model.dispense(arg), await world.dispense(arg, hi_rxno)
        assert response.status_code == expected, (action, arg, response.text)
    shown = (await world.get(hi_rxno, world.hospital[1])).json()
    assert shown["dspe_cnt"] == len(model.dispensed) <= 3
    assert shown["locked"] == (model.holder is not None and model.lease_until > model.now)
