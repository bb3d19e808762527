"""A worker killed (``kill -9``) in the middle of a month run, and restarted, completes it with
exact totals (issue 7; docs/events.md "A run killed half-way").

Real processes end to end: a committed region with many budgets, a ``dramatiq workers``
subprocess on RabbitMQ (a virtual host of the test's own, so parallel tests never share its
queues), the run enqueued through RabbitMQ, the worker's process group killed once some but not
all providers are paid, and a second worker that receives the unacknowledged message again and
pays the rest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import delete, func, select

from claims.funding import ledger
from claims.funding import tasks as budget_tasks
from claims.funding.budgets import create_budget
from claims.funding.models import FundingCaseEntry, FundingLedgerEntry, GlobalBudget
from claims.funding.schemas import BudgetIn
from engine.auth import Organisation
from engine.clock import local_date
from engine.db import Database, unit_of_work, utcnow
from engine.outbox import OutboxEvent
from tests.conftest import BROKER_URL
from tests.support.factories.funding import budget_body, provider

YEAR = local_date(utcnow()).year - 1
MONTH = 2
# Enough budgets that the run (a committed transaction per provider) lasts a few seconds.
PROVIDERS = 600
WITHHOLD = Decimal("0.05")
TIMEOUT_S = 90.0
DRAMATIQ = [sys.executable, "-m", "dramatiq", "workers", "-p", "1", "-t", "1"]
ROOT = Path(__file__).resolve().parents[3]


def _rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own, deleted with its queues afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl to make a virtual host of the test's own")
    vhost = f"sanyi_kill_{secrets.token_hex(4)}"
    user = urlsplit(BROKER_URL).username or "guest"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield urlunsplit(urlsplit(BROKER_URL)._replace(path=f"/{vhost}"))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _queue(vhost: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of the funding queue."""
    out = _rabbitmqctl(
        "list_queues", "-q", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"
    )
    for line in out.splitlines():
        name, *counts = line.split()
        if name == budget_tasks.QUEUE:
            return int(counts[0]), int(counts[1])
    return 0, 0


class Workers:
    """``dramatiq workers`` subprocesses, each the leader of its own process group."""

    def __init__(self, database_url: str, broker_url: str, logs: Path) -> None:
        self.env = os.environ | {"DATABASE_URL": database_url, "BROKER_URL": broker_url}
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [*DRAMATIQ, "-Q", budget_tasks.QUEUE],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """``kill -9`` the worker's whole process group (the dramatiq leader and its worker)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running:
            self.kill(process)


@pytest.fixture
def worker_processes(database_url: str, broker_url: str, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(database_url, broker_url, tmp_path)
    yield running
    running.stop_all()


def _month_share(i: int) -> Decimal:
    """Provider i's fund share in the month: odd fen, so withholding rounds half-up often."""
    return Decimal(1000 + 7 * i) + Decimal(i % 100) / 100 + Decimal("0.05")


def _expected(share: Decimal) -> tuple[int, int]:
    """(prepaid, withheld) in fen, by hand: share × (1 − w) half-up to the fen, and the rest
    (the share is under the monthly cap, B/12 = 100,000.00)."""
    prepaid = (share * (1 - WITHHOLD)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return int(prepaid * 100), int((share - prepaid) * 100)


def _fund_share(code: str, region: str, share: Decimal) -> FundingCaseEntry:
    """The case entry a settlement of the month leaves (claims.funding.case_entries), made
    directly: this test is about the run, not the settlement hooks."""
    return FundingCaseEntry(
        setl_id="S" + uuid.uuid4().hex[:20].upper(),
        kind="fund_share",
        fixmedins_code=code,
        treated_by=code,
        admdvs=region,
        year=YEAR,
        month=MONTH,
        amount=int(share * 100),
        occurred_at=datetime(YEAR, MONTH, 14, tzinfo=UTC),
    )


async def _committed_region(
    database: Database, providers: int = PROVIDERS
) -> tuple[str, dict[str, tuple[int, int]]]:
    region = f"9{secrets.randbelow(10**5):05d}"
    expected: dict[str, tuple[int, int]] = {}
    async with unit_of_work(database.sessionmaker) as session:
        for i in range(providers):
            code = await provider(session, region)
            body = budget_body(code, YEAR, "1200000.00") | {"admdvs": region}
            await create_budget(session, budget_tasks.WORKER, BudgetIn.model_validate(body))
            share = _month_share(i)
            session.add(_fund_share(code, region, share))
            expected[code] = _expected(share)
    return region, expected


async def _paid(database: Database, region: str) -> dict[str, dict[str, list[int]]]:
    """The region's month entries: provider → kind → amounts (a list, to see duplicates)."""
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(
                FundingLedgerEntry.fixmedins_code,
                FundingLedgerEntry.kind,
                FundingLedgerEntry.amount,
            ).where(FundingLedgerEntry.admdvs == region, FundingLedgerEntry.period == MONTH)
        )
        paid: dict[str, dict[str, list[int]]] = {}
        for code, kind, amount in rows:
            paid.setdefault(code, {}).setdefault(kind, []).append(amount)
        return paid


