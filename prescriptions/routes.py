"""Prescription endpoints (domain.md section 9): hospitals upload, review and revoke; pharmacies
list, open by trace code, lock, return and dispense; both download.

"Now" comes from :func:`clock`, one dependency, so tests (and only tests) can set the date a
request happens on through ``app.dependency_overrides`` instead of waiting for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session, utcnow
from engine.idempotency import (
    IdempotencyKey,
    OptionalIdempotencyKey,
    fingerprint,
    run_idempotent,
)
from engine.openapi import documented
from engine.wire import ParameterInt
from prescriptions import circulation, dispensing, presentation, refusals, upload
from prescriptions.presentation import PresentationLimits
from prescriptions.schemas import (
    DispenseIn,
    DispenseOut,
    LockIn,
    LockOut,
    PrescriptionOut,
    PrescriptionPage,
    PrescriptionRead,
    PresentIn,
    ReviewIn,
    RevokeIn,
    RxUpload,
    RxUploadOut,
    TraceCodeOut,
)
from vouchers import door as vouchers

router = APIRouter(prefix="/prescriptions", tags=["prescriptions"], route_class=UnitOfWorkRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Hospital = Annotated[Principal, require_role(Role.hospital)]
Pharmacy = Annotated[Principal, require_role(Role.pharmacy)]
Reader = Annotated[Principal, require_role(Role.hospital, Role.pharmacy)]


async def clock() -> datetime:
    """The time a request happens at (a coroutine: FastAPI would run a plain function in a
    worker thread)."""
    return utcnow()


Now = Annotated[datetime, Depends(clock)]


async def presentation_limits(request: Request) -> PresentationLimits:
    """The presentation throttle and lockout limits of this app's settings."""
    return PresentationLimits.of(request.app.state.settings)


Limits = Annotated[PresentationLimits, Depends(presentation_limits)]


