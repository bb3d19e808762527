"""Presentation: the patient shows an open prescription's trace code and their ID at a pharmacy,
which may then see (list, lock, dispense) it. Guarded against guessing on two levels.

- **Throttle.** Presentations are counted per pharmacy and per trace code (its keyed hash, whether
  or not any prescription has it) in fixed windows; past the limit the answer is 429
  ``too_many_attempts`` with ``Retry-After``, until the window ends. The counts live in the
  database (one upserted row per key), so every API process shares them.
- **Lockout.** Each wrong certificate presented with a real trace code is counted on the
  prescription, under its row lock; at the limit the trace code locks, and opens nothing, even
  with the right certificate, until the hospital reissues it (prescriptions.upload). Wrong
  certificates, the lock and the first refusal of each throttled window are audited.

No oracle: an unknown trace code, a wrong certificate, a locked trace code and a prescription the
pharmacy may not open (another region, nominated to another pharmacy, not circulating) all get
the same 404. These refusals change state (the counts, the lockout), so the route commits before
answering with them (:data:`COUNTED_REFUSALS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.door.visits import certificate_matches
from engine import audit
from engine.auth import Principal
from engine.errors import Forbidden, NotFound, TooManyRequests
from engine.settings import Settings
from prescriptions import documents, records, repository
from prescriptions.models import Prescription
from prescriptions.schemas import PrescriptionOut, PresentIn
from prescriptions.upload import trace_code_hash
from tariffs.registry import get_institution
from vouchers import door as vouchers


@dataclass(frozen=True, slots=True)
class PresentationLimits:
    """How many presentations a pharmacy and a trace code get per window, and how many wrong
    certificates lock a trace code."""

    window: timedelta
    per_pharmacy: int
    per_trace_code: int
    max_failures: int

    @classmethod
    def of(cls, settings: Settings) -> PresentationLimits:
        return cls(
            window=timedelta(seconds=settings.rx_present_window_seconds),
            per_pharmacy=settings.rx_present_per_pharmacy,
            per_trace_code=settings.rx_present_per_trace_code,
            max_failures=settings.rx_trace_code_max_failures,
        )


class PresentationRefused(NotFound):
    """The one answer to a presentation that opens nothing, whatever the reason."""

    def __init__(self) -> None:
        super().__init__("no such prescription", code="unknown_prescription", field="rx_trace_code")


class TooManyAttempts(TooManyRequests):
    """The pharmacy or the trace code has used up this window's presentations."""

    def __init__(self, retry_after: int, field: str | None) -> None:
        super().__init__(
            "too many presentations; try again later",
            retry_after=retry_after,
            code="too_many_attempts",
            field=field,
        )


#: Refusals whose bookkeeping (counts, lockout, their audit entries) must stand: the route
#: commits the request's transaction before answering with one of them. A refused voucher token
#: is among them, so that tokens cannot be tried outside the counts.
COUNTED_REFUSALS = (PresentationRefused, TooManyAttempts, vouchers.VoucherRefused)


async def _designated_pharmacy(session: AsyncSession, principal: Principal) -> str:
    """The caller's institution code, if it is registered as a designated pharmacy."""
    code = principal.institution_code
    try:
        institution = await get_institution(session, code or "")
    except NotFound:
        institution = None
    if code is None or institution is None or institution.kind != "pharmacy":
        raise Forbidden(
            "this key's institution is not a registered designated pharmacy",
            code="not_a_designated_pharmacy",
        )
    return code


async def _count(
    session: AsyncSession,
    principal: Principal,
    throttle_key: str,
    allowed: int,
    window: timedelta,
    now: datetime,
    *,
    field: str | None,
) -> None:
    """Count this presentation against ``throttle_key``; :class:`TooManyAttempts` past
    ``allowed``. The first refusal of a window is audited (the row lock taken by the count
    orders the key's audit stream); later ones only add to the count."""
    attempts, window_start = await repository.count_presentation(session, throttle_key, now, window)
    if attempts <= allowed:
        return
    if attempts == allowed + 1:
        await audit.record(
            session,
            actor=principal,
            action="presentation.throttled",
            object_type="presentation_throttle",
            object_id=throttle_key,
            payload={
                "window_start": window_start.isoformat(),
                "window_seconds": int(window.total_seconds()),
                "attempts_allowed": allowed,
            },
        )
    retry_after = math.ceil((window_start + window - now).total_seconds())
    raise TooManyAttempts(max(retry_after, 1), field)


