"""The database never hangs a request: faults injected between a real API server and PostgreSQL.

A uvicorn server reaches PostgreSQL through :class:`tests.support.tcp_proxy.TcpProxy`, while
hospitals settle concurrently over real HTTP. Stalled (sockets open and silent) or cut, the
database costs each request at most the configured deadline and answers 503
``database_unavailable``; restored, the same server settles again with no restart. Afterwards
every settlement is whole: a 503 either left nothing or, when its write had reached the server
before the network failed, left the complete settlement that a retry under the same
Idempotency-Key returns.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from claims.settlement.models import BenefitAccumulator, Person, Settlement
from engine.app import create_app
from engine.audit import AuditEntry
from engine.db import Database, DatabaseBounds
from engine.settings import Settings
from tests.support.factories.world import CLASS_A_ITEM, World, build_world
from tests.support.server import serving
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres_only

DEADLINE = 2.0
PING_TIMEOUT = 0.5
#: Scheduling slack on a loaded two-core machine; a request past the bound counts as hung.
MARGIN = 2.0
HOSPITALS = 2
PEOPLE = 4
VISITS_EACH = 16
OPENING_BALANCE = 50_000  # fen


@dataclass
class Insured:
    """A person of the world, settling their visits in order at one hospital."""

    psn_no: str
    hospital: int
    visits: list[str]
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def next_visit(self) -> str:
        return next(v for v in self.visits if v not in self.outcomes)


@dataclass(frozen=True)
class Outcome:
    """What a settle was answered (under its Idempotency-Key), and how long it took."""

    key: str
    status: int
    code: str | None
    retry_after: str | None
    seconds: float


@pytest.fixture
async def world(database: Database) -> AsyncIterator[tuple[World, list[Insured]]]:
    """Hospitals, people with an account balance and visits with fees, committed for real."""
    app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sanyi.test", timeout=60) as client,
        database.sessionmaker() as session,
    ):
        admdvs = f"8{secrets.randbelow(10**5):05d}"
        world = await build_world(client, session, admdvs=admdvs, hospital_levels=(3,) * HOSPITALS)
        await session.commit()
        people = []
        for i in range(PEOPLE):
            psn_no, certno = await world.enrol(acct_balc=f"{OPENING_BALANCE // 100}.00")
            visits = []
            for _ in range(VISITS_EACH):
                visit = await world.visit(psn_no, certno, hospital=i % HOSPITALS, dr=None)
                await world.fees(
                    visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "80.00")], hospital=i % HOSPITALS
                )
                visits.append(visit["mdtrt_id"])
            people.append(Insured(psn_no, i % HOSPITALS, visits))
        yield world, people


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
async def api(proxy: TcpProxy, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real server whose database connections all go through the proxy."""
    through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(
        database_url=through_proxy.render_as_string(hide_password=False),
        broker_url=None,
        SANYI_DB_DEADLINE=DEADLINE,
        SANYI_DB_CONNECT_TIMEOUT=2,
        SANYI_DB_POOL_TIMEOUT=1,
        SANYI_DB_STATEMENT_TIMEOUT=DEADLINE / 2,
        SANYI_PROBE_TIMEOUT=PING_TIMEOUT,
    )
    db = Database.connect(
        settings.async_database_url, pool_size=4, bounds=DatabaseBounds.for_requests(settings)
    )
    with serving(create_app(settings, db=db)) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    # The pool's connections belong to the server's finished event loop: let them go unclosed
    # (the test database is dropped with them at the end of the run).
    await db.engine.dispose(close=False)


async def _settle(
    api: httpx.AsyncClient, world: World, person: Insured, mdtrt_id: str, key: str
) -> Outcome:
    _, headers = world.hospital(person.hospital)
    started = time.monotonic()
    response = await api.post(
        f"/v1/visits/{mdtrt_id}/settlement",
        json={"acct_used_flag": True},
        headers=headers | {"Idempotency-Key": key},
    )
    seconds = time.monotonic() - started
    code = response.json().get("code") if response.status_code >= 400 else None
    outcome = Outcome(key, response.status_code, code, response.headers.get("Retry-After"), seconds)
    person.outcomes[mdtrt_id] = outcome
    return outcome


async def _wave(api: httpx.AsyncClient, world: World, people: list[Insured]) -> list[Outcome]:
    """One settle per person, all at once, each of a visit not tried before."""
    return await asyncio.gather(
        *(_settle(api, world, p, p.next_visit(), secrets.token_hex(16)) for p in people)
    )


