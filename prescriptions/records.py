"""A prescription's state and history: status codes, the transitions every service shares
(audited and announced), and rendering.

States (docs/domain.md section 9) and their national ``rx_stas_codg``:

| status | rx_stas_codg | |
|---|---|---|
| ``pending_review`` | 1 valid | uploaded, waiting for the hospital pharmacist |
| ``circulating`` | 1 valid | approved: routed or open, may be locked and dispensed |
| ``dispensed`` | 2 no longer valid | every portion dispensed |
| ``expired`` | 2 no longer valid | past ``vali_end_time`` before its first dispense |
| ``revoked`` | 3 revoked | by the doctor, before any dispense |
| ``voided`` | 4 voided | rejected by the pharmacist's review |

Every transition is written to the audit log (stream ``prescription:<hi_rxno>``) and to the outbox
(docs/domain.md section 11) in the caller's transaction, which holds the prescription's row lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit, metrics, outbox
from engine.auth import Principal
from engine.errors import Conflict
from prescriptions import repository
from prescriptions.models import Dispense, DispenseLine, Prescription
from prescriptions.schemas import (
    DispenseLineOut,
    DispenseRecord,
    PrescriptionOut,
    PrescriptionSummary,
)
from prescriptions.signing import Signature

RX_STAS_CODG: Final = {
    "pending_review": "1",
    "circulating": "1",
    "dispensed": "2",
    "expired": "2",
    "revoked": "3",
    "voided": "4",
}
LIVE: Final = frozenset({"pending_review", "circulating"})


def is_due_to_expire(row: Prescription, now: datetime) -> bool:
    """Past ``vali_end_time`` with nothing dispensed. Later portions of a repeat prescription are
    governed by the repeat rules instead (docs/prescriptions.md section 5)."""
    return row.status in LIVE and row.dspe_cnt == 0 and row.vali_end_time <= now


def effective_status(row: Prescription, now: datetime) -> str:
    """The status as of ``now``: expiry is checked on every access, not only by the job."""
    return "expired" if is_due_to_expire(row, now) else row.status


def lock_held(row: Prescription, now: datetime) -> bool:
    return row.lock_expires_at is not None and row.lock_expires_at > now


async def record(
    session: AsyncSession,
    row: Prescription,
    actor: Principal | None,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    new_stream: bool = False,
) -> None:
    """Audit one transition of ``row`` (the caller holds its row lock), with the state it leaves
    the row in (status and dispense count), which `sanyi audit verify` holds the row to."""
    metrics.PRESCRIPTION_TRANSITIONS.labels(transition=action).inc()
    await audit.record(
        session,
        actor=actor,
        action=f"prescription.{action}",
        object_type="prescription",
        object_id=row.hi_rxno,
        payload={
            "status": row.status,
            "rx_stas_codg": RX_STAS_CODG[row.status],
            "dspe_cnt": row.dspe_cnt,
        }
        | (payload or {}),
        new_stream=new_stream,
    )


def _event(row: Prescription, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "hi_rxno": row.hi_rxno,
        "hosp_rxno": row.hosp_rxno,
        "fixmedins_code": row.fixmedins_code,
        "rx_stas_codg": RX_STAS_CODG[row.status],
        "status": row.status,
        "dspe_cnt": row.dspe_cnt,
    } | extra


async def announce(
    session: AsyncSession, row: Prescription, event_type: str, extra: dict[str, Any]
) -> None:
    """Write ``prescription.<event_type>`` for the issuing hospital and for every pharmacy that
    may see the prescription, each on its own routing key; nobody else learns of it."""
    payload = _event(row, extra)
    subjects = [row.fixmedins_code, *await repository.pharmacies_with_access(session, row.hi_rxno)]
    for subject in subjects:
        outbox.emit(session, f"prescription.{event_type}", subject, payload)


def route_event(session: AsyncSession, row: Prescription, pharmacy: str, via: str) -> None:
    """``prescription.routed.<pharmacy>``: the prescription reached a pharmacy's list."""
    outbox.emit(session, "prescription.routed", pharmacy, _event(row, {"via": via}))


async def expire(session: AsyncSession, row: Prescription, now: datetime) -> None:
    """Valid (1) → expired (2): past ``vali_end_time`` before its first dispense. The engine
    does it (no actor), whichever access or job noticed it first."""
    row.status = "expired"
    row.lock_holder = None
    row.lock_expires_at = None
    row.updated_at = now
    await session.flush()
    await record(session, row, None, "expired", {"vali_end_time": row.vali_end_time.isoformat()})
    await announce(session, row, "expired", {"vali_end_time": row.vali_end_time.isoformat()})


