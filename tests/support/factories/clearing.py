"""Typed helpers for the reconciliation and clearing tests: real settlements through the API
(``tests.support.factories.world``), and the institution's side of a 3202 detail file."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing.repository import DETAIL_COLUMNS
from claims.funding.models import FundingCaseEntry
from claims.settlement.models import Settlement
from engine.clock import local_date
from engine.db import utcnow
from tests.support.factories.world import CLASS_A_ITEM, World

HEADER = ",".join(DETAIL_COLUMNS)


async def settled(
    world: World,
    *,
    hospital: int = 0,
    insutype: str = "390",
    price: str = "100.00",
    med_type: str = "11",
) -> dict[str, Any]:
    """A new person's in-person visit with one class A line at ``price``, settled (resident 390:
    no deductible, the pooled fund pays 50%, for med_type 11 and 41 alike)."""
    psn_no, certno = await world.enrol(insutype=insutype)
    visit = await world.visit(psn_no, certno, hospital=hospital, dr=None, med_type=med_type)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", price)], hospital=hospital)
    response = await world.settle(visit["mdtrt_id"], hospital=hospital)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def revoked(world: World, settlement: dict[str, Any], *, hospital: int = 0) -> None:
    response = await world.revoke(settlement["setl_id"], hospital=hospital)
    assert response.status_code == 200, response.text


def today() -> date:
    """Today in China Standard Time, the calendar settlements are reconciled in."""
    return local_date(utcnow())


def statement_period() -> dict[str, str]:
    """A reconciliation period around today: yesterday to tomorrow."""
    return {
        "stmt_begndate": (today() - timedelta(days=1)).isoformat(),
        "stmt_enddate": (today() + timedelta(days=1)).isoformat(),
    }


def file_row(settlement: dict[str, Any], **changes: str) -> dict[str, str]:
    """The institution's row for a settlement, as its HIS would export it."""
    row = {column: str(settlement[column]) for column in DETAIL_COLUMNS}
    return row | changes


def detail_file(rows: list[dict[str, str]], *, header: str = HEADER) -> bytes:
    lines = [header, *(",".join(row[c] for c in DETAIL_COLUMNS) for row in rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


async def backdate(session: AsyncSession, setl_id: str, when: datetime) -> None:
    """Move a settlement into a past month (clearing only takes months that are over), with the
    funding case entries settlement wrote for it, as if it had been made then."""
    await session.execute(
        update(Settlement).where(Settlement.setl_id == setl_id).values(setl_time=when)
    )
    on = local_date(when)
    await session.execute(
        update(FundingCaseEntry)
        .where(FundingCaseEntry.setl_id == setl_id, FundingCaseEntry.reverses_id.is_(None))
        .values(year=on.year, month=on.month, occurred_at=when)
    )
    await session.commit()
