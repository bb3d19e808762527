"""1101 person information, 2201 register and 2202 cancel a visit, 2204 upload and 2205 cancel
fee lines: the national shapes mapped onto the /v1 claims services."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import TypeAdapter, ValidationError
from stdnum.cn import ric

from claims.settlement.schemas import FeeLineIn, FeeUpload, PersonOut, VisitIn
from claims.settlement.service import (
    cancellation,
    filings,
    identification,
    persons,
    visits,
)
from engine.clock import local_date
from engine.db import utcnow
from engine.errors import InvalidRequest, NotFound, SanyiError
from engine.wire import ResidentId
from nhsa.envelope import Call, fields_under, parse
from nhsa.figures import agree
from nhsa.schemas import (
    BaseInfo,
    CancelFeesIn,
    CancelVisitIn,
    FeeResult,
    FeeUploadIn,
    FeeUploadOut,
    FilingInfo,
    IdetInfo,
    InsuInfo,
    PersonInfoIn,
    PersonInfoOut,
    PersonQuery,
    Registered,
    RegistrationIn,
    RegistrationOut,
)
from vouchers import door as vouchers
from vouchers.door import VOUCHER

#: 收费项目等级 as the national interface codes it.
_CHRGITM_LV: dict[int, Literal["01", "02", "03"]] = {1: "01", 2: "02", 3: "03"}
_RESIDENT_ID: TypeAdapter[str] = TypeAdapter(ResidentId)
#: Certificates that carry the resident ID (02 ID card, 03 social security card); the
#: electronic voucher (01) is a token, so its holder's resident ID, if sent, comes in ``certno``.
_CARRY_RESIDENT_ID = ("02", "03")


def _resident_id(query: PersonQuery) -> tuple[str, str]:
    """The resident ID the query identifies the person by, with the member it came in."""
    if query.mdtrt_cert_type in _CARRY_RESIDENT_ID:
        given, field = query.mdtrt_cert_no, "input.data.mdtrt_cert_no"
    else:
        given, field = query.certno, "input.data.certno"
    if given is None:
        raise InvalidRequest(
            "the resident ID is needed: mdtrt_cert_no for certificates 02 and 03, certno for 01",
            code="certno_required",
            field=field,
        )
    try:
        return _RESIDENT_ID.validate_python(given), field
    except ValidationError as error:
        raise InvalidRequest(
            str(error.errors()[0]["msg"]), code="invalid_certno", field=field
        ) from None


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _person_info(
    person: PersonOut, resident_id: str | None, filing: FilingInfo | None
) -> PersonInfoOut:
    """Sex and birth date are read from the resident ID (GB 11643: the birth date, and an odd
    17th digit for a man). The engine keeps only a keyed hash of it, so a person identified by a
    voucher token alone is answered without them.

    A person insured in another region is answered as a person of the caller's own: the balance
    (cross-region settlement pays from the insured place's personal account, and 2207 answers the
    balance after) and the assistance category (the insured place's assistance adjudicates the
    claim) are what the counter settles with; the accumulators are not, here or at home."""
    born = None if resident_id is None else ric.get_birth_date(resident_id)
    return PersonInfoOut(
        baseinfo=BaseInfo(
            psn_no=person.psn_no,
            psn_cert_type="01",
            certno=person.certno_masked,
            psn_name=person.psn_name,
            gend=None if resident_id is None else "1" if int(resident_id[16]) % 2 else "2",
            brdy=None if born is None else born.isoformat(),
            age=None if born is None else _age(born, local_date(utcnow())),
        ),
        insuinfo=[
            InsuInfo(
                balc=person.acct_balc,
                insutype=person.insutype,
                psn_type="21" if person.retired else "11",
                psn_insu_stas="1",
                cvlserv_flag="0",
                insuplc_admdvs=person.admdvs,
            )
        ],
        idetinfo=[] if person.asst_type is None else [IdetInfo(psn_idet_type=person.asst_type)],
        filing=filing,
    )


async def _filing(call: Call, person: PersonOut, query: PersonQuery) -> FilingInfo | None:
    """The filing of a person insured elsewhere for care in the caller's region, in force on
    the day of ``begntime`` (today without it)."""
    treatment = call.envelope.mdtrtarea_admvs
    if person.admdvs == treatment:
        return None
    day = local_date(query.begntime or utcnow())
    row = await filings.in_force(call.session, person.psn_no, treatment, day)
    return None if row is None else FilingInfo.model_validate(row, from_attributes=True)


async def person_info(call: Call, body: PersonInfoIn) -> PersonInfoOut:
    """1101: who the certificate belongs to, among the people the caller may settle for: those
    insured in its region, and those insured in the envelope's ``insuplc_admdvs`` (cross-region
    care, with their filing for the caller's region)."""
    query = body.data
    if query.mdtrt_cert_type == VOUCHER:
        person, resident_id = await _person_by_voucher(call, query)
    else:
        resident_id, field = _resident_id(query)
        person = persons.person_out(
            await identification.identify(
                call.session, call.principal, resident_id, call.envelope.insuplc_admdvs, field=field
            )
        )
    return _person_info(person, resident_id, await _filing(call, person, query))


