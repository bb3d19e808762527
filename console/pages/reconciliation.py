"""Reconciliation jobs of the region, newest first, each with its mismatches, read through the
reconciliation service (the same scope and answer as the API's)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import reconciliation
from claims.clearing.schemas import DetailReconOut
from engine.auth import Principal
from engine.errors import Conflict

#: Jobs shown on the page; older ones are in the API.
JOBS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ReconPage:
    done: list[DetailReconOut]
    unfinished: int


async def reconciliation_page(
    session: AsyncSession, principal: Principal, admdvs: str
) -> ReconPage:
    done: list[DetailReconOut] = []
    unfinished = 0
    for recon_id in await reconciliation.recent_runs(session, admdvs, JOBS_SHOWN):
        try:
            run = await reconciliation.visible_run(session, principal, recon_id)
        except Conflict:  # queued or running: no result yet
            unfinished += 1
            continue
        done.append(await reconciliation.detail_out(session, run))
    return ReconPage(done, unfinished)
