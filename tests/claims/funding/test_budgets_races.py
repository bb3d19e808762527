"""Concurrent runs of the same month pay once: real connections, committed data, PostgreSQL.

Each test works in a pooling region of its own (a random admdvs) so committed rows of other tests
never meet it.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from claims.funding.models import FundingLedgerEntry
from engine.app import create_app
from engine.db import Database, unit_of_work
from engine.settings import Settings
from tests.support.factories.funding import (
    budget_body,
    facts,
    insurer_headers,
    provider,
    settle,
)

pytestmark = pytest.mark.postgres_only

RUNS = 6


async def test_concurrent_runs_of_a_month_pay_once(database: Database, settings: Settings) -> None:
    region = f"9{secrets.randbelow(10**5):05d}"
    async with unit_of_work(database.sessionmaker) as session:
        headers = await insurer_headers(session, region)
        codes = [await provider(session, region) for _ in range(3)]
        for code in codes:
            await settle(
                session,
                facts(code, datetime(2025, 6, 15, tzinfo=UTC), "123456.78", admdvs=region),
            )
    app = create_app(settings, db=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
        for code in codes:
            created = await client.post(
                "/v1/funding/budgets",
                json=budget_body(code, 2025, "1200000.00") | {"admdvs": region},
                headers=headers,
            )
            assert created.status_code == 201, created.text
        url = f"/v1/funding/regions/{region}/2025/months/6/prepayment"
        responses = await asyncio.gather(*(client.post(url, headers=headers) for _ in range(RUNS)))
    assert [r.status_code for r in responses] == [200] * RUNS, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert {p["prepaid"] for p in bodies[0]["prepayments"]} == {"95000.00"}
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(FundingLedgerEntry.kind, func.count(), func.sum(FundingLedgerEntry.amount))
            .where(FundingLedgerEntry.admdvs == region)
            .group_by(FundingLedgerEntry.kind)
        )
        assert {kind: (count, int(total)) for kind, count, total in rows} == {
            "prepaid": (3, 3 * 9_500_000),
            "withheld": (3, 3 * 500_000),
        }