async def _person_by_voucher(call: Call, query: PersonQuery) -> tuple[PersonOut, str | None]:
    """1101 under the voucher (01): the token in ``mdtrt_cert_no`` is redeemed (verified against
    its issuing region's key and used up) and names the person. A ``certno``, when sent, must be
    that person's resident ID, and is answered with it (for the sex and birth date it carries)."""
    token_field = "input.data.mdtrt_cert_no"
    if query.mdtrt_cert_no is None:
        raise InvalidRequest(
            "the voucher token is needed in mdtrt_cert_no for certificate 01",
            code="voucher_invalid",
            field=token_field,
        )
    with fields_under("input.data"):
        holder = await vouchers.redeem(
            call.session,
            query.mdtrt_cert_no,
            used_for="1101",
            used_by=call.envelope.fixmedins_code,
            now=utcnow(),
        )
    insuplc = call.envelope.insuplc_admdvs
    if query.certno is None:
        person = await identification.by_psn_no(
            call.session, call.principal, holder.psn_no, insuplc, field=token_field
        )
        return persons.person_out(person), None
    resident_id, field = _resident_id(query)
    person = await identification.identify(
        call.session, call.principal, resident_id, insuplc, field=field
    )
    if holder.psn_no != person.psn_no:
        raise NotFound("no such insured person", code="unknown_person", field=field)
    return persons.person_out(person), resident_id


async def register(call: Call, body: RegistrationIn) -> RegistrationOut:
    """2201: register the visit; the HIS's ``insutype``, when given, must be the person's."""
    data = body.data
    visit_in = parse(
        VisitIn,
        {
            "psn_no": data.psn_no,
            "mdtrt_cert_type": data.mdtrt_cert_type,
            "mdtrt_cert_no": data.mdtrt_cert_no,
            "fixmedins_code": call.envelope.fixmedins_code,
            "med_type": data.med_type,
            "biz_type_code": data.biz_type_code,
            "begntime": data.begntime.isoformat(),
            "dr_code": data.atddr_no,
            "diseinfo": [
                {
                    "diag_code": d.diag_code,
                    "diag_name": d.diag_name,
                    "maindiag_flag": "1" if d.diag_srt_no == 1 else "0",
                }
                for d in body.diseinfo
            ],
        },
        prefix="input",
    )
    with fields_under("input.data"):
        visit = visits.visit_out(await visits.register(call.session, call.principal, visit_in))
    agree("insutype", data.insutype, visit.insutype, under="input.data")
    return RegistrationOut(
        data=Registered(mdtrt_id=visit.mdtrt_id, psn_no=visit.psn_no, ipt_otp_no=data.ipt_otp_no)
    )


