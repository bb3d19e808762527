"""The hospital's side: upload (with every check of domain.md section 6), the pharmacist's review,
and the doctor's revocation.

An upload is accepted only from the hospital's own visit, signed by a licensed doctor registered
there (with internet practice for an internet visit), with a signature that verifies against the
doctor's registered key, and within the rules of prescriptions.rules. It gets a random ``hi_rxno``
and a random one-time ``rx_trace_code``; only a keyed hash of the trace code is kept, so it can be
shown once and never again (like an API key).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.door.visits import own_visit
from engine.auth import Principal
from engine.clock import local_date
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound
from engine.ids import new_id
from engine.settings import get_settings
from prescriptions import documents, records, repository
from prescriptions.documents import Columns
from prescriptions.models import Prescription
from prescriptions.rules import (
    PrescriberFacts,
    PrescriptionRefused,
    Reason,
    Violation,
    check_prescriber,
    check_prescription,
    refuse_if_any,
)
from prescriptions.schemas import (
    PrescriptionOut,
    ReviewIn,
    RevokeIn,
    RxUpload,
    RxUploadOut,
    TraceCodeOut,
)
from tariffs.pricing import DrugInfo, PricingError, get_drugs
from tariffs.registry import PractitionerInfo, get_institution, get_practitioner

#: How far ahead of the engine's clock a hospital's ``prsc_time`` may be (clock skew).
CLOCK_SKEW: Final = timedelta(minutes=10)


def new_trace_code() -> str:
    """24 random hex digits (96 bits): guessing one is hopeless, and presentations are throttled
    besides (prescriptions.presentation)."""
    return secrets.token_hex(12).upper()


def trace_code_hash(rx_trace_code: str) -> str:
    """Keyed hash of a trace code (``SANYI_SECRET_KEY``): a database leak does not leak codes."""
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, rx_trace_code.strip().upper().encode(), hashlib.sha256).hexdigest()


async def _prescriber(session: AsyncSession, dr_code: str) -> PractitionerInfo:
    try:
        return await get_practitioner(session, dr_code)
    except NotFound:
        raise PrescriptionRefused(
            [
                Violation(
                    Reason.prescriber_not_registered,
                    "dr_code",
                    "no practitioner is registered with this code",
                )
            ]
        ) from None


async def _drugs(session: AsyncSession, body: RxUpload, admdvs: str) -> dict[str, DrugInfo]:
    """The catalogue's facts of every prescribed drug on the day of issue; an unknown code or a
    service item is named by its line."""
    codes = [line.med_list_codg for line in body.rxdrugdetail]
    try:
        drugs = await get_drugs(
            session, admdvs, codes, local_date(documents.parse_time(body.prsc_time))
        )
    except PricingError as error:
        code = sorted(set(codes))[error.line]
        error.field = f"rxdrugdetail.{codes.index(code)}.med_list_codg"
        raise
    return dict(drugs)


async def _check_nominee(session: AsyncSession, fixmedins_code: str, admdvs: str) -> None:
    """The nominated pharmacy is a registered designated pharmacy of the visit's region."""
    try:
        pharmacy = await get_institution(session, fixmedins_code)
    except NotFound:
        pharmacy = None
    if pharmacy is None or pharmacy.kind != "pharmacy" or pharmacy.admdvs != admdvs:
        raise InvalidRequest(
            "not a designated pharmacy of the region",
            code="unknown_pharmacy",
            field="nomi_fixmedins_code",
        )


def _check_dates(body: RxUpload, now: datetime) -> None:
    prsc_time = documents.parse_time(body.prsc_time)
    if prsc_time > now + CLOCK_SKEW:
        raise InvalidRequest(
            "prsc_time is in the future", code="prsc_time_in_future", field="prsc_time"
        )
    if documents.parse_time(body.vali_end_time) <= now:
        raise InvalidRequest(
            "the prescription is already past its validity",
            code="prescription_expired",
            field="vali_end_time",
        )