async def expire_if_due(session: AsyncSession, row: Prescription, now: datetime) -> None:
    """Expire ``row`` (locked by the caller) if it is past its validity."""
    if is_due_to_expire(row, now):
        await expire(session, row, now)


_REFUSALS: Final = {
    "pending_review": ("prescription_not_reviewed", "the prescription is waiting for review"),
    "circulating": ("prescription_reviewed", "the prescription was already reviewed"),
    "dispensed": ("dispense_limit_reached", "every portion of the prescription is dispensed"),
    "expired": ("prescription_expired", "the prescription is past its validity"),
    "revoked": ("prescription_revoked", "the prescription was revoked by the doctor"),
    "voided": ("prescription_voided", "the prescription was rejected in review"),
}


def require_status(row: Prescription, now: datetime, *allowed: str) -> None:
    """409 with a stable code naming the state, unless the prescription is in one of
    ``allowed`` as of ``now``."""
    status = effective_status(row, now)
    if status not in allowed:
        code, message = _REFUSALS[status]
        raise Conflict(message, code=code, field="hi_rxno")


# --- rendering -----------------------------------------------------------------------------------


def line_out(line: DispenseLine, *, full: bool) -> DispenseLineOut:
    if not full:
        return DispenseLineOut(med_list_codg=line.med_list_codg, cnt=line.cnt)
    return DispenseLineOut(
        med_list_codg=line.med_list_codg,
        cnt=line.cnt,
        pric=line.pric,
        manu_lotnum=line.manu_lotnum,
        drug_trac_codg=list(line.drug_trac_codg),
    )


async def dispense_records(
    session: AsyncSession, row: Prescription, viewer: Principal
) -> list[DispenseRecord]:
    """Earlier dispenses as ``viewer`` may see them: the issuing hospital sees everything, a
    pharmacy sees its own in full and of another's only when and how much (what the next portion
    of a repeat prescription depends on)."""
    found: Sequence[Dispense] = await repository.dispenses(session, row.hi_rxno)
    lines: dict[uuid.UUID, list[DispenseLine]] = {}
    for line in await repository.dispense_lines(session, (d.id for d in found)):
        lines.setdefault(line.dispense_id, []).append(line)
    out = []
    for dispense in found:
        full = viewer.institution_code in (row.fixmedins_code, dispense.fixmedins_code)
        out.append(
            DispenseRecord(
                dspe_seq=dispense.dspe_seq,
                dspe_time=dispense.dspe_time,
                fixmedins_code=dispense.fixmedins_code if full else None,
                setl_id=dispense.setl_id if full else None,
                lines=[line_out(x, full=full) for x in lines.get(dispense.id, [])],
            )
        )
    return out


async def prescription_out(
    session: AsyncSession, row: Prescription, viewer: Principal, now: datetime
) -> PrescriptionOut:
    status = effective_status(row, now)
    held = lock_held(row, now)
    return PrescriptionOut(
        hi_rxno=row.hi_rxno,
        hosp_rxno=row.hosp_rxno,
        fixmedins_code=row.fixmedins_code,
        mdtrt_id=row.mdtrt_id,
        psn_no=row.psn_no,
        dr_code=row.dr_code,
        biz_type_code=row.biz_type_code,
        rx_stas_codg=RX_STAS_CODG[status],
        status=status,
        route="open" if row.nominated_code is None else "nominated",
        nomi_fixmedins_code=row.nominated_code,
        vali_end_time=row.vali_end_time,
        max_rept_cnt=row.max_rept_cnt,
        min_inrv_days=row.min_inrv_days,
        dspe_cnt=row.dspe_cnt,
        locked=held,
        lock_expires_at=(
            row.lock_expires_at if held and row.lock_holder == viewer.institution_code else None
        ),
        rvw_opnn=row.rvw_opnn,
        reviewed_at=row.reviewed_at,
        document=row.document,
        signature=Signature.model_validate(row.signature),
        dispenses=await dispense_records(session, row, viewer),
    )


def summary_out(
    row: Prescription, via: str, granted_at: datetime, now: datetime
) -> PrescriptionSummary:
    status = effective_status(row, now)
    return PrescriptionSummary(
        hi_rxno=row.hi_rxno,
        hosp_rxno=row.hosp_rxno,
        fixmedins_code=row.fixmedins_code,
        psn_no=row.psn_no,
        rx_stas_codg=RX_STAS_CODG[status],
        status=status,
        via=via,
        granted_at=granted_at,
        vali_end_time=row.vali_end_time,
        dspe_cnt=row.dspe_cnt,
        max_rept_cnt=row.max_rept_cnt,
        locked=lock_held(row, now),
    )
