"""Dispensing (domain.md section 9): the lock holder hands out the drugs, records each line with
its lot number and package trace codes, and settles it through the one-stop settlement engine as
a ``med_type`` 41 visit at the pharmacy, all in one transaction.

The prescription's row lock is taken first and held to the end, so two dispenses of one
prescription queue and the second sees the first's count; ``(hi_rxno, dspe_seq)`` is unique
besides, so no portion is ever dispensed twice. A prescription is dispensed once, or a repeat
prescription at most ``max_rept_cnt`` times, no sooner than ``min_inrv_days`` apart
(prescriptions.rules.may_dispense); the first dispense must come before ``vali_end_time``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.door.visits import (
    Commit,
    DiagnosisIn,
    FeeLineIn,
    FeeUpload,
    InsuranceRefused,
    SettleIn,
    SettlementOut,
    VisitIn,
    register_visit,
    settle,
    upload_fees,
)
from engine.auth import Principal
from engine.clock import local_date
from engine.errors import Conflict, InvalidRequest, SanyiError
from prescriptions import circulation, documents, records, repository
from prescriptions.models import Dispense, DispenseLine, Prescription
from prescriptions.rules import Violation, may_dispense
from prescriptions.schemas import DispenseIn, DispenseLineIn, DispenseOut
from vouchers.door import VOUCHER

#: ``med_type`` of a designated-pharmacy purchase (docs/domain.md section 2).
PHARMACY_PURCHASE = "41"


class DispenseRefused(Conflict):
    """The prescription may not be dispensed (again) today: a state conflict, with the rule's
    reason code (docs/prescriptions.md section 4)."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message, code=violation.code.value, field=violation.field)


def _check_lines(
    row: Prescription, lines: Sequence[DispenseLineIn], dispensed: dict[str, Decimal]
) -> None:
    """Each line is a prescribed drug, once, and together with earlier portions within the
    prescribed quantity; each package's trace code appears once."""
    prescribed = documents.prescribed_quantities(row.document)
    seen_codes: set[str] = set()
    seen_traces: set[str] = set()
    for index, line in enumerate(lines):
        field = f"dspe_lines.{index}"
        if line.med_list_codg not in prescribed:
            raise InvalidRequest(
                f"{line.med_list_codg} is not on the prescription",
                code="drug_not_prescribed",
                field=f"{field}.med_list_codg",
            )
        if line.med_list_codg in seen_codes:
            raise InvalidRequest(
                "one line per drug", code="duplicate_line", field=f"{field}.med_list_codg"
            )
        seen_codes.add(line.med_list_codg)
        left = prescribed[line.med_list_codg] - dispensed.get(line.med_list_codg, Decimal(0))
        if line.cnt > left:
            raise InvalidRequest(
                f"{line.cnt} exceeds the {left} left of {line.med_list_codg} on the prescription",
                code="quantity_exceeds_prescription",
                field=f"{field}.cnt",
            )
        for trace in line.drug_trac_codg:
            if trace in seen_traces:
                raise InvalidRequest(
                    f"trace code {trace} is listed twice",
                    code="duplicate_trace_code",
                    field=f"{field}.drug_trac_codg",
                )
            seen_traces.add(trace)


async def _settle(
    session: AsyncSession, principal: Principal, row: Prescription, body: DispenseIn, now: datetime
) -> tuple[str, SettlementOut]:
    """Register the pharmacy visit (med_type 41, the prescription's diagnoses), upload the
    dispensed lines at the pharmacy's prices and settle them (docs/domain.md section 5), through the
    claims services, in this transaction."""
    assert principal.institution_code is not None
    try:
        mdtrt_id = await register_visit(
            session,
            principal,
            VisitIn(
                psn_no=row.psn_no,
                mdtrt_cert_type=VOUCHER,
                mdtrt_cert_no=row.hi_rxno,
                fixmedins_code=principal.institution_code,
                med_type=PHARMACY_PURCHASE,
                biz_type_code="01",
                begntime=now,
                dr_code=None,
                diseinfo=[
                    DiagnosisIn(
                        diag_code=d["diag_code"],
                        diag_name=d["diag_name"],
                        maindiag_flag=d.get("maindiag_flag", "0"),
                    )
                    for d in row.document["diseinfo"]
                ],
            ),
            identified_by_prescription=True,
        )
    except InsuranceRefused as refused:
        # The insured place's policy pays nothing for this purchase (no terms for pharmacy
        # purchases, or none for this care in another region): the prescription stays as it was.
        refused.field = "hi_rxno"
        raise
    try:
        await upload_fees(
            session,
            principal,
            mdtrt_id,
            FeeUpload(
                feedetail=[
                    FeeLineIn(
                        feedetl_sn=str(index + 1),
                        med_list_codg=line.med_list_codg,
                        cnt=line.cnt,
                        pric=line.pric,
                        fee_ocur_time=now,
                    )
                    for index, line in enumerate(body.dspe_lines)
                ]
            ),
        )
    except SanyiError as error:
        # claims names the fee lines "feedetail"; they are this request's dispense lines.
        if error.field and error.field.startswith("feedetail"):
            error.field = "dspe_lines" + error.field.removeprefix("feedetail")
        raise
    settlement = await settle(
        session,
        principal,
        mdtrt_id,
        SettleIn(acct_used_flag=body.acct_used_flag),
        commit=Commit.WITH_CALLER,
    )
    return mdtrt_id, settlement