async def _wrong_certificate(
    session: AsyncSession,
    row: Prescription,
    principal: Principal,
    pharmacy: str,
    limits: PresentationLimits,
    now: datetime,
) -> None:
    """Count a wrong certificate on ``row`` (locked by the caller) and lock its trace code at
    the limit; both audited."""
    row.trace_code_failures += 1
    locks = row.trace_code_failures >= limits.max_failures
    if locks:
        row.trace_code_locked_at = now
    row.updated_at = now
    await session.flush()
    await records.record(
        session,
        row,
        principal,
        "trace_code_rejected",
        {"by": pharmacy, "trace_code_failures": row.trace_code_failures},
    )
    if locks:
        await records.record(
            session,
            row,
            principal,
            "trace_code_locked",
            {"by": pharmacy, "trace_code_failures": row.trace_code_failures},
        )


async def forget_ended_windows(session: AsyncSession, now: datetime, window: timedelta) -> int:
    """Delete the counts of windows that have ended (the next presentation of their key would
    start a new window anyway); returns how many. A count being updated concurrently is not
    lost: the delete waits for its row and skips it if it started a new window."""
    return await repository.purge_presentation_counts(session, now - window)


def _may_open(row: Prescription, principal: Principal, pharmacy: str, now: datetime) -> bool:
    """An open or nominated-here prescription of the pharmacy's region that circulates."""
    return (
        row.admdvs == principal.admdvs
        and row.nominated_code in (None, pharmacy)
        and records.effective_status(row, now) == "circulating"
    )


async def present(
    session: AsyncSession,
    principal: Principal,
    body: PresentIn,
    limits: PresentationLimits,
    now: datetime,
) -> PrescriptionOut:
    """The patient presents an open prescription at this pharmacy: with the right trace code
    and the patient's own ID, the pharmacy may see it from now on.

    Counted first per pharmacy, then per trace code (always in that order, so two presentations
    never wait on each other's rows crosswise), then the prescription is read under its row lock.
    A voucher token (``mdtrt_cert_type`` 01) is redeemed before the trace code is looked up, so
    its refusals say nothing about whether the trace code exists.
    """
    pharmacy = await _designated_pharmacy(session, principal)
    code_hash = trace_code_hash(body.rx_trace_code)
    await _count(
        session,
        principal,
        f"pharmacy:{pharmacy}",
        limits.per_pharmacy,
        limits.window,
        now,
        field=None,
    )
    await _count(
        session,
        principal,
        f"trace:{code_hash}",
        limits.per_trace_code,
        limits.window,
        now,
        field="rx_trace_code",
    )
    holder = None
    if body.mdtrt_cert_type == vouchers.VOUCHER:
        holder = await vouchers.redeem(
            session, body.mdtrt_cert_no, used_for="presentation", used_by=pharmacy, now=now
        )
    row = await repository.by_trace_code_hash(session, code_hash, lock=True)
    if row is None or row.trace_code_locked_at is not None:
        raise PresentationRefused()
    if not (
        holder.psn_no == row.psn_no
        if holder is not None
        else await certificate_matches(session, row.psn_no, body.mdtrt_cert_no)
    ):
        await _wrong_certificate(session, row, principal, pharmacy, limits, now)
        raise PresentationRefused()
    if not _may_open(row, principal, pharmacy, now):
        raise PresentationRefused()
    await documents.verify_stored(session, row)
    if await repository.grant_access(session, row.hi_rxno, pharmacy, "presented", now):
        await records.record(session, row, principal, "presented", {"to": pharmacy})
        records.route_event(session, row, pharmacy, "presented")
    return await records.prescription_out(session, row, principal, now)