def _unavailable(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        assert outcome.status == 503, outcome
        assert outcome.code == "database_unavailable"
        assert outcome.retry_after is not None and int(outcome.retry_after) > 0
        assert outcome.seconds < DEADLINE + MARGIN, outcome


def _answered(outcomes: list[Outcome]) -> None:
    """Caught by the fault mid-request: settled or refused, within the bound, never a 500."""
    for outcome in outcomes:
        assert outcome.status in (201, 503), outcome
        assert outcome.seconds < DEADLINE + MARGIN, outcome


async def _recovers(api: httpx.AsyncClient, world: World, people: list[Insured]) -> None:
    """The same server settles again by itself: within a few seconds every person's next settle
    succeeds (a pooled connection the fault broke may cost one more 503 first)."""
    give_up = time.monotonic() + 15
    pending = list(people)
    while pending:
        assert time.monotonic() < give_up, "the API did not recover"
        outcomes = await _wave(api, world, pending)
        _answered(outcomes)
        pending = [p for p, o in zip(pending, outcomes, strict=True) if o.status != 201]
        await asyncio.sleep(0.2)


async def _untouched(database: Database, mdtrt_ids: list[str]) -> None:
    async with database.sessionmaker() as session:
        settled = await session.scalars(
            select(Settlement.mdtrt_id).where(Settlement.mdtrt_id.in_(mdtrt_ids))
        )
        assert list(settled) == []


async def test_a_stalled_or_cut_database_answers_503_in_bound_and_the_api_recovers(
    world: tuple[World, list[Insured]],
    proxy: TcpProxy,
    api: httpx.AsyncClient,
    database: Database,
) -> None:
    the_world, people = world
    await _recovers(api, the_world, people)  # up and settling

    # Stall under load: the requests in flight, then new ones, and /health, all answer in bound.
    in_flight = asyncio.ensure_future(_wave(api, the_world, people))
    await asyncio.sleep(0.01)
    proxy.stall()
    _answered(await in_flight)
    during_stall = await _wave(api, the_world, people)
    _unavailable(during_stall)
    started = time.monotonic()
    health = await api.get("/health")
    assert health.status_code == 503
    assert health.json()["database"]["ok"] is False
    assert time.monotonic() - started < PING_TIMEOUT + MARGIN
    proxy.restore()
    await _recovers(api, the_world, people)
    assert (await api.get("/health")).status_code == 200

    # The database gone: every connection reset, new ones refused.
    proxy.cut(refusing=True)
    while_gone = await _wave(api, the_world, people)
    _unavailable(while_gone)
    proxy.restore()
    await _recovers(api, the_world, people)

    # Connections killed under load, the database staying reachable.
    in_flight = asyncio.ensure_future(_wave(api, the_world, people))
    await asyncio.sleep(0.01)
    proxy.cut()
    proxy.restore()
    _answered(await in_flight)
    await _recovers(api, the_world, people)

    # A request that could not reach the database changed nothing.
    await _untouched(
        database, [v for o in (during_stall, while_gone) for v in _visits_of(people, o)]
    )
    await _every_settle_is_whole(api, the_world, people, database)


def _visits_of(people: list[Insured], outcomes: list[Outcome]) -> list[str]:
    keys = {o.key for o in outcomes}
    return [m for p in people for m, o in p.outcomes.items() if o.key in keys]


async def _every_settle_is_whole(
    api: httpx.AsyncClient, world: World, people: list[Insured], database: Database
) -> None:
    """Retry every refused settle under its own key (it settles, or returns the settlement its
    write made before the fault), then check each person's ledger against the settlements."""
    for person in people:
        for mdtrt_id, outcome in list(person.outcomes.items()):
            if outcome.status == 503:
                retried = await _settle(api, world, person, mdtrt_id, outcome.key)
                assert retried.status == 201, retried
    async with database.sessionmaker() as session:
        for person in people:
            settlements = (
                await session.scalars(
                    select(Settlement).where(
                        Settlement.psn_no == person.psn_no, Settlement.status == "settled"
                    )
                )
            ).all()
            assert sorted(s.mdtrt_id for s in settlements) == sorted(person.outcomes)
            hifp_paid = await session.scalar(
                select(func.sum(BenefitAccumulator.hifp_paid)).where(
                    BenefitAccumulator.psn_no == person.psn_no
                )
            )
            assert hifp_paid == sum(s.hifp_pay for s in settlements)
            ledger = await session.get_one(Person, person.psn_no)
            assert ledger.acct_balc == OPENING_BALANCE - sum(s.acct_pay for s in settlements)
            audited = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.object_type == "settlement",
                    AuditEntry.object_id.in_([s.setl_id for s in settlements]),
                )
            )
            assert audited == len(settlements)