async def _providers_paid(database: Database, region: str) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                FundingLedgerEntry.admdvs == region,
                FundingLedgerEntry.period == MONTH,
                FundingLedgerEntry.kind == "prepaid",
            )
        )
        return int(count or 0)


async def _forget_region(database: Database, region: str, codes: list[str]) -> None:
    """Remove the committed region (the audit log is append-only and keeps its entries)."""
    async with unit_of_work(database.sessionmaker) as session:
        for table, column in (
            (FundingLedgerEntry, FundingLedgerEntry.admdvs),
            (FundingCaseEntry, FundingCaseEntry.admdvs),
            (GlobalBudget, GlobalBudget.admdvs),
            (Organisation, Organisation.admdvs),
        ):
            await session.execute(delete(table).where(column == region))
        keys = [f"funding.prepaid.{code}" for code in codes]
        await session.execute(delete(OutboxEvent).where(OutboxEvent.routing_key.in_(keys)))


async def _wait_for(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _as_paid(expected: dict[str, tuple[int, int]]) -> dict[str, dict[str, list[int]]]:
    return {code: {"prepaid": [p], "withheld": [w]} for code, (p, w) in expected.items()}


async def test_a_run_cut_short_after_any_step_is_finished_by_running_it_again(
    database: Database,
) -> None:
    region, expected = await _committed_region(database, providers=5)
    try:
        async with unit_of_work(database.sessionmaker) as session:
            steps = await ledger.month_steps(session, budget_tasks.WORKER, region, YEAR, MONTH)
        for step in steps[:2]:  # the worker died after committing two steps
            async with unit_of_work(database.sessionmaker) as session:
                await step(session)
        assert len(await _paid(database, region)) == 2
        run = await ledger.run_month_in_steps(database, budget_tasks.WORKER, region, YEAR, MONTH)
        assert await _paid(database, region) == _as_paid(expected)
        assert {p.fixmedins_code: p.prepaid for p in run.prepayments} == {
            code: Decimal(prepaid) / 100 for code, (prepaid, _) in expected.items()
        }
    finally:
        await _forget_region(database, region, list(expected))


@pytest.mark.postgres_only
@pytest.mark.rabbitmq
async def test_a_worker_killed_mid_run_is_finished_by_the_next_with_exact_totals(
    database: Database, broker_url: str, worker_processes: Workers
) -> None:
    vhost = urlsplit(broker_url).path.lstrip("/")
    region, expected = await _committed_region(database)
    try:
        first = worker_processes.start()
        broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
        try:
            broker.enqueue(budget_tasks.prepay_month.message(region, YEAR, MONTH))
        finally:
            broker.close()

        async def some_paid() -> bool:
            return await _providers_paid(database, region) >= PROVIDERS // 5

        async def requeued() -> bool:
            return _queue(vhost) == (1, 0)

        async def finished() -> bool:
            return await _providers_paid(database, region) == PROVIDERS and _queue(vhost) == (0, 0)

        # Some providers are paid while the worker holds the message, unacknowledged.
        await _wait_for("the first providers to be paid", some_paid)
        Workers.kill(first)
        paid_by_first = await _providers_paid(database, region)
        assert paid_by_first < PROVIDERS, "the run finished before the kill: add providers"

        # RabbitMQ takes the message back from the dead connection, ready for another worker.
        await _wait_for("the message to be requeued", requeued)
        assert await _providers_paid(database, region) == paid_by_first
        worker_processes.start()
        await _wait_for("the second worker to finish the run and acknowledge it", finished)
        paid = await _paid(database, region)
        assert paid == _as_paid(expected)
        total_prepaid = sum(p for p, _ in expected.values())
        total_withheld = sum(w for _, w in expected.values())
        assert sum(sum(kinds["prepaid"]) for kinds in paid.values()) == total_prepaid
        assert sum(sum(kinds["withheld"]) for kinds in paid.values()) == total_withheld
        # Hand total of the shares: every fen of them is either prepaid or withheld.
        assert total_prepaid + total_withheld == sum(
            int(_month_share(i) * 100) for i in range(PROVIDERS)
        )
    finally:
        worker_processes.stop_all()
        await _forget_region(database, region, list(expected))
