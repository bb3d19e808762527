"""Every query of cross-region settlement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.crossregion.models import CrossRegionFiling


async def filing(
    session: AsyncSession, trt_dcla_detl_sn: str, *, lock: bool = False
) -> CrossRegionFiling | None:
    query = select(CrossRegionFiling).where(CrossRegionFiling.trt_dcla_detl_sn == trt_dcla_detl_sn)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=lock))).first()


def _overlapping(begndate: date, enddate: date | None) -> list[object]:
    """Filings whose period shares a day with [begndate, enddate]."""
    conditions: list[object] = [
        or_(CrossRegionFiling.enddate.is_(None), CrossRegionFiling.enddate >= begndate)
    ]
    if enddate is not None:
        conditions.append(CrossRegionFiling.begndate <= enddate)
    return conditions


async def active_filings(
    session: AsyncSession,
    psn_no: str,
    mdtrtarea_admvs: str,
    begndate: date,
    enddate: date | None,
) -> Sequence[CrossRegionFiling]:
    """The person's live filings for the treatment region that share a day with the period."""
    query = select(CrossRegionFiling).where(
        CrossRegionFiling.psn_no == psn_no,
        CrossRegionFiling.mdtrtarea_admvs == mdtrtarea_admvs,
        CrossRegionFiling.status == "active",
        *_overlapping(begndate, enddate),  # type: ignore[arg-type]
    )
    return (await session.scalars(query.order_by(CrossRegionFiling.begndate))).all()


async def filings_page(
    session: AsyncSession,
    *,
    admdvs: str,
    psn_no: str | None,
    after: str | None,
    limit: int,
) -> Sequence[CrossRegionFiling]:
    """Filings that name ``admdvs`` as insured or treatment region, by serial number."""
    query = select(CrossRegionFiling).where(
        or_(
            CrossRegionFiling.insuplc_admdvs == admdvs,
            CrossRegionFiling.mdtrtarea_admvs == admdvs,
        )
    )
    if psn_no is not None:
        query = query.where(CrossRegionFiling.psn_no == psn_no)
    if after is not None:
        query = query.where(CrossRegionFiling.trt_dcla_detl_sn > after)
    query = query.order_by(CrossRegionFiling.trt_dcla_detl_sn).limit(limit)
    return (await session.scalars(query)).all()