@router.post(
    "",
    status_code=201,
    operation_id="upload_prescription",
    summary="Upload a signed prescription",
    responses=documented(
        refusals.PATIENT_MISMATCH,
        refusals.VALIDITY_OVER,
        refusals.PRSC_TIME_IN_FUTURE,
        refusals.UNKNOWN_PHARMACY,
        refusals.INVALID_SIGNATURE,
        refusals.UNSUPPORTED_SIGNATURE_SCHEME,
        refusals.UNSIGNABLE_DOCUMENT,
        *refusals.RULE_VIOLATIONS,
        refusals.UNKNOWN_VISIT,
        refusals.DUPLICATE_PRESCRIPTION,
    ),
)
async def upload_prescription(
    body: RxUpload,
    principal: Hospital,
    session: Session,
    now: Now,
    idempotency_key: OptionalIdempotencyKey = None,
) -> RxUploadOut:
    """Upload a signed prescription from the hospital's own visit; returns ``hi_rxno`` and the
    one-time ``rx_trace_code``. Idempotent under ``Idempotency-Key`` when given and under the
    hospital's ``hosp_rxno``: a retry answers the prescription without its trace code."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("prescription-upload", body.model_dump(mode="json")),
        lambda: upload.upload(session, principal, body, now),
        RxUploadOut,
        kept=upload.without_trace_code,
    )


@router.get(
    "",
    operation_id="list_prescriptions",
    summary="List a pharmacy's prescriptions",
    responses=documented(refusals.INVALID_CURSOR),
)
async def list_prescriptions(
    principal: Pharmacy,
    session: Session,
    now: Now,
    cursor: str | None = None,
    limit: Annotated[ParameterInt, Query(ge=1, le=200)] = 50,
) -> PrescriptionPage:
    """The prescriptions routed or presented to the calling pharmacy, newest first."""
    return await circulation.pharmacy_list(session, principal, now, cursor, limit)


@router.post(
    "/presentations",
    operation_id="present_prescription",
    summary="Open a presented prescription",
    responses=documented(
        refusals.NOT_A_DESIGNATED_PHARMACY,
        refusals.UNKNOWN_PRESCRIPTION,
        refusals.TOO_MANY_ATTEMPTS,
        *vouchers.REDEEM_REFUSALS,
    ),
)
async def present_prescription(
    body: PresentIn, principal: Pharmacy, session: Session, now: Now, limits: Limits
) -> PrescriptionOut:
    """Open a prescription the patient presents (trace code plus their ID card, social security
    card or voucher token, ``mdtrt_cert_type`` 02, 03 or 01). Throttled per
    pharmacy and per trace code (429 ``too_many_attempts`` with ``Retry-After``); a trace code
    locks after too many wrong certificates until the hospital reissues it."""
    try:
        return await presentation.present(session, principal, body, limits, now)
    except presentation.COUNTED_REFUSALS:
        await session.commit()  # the counts and the lockout stand, whatever the answer
        raise


@router.get(
    "/{hi_rxno}",
    operation_id="download_prescription",
    summary="Download a prescription",
    responses=documented(refusals.INVALID_SIGNATURE, refusals.UNKNOWN_PRESCRIPTION),
)
async def download_prescription(
    hi_rxno: str, principal: Reader, session: Session, now: Now
) -> PrescriptionRead:
    """Download, with the signature re-verified."""
    return await circulation.download(session, principal, hi_rxno, now)


@router.post(
    "/{hi_rxno}/review",
    operation_id="review_prescription",
    summary="Review a prescription",
    responses=documented(
        refusals.OPINION_REQUIRED, refusals.UNKNOWN_PRESCRIPTION, *refusals.STATE_CONFLICTS
    ),
)
async def review_prescription(
    hi_rxno: str, body: ReviewIn, principal: Hospital, session: Session, now: Now
) -> PrescriptionOut:
    """The hospital pharmacist approves (it circulates) or rejects (voided) it."""
    return await upload.review(session, principal, hi_rxno, body, now)


@router.post(
    "/{hi_rxno}/revocation",
    operation_id="revoke_prescription",
    summary="Revoke a prescription",
    responses=documented(
        refusals.UNKNOWN_PRESCRIPTION, refusals.PRESCRIPTION_DISPENSED, *refusals.STATE_CONFLICTS
    ),
)
async def revoke_prescription(
    hi_rxno: str, body: RevokeIn, principal: Hospital, session: Session, now: Now
) -> PrescriptionOut:
    """The prescribing doctor revokes it, before any dispense."""
    return await upload.revoke(session, principal, hi_rxno, body, now)


@router.post(
    "/{hi_rxno}/trace-code",
    operation_id="reissue_trace_code",
    summary="Reissue a trace code",
    responses=documented(refusals.UNKNOWN_PRESCRIPTION, *refusals.STATE_CONFLICTS),
)
async def reissue_trace_code(
    hi_rxno: str, principal: Hospital, session: Session, now: Now
) -> TraceCodeOut:
    """Issue a fresh ``rx_trace_code`` (shown once) for a live prescription, unlocking
    presentation; the previous code opens nothing any more."""
    return await upload.reissue_trace_code(session, principal, hi_rxno, now)


@router.post(
    "/{hi_rxno}/lock",
    operation_id="lock_prescription",
    summary="Lock a prescription",
    responses=documented(
        refusals.INVALID_SIGNATURE,
        refusals.UNKNOWN_PRESCRIPTION,
        refusals.PRESCRIPTION_LOCKED,
        *refusals.STATE_CONFLICTS,
    ),
)
async def lock_prescription(
    hi_rxno: str, principal: Pharmacy, session: Session, now: Now, body: LockIn | None = None
) -> LockOut:
    """Take (or extend) the lock: a lease that lapses by itself (default 15 minutes)."""
    lease = (body or LockIn()).lease_seconds
    return await circulation.lock(session, principal, hi_rxno, lease, now)


@router.post(
    "/{hi_rxno}/return",
    operation_id="return_prescription",
    summary="Return a prescription",
    responses=documented(refusals.UNKNOWN_PRESCRIPTION, refusals.NOT_LOCK_HOLDER),
)
async def return_prescription(
    hi_rxno: str, principal: Pharmacy, session: Session, now: Now
) -> PrescriptionOut:
    """Give the prescription back undispensed, releasing the lock."""
    return await circulation.release(session, principal, hi_rxno, now)


@router.post(
    "/{hi_rxno}/dispensations",
    status_code=201,
    operation_id="dispense_prescription",
    responses=documented(
        refusals.INVALID_SIGNATURE,
        refusals.DRUG_NOT_PRESCRIBED,
        refusals.DUPLICATE_LINE,
        refusals.DUPLICATE_TRACE_CODE,
        refusals.QUANTITY_EXCEEDS_PRESCRIPTION,
        refusals.UNKNOWN_PRESCRIPTION,
        refusals.NOT_LOCK_HOLDER,
        refusals.TRACE_CODE_DISPENSED,
        refusals.REPEAT_INTERVAL_NOT_MET,
        *refusals.INSURANCE_REFUSED,
        *refusals.STATE_CONFLICTS,
    ),
    summary="Dispense and settle a prescription",
)
async def dispense_prescription(
    hi_rxno: str,
    body: DispenseIn,
    principal: Pharmacy,
    session: Session,
    now: Now,
    idempotency_key: IdempotencyKey,
) -> DispenseOut:
    """Dispense and settle (med_type 41) as the lock holder, idempotent under
    ``Idempotency-Key``."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"dispense:{hi_rxno}", body.model_dump(mode="json")),
        lambda: dispensing.dispense(session, principal, hi_rxno, body, now),
        DispenseOut,
    )