async def cancel_visit(call: Call, body: CancelVisitIn) -> None:
    """2202: cancel an unsettled visit."""
    with fields_under("input.data"):
        await cancellation.cancel_visit(
            call.session, call.principal, body.data.mdtrt_id, body.data.psn_no
        )


async def upload_fees(call: Call, body: FeeUploadIn) -> FeeUploadOut:
    """2204: upload one visit's fee lines, each kept with its ``chrg_bchno``. The HIS's
    ``psn_no`` must be the visit's person and its ``det_item_fee_sumamt``, when given, the
    engine's price of the line."""
    first = body.feedetail[0]
    for i, line in enumerate(body.feedetail):
        if line.mdtrt_id != first.mdtrt_id:
            raise InvalidRequest(
                "one upload carries the fee lines of one visit",
                code="one_visit_per_upload",
                field=f"input.feedetail.{i}.mdtrt_id",
            )
    with fields_under("input.feedetail.0"):
        visit = await visits.owned_visit(call.session, call.principal, first.mdtrt_id)
    for i, line in enumerate(body.feedetail):
        agree("psn_no", line.psn_no, visit.psn_no, under=f"input.feedetail.{i}")
    upload = FeeUpload(
        feedetail=[
            parse(
                FeeLineIn,
                line.model_dump(
                    mode="json",
                    include={
                        "feedetl_sn",
                        "med_list_codg",
                        "cnt",
                        "pric",
                        "fee_ocur_time",
                        "chrg_bchno",
                    },
                    exclude_none=True,
                ),
                prefix=f"input.feedetail.{i}",
            )
            for i, line in enumerate(body.feedetail)
        ]
    )
    try:
        priced = await visits.upload_fees(call.session, call.principal, first.mdtrt_id, upload)
    except SanyiError as error:
        # /v1 names the path's mdtrt_id or a line (feedetail.<i>.<member>) of the body.
        if error.field == "mdtrt_id":
            error.field = "input.feedetail.0.mdtrt_id"
        elif error.field:
            error.field = f"input.{error.field}"
        raise
    for i, (sent, fee) in enumerate(zip(body.feedetail, priced.feedetail, strict=True)):
        agree(
            "det_item_fee_sumamt",
            sent.det_item_fee_sumamt,
            fee.det_item_fee_sumamt,
            under=f"input.feedetail.{i}",
        )
    return FeeUploadOut(
        result=[
            FeeResult(
                feedetl_sn=fee.feedetl_sn,
                det_item_fee_sumamt=fee.det_item_fee_sumamt,
                cnt=fee.cnt,
                pric=fee.pric,
                pric_uplmt_amt=fee.pric_uplmt_amt,
                selfpay_prop=fee.selfpay_prop,
                fulamt_ownpay_amt=fee.fulamt_ownpay_amt,
                overlmt_amt=fee.overlmt_amt,
                preselfpay_amt=fee.preselfpay_amt,
                inscp_scp_amt=fee.inscp_scp_amt,
                chrgitm_lv=_CHRGITM_LV[fee.chrgitm_lv],
            )
            for fee in priced.feedetail
        ]
    )


async def cancel_fees(call: Call, body: CancelFeesIn) -> None:
    """2205: cancel the unsettled lines of one charge batch (``chrg_bchno``; "0000" names every
    line of the visit) or one line (``feedetl_sn``)."""
    data = body.data
    if (data.chrg_bchno is None) == (data.feedetl_sn is None):
        raise InvalidRequest(
            'name the lines: a chrg_bchno ("0000" for all of them), or the feedetl_sn of one',
            code="fee_lines_unnamed",
            field="input.data.chrg_bchno",
        )
    with fields_under("input.data"):
        await cancellation.cancel_fee_lines(
            call.session,
            call.principal,
            data.mdtrt_id,
            data.psn_no,
            chrg_bchno=data.chrg_bchno or cancellation.ALL_LINES,
            feedetl_sn=data.feedetl_sn,
        )