async def _record_dispense(
    session: AsyncSession,
    row: Prescription,
    pharmacy: str,
    body: DispenseIn,
    now: datetime,
    *,
    mdtrt_id: str,
    setl_id: str,
) -> tuple[Dispense, list[DispenseLine]]:
    """The dispense, its lines, and each package's trace code (refused if sold before)."""
    dispense_row = Dispense(
        hi_rxno=row.hi_rxno,
        dspe_seq=row.dspe_cnt + 1,
        fixmedins_code=pharmacy,
        dspe_time=now,
        mdtrt_id=mdtrt_id,
        setl_id=setl_id,
        phar_code=body.phar_code,
        phar_name=body.phar_name,
    )
    session.add(dispense_row)
    await session.flush()
    lines = [
        DispenseLine(
            dispense_id=dispense_row.id,
            line_no=index + 1,
            med_list_codg=line.med_list_codg,
            cnt=line.cnt,
            pric=line.pric,
            manu_lotnum=line.manu_lotnum,
            drug_trac_codg=list(line.drug_trac_codg),
        )
        for index, line in enumerate(body.dspe_lines)
    ]
    session.add_all(lines)
    await session.flush()
    for index, line in enumerate(body.dspe_lines):
        for trace in line.drug_trac_codg:
            if not await repository.claim_trace_code(session, trace, dispense_row.id, index + 1):
                raise Conflict(
                    f"the package with trace code {trace} was dispensed before",
                    code="duplicate_trace_code",
                    field=f"dspe_lines.{index}.drug_trac_codg",
                )
    return dispense_row, lines


async def dispense(
    session: AsyncSession, principal: Principal, hi_rxno: str, body: DispenseIn, now: datetime
) -> DispenseOut:
    """Dispense and settle one portion; only the pharmacy holding an unexpired lock may."""
    row = await circulation.visible(session, principal, hi_rxno, lock=True)
    pharmacy = principal.institution_code
    assert pharmacy is not None
    records.require_status(row, now, "circulating")
    if row.lock_holder != pharmacy or not records.lock_held(row, now):
        raise Conflict(
            "lock the prescription before dispensing", code="not_lock_holder", field="hi_rxno"
        )
    await documents.verify_stored(session, row)
    earlier = await repository.dispenses(session, hi_rxno)
    refused = may_dispense(
        [local_date(d.dspe_time) for d in earlier],
        local_date(now),
        row.max_rept_cnt,
        row.min_inrv_days,
    )
    if refused is not None:
        raise DispenseRefused(refused)
    _check_lines(row, body.dspe_lines, await repository.dispensed_quantities(session, hi_rxno))

    mdtrt_id, settlement = await _settle(session, principal, row, body, now)
    assert settlement.setl_id is not None  # settle, unlike pre-settle, always assigns one
    dispense_row, lines = await _record_dispense(
        session, row, pharmacy, body, now, mdtrt_id=mdtrt_id, setl_id=settlement.setl_id
    )
    row.dspe_cnt += 1
    if row.dspe_cnt == row.max_rept_cnt:
        row.status = "dispensed"
    row.lock_holder = None
    row.lock_expires_at = None
    row.updated_at = now
    await session.flush()
    payload = {
        "dspe_seq": dispense_row.dspe_seq,
        "fixmedins_code": pharmacy,
        "mdtrt_id": mdtrt_id,
        "setl_id": settlement.setl_id,
        "medfee_sumamt": f"{settlement.medfee_sumamt:.2f}",
        "fund_pay_sumamt": f"{settlement.fund_pay_sumamt:.2f}",
    }
    await records.record(session, row, principal, "dispensed", payload)
    await records.announce(
        session, row, "dispensed", {"dspe_seq": dispense_row.dspe_seq, "dspe_time": now.isoformat()}
    )
    return DispenseOut(
        hi_rxno=hi_rxno,
        dspe_seq=dispense_row.dspe_seq,
        fixmedins_code=pharmacy,
        dspe_time=now,
        mdtrt_id=mdtrt_id,
        rx_stas_codg=records.RX_STAS_CODG[row.status],
        status=row.status,
        dspe_cnt=row.dspe_cnt,
        max_rept_cnt=row.max_rept_cnt,
        lines=[records.line_out(line, full=True) for line in lines],
        settlement=settlement,
    )