def upload_answer(row: Prescription, rx_trace_code: str | None) -> RxUploadOut:
    return RxUploadOut(
        hi_rxno=row.hi_rxno,
        rx_trace_code=rx_trace_code,
        rx_stas_codg=records.RX_STAS_CODG[row.status],
        status=row.status,
        vali_end_time=row.vali_end_time,
    )


def without_trace_code(answer: RxUploadOut) -> RxUploadOut:
    """The answer as kept for a replay: the trace code is shown once and stored only hashed."""
    return answer.model_copy(update={"rx_trace_code": None})


async def _uploaded_before(session: AsyncSession, body: RxUpload) -> RxUploadOut | None:
    """The answer to a retried upload: the prescription the hospital stored under the same
    ``hosp_rxno`` with the same signed document, without its trace code (shown once; the
    hospital reissues it if the first answer was lost). Another document under the number is
    refused."""
    row = await repository.by_hosp_rxno(session, body.fixmedins_code, body.hosp_rxno)
    if row is None:
        return None
    if row.document != body.document() or row.signature != _signature(body):
        raise Conflict(
            "this hosp_rxno was already uploaded", code="duplicate_prescription", field="hosp_rxno"
        )
    return upload_answer(row, None)


def _signature(body: RxUpload) -> dict[str, object]:
    return body.signature.model_dump(mode="json", exclude_none=True)


