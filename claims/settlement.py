"""Pre-settle (2206), settle (2207) and revoke (2208): DOMAIN.md section 5.

Settle locks the person's row first. That one lock guards every limit at stake (deductible, annual
caps, the account balance), so concurrent settlements of one person queue, and settlements of
different people never touch a shared row. Inside it: adjudicate, insert the settlement, apply the
accumulator delta and the account debit, write the audit entry, the outbox event and the funding
entries: all in the request's one transaction. Revoke subtracts exactly the stored delta.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from claims import funding, policies, repository
from claims.adjudication import (
    SELF_PAID,
    AccountPolicy,
    Accumulators,
    Adjudication,
    ClaimInput,
    adjudicate,
)
from claims.budgets import local_date
from claims.models import (
    SETTLEMENT_AMOUNTS,
    FeeLine,
    Person,
    Settlement,
    Visit,
)
from claims.schemas import SettleIn, SettlementOut, SettlementPage
from claims.visits import new_id, priced_line
from engine import audit, outbox
from engine.auth import Principal, Role
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import from_fen, to_fen

CLR_TYPE_BY_MED_TYPE = {"11": "11", "14": "11", "21": "21", "41": "41"}


def _accumulators(values: repository.AccumulatorValues) -> Accumulators:
    return Accumulators(
        deductible_used=from_fen(values.deductible_used),
        hifp_paid=from_fen(values.hifp_paid),
        inscp_psn_cum=from_fen(values.inscp_psn_cum),
        critical_paid=from_fen(values.critical_paid),
        assistance_paid=from_fen(values.assistance_paid),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Claim:
    visit: Visit
    person: Person
    adjudication: Adjudication
    token: str
    year: int
    category: str


async def _claim(
    session: AsyncSession, principal: Principal, mdtrt_id: str, body: SettleIn, *, for_settle: bool
) -> _Claim:
    """Read and adjudicate a claim in four round trips: visit and person (locked for settle),
    then, as a separate statement after the lock, live settlement and fee lines, the policy
    version token, and the accumulators."""
    found = await repository.visit_and_person(session, mdtrt_id, lock=for_settle)
    if found is None or found[0].fixmedins_code != principal.institution_code:
        raise NotFound("no such visit", code="unknown_visit", field="mdtrt_id")
    visit, person = found
    settled, lines = await repository.live_settlement_and_fee_lines(session, mdtrt_id)
    if settled:
        raise Conflict("this visit is already settled", code="already_settled", field="mdtrt_id")
    if not lines:
        raise InvalidRequest("the visit has no fee lines", code="no_fee_lines", field="mdtrt_id")
    policy = await policies.resolve(
        session,
        admdvs=person.admdvs,
        insutype=visit.insutype,
        med_type=visit.med_type,
        hosp_lv=visit.hosp_lv,
        on=local_date(visit.begntime),
        retired=person.retired,
        asst_type=person.asst_type,
    )
    year = local_date(visit.begntime).year
    accumulators = _accumulators(
        await repository.accumulator_values(session, person.psn_no, year, policy.category)
    )
    adjudication = adjudicate(_claim_input(visit, person, lines, policy, accumulators, body))
    return _Claim(
        visit=visit,
        person=person,
        adjudication=adjudication,
        token=_token(policy.token, accumulators, person.acct_balc, lines),
        year=year,
        category=policy.category,
    )


def _claim_input(
    visit: Visit,
    person: Person,
    lines: Sequence[FeeLine],
    policy: policies.ResolvedPolicy,
    accumulators: Accumulators,
    body: SettleIn,
) -> ClaimInput:
    priced = tuple(priced_line(line) for line in lines)
    if not visit.insurance_payable:
        # A self-pay visit (refused for insurance, billed at the hospital's request): every line
        # is outside insurance, no fund pays and no accumulator moves but the personal share.
        priced = tuple(dataclasses.replace(p, chrgitm_lv=SELF_PAID) for p in priced)
    return ClaimInput(
        lines=priced,
        basic=policy.basic,
        critical_illness=policy.critical_illness if visit.insurance_payable else None,
        assistance=policy.assistance if visit.insurance_payable else None,
        account=policy.account if visit.insurance_payable else AccountPolicy(enabled=False),
        accumulators=accumulators,
        acct_balance=from_fen(person.acct_balc),
        acct_used_flag=body.acct_used_flag,
    )


def _token(
    policy_token: str, accumulators: Accumulators, balance: int, lines: Sequence[FeeLine]
) -> str:
    """What a pre-settlement was computed on; settle compares it to say whether anything moved."""
    state = "|".join(
        [
            policy_token,
            *(str(getattr(accumulators, f.name).amount) for f in dataclasses.fields(accumulators)),
            str(balance),
            *(f"{line.feedetl_sn}:{line.det_item_fee_sumamt}" for line in lines),
        ]
    )
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def _row(claim: _Claim, principal: Principal, *, setl_id: str | None, clr_way: str) -> Settlement:
    adj, visit = claim.adjudication, claim.visit
    delta = adj.delta
    return Settlement(
        setl_id=setl_id,
        mdtrt_id=visit.mdtrt_id,
        psn_no=visit.psn_no,
        fixmedins_code=visit.fixmedins_code,
        admdvs=visit.admdvs,
        insutype=visit.insutype,
        med_type=visit.med_type,
        clr_type=CLR_TYPE_BY_MED_TYPE[visit.med_type],
        clr_way=clr_way,
        setl_time=utcnow(),
        status="settled",
        acct_used_flag=adj.explanation.account.acct_used_flag,
        year=claim.year,
        category=claim.category,
        **{name: to_fen(getattr(adj, name)) for name in SETTLEMENT_AMOUNTS},
        d_deductible_used=to_fen(delta.deductible_used),
        d_hifp_paid=to_fen(delta.hifp_paid),
        d_inscp_psn_cum=to_fen(delta.inscp_psn_cum),
        d_critical_paid=to_fen(delta.critical_paid),
        d_assistance_paid=to_fen(delta.assistance_paid),
        setldetail=[
            {
                "fund_pay_type": f.fund_pay_type,
                "fund_payamt": str(f.fund_payamt.amount),
                "inscp_scp_amt": str(f.inscp_scp_amt.amount),
                "crt_payb_lmt_amt": str(f.crt_payb_lmt_amt.amount),
                "setl_proc_info": f.setl_proc_info,
            }
            for f in adj.setldetail
        ],
        lines=[
            {
                "feedetl_sn": s.feedetl_sn,
                "det_item_fee_sumamt": str(s.det_item_fee_sumamt.amount),
                "fulamt_ownpay_amt": str(s.fulamt_ownpay_amt.amount),
                "overlmt_amt": str(s.overlmt_amt.amount),
                "preselfpay_amt": str(s.preselfpay_amt.amount),
                "inscp_scp_amt": str(s.inscp_scp_amt.amount),
            }
            for s in adj.lines
        ],
        explanation=adj.explanation.as_dict(),
        created_by=principal.org_id,
    )


def settlement_out(row: Settlement, **extra: object) -> SettlementOut:
    status = "presettled" if row.setl_id is None else row.status
    return SettlementOut.model_validate(
        {
            "setl_id": row.setl_id,
            "mdtrt_id": row.mdtrt_id,
            "psn_no": row.psn_no,
            "fixmedins_code": row.fixmedins_code,
            "insutype": row.insutype,
            "med_type": row.med_type,
            "clr_type": row.clr_type,
            "clr_way": row.clr_way,
            "setl_time": row.setl_time,
            "status": status,
            "refd_setl_flag": "1" if row.status == "revoked" else "0",
            "revoked_at": row.revoked_at,
            "acct_used_flag": row.acct_used_flag,
            **{name: from_fen(getattr(row, name)).amount for name in SETTLEMENT_AMOUNTS},
            "setldetail": row.setldetail,
            "lines": row.lines,
            "explanation": row.explanation,
            **extra,
        }
    )


def _facts(row: Settlement, visit: Visit) -> funding.SettlementFacts:
    return funding.SettlementFacts(
        setl_id=row.setl_id or "",
        fixmedins_code=row.fixmedins_code,
        admdvs=row.admdvs,
        psn_no=row.psn_no,
        insutype=row.insutype,
        med_type=row.med_type,
        setl_time=row.setl_time,
        fund_pay_sumamt=from_fen(row.fund_pay_sumamt),
        hifp_pay=from_fen(row.hifp_pay),
        dise_codg=visit.main_diag_code,
    )


async def presettle(
    session: AsyncSession, principal: Principal, mdtrt_id: str, body: SettleIn
) -> SettlementOut:
    """2206: the numbers settle would give now; writes nothing."""
    claim = await _claim(session, principal, mdtrt_id, body, for_settle=False)
    row = _row(claim, principal, setl_id=None, clr_way="01")
    row.clr_way = (await funding.route(session, _facts(row, claim.visit))).clr_way
    return settlement_out(row, presettle_token=claim.token)


async def settle(
    session: AsyncSession, principal: Principal, mdtrt_id: str, body: SettleIn
) -> SettlementOut:
    """2207: settle the visit, applying every effect atomically."""
    claim = await _claim(session, principal, mdtrt_id, body, for_settle=True)
    person = claim.person
    row = _row(claim, principal, setl_id=new_id("S"), clr_way="01")
    facts = _facts(row, claim.visit)
    route = await funding.route(session, facts)
    row.clr_way = route.clr_way
    session.add(row)
    await repository.add_to_accumulators(
        session, row.psn_no, row.year, row.category, _stored_delta(row)
    )
    person.acct_balc -= row.acct_pay
    await funding.record_settlement(session, facts, route)
    await audit.record(
        session,
        actor=principal,
        action="settlement.settled",
        object_type="settlement",
        object_id=row.setl_id,
        payload=_audit_payload(row),
        new_stream=True,
    )
    outbox.emit(session, "settlement.settled", row.fixmedins_code, _event_payload(row))
    changed = None if body.presettle_token is None else body.presettle_token != claim.token
    return settlement_out(row, presettle_token=claim.token, accumulators_changed=changed)


async def revoke(session: AsyncSession, principal: Principal, setl_id: str) -> SettlementOut:
    """2208: reverse every effect of the settlement exactly; the visit may then settle anew."""
    found = await repository.settlement(session, setl_id)
    if found is None or found.fixmedins_code != principal.institution_code:
        raise NotFound("no such settlement", code="unknown_settlement", field="setl_id")
    person = await repository.person(session, found.psn_no, lock=True)
    assert person is not None
    row = await repository.settlement(session, setl_id)  # re-read under the person lock
    assert row is not None
    if row.status == "revoked":
        raise Conflict("the settlement is already revoked", code="already_revoked", field="setl_id")
    await repository.subtract_from_accumulators(
        session, row.psn_no, row.year, row.category, _stored_delta(row)
    )
    person.acct_balc += row.acct_pay
    row.status = "revoked"
    row.revoked_at = utcnow()
    await session.flush()
    await funding.record_revocation(session, row.setl_id, row.revoked_at)
    await audit.record(
        session,
        actor=principal,
        action="settlement.revoked",
        object_type="settlement",
        object_id=row.setl_id,
        payload=_audit_payload(row),
    )
    outbox.emit(session, "settlement.revoked", row.fixmedins_code, _event_payload(row))
    return settlement_out(row)


def _stored_delta(row: Settlement) -> repository.AccumulatorValues:
    """The accumulator delta the settlement applied; revoke subtracts exactly these numbers."""
    return repository.AccumulatorValues(
        deductible_used=row.d_deductible_used,
        hifp_paid=row.d_hifp_paid,
        inscp_psn_cum=row.d_inscp_psn_cum,
        critical_paid=row.d_critical_paid,
        assistance_paid=row.d_assistance_paid,
    )


def _audit_payload(row: Settlement) -> dict[str, object]:
    return {
        "mdtrt_id": row.mdtrt_id,
        "psn_no": row.psn_no,
        "status": row.status,
        **{name: str(from_fen(getattr(row, name)).amount) for name in SETTLEMENT_AMOUNTS},
    }


def _event_payload(row: Settlement) -> dict[str, object]:
    return {
        "setl_id": row.setl_id,
        "mdtrt_id": row.mdtrt_id,
        "fixmedins_code": row.fixmedins_code,
        "admdvs": row.admdvs,
        "status": row.status,
        "medfee_sumamt": str(from_fen(row.medfee_sumamt).amount),
        "fund_pay_sumamt": str(from_fen(row.fund_pay_sumamt).amount),
        "setl_time": row.setl_time.isoformat(),
    }


async def visible_settlement(
    session: AsyncSession, principal: Principal, setl_id: str
) -> SettlementOut:
    """A hospital sees its own settlements, an insurer those of its region."""
    row = await repository.settlement(session, setl_id)
    visible = row is not None and (
        (principal.role is Role.insurer and row.admdvs == principal.admdvs)
        or (principal.role is not Role.insurer and row.fixmedins_code == principal.institution_code)
    )
    if row is None or not visible:
        raise NotFound("no such settlement", code="unknown_settlement", field="setl_id")
    return settlement_out(row)


def _cursor(row: Settlement) -> str:
    return f"{row.setl_time.isoformat()}|{row.setl_id}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        time, setl_id = cursor.split("|", 1)
        return datetime.fromisoformat(time), setl_id
    except ValueError as exc:
        raise InvalidRequest("malformed cursor", code="invalid_cursor", field="cursor") from exc


async def institution_settlements(
    session: AsyncSession,
    principal: Principal,
    *,
    begin: datetime,
    end: datetime,
    cursor: str | None,
    limit: int,
) -> SettlementPage:
    if principal.institution_code is None:
        raise InvalidRequest("only institutions list their settlements", code="not_institution")
    rows = await repository.settlements_page(
        session, principal.institution_code, begin, end, _parse_cursor(cursor), limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return SettlementPage(
        items=[settlement_out(r) for r in rows],
        next_cursor=_cursor(rows[-1]) if more and rows else None,
    )
