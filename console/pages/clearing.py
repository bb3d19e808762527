"""Clearing page: the region's batches by status with what each fund is payable, approval and
the lines as CSV, all through the clearing service."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import batches
from claims.clearing.schemas import ClearingBatchOut
from engine.auth import Principal
from engine.errors import Conflict


@dataclass(frozen=True, slots=True)
class ClearingPage:
    applied: list[ClearingBatchOut]
    approved: list[ClearingBatchOut]


async def clearing_page(session: AsyncSession, principal: Principal) -> ClearingPage:
    page = await batches.list_batches(
        session, principal, setlym=None, clr_stas=None, fixmedins_code=None
    )
    return ClearingPage(
        applied=[b for b in page.items if b.clr_stas == "applied"],
        approved=[b for b in page.items if b.clr_stas == "approved"],
    )


async def approve(session: AsyncSession, principal: Principal, clr_appy_evt_id: str) -> bool:
    """Approve a batch (audited by the clearing service). A second approval (a double click, a
    resent form) changes nothing and is not an error: returns whether this call approved it."""
    try:
        await batches.approve(session, principal, clr_appy_evt_id)
    except Conflict as refused:
        if refused.code != "already_approved":
            raise
        return False
    return True


async def lines_csv(session: AsyncSession, principal: Principal, clr_appy_evt_id: str) -> str:
    """Every line of a batch the caller may see, as the clearing API's CSV."""
    await batches.visible_batch(session, principal, clr_appy_evt_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(batches.LINE_CSV_HEADER)
    async for cells in batches.line_rows(session, clr_appy_evt_id):
        writer.writerow(cells)
    return buffer.getvalue()
