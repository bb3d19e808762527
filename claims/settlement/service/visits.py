"""Visit registration (2201) and fee-line upload (2204).

Internet visits (biz_type_code 02) are checked against 互联网诊疗管理办法（试行）
(docs/domain.md section 6): only follow-ups of a condition diagnosed in person, by a physician
registered for internet practice with at least three years of independent practice. A visit
that fails is refused for insurance with its reason code; the hospital may still register it as
self-pay.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import FeeLine, Person, Visit
from claims.settlement.schemas import FeeLineOut, FeeUpload, FeeUploadOut, VisitIn, VisitOut
from claims.settlement.service import filings, policies
from claims.settlement.service.adjudication import PricedLine, split_line
from claims.settlement.service.persons import resident_id_hash
from claims.settlement.store import StateRow
from engine import audit
from engine.auth import Principal
from engine.clock import local_date
from engine.db import insert_or_ignore, utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.idempotency import fingerprint
from engine.ids import new_id
from engine.money import from_fen, to_fen, yuan
from tariffs.pricing import LineRequest, PricingContext, PricingError, price_lines
from tariffs.registry import InstitutionInfo, get_institution, visible_practitioner
from vouchers import door as vouchers
from vouchers.door import VOUCHER

INTERNET = "02"
CHRONIC_OUTPATIENT = "14"
MIN_INTERNET_PRACTICE_YEARS = 3
#: How far a client's clock may run ahead of the engine's: a visit or fee later than now by more
#: is refused.
CLOCK_SKEW = timedelta(minutes=5)
#: How long before the visit's ``begntime`` a fee line may have been incurred: care given before
#: the registration was entered (a patient treated at night, registered in the morning).
FEE_BEFORE_VISIT = timedelta(hours=24)
#: The most a visit's fee lines may come to, in fen (1,000,000,000.00 yuan): far above any real
#: stay, and low enough that every sum a settlement of it makes fits the wire's amounts.
MAX_VISIT_FEN = 100_000_000_000


class InsuranceRefused(InvalidRequest):
    """The visit may not be paid by insurance (it may still be registered as self-pay)."""


def _check_not_future(when: datetime, field: str) -> None:
    """A time the client reports must have happened: no later than now plus :data:`CLOCK_SKEW`."""
    if when.tzinfo is None:
        raise InvalidRequest("the time needs a UTC offset", code="time_without_offset", field=field)
    if when > utcnow() + CLOCK_SKEW:
        raise InvalidRequest("the time is in the future", code="time_in_future", field=field)


def _check_fee_time(when: datetime, visit: Visit, field: str) -> None:
    """A fee line falls within its visit: from :data:`FEE_BEFORE_VISIT` before ``begntime`` up to
    now."""
    _check_not_future(when, field)
    if when < visit.begntime - FEE_BEFORE_VISIT:
        raise InvalidRequest(
            f"the fee is more than {FEE_BEFORE_VISIT} before the visit began",
            code="fee_before_visit",
            field=field,
        )


def _years_between(start: date, end: date) -> int:
    years = end.year - start.year
    return years - 1 if (end.month, end.day) < (start.month, start.day) else years


def _main_diagnosis(body: VisitIn) -> str:
    main = [d for d in body.diseinfo if d.maindiag_flag == "1"]
    return (main[0] if main else body.diseinfo[0]).diag_code


async def _check_insurance(
    session: AsyncSession,
    principal: Principal,
    body: VisitIn,
    person: Person,
    institution: InstitutionInfo,
    care_type: str | None,
) -> tuple[str | None, str | None]:
    """The reasons insurance may not pay for this visit, as (code, dr_title); code None: payable.
    ``care_type`` is the cross-region care type (:func:`filings.care_type`), whose terms in the
    insured place's policy may refuse the visit.

    Raises only for errors of the request itself (a doctor code that is not the institution's
    own reads as an unknown one).
    """
    doctor = await visible_practitioner(session, principal, body.dr_code) if body.dr_code else None
    dr_title = doctor.dr_title if doctor else None
    if doctor and not doctor.licensed:
        return "doctor_not_registered_here", dr_title
    try:
        policy = await policies.resolve(
            session,
            token=await repository.policy_token(session, person.admdvs),
            admdvs=person.admdvs,
            insutype=person.insutype,
            med_type=body.med_type,
            hosp_lv=_level(institution),
            on=local_date(body.begntime),
            retired=person.retired,
            asst_type=person.asst_type,
            care_type=care_type,
        )
    except policies.NoBenefitPolicy as refused:
        return refused.code, dr_title
    main = _main_diagnosis(body)
    if body.med_type == CHRONIC_OUTPATIENT and not any(
        main.startswith(code) for code in person.opsp_dise_codes
    ):
        return "not_qualified_for_chronic_outpatient", dr_title
    if body.biz_type_code != INTERNET:
        return None, dr_title
    if not institution.internet_hospital:
        return "no_internet_hospital_licence", dr_title
    if doctor is None:
        raise InvalidRequest(
            "an internet visit names its doctor", code="dr_code_required", field="dr_code"
        )
    if not doctor.internet_practice:
        return "doctor_not_registered_for_internet", dr_title
    if (
        _years_between(doctor.indep_prac_start, local_date(body.begntime))
        < MIN_INTERNET_PRACTICE_YEARS
    ):
        return "doctor_practice_under_3_years", dr_title
    since = body.begntime - timedelta(days=policy.followup_lookback_days)
    if not await repository.has_prior_diagnosis(
        session, person.psn_no, main[:3], since, body.begntime
    ):
        return "no_prior_inperson_diagnosis", dr_title
    return None, dr_title


def _level(institution: InstitutionInfo) -> int:
    """Pharmacies price and settle as level 1 (docs/domain.md section 4: "the same rows apply to
    med_type 41 at pharmacies with level 1")."""
    return institution.hosp_lv or 1


async def _person_for_certificate(
    session: AsyncSession, body: VisitIn, admdvs: str, *, identified: bool
) -> Person:
    """The person the certificate names. A resident ID (02, 03) that is the person's, a voucher
    token their insurer signed (01, redeemed for ``psn_no``), or the prescription being dispensed
    (whose patient the prescribing hospital identified at the visit and the pharmacy at
    presentation), ``identified``, identifies them wherever they are insured (cross-region care,
    docs/cross-region.md); a patient identified otherwise must be insured in pooling region
    ``admdvs``, the institution's.

    An unknown psn_no, a certificate that is not the person's and a person insured in another
    region without one get one answer, so no institution can test who is insured, or where.
    """
    # 02 resident ID / 03 social security card carry the resident ID; under 01 the redeemed
    # voucher (or, for a pharmacy purchase, the prescription being dispensed) identified them.
    certno_hash = (
        resident_id_hash(body.mdtrt_cert_no) if body.mdtrt_cert_type in ("02", "03") else None
    )
    person = await repository.person(session, body.psn_no)
    if (
        person is None
        or (certno_hash is None and not identified and person.admdvs != admdvs)
        or (certno_hash is not None and not hmac.compare_digest(certno_hash, person.certno_hash))
    ):
        raise NotFound("no such insured person", code="unknown_person", field="psn_no")
    return person


async def register(
    session: AsyncSession,
    principal: Principal,
    body: VisitIn,
    *,
    identified_by_prescription: bool = False,
) -> Visit:
    """2201: check and store the visit. A retry under the institution's ``ipt_otp_no`` answers
    the visit the first registration made, before any check could now answer otherwise.

    Under the electronic insurance voucher (``mdtrt_cert_type`` 01) the token in
    ``mdtrt_cert_no`` is redeemed (verified and used up, in this transaction) and must name
    ``psn_no``; a retry is answered above, before the token could count as reused. A pharmacy
    purchase, whose patient the dispensed prescription identifies, is registered under 01 without
    a token (``identified_by_prescription``).
    """
    principal.require_institution(body.fixmedins_code)
    earlier = await repository.visit_by_number(session, body.fixmedins_code, body.ipt_otp_no)
    if earlier is not None:
        return _retried(earlier, body)
    vouched = body.mdtrt_cert_type == VOUCHER and not identified_by_prescription
    if vouched:
        holder = await vouchers.redeem(
            session,
            body.mdtrt_cert_no,
            used_for="2201",
            used_by=body.fixmedins_code,
            now=utcnow(),
        )
        if holder.psn_no != body.psn_no:
            raise NotFound("no such insured person", code="unknown_person", field="psn_no")
    _check_not_future(body.begntime, "begntime")
    institution = await get_institution(session, body.fixmedins_code)
    person = await _person_for_certificate(
        session, body, institution.admdvs, identified=vouched or identified_by_prescription
    )
    care_type = (
        None
        if person.admdvs == institution.admdvs
        else await filings.care_type(
            session, person.psn_no, institution.admdvs, local_date(body.begntime)
        )
    )
    refusal, dr_title = await _check_insurance(
        session, principal, body, person, institution, care_type
    )
    if refusal and not body.selfpay_flag:
        raise InsuranceRefused(
            "insurance may not pay for this visit; register it with selfpay_flag to bill the "
            "patient",
            code=refusal,
            field="biz_type_code",
        )
    values = {
        "mdtrt_id": new_id("M"),
        "psn_no": person.psn_no,
        "fixmedins_code": institution.fixmedins_code,
        "admdvs": institution.admdvs,
        "hosp_lv": _level(institution),
        "insutype": person.insutype,
        "med_type": body.med_type,
        "biz_type_code": body.biz_type_code,
        "dr_code": body.dr_code,
        "dr_title": dr_title,
        "begntime": body.begntime,
        "diseinfo": [d.model_dump() for d in body.diseinfo],
        "main_diag_code": _main_diagnosis(body),
        "insurance_payable": refusal is None and not body.selfpay_flag,
        "refusal_code": refusal,
        "ipt_otp_no": body.ipt_otp_no,
        "request_hash": registration_hash(body),
        "insuplc_admdvs": person.admdvs,
        "filing_type": care_type,
        "created_at": utcnow(),
    }
    # On the unique (fixmedins_code, ipt_otp_no): a concurrent registration under the same number
    # waits here for the other's transaction, then finds its visit.
    if not await insert_or_ignore(session, Visit, values):
        return _retried(
            await repository.visit_by_number(session, body.fixmedins_code, body.ipt_otp_no), body
        )
    visit = await session.get_one(Visit, values["mdtrt_id"])
    await audit.record(
        session,
        actor=principal,
        action="visit.registered",
        object_type="visit",
        object_id=visit.mdtrt_id,
        payload={
            "psn_no": visit.psn_no,
            "med_type": visit.med_type,
            "biz_type_code": visit.biz_type_code,
            "refusal_code": refusal,
            "insuplc_admdvs": person.admdvs,
            "filing_type": care_type,
        },
        new_stream=True,
    )
    return visit


def registration_hash(body: VisitIn) -> str:
    """The fingerprint of a 2201 request, to tell its retry from another registration. The
    certificate number enters only as its keyed hash, so the fingerprint stored with the visit
    reveals no resident ID."""
    request = body.model_dump(mode="json")
    request["mdtrt_cert_no"] = resident_id_hash(body.mdtrt_cert_no)
    return fingerprint("register", request)


def _retried(visit: Visit | None, body: VisitIn) -> Visit:
    """The visit an earlier registration under the request's ``ipt_otp_no`` made, when the
    request is that registration's retry; another request under the number is refused."""
    if visit is None or visit.request_hash != registration_hash(body):
        raise Conflict(
            "this ipt_otp_no was registered with a different request",
            code="visit_number_reused",
            field="ipt_otp_no",
        )
    return visit


def visit_out(visit: Visit) -> VisitOut:
    return VisitOut(
        mdtrt_id=visit.mdtrt_id,
        psn_no=visit.psn_no,
        fixmedins_code=visit.fixmedins_code,
        insuplc_admdvs=visit.insuplc_admdvs,
        filing_type=visit.filing_type,
        insutype=visit.insutype,
        med_type=visit.med_type,
        biz_type_code=visit.biz_type_code,
        begntime=visit.begntime,
        dr_code=visit.dr_code,
        insurance_payable=visit.insurance_payable,
        refusal_code=visit.refusal_code,
        ipt_otp_no=visit.ipt_otp_no,
    )


async def owned_visit(
    session: AsyncSession, principal: Principal, mdtrt_id: str, *, lock: bool = False
) -> Visit:
    """The caller's own visit (row-locked with ``lock``); another institution's is
    indistinguishable from an unknown one."""
    visit = await repository.visit(session, mdtrt_id, lock=lock)
    if visit is None or visit.fixmedins_code != principal.institution_code:
        raise NotFound("no such visit", code="unknown_visit", field="mdtrt_id")
    return visit


def priced_line(line: FeeLine | StateRow) -> PricedLine:
    """A stored fee line (an ORM row, or a state row of claims.settlement.store) as the
    adjudication reads it."""
    return PricedLine(
        feedetl_sn=line.feedetl_sn,
        med_list_codg=line.med_list_codg,
        chrgitm_lv=line.chrgitm_lv,
        non_medical=line.non_medical,
        pric=line.pric,
        cnt=line.cnt,
        det_item_fee_sumamt=from_fen(line.det_item_fee_sumamt),
        pric_uplmt_amt=line.pric_uplmt_amt,
        selfpay_prop=line.selfpay_prop,
    )


def fee_line_out(line: FeeLine) -> FeeLineOut:
    split, _ = split_line(priced_line(line))
    return FeeLineOut(
        feedetl_sn=line.feedetl_sn,
        med_list_codg=line.med_list_codg,
        name=line.name,
        pric=line.pric,
        cnt=line.cnt,
        det_item_fee_sumamt=split.det_item_fee_sumamt.amount,
        pric_uplmt_amt=line.pric_uplmt_amt,
        selfpay_prop=line.selfpay_prop,
        chrgitm_lv=line.chrgitm_lv,
        fulamt_ownpay_amt=split.fulamt_ownpay_amt.amount,
        overlmt_amt=split.overlmt_amt.amount,
        preselfpay_amt=split.preselfpay_amt.amount,
        inscp_scp_amt=split.inscp_scp_amt.amount,
    )


def _uploaded_before(
    body: FeeUpload, visit: Visit, stored: Sequence[FeeLine]
) -> list[FeeLine] | None:
    """The stored lines an upload asks for again, in its order, when every one of its lines is
    stored as it asks (code, quantity, price if given, time, charge batch); None otherwise."""
    by_sn = {line.feedetl_sn: line for line in stored}
    lines = []
    for request in body.feedetail:
        line = by_sn.get(request.feedetl_sn)
        if (
            line is None
            or line.med_list_codg != request.med_list_codg
            or line.cnt != request.cnt
            or (request.pric is not None and line.pric != request.pric)
            or line.fee_ocur_time != (request.fee_ocur_time or visit.begntime)
            or line.chrg_bchno != request.chrg_bchno
        ):
            return None
        lines.append(line)
    return lines


async def upload_fees(
    session: AsyncSession, principal: Principal, mdtrt_id: str, body: FeeUpload
) -> FeeUploadOut:
    """2204: price and store the lines. A retry of an upload (every line already stored, as
    asked) answers the stored lines; a line number already used for another line is refused.
    The visit's row lock serialises uploads to one visit, so a concurrent retry waits for the
    first and then finds its lines."""
    visit = await owned_visit(session, principal, mdtrt_id, lock=True)
    stored = await repository.fee_lines(session, mdtrt_id)
    retried = _uploaded_before(body, visit, stored)
    if retried is not None:
        return FeeUploadOut(mdtrt_id=mdtrt_id, feedetail=[fee_line_out(r) for r in retried])
    if await repository.live_settlement(session, mdtrt_id) is not None:
        raise Conflict(
            "the visit is settled; revoke it first", code="visit_settled", field="mdtrt_id"
        )
    existing = {line.feedetl_sn for line in stored}
    seen: set[str] = set()
    for i, line in enumerate(body.feedetail):
        if line.feedetl_sn in existing or line.feedetl_sn in seen:
            raise Conflict(
                "feedetl_sn already uploaded for this visit",
                code="duplicate_line",
                field=f"feedetail.{i}.feedetl_sn",
            )
        seen.add(line.feedetl_sn)
        if line.fee_ocur_time is not None:
            _check_fee_time(line.fee_ocur_time, visit, f"feedetail.{i}.fee_ocur_time")
    institution = await get_institution(session, visit.fixmedins_code)
    context = PricingContext(
        admdvs=visit.admdvs,
        on=local_date(visit.begntime),
        hosp_lv=visit.hosp_lv,
        grade=institution.hosp_grade,
        dr_title=visit.dr_title,
    )
    try:
        priced = await price_lines(
            session,
            context,
            [
                LineRequest(med_list_codg=x.med_list_codg, cnt=x.cnt, pric=x.pric)
                for x in body.feedetail
            ],
        )
    except PricingError as error:
        error.field = f"feedetail.{error.line}.{error.field}"
        raise
    rows = [
        FeeLine(
            mdtrt_id=mdtrt_id,
            feedetl_sn=request.feedetl_sn,
            med_list_codg=item.med_list_codg,
            name=item.name,
            kind=item.kind,
            pric=item.pric,
            cnt=item.cnt,
            det_item_fee_sumamt=to_fen(item.det_item_fee_sumamt),
            chrgitm_lv=item.chrgitm_lv,
            pric_uplmt_amt=item.pric_uplmt_amt,
            selfpay_prop=item.selfpay_prop,
            non_medical=item.non_medical,
            tariff_version=item.version_id,
            fee_ocur_time=request.fee_ocur_time or visit.begntime,
            chrg_bchno=request.chrg_bchno,
        )
        for request, item in zip(body.feedetail, priced, strict=True)
    ]
    if sum(line.det_item_fee_sumamt for line in (*stored, *rows)) > MAX_VISIT_FEN:
        raise InvalidRequest(
            f"the visit's fee lines would come to more than {yuan(MAX_VISIT_FEN)}",
            code="visit_amount_too_large",
            field="feedetail",
        )
    session.add_all(rows)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="visit.fees_uploaded",
        object_type="visit",
        object_id=mdtrt_id,
        payload={
            "feedetl_sn": [r.feedetl_sn for r in rows],
            "sumamt": str(yuan(sum(r.det_item_fee_sumamt for r in rows))),
        },
    )
    return FeeUploadOut(mdtrt_id=mdtrt_id, feedetail=[fee_line_out(r) for r in rows])


async def fee_line_batches(session: AsyncSession, mdtrt_id: str) -> set[str | None]:
    """The charge batches (``chrg_bchno``) the visit's fee lines came in, None for a line
    uploaded without one: a settle that names a batch must settle exactly that batch."""
    return await repository.fee_line_batches(session, mdtrt_id)


async def refusals_by_reason(
    session: AsyncSession, admdvs: str, since: datetime
) -> list[tuple[str, int]]:
    """Visits of the region registered since ``since`` that the insurance does not cover, by
    refusal code, most frequent first (the insurer's overview)."""
    return await repository.refusals_by_reason(session, admdvs, since)
