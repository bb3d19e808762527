"""Filings (备案) for cross-region care, docs/domain.md section 15.

The insured place's insurer files its person for care in another region, with a type and a
period; it may end the filing early or revoke it. The treatment region's insurer reads the
filings that name its region (nothing else of the person); registration (2201) at an institution
of another region asks :func:`care_type` which filing covers the visit day.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import CrossRegionFiling
from claims.settlement.schemas import FilingEndIn, FilingIn, FilingOut, FilingPage
from claims.settlement.service import persons
from engine import audit
from engine.auth import Principal
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.ids import new_id

#: The care type of a visit in another region without a filing covering its day.
UNFILED = "unfiled"


def filing_out(row: CrossRegionFiling) -> FilingOut:
    return FilingOut.model_validate(row, from_attributes=True)


def _check_period(begndate: date, enddate: date | None) -> None:
    if enddate is not None and enddate < begndate:
        raise InvalidRequest("enddate is before begndate", code="invalid_period", field="enddate")


async def file(session: AsyncSession, principal: Principal, body: FilingIn) -> CrossRegionFiling:
    """File a person of the insurer's region for care in another region. Filings of one person
    for one treatment region never share a day: the person's row lock serialises two filings
    arriving at once, so the overlap check cannot race."""
    person = await persons.get_visible(session, principal, body.psn_no)
    if body.mdtrtarea_admvs == person.admdvs:
        raise InvalidRequest(
            "the treatment region is the person's own", code="same_region", field="mdtrtarea_admvs"
        )
    _check_period(body.begndate, body.enddate)
    await repository.person(session, person.psn_no, lock=True)
    if await repository.active_filings(
        session, person.psn_no, body.mdtrtarea_admvs, body.begndate, body.enddate
    ):
        raise Conflict(
            "the person has a filing for that region in the period",
            code="overlapping_filing",
            field="begndate",
        )
    row = CrossRegionFiling(
        trt_dcla_detl_sn=new_id("F"),
        psn_no=person.psn_no,
        insuplc_admdvs=person.admdvs,
        mdtrtarea_admvs=body.mdtrtarea_admvs,
        filing_type=body.filing_type,
        begndate=body.begndate,
        enddate=body.enddate,
        status="active",
        created_by=principal.org_id,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="filing.created",
        object_type="cross_region_filing",
        object_id=row.trt_dcla_detl_sn,
        payload=filing_out(row).model_dump(mode="json"),
        new_stream=True,
    )
    return row


async def _own(session: AsyncSession, principal: Principal, sn: str) -> CrossRegionFiling:
    """A filing of the insurer's own insured, row-locked; any other reads as unknown."""
    row = await repository.filing(session, sn, lock=True)
    if row is None or not principal.in_region(row.insuplc_admdvs):
        raise NotFound("no such filing", code="unknown_filing", field="trt_dcla_detl_sn")
    if row.status == "revoked":
        raise Conflict("the filing is revoked", code="filing_revoked", field="trt_dcla_detl_sn")
    return row


async def end(
    session: AsyncSession, principal: Principal, sn: str, body: FilingEndIn
) -> CrossRegionFiling:
    """End a filing on ``enddate`` (inclusive): an end only shortens a filing, so visits already
    registered under it stay covered as they were when settled."""
    row = await _own(session, principal, sn)
    _check_period(row.begndate, body.enddate)
    if row.enddate is not None and body.enddate > row.enddate:
        raise InvalidRequest(
            "an end only shortens a filing", code="invalid_period", field="enddate"
        )
    row.enddate = body.enddate
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="filing.ended",
        object_type="cross_region_filing",
        object_id=row.trt_dcla_detl_sn,
        payload={"enddate": body.enddate.isoformat()},
    )
    return row


async def revoke(session: AsyncSession, principal: Principal, sn: str) -> CrossRegionFiling:
    """Revoke a filing made in error: from now on it covers no visit. Settlements already made
    under it keep the care type they were adjudicated on."""
    row = await _own(session, principal, sn)
    row.status = "revoked"
    row.revoked_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="filing.revoked",
        object_type="cross_region_filing",
        object_id=row.trt_dcla_detl_sn,
    )
    return row


def _visible(principal: Principal, row: CrossRegionFiling) -> bool:
    """The insured place's insurer and the treatment place's insurer see a filing."""
    return principal.in_region(row.insuplc_admdvs) or principal.in_region(row.mdtrtarea_admvs)


async def visible_filing(session: AsyncSession, principal: Principal, sn: str) -> FilingOut:
    row = await repository.filing(session, sn)
    if row is None or not _visible(principal, row):
        raise NotFound("no such filing", code="unknown_filing", field="trt_dcla_detl_sn")
    return filing_out(row)


async def visible_filings(
    session: AsyncSession,
    principal: Principal,
    *,
    psn_no: str | None,
    cursor: str | None,
    limit: int,
) -> FilingPage:
    """The filings of the insurer's insured and those naming its region as treatment place."""
    assert principal.admdvs is not None  # insurers are bound to a region
    rows = await repository.filings_page(
        session, admdvs=principal.admdvs, psn_no=psn_no, after=cursor, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return FilingPage(
        items=[filing_out(r) for r in rows],
        next_cursor=rows[-1].trt_dcla_detl_sn if more and rows else None,
    )


async def in_force(
    session: AsyncSession, psn_no: str, mdtrtarea_admvs: str, on: date
) -> CrossRegionFiling | None:
    """The person's live filing for ``mdtrtarea_admvs`` covering day ``on``, if any (filings of
    one person for one region never share a day, so there is at most one)."""
    covering = await repository.active_filings(session, psn_no, mdtrtarea_admvs, on, on)
    return covering[0] if covering else None


async def care_type(session: AsyncSession, psn_no: str, mdtrtarea_admvs: str, on: date) -> str:
    """The type of the person's filing for ``mdtrtarea_admvs`` in force on day ``on``, or
    :data:`UNFILED`."""
    filing = await in_force(session, psn_no, mdtrtarea_admvs, on)
    return UNFILED if filing is None else filing.filing_type
