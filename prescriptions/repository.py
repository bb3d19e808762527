"""Every query of the prescription domain."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import UtcDateTime, insert_or_ignore, table_of
from prescriptions.models import (
    Dispense,
    DispenseLine,
    DrugTraceCode,
    Prescription,
    PrescriptionAccess,
    PresentationThrottle,
)


async def insert(session: AsyncSession, values: dict[str, Any]) -> Prescription | None:
    """Insert a prescription; None when it conflicts with an existing one (the hospital's
    ``hosp_rxno`` uploaded twice), decided by the unique constraint rather than a prior read, so
    two concurrent uploads of one number cannot both pass."""
    if not await insert_or_ignore(session, Prescription, values):
        return None
    return await session.get_one(Prescription, values["hi_rxno"])


async def by_hosp_rxno(
    session: AsyncSession, fixmedins_code: str, hosp_rxno: str
) -> Prescription | None:
    """The hospital's prescription under its own number ``hosp_rxno``."""
    query = select(Prescription).where(
        Prescription.fixmedins_code == fixmedins_code, Prescription.hosp_rxno == hosp_rxno
    )
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


#: Every ``hi_rxno`` the engine issues (engine.ids.new_id).
HI_RXNO: Final = re.compile(r"R[0-9A-F]{20}")