async def upload(
    session: AsyncSession, principal: Principal, body: RxUpload, now: datetime
) -> RxUploadOut:
    """Check, store and return the prescription's ``hi_rxno`` and one-time ``rx_trace_code``;
    a retry of an upload (same ``hosp_rxno``, same signed document) answers the stored one."""
    principal.require_institution(body.fixmedins_code)
    retried = await _uploaded_before(session, body)
    if retried is not None:
        return retried
    visit = await own_visit(session, principal, body.mdtrt_id)
    if visit.psn_no != body.psn_no:
        raise InvalidRequest(
            "the prescription is for another patient than the visit's",
            code="patient_mismatch",
            field="psn_no",
        )
    if body.nomi_fixmedins_code is not None:
        await _check_nominee(session, body.nomi_fixmedins_code, visit.admdvs)
    _check_dates(body, now)
    doc = body.document()
    practitioner = await _prescriber(session, body.dr_code)
    documents.verify_signed(doc, body.signature, practitioner)
    rx = documents.rx_document(doc, await _drugs(session, body, visit.admdvs))
    refuse_if_any(
        [
            *check_prescriber(
                PrescriberFacts(
                    dr_code=practitioner.dr_code,
                    licensed=practitioner.licensed,
                    fixmedins_code=practitioner.fixmedins_code,
                    internet_practice=practitioner.internet_practice,
                    indep_prac_start=practitioner.indep_prac_start,
                ),
                fixmedins_code=body.fixmedins_code,
                biz_type_code=visit.biz_type_code,
                on=local_date(rx.prsc_time),
            ),
            *check_prescription(rx, biz_type_code=visit.biz_type_code),
        ]
    )
    rx_trace_code = new_trace_code()
    row = await repository.insert(
        session,
        {
            "hi_rxno": new_id("R"),
            "trace_code_hash": trace_code_hash(rx_trace_code),
            **Columns.of_document(doc).values(),
            "biz_type_code": visit.biz_type_code,
            "admdvs": visit.admdvs,
            "document": doc,
            "signature": _signature(body),
            "nominated_code": body.nomi_fixmedins_code,
            "status": "pending_review",
            "dspe_cnt": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if row is None:
        # A concurrent upload of the number committed first: the insert waited for it.
        retried = await _uploaded_before(session, body)
        if retried is None:
            raise RuntimeError("the conflicting prescription is not visible after its commit")
        return retried
    await records.record(
        session,
        row,
        principal,
        "uploaded",
        {
            "hosp_rxno": row.hosp_rxno,
            "mdtrt_id": row.mdtrt_id,
            "dr_code": row.dr_code,
            "nomi_fixmedins_code": row.nominated_code,
        },
        new_stream=True,
    )
    return upload_answer(row, rx_trace_code)


async def _own(
    session: AsyncSession, principal: Principal, hi_rxno: str, now: datetime
) -> Prescription:
    """The hospital's own prescription, locked, expired first if it is past its validity;
    another hospital's is indistinguishable from an unknown one."""
    row = await repository.get(session, hi_rxno, lock=True)
    if row is None or row.fixmedins_code != principal.institution_code:
        raise NotFound("no such prescription", code="unknown_prescription", field="hi_rxno")
    await records.expire_if_due(session, row, now)
    return row


async def review(
    session: AsyncSession, principal: Principal, hi_rxno: str, body: ReviewIn, now: datetime
) -> PrescriptionOut:
    """The hospital pharmacist approves (the prescription circulates, and is routed to the
    nominated pharmacy if there is one) or rejects with an opinion (voided, 4)."""
    row = await _own(session, principal, hi_rxno, now)
    records.require_status(row, now, "pending_review")
    if body.rvw_rslt == "rejected" and body.rvw_opnn is None:
        raise InvalidRequest(
            "a rejection states the pharmacist's opinion", code="opinion_required", field="rvw_opnn"
        )
    await documents.verify_stored(session, row)
    row.status = "circulating" if body.rvw_rslt == "approved" else "voided"
    row.rvw_opnn = body.rvw_opnn
    row.phar_code = body.phar_code
    row.phar_name = body.phar_name
    row.reviewed_at = now
    row.updated_at = now
    await session.flush()
    await records.record(
        session,
        row,
        principal,
        body.rvw_rslt,
        {"phar_code": body.phar_code, "rvw_opnn": body.rvw_opnn},
    )
    if row.status == "circulating" and row.nominated_code is not None:
        await repository.grant_access(session, row.hi_rxno, row.nominated_code, "routed", now)
        await records.record(session, row, principal, "routed", {"to": row.nominated_code})
        records.route_event(session, row, row.nominated_code, "routed")
    return await records.prescription_out(session, row, principal, now)


async def revoke(
    session: AsyncSession, principal: Principal, hi_rxno: str, body: RevokeIn, now: datetime
) -> PrescriptionOut:
    """处方管理办法 / docs/domain.md section 9: the doctor revokes, only before dispensing. A lock a
    pharmacy holds does not stop it: dispensing takes the same row lock and then finds it
    revoked."""
    row = await _own(session, principal, hi_rxno, now)
    if body.dr_code != row.dr_code:
        raise Forbidden("only the prescribing doctor may revoke", field="dr_code")
    if row.dspe_cnt > 0:
        raise Conflict(
            "a prescription is revoked only before dispensing",
            code="prescription_dispensed",
            field="hi_rxno",
        )
    records.require_status(row, now, "pending_review", "circulating")
    row.status = "revoked"
    row.revoke_reason = body.revoke_reason
    row.lock_holder = None
    row.lock_expires_at = None
    row.updated_at = now
    await session.flush()
    await records.record(session, row, principal, "revoked", {"revoke_reason": body.revoke_reason})
    await records.announce(session, row, "revoked", {})
    return await records.prescription_out(session, row, principal, now)


async def reissue_trace_code(
    session: AsyncSession, principal: Principal, hi_rxno: str, now: datetime
) -> TraceCodeOut:
    """A fresh trace code for the hospital's own live prescription (its trace code locked after
    wrong certificates, or the patient lost it), shown once. The previous code opens nothing from
    now on, and the wrong certificates counted against it no longer count."""
    row = await _own(session, principal, hi_rxno, now)
    records.require_status(row, now, "pending_review", "circulating")
    replaced = {
        "trace_code_failures": row.trace_code_failures,
        "was_locked": row.trace_code_locked_at is not None,
    }
    rx_trace_code = new_trace_code()
    row.trace_code_hash = trace_code_hash(rx_trace_code)
    row.trace_code_failures = 0
    row.trace_code_locked_at = None
    row.updated_at = now
    await session.flush()
    await records.record(session, row, principal, "trace_code_reissued", replaced)
    return TraceCodeOut(hi_rxno=row.hi_rxno, rx_trace_code=rx_trace_code)
