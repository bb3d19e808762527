"""Circulation (domain.md section 9): who may see a prescription, the pharmacy's list, download,
the lock and its return, expiry, and the region's circulation counted for the insurer.

A pharmacy sees a prescription only when it was routed to it (the patient nominated it) or
presented to it (prescriptions.presentation). Everything else, unknown numbers included, is one
and the same 404: a pharmacy cannot tell a prescription it may not see from one that does not
exist.

The lock is a lease on the prescription row, taken by a conditional update (repository.try_lock):
one pharmacy at a time, lapsing by itself at ``lock_expires_at`` (the periodic job then clears it
for the record, but a lapsed lock is free whether or not the job ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role
from engine.errors import Conflict, NotFound
from engine.pagination import decode_cursor, encode_cursor
from prescriptions import documents, records, repository
from prescriptions.models import Prescription
from prescriptions.schemas import LockOut, PrescriptionOut, PrescriptionPage, PrescriptionRead


def _unknown() -> NotFound:
    return NotFound("no such prescription", code="unknown_prescription", field="hi_rxno")


async def visible(
    session: AsyncSession, principal: Principal, hi_rxno: str, *, lock: bool = False
) -> Prescription:
    """The prescription if ``principal`` may see it: the issuing hospital, or a pharmacy it was
    routed or presented to. Anything else is :func:`_unknown`."""
    row = await repository.get(session, hi_rxno, lock=lock)
    if row is None:
        raise _unknown()
    if principal.role is Role.hospital and row.fixmedins_code == principal.institution_code:
        return row
    if (
        principal.role is Role.pharmacy
        and principal.institution_code is not None
        and await repository.access(session, hi_rxno, principal.institution_code) is not None
    ):
        return row
    raise _unknown()


async def _expire_if_due(
    session: AsyncSession, principal: Principal, row: Prescription, now: datetime
) -> Prescription:
    """Checked on every access: a prescription past its validity is expired now, under its row
    lock, rather than left for the periodic job."""
    if not records.is_due_to_expire(row, now):
        return row
    row = await visible(session, principal, row.hi_rxno, lock=True)
    await records.expire_if_due(session, row, now)
    return row


async def download(
    session: AsyncSession, principal: Principal, hi_rxno: str, now: datetime
) -> PrescriptionRead:
    """The prescription with its signed document, re-verified on the way out; the issuing
    hospital also sees whether its trace code is locked (prescriptions.presentation)."""
    row = await _expire_if_due(session, principal, await visible(session, principal, hi_rxno), now)
    await documents.verify_stored(session, row)
    out = await records.prescription_out(session, row, principal, now)
    issuer = principal.role is Role.hospital
    return PrescriptionRead(
        **dict(out), rx_trace_code_locked=row.trace_code_locked_at is not None if issuer else None
    )


async def pharmacy_list(
    session: AsyncSession, principal: Principal, now: datetime, cursor: str | None, limit: int
) -> PrescriptionPage:
    """The prescriptions routed or presented to the calling pharmacy, newest first, with their
    status as of now."""
    assert principal.institution_code is not None  # pharmacies always have one (engine.auth)
    found = await repository.pharmacy_page(
        session, principal.institution_code, decode_cursor(cursor), limit + 1
    )
    page = found[:limit]
    return PrescriptionPage(
        items=[records.summary_out(row, a.via, a.granted_at, now) for row, a in page],
        next_cursor=(
            encode_cursor(page[-1][1].granted_at, page[-1][0].hi_rxno)
            if len(found) > limit
            else None
        ),
    )


async def lock(
    session: AsyncSession, principal: Principal, hi_rxno: str, lease_seconds: int, now: datetime
) -> LockOut:
    """Take or extend the lock for ``lease_seconds`` (docs/domain.md section 9: one pharmacy at a
    time, a lease that expires by itself)."""
    await visible(session, principal, hi_rxno)  # 404 unless routed or presented to the caller
    assert principal.institution_code is not None
    until = now + timedelta(seconds=lease_seconds)
    if not await repository.try_lock(session, hi_rxno, principal.institution_code, until, now):
        row = await repository.get(session, hi_rxno)
        assert row is not None
        records.require_status(row, now, "circulating")
        raise Conflict(
            "another pharmacy holds the lock", code="prescription_locked", field="hi_rxno"
        )
    row = await repository.get(session, hi_rxno)  # the updated row, now locked by the update
    assert row is not None
    await documents.verify_stored(session, row)
    await records.record(
        session,
        row,
        principal,
        "locked",
        {"lock_holder": row.lock_holder, "lock_expires_at": until.isoformat()},
    )
    await records.announce(session, row, "locked", {"lock_expires_at": until.isoformat()})
    assert row.lock_holder is not None and row.lock_expires_at is not None
    return LockOut(
        hi_rxno=hi_rxno, lock_holder=row.lock_holder, lock_expires_at=row.lock_expires_at
    )


async def release(
    session: AsyncSession, principal: Principal, hi_rxno: str, now: datetime
) -> PrescriptionOut:
    """Return: the lock holder gives the prescription back undispensed (domain.md section 9)."""
    row = await visible(session, principal, hi_rxno, lock=True)
    if row.lock_holder != principal.institution_code or not records.lock_held(row, now):
        raise Conflict("this pharmacy does not hold the lock", code="not_lock_holder")
    row.lock_holder = None
    row.lock_expires_at = None
    row.updated_at = now
    await session.flush()
    await records.record(session, row, principal, "returned", {"by": principal.institution_code})
    await records.announce(session, row, "returned", {})
    return await records.prescription_out(session, row, principal, now)


async def expire_due(session: AsyncSession, now: datetime, limit: int) -> int:
    """Expire up to ``limit`` prescriptions past their validity; returns how many. Idempotent:
    a second run finds nothing left to do."""
    rows = await repository.due_to_expire(session, now, limit)
    for row in rows:
        await records.expire(session, row, now)
    return len(rows)


async def release_lapsed_locks(session: AsyncSession, now: datetime, limit: int) -> int:
    """Clear up to ``limit`` locks whose lease has lapsed, for the record (a lapsed lock is
    already free for :func:`lock`); returns how many."""
    rows = await repository.lapsed_locks(session, now, limit)
    for row in rows:
        holder = row.lock_holder
        row.lock_holder = None
        row.lock_expires_at = None
        row.updated_at = now
        await session.flush()
        await records.record(session, row, None, "lock_lapsed", {"lock_holder": holder})
        await records.announce(session, row, "lock_lapsed", {})
    return len(rows)


@dataclass(frozen=True, slots=True)
class RegionCirculation:
    """How the region's prescriptions have moved, for the insurer's console: each prescription's
    path, how many each pharmacy was given access to (routed or presented), and every dispensed
    portion (the pharmacy and when)."""

    prescriptions: list[repository.RxFacts]
    routed: dict[str, int]
    dispensed: list[tuple[str, datetime]]


async def region_circulation(session: AsyncSession, admdvs: str) -> RegionCirculation:
    """The region's circulation as :class:`RegionCirculation` counts it; the caller decides who
    may see the region."""
    return RegionCirculation(
        prescriptions=await repository.prescription_facts(session, admdvs),
        routed=await repository.routed_by_pharmacy(session, admdvs),
        dispensed=await repository.region_dispenses(session, admdvs),
    )