async def get(session: AsyncSession, hi_rxno: str, *, lock: bool = False) -> Prescription | None:
    """The prescription; with ``lock``, its row lock (every transition takes it). A number the
    engine could not have issued names nothing, and is not sent to the database (which refuses
    some characters outright, NUL among them)."""
    if HI_RXNO.fullmatch(hi_rxno) is None:
        return None
    query = select(Prescription).where(Prescription.hi_rxno == hi_rxno)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def by_trace_code_hash(
    session: AsyncSession, trace_code_hash: str, *, lock: bool = False
) -> Prescription | None:
    query = select(Prescription).where(Prescription.trace_code_hash == trace_code_hash)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def count_presentation(
    session: AsyncSession, throttle_key: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """Count one presentation against ``throttle_key`` in one upsert: the attempts in the
    current window (this one included) and when the window started. A window that has run its
    course starts again at ``now``. The row stays locked until the caller's transaction ends, so
    concurrent presentations of one key are counted one after the other, never both as the same
    number."""
    table = table_of(PresentationThrottle)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    lapsed = table.c.window_start <= now - window
    statement = (
        insert(table)
        .values(throttle_key=throttle_key, window_start=now, attempts=1)
        .on_conflict_do_update(
            index_elements=[table.c.throttle_key],
            set_={
                "attempts": case((lapsed, 1), else_=table.c.attempts + 1),
                "window_start": case(
                    (lapsed, literal(now, UtcDateTime())), else_=table.c.window_start
                ),
            },
        )
        .returning(table.c.attempts, table.c.window_start)
    )
    counted = (await session.execute(statement)).one()
    return counted.attempts, counted.window_start


async def purge_presentation_counts(session: AsyncSession, before: datetime) -> int:
    """Delete the counts of windows that started before ``before``; returns how many."""
    result = await session.execute(
        delete(PresentationThrottle)
        .where(PresentationThrottle.window_start < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def access(
    session: AsyncSession, hi_rxno: str, fixmedins_code: str
) -> PrescriptionAccess | None:
    return await session.get(PrescriptionAccess, (hi_rxno, fixmedins_code))


async def grant_access(
    session: AsyncSession, hi_rxno: str, fixmedins_code: str, via: str, at: datetime
) -> bool:
    """Let a pharmacy see the prescription; False if it already could."""
    return await insert_or_ignore(
        session,
        PrescriptionAccess,
        {"hi_rxno": hi_rxno, "fixmedins_code": fixmedins_code, "via": via, "granted_at": at},
    )


async def pharmacies_with_access(session: AsyncSession, hi_rxno: str) -> Sequence[str]:
    return (
        await session.scalars(
            select(PrescriptionAccess.fixmedins_code)
            .where(PrescriptionAccess.hi_rxno == hi_rxno)
            .order_by(PrescriptionAccess.fixmedins_code)
        )
    ).all()


async def pharmacy_page(
    session: AsyncSession,
    fixmedins_code: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[tuple[Prescription, PrescriptionAccess]]:
    """The prescriptions a pharmacy may see, newest grant first, keyset-paginated on
    (granted_at, hi_rxno)."""
    query = (
        select(Prescription, PrescriptionAccess)
        .join(PrescriptionAccess, PrescriptionAccess.hi_rxno == Prescription.hi_rxno)
        .where(PrescriptionAccess.fixmedins_code == fixmedins_code)
    )
    if after is not None:
        at, hi_rxno = after
        query = query.where(
            or_(
                PrescriptionAccess.granted_at < at,
                (PrescriptionAccess.granted_at == at) & (PrescriptionAccess.hi_rxno < hi_rxno),
            )
        )
    query = query.order_by(
        PrescriptionAccess.granted_at.desc(), PrescriptionAccess.hi_rxno.desc()
    ).limit(limit)
    return [(row.Prescription, row.PrescriptionAccess) for row in await session.execute(query)]


async def try_lock(
    session: AsyncSession, hi_rxno: str, holder: str, until: datetime, now: datetime
) -> bool:
    """Take (or extend) the lock in one conditional update on the prescription row.

    It succeeds only while the prescription circulates, has portions left, is within its
    validity if never dispensed, and is unlocked, locked by ``holder``, or its lease has lapsed.
    Concurrent callers queue on the row; each re-checks the condition against the committed
    winner, so exactly one pharmacy holds it. No global lock, no read-then-write gap.
    """
    result = await session.execute(
        update(Prescription)
        .where(
            Prescription.hi_rxno == hi_rxno,
            Prescription.status == "circulating",
            Prescription.dspe_cnt < Prescription.max_rept_cnt,
            or_(Prescription.dspe_cnt > 0, Prescription.vali_end_time > now),
            or_(
                Prescription.lock_holder.is_(None),
                Prescription.lock_holder == holder,
                Prescription.lock_expires_at <= now,
            ),
        )
        .values(lock_holder=holder, lock_expires_at=until, updated_at=now)
        .returning(Prescription.hi_rxno)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def due_to_expire(session: AsyncSession, now: datetime, limit: int) -> Sequence[Prescription]:
    """Undispensed live prescriptions past ``vali_end_time``, locked (rows another transaction
    holds are skipped: it will expire them itself, or the next run will)."""
    return (
        await session.scalars(
            select(Prescription)
            .where(
                Prescription.status.in_(("pending_review", "circulating")),
                Prescription.vali_end_time <= now,
                Prescription.dspe_cnt == 0,
            )
            .order_by(Prescription.vali_end_time)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def lapsed_locks(session: AsyncSession, now: datetime, limit: int) -> Sequence[Prescription]:
    return (
        await session.scalars(
            select(Prescription)
            .where(Prescription.lock_expires_at <= now)
            .order_by(Prescription.lock_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def dispenses(session: AsyncSession, hi_rxno: str) -> Sequence[Dispense]:
    return (
        await session.scalars(
            select(Dispense).where(Dispense.hi_rxno == hi_rxno).order_by(Dispense.dspe_seq)
        )
    ).all()


async def dispense_lines(
    session: AsyncSession, dispense_ids: Iterable[uuid.UUID]
) -> Sequence[DispenseLine]:
    ids = list(dispense_ids)
    if not ids:
        return []
    return (
        await session.scalars(
            select(DispenseLine)
            .where(DispenseLine.dispense_id.in_(ids))
            .order_by(DispenseLine.dispense_id, DispenseLine.line_no)
        )
    ).all()


async def dispensed_quantities(session: AsyncSession, hi_rxno: str) -> dict[str, Decimal]:
    """Quantity dispensed so far per drug, over every portion."""
    rows = await session.execute(
        select(DispenseLine.med_list_codg, func.sum(DispenseLine.cnt))
        .join(Dispense, Dispense.id == DispenseLine.dispense_id)
        .where(Dispense.hi_rxno == hi_rxno)
        .group_by(DispenseLine.med_list_codg)
    )
    return {code: Decimal(total) for code, total in rows}


async def claim_trace_code(
    session: AsyncSession, drug_trac_codg: str, dispense_id: uuid.UUID, line_no: int
) -> bool:
    """Record a dispensed package's trace code; False if it was dispensed before."""
    return await insert_or_ignore(
        session,
        DrugTraceCode,
        {"drug_trac_codg": drug_trac_codg, "dispense_id": dispense_id, "line_no": line_no},
    )


# --- the region's circulation, counted ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RxFacts:
    """One prescription's path, as the funnel counts it."""

    prsc_time: datetime
    status: str
    reviewed: bool
    dispensed: bool


async def prescription_facts(session: AsyncSession, admdvs: str) -> list[RxFacts]:
    """Every prescription of the region, as the circulation funnel counts it."""
    rows = await session.execute(
        select(
            Prescription.prsc_time,
            Prescription.status,
            Prescription.reviewed_at.is_not(None),
            Prescription.dspe_cnt > 0,
        ).where(Prescription.admdvs == admdvs)
    )
    return [RxFacts(*row) for row in rows]


async def routed_by_pharmacy(session: AsyncSession, admdvs: str) -> dict[str, int]:
    """Prescriptions each pharmacy was given access to (routed or presented)."""
    rows = await session.execute(
        select(PrescriptionAccess.fixmedins_code, func.count())
        .join(Prescription, Prescription.hi_rxno == PrescriptionAccess.hi_rxno)
        .where(Prescription.admdvs == admdvs)
        .group_by(PrescriptionAccess.fixmedins_code)
    )
    return {code: int(count) for code, count in rows}


async def region_dispenses(session: AsyncSession, admdvs: str) -> list[tuple[str, datetime]]:
    """Every dispensed portion of the region's prescriptions: the pharmacy and when."""
    rows = await session.execute(
        select(Dispense.fixmedins_code, Dispense.dspe_time)
        .join(Prescription, Prescription.hi_rxno == Dispense.hi_rxno)
        .where(Prescription.admdvs == admdvs)
    )
    return [(code, when) for code, when in rows]
