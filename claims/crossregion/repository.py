"""Every query of cross-region settlement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from claims.crossregion.models import CrossRegionFiling, InterRegionClaim, InterRegionClaimLine
from claims.settlement.models import Settlement


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


# --- inter-region claims -------------------------------------------------------------------------


def _pair(b: str, a: str) -> list[ColumnElement[bool]]:
    """Settlements made by ``b``'s institutions for ``a``'s insured."""
    return [Settlement.admdvs == b, Settlement.insuplc_admdvs == a]


async def month_settlements(
    session: AsyncSession, b: str, a: str, begin: datetime, end: datetime, *, live_at: datetime
) -> Sequence[Settlement]:
    """The pair's settlements made in [begin, end) that were live at ``live_at`` (not revoked,
    or revoked only later)."""
    query = select(Settlement).where(
        *_pair(b, a),
        Settlement.setl_time >= begin,
        Settlement.setl_time < end,
        or_(Settlement.revoked_at.is_(None), Settlement.revoked_at >= live_at),
    )
    return (await session.scalars(query.order_by(Settlement.setl_time, Settlement.setl_id))).all()


async def revocations_to_carry(
    session: AsyncSession, b: str, a: str, *, before: datetime, into: str | None
) -> Sequence[Settlement]:
    """Settlements of the pair claimed in a claim frozen before ``before``, revoked after that
    claim froze and before ``before``, and not carried into a claim other than ``into`` (the
    claim being checked; None while making a claim): the adjustments a claim frozen at
    ``before`` carries."""
    claimed = aliased(InterRegionClaimLine)
    earlier = aliased(InterRegionClaim)
    carried = aliased(InterRegionClaimLine)
    query = (
        select(Settlement)
        .join(claimed, and_(claimed.setl_id == Settlement.setl_id, claimed.kind == "settlement"))
        .join(earlier, earlier.claim_id == claimed.claim_id)
        .where(
            *_pair(b, a),
            earlier.frozen_at < before,
            Settlement.revoked_at >= earlier.frozen_at,
            Settlement.revoked_at < before,
            ~exists().where(
                carried.setl_id == Settlement.setl_id,
                carried.kind == "adjustment",
                *([] if into is None else [carried.claim_id != into]),
            ),
        )
    )
    return (await session.scalars(query.order_by(Settlement.setl_time, Settlement.setl_id))).all()


async def interregion_claim(session: AsyncSession, claim_id: str) -> InterRegionClaim | None:
    return await session.get(InterRegionClaim, claim_id)


async def claim_by_month(
    session: AsyncSession, b: str, a: str, setlym: str
) -> InterRegionClaim | None:
    query = select(InterRegionClaim).where(
        InterRegionClaim.mdtrtarea_admvs == b,
        InterRegionClaim.insuplc_admdvs == a,
        InterRegionClaim.setlym == setlym,
    )
    return (await session.scalars(query)).first()


async def claims_of_region(session: AsyncSession, admdvs: str) -> Sequence[InterRegionClaim]:
    """The claims a region made (as treatment place) or owes (as insured place)."""
    query = select(InterRegionClaim).where(
        or_(InterRegionClaim.mdtrtarea_admvs == admdvs, InterRegionClaim.insuplc_admdvs == admdvs)
    )
    return (
        await session.scalars(
            query.order_by(InterRegionClaim.setlym.desc(), InterRegionClaim.claim_id)
        )
    ).all()


async def claim_lines(session: AsyncSession, claim_id: str) -> Sequence[InterRegionClaimLine]:
    """A claim's lines: settlements, then adjustments, by time."""
    query = select(InterRegionClaimLine).where(InterRegionClaimLine.claim_id == claim_id)
    return (
        await session.scalars(
            query.order_by(
                InterRegionClaimLine.kind.desc(),
                InterRegionClaimLine.setl_time,
                InterRegionClaimLine.setl_id,
            )
        )
    ).all()
