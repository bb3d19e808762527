"""Pre-settle (2206), settle (2207) and revoke (2208): docs/domain.md section 5.

Settle reads the visit's state, adjudicates, and writes every effect at once (the settlement, the
accumulator delta and the account debit, the audit entry, the outbox event and the funding
entries), only if the person's ledger version is still the one it read: that version guards every
limit at stake (deductible, annual caps, the account balance), and settlements of different people
never touch a shared row. If it moved, settle runs again under the person's row lock, where
settlements of one person queue. Revoke, under the same lock, subtracts exactly the stored delta
and moves the version on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door as funding
from claims.settlement import repository
from claims.settlement import store as settlement_store
from claims.settlement.audit_facts import settlement_facts
from claims.settlement.models import SETTLEMENT_AMOUNTS, Settlement
from claims.settlement.schemas import (
    LineSplitOut,
    SetlDetailOut,
    SettleIn,
    SettlementOut,
    SettlementPage,
)
from claims.settlement.scope import institution_filter, is_institution
from claims.settlement.service import policies, presettle_token
from claims.settlement.service.adjudication import (
    SELF_PAID,
    AccountPolicy,
    Accumulators,
    Adjudication,
    ClaimInput,
    adjudicate,
)
from claims.settlement.service.visits import priced_line
from claims.settlement.store import Commit, StateRow
from engine import audit, idempotency, metrics, outbox
from engine.auth import Principal
from engine.clock import local_date
from engine.db import table_of, utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.ids import new_id
from engine.money import amount_text, from_fen, to_fen, yuan
from engine.pagination import decode_cursor, encode_cursor

CLR_TYPE_BY_MED_TYPE = {"11": "11", "14": "11", "21": "21", "41": "41"}


@dataclasses.dataclass(frozen=True, slots=True)
class _State:
    """What a visit is adjudicated on: the state's rows (``SettlementStore.read_state``), the first
    carrying the visit and everything read once per claim, and its policy."""

    rows: Sequence[StateRow]
    policy: policies.ResolvedPolicy
    visit_date: date
    read_at: datetime

    @property
    def visit(self) -> StateRow:
        return self.rows[0]

    def lines(self) -> list[StateRow]:
        """The visit's fee lines in upload order, once each (a line has a row per accumulator
        category of the person's year)."""
        lines = {row.fee_line_id: row for row in self.rows if row.fee_line_id is not None}
        return list(lines.values())

    def accumulators(self) -> Accumulators:
        """The person's accumulators for the year, of the benefit category the policy names."""
        benefit = next((r for r in self.rows if r.acc_category == self.policy.category), None)
        year = self.visit  # the person's per-year row comes with every row
        return Accumulators(
            deductible_used=from_fen(0 if benefit is None else benefit.deductible_used),
            hifp_paid=from_fen(0 if benefit is None else benefit.hifp_paid),
            inscp_psn_cum=from_fen(year.inscp_psn_cum or 0),
            critical_paid=from_fen(year.critical_paid or 0),
            assistance_paid=from_fen(year.assistance_paid or 0),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _Claim:
    """A visit adjudicated on what the database held when it was read."""

    visit: StateRow
    adjudication: Adjudication
    route: funding.Route
    settled_at: datetime
    state_digest: str
    year: int
    category: str


async def _read(
    store: settlement_store.SettlementStore,
    principal: Principal,
    mdtrt_id: str,
    reservation: idempotency.Reservation | None,
    *,
    lock: bool,
) -> _State:
    """The visit's state (under the person's row lock when ``lock``), with the record under the
    request's Idempotency-Key, and the policy it names."""
    now = utcnow()
    params = settlement_store.state_params(mdtrt_id, local_date(now), reservation)
    rows = await store.read_state(params, lock=lock)
    if not rows or rows[0].fixmedins_code != principal.institution_code:
        raise NotFound("no such visit", code="unknown_visit", field="mdtrt_id")
    visit = rows[0]
    visit_date = local_date(visit.begntime)
    policy = await policies.resolve(
        store.session,
        token=visit.policy_token,
        admdvs=visit.person_admdvs,
        insutype=visit.insutype,
        med_type=visit.med_type,
        hosp_lv=visit.hosp_lv,
        on=visit_date,
        retired=visit.retired,
        asst_type=visit.asst_type,
        # A self-pay visit is paid by no fund: the cross-region terms that refused it do not apply.
        care_type=visit.filing_type if visit.insurance_payable else None,
    )
    return _State(rows, policy, visit_date, now)


def _adjudicated(state: _State, body: SettleIn) -> _Claim:
    """Adjudicate the visit on its state; a visit already settled, or without fee lines, is
    refused."""
    visit = state.visit
    if visit.live:
        raise Conflict("this visit is already settled", code="already_settled", field="mdtrt_id")
    lines = state.lines()
    if not lines:
        raise InvalidRequest("the visit has no fee lines", code="no_fee_lines", field="mdtrt_id")
    accumulators = state.accumulators()
    adjudication = adjudicate(_claim_input(visit, lines, state.policy, accumulators, body))
    return _Claim(
        visit=visit,
        adjudication=adjudication,
        route=funding.route_of(visit, visit.med_type),
        settled_at=state.read_at,
        state_digest=_state_digest(state.policy.token, accumulators, visit.acct_balc, lines),
        year=state.visit_date.year,
        category=state.policy.category,
    )


def _claim_input(
    visit: StateRow,
    lines: Sequence[StateRow],
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
        acct_balance=from_fen(visit.acct_balc),
        acct_used_flag=body.acct_used_flag,
    )


def _state_digest(
    policy_token: str, accumulators: Accumulators, balance: int, lines: Sequence[StateRow]
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
    return presettle_token.state_digest(state)


def _values(claim: _Claim, principal: Principal, *, setl_id: str | None) -> dict[str, Any]:
    """Every column of the settlement the claim makes."""
    adj, visit = claim.adjudication, claim.visit
    delta = adj.delta
    return {
        "setl_id": setl_id,
        "mdtrt_id": visit.mdtrt_id,
        "psn_no": visit.psn_no,
        "fixmedins_code": visit.fixmedins_code,
        "admdvs": visit.admdvs,
        "insuplc_admdvs": visit.insuplc_admdvs,
        "filing_type": visit.filing_type,
        "insutype": visit.insutype,
        "med_type": visit.med_type,
        "clr_type": CLR_TYPE_BY_MED_TYPE[visit.med_type],
        "clr_way": claim.route.clr_way,
        "setl_time": claim.settled_at,
        "status": "settled",
        "revoked_at": None,
        "acct_used_flag": adj.explanation.account.acct_used_flag,
        "year": claim.year,
        "category": claim.category,
        **{name: to_fen(getattr(adj, name)) for name in SETTLEMENT_AMOUNTS},
        "d_deductible_used": to_fen(delta.deductible_used),
        "d_hifp_paid": to_fen(delta.hifp_paid),
        "d_inscp_psn_cum": to_fen(delta.inscp_psn_cum),
        "d_critical_paid": to_fen(delta.critical_paid),
        "d_assistance_paid": to_fen(delta.assistance_paid),
        "setldetail": [
            {
                "fund_pay_type": f.fund_pay_type,
                "fund_payamt": amount_text(f.fund_payamt),
                "inscp_scp_amt": amount_text(f.inscp_scp_amt),
                "crt_payb_lmt_amt": amount_text(f.crt_payb_lmt_amt),
                "setl_proc_info": f.setl_proc_info,
            }
            for f in adj.setldetail
        ],
        "lines": [
            {
                "feedetl_sn": s.feedetl_sn,
                "det_item_fee_sumamt": amount_text(s.det_item_fee_sumamt),
                "fulamt_ownpay_amt": amount_text(s.fulamt_ownpay_amt),
                "overlmt_amt": amount_text(s.overlmt_amt),
                "preselfpay_amt": amount_text(s.preselfpay_amt),
                "inscp_scp_amt": amount_text(s.inscp_scp_amt),
            }
            for s in adj.lines
        ],
        "explanation": adj.explanation.as_dict(),
        "created_by": principal.org_id,
    }


def _columns(row: Settlement) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in table_of(Settlement).columns}


def settlement_out(values: Mapping[str, Any], **extra: object) -> SettlementOut:
    """The 2206/2207/2208 answer from the settlement's column values.

    Built without validating again: every value is the engine's own, computed by adjudication
    (which checks each amount it makes) or read back from columns the database constrains, and
    the amounts are integers of fen. The answer's one pass through pydantic is its serialisation
    (``SettlementOut.as_json``), which renders each amount by its wire type."""
    status = "presettled" if values["setl_id"] is None else values["status"]
    fields: dict[str, Any] = {
        "setl_id": values["setl_id"],
        "mdtrt_id": values["mdtrt_id"],
        "psn_no": values["psn_no"],
        "fixmedins_code": values["fixmedins_code"],
        "insuplc_admdvs": values["insuplc_admdvs"],
        "mdtrtarea_admvs": values["admdvs"],
        "filing_type": values["filing_type"],
        "insutype": values["insutype"],
        "med_type": values["med_type"],
        "clr_type": values["clr_type"],
        "clr_way": values["clr_way"],
        "setl_time": values["setl_time"],
        "status": status,
        "refd_setl_flag": "1" if values["status"] == "revoked" else "0",
        "revoked_at": values["revoked_at"],
        "acct_used_flag": values["acct_used_flag"],
        **{name: yuan(values[name]) for name in SETTLEMENT_AMOUNTS},
        "setldetail": [_setl_detail(detail) for detail in values["setldetail"]],
        "lines": [_line_split(line) for line in values["lines"]],
        "explanation": values["explanation"],
        **extra,
    }
    return SettlementOut.model_construct(**fields)


def _setl_detail(stored: Mapping[str, Any]) -> SetlDetailOut:
    fields: dict[str, Any] = {name: Decimal(stored[name]) for name in _DETAIL_AMOUNTS}
    return SetlDetailOut.model_construct(
        fund_pay_type=stored["fund_pay_type"], setl_proc_info=stored["setl_proc_info"], **fields
    )


def _line_split(stored: Mapping[str, Any]) -> LineSplitOut:
    fields: dict[str, Any] = {name: Decimal(stored[name]) for name in _LINE_AMOUNTS}
    return LineSplitOut.model_construct(feedetl_sn=stored["feedetl_sn"], **fields)


#: The amounts of a ``setldetail`` entry and of a line's split, stored as decimal strings.
_DETAIL_AMOUNTS = ("fund_payamt", "inscp_scp_amt", "crt_payb_lmt_amt")
_LINE_AMOUNTS = (
    "det_item_fee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
)


def _facts(values: Mapping[str, Any]) -> funding.SettlementFacts:
    return funding.SettlementFacts(
        setl_id=values["setl_id"] or "",
        fixmedins_code=values["fixmedins_code"],
        admdvs=values["admdvs"],
        setl_time=values["setl_time"],
        hifp_pay=from_fen(values["hifp_pay"]),
    )


async def presettle(
    session: AsyncSession,
    principal: Principal,
    mdtrt_id: str,
    body: SettleIn,
    *,
    commit: Commit,
) -> SettlementOut:
    """2206: the numbers settle would give now; writes nothing. ``commit``: how its read runs
    (``settlement_store.Commit``)."""
    store = await settlement_store.store(session, commit)
    claim = _adjudicated(await _read(store, principal, mdtrt_id, None, lock=False), body)
    token = presettle_token.issue(mdtrt_id, claim.state_digest)
    return settlement_out(_values(claim, principal, setl_id=None), presettle_token=token)


@metrics.Outcomes(metrics.SETTLEMENTS, metrics.SETTLE_SECONDS)
async def settle(
    session: AsyncSession,
    principal: Principal,
    mdtrt_id: str,
    body: SettleIn,
    *,
    commit: Commit,
    reservation: idempotency.Reservation | None = None,
) -> SettlementOut:
    """2207: settle the visit, applying every effect atomically (``SettlementStore.write``).
    Under ``reservation`` the response is stored with the same write; a request whose key
    already holds a response (stored before its read, or between its read and its write) gets
    that response, or a refusal if it was another request's.

    First without a lock, where the store can (``SettlementStore.optimistic_attempt``); if the
    person's ledger moved between the read and the write, again under the person's row lock,
    where it cannot move: settlements of one person arriving at once queue there.

    ``commit``, chosen where the request enters (``settlement_store.Commit``): the settlement
    commits alone, its first attempt's statements shared with the settles running alongside it
    in this process (group commit) or on the unit of work's own connection, or with the rest of
    the caller's transaction.

    A ``presettle_token`` the engine did not issue for this visit is refused before anything is
    read (``presettle_token.issued_digest``)."""
    presettled = (
        None
        if body.presettle_token is None
        else presettle_token.issued_digest(mdtrt_id, body.presettle_token)
    )
    store = await settlement_store.store(session, commit)
    try:
        if (attempt := store.optimistic_attempt()) is not None:
            async with attempt:
                settled = await _settle_once(
                    store, principal, mdtrt_id, body, presettled, reservation
                )
            if settled is not None:
                return settled
        store = await store.locked()
        async with store.serialized():
            settled = await _settle_once(
                store, principal, mdtrt_id, body, presettled, reservation, lock=True
            )
    except idempotency.KeyTaken:
        assert reservation is not None
        return await idempotency.replay(session, reservation, SettlementOut)
    if settled is None:
        raise RuntimeError("the person's ledger moved under the person's row lock")
    return settled


async def _settle_once(
    store: settlement_store.SettlementStore,
    principal: Principal,
    mdtrt_id: str,
    body: SettleIn,
    presettled: str | None,
    reservation: idempotency.Reservation | None,
    *,
    lock: bool = False,
) -> SettlementOut | None:
    """Settle on one read of the visit's state: None, writing nothing, if the person's ledger moved
    before the write. ``presettled`` is the state digest of the request's pre-settlement token,
    compared with the state read to say whether the accumulators moved since."""
    state = await _read(store, principal, mdtrt_id, reservation, lock=lock)
    stored = state.visit
    if reservation is not None and stored.idem_request_hash is not None:
        return idempotency.replayed(
            reservation, stored.idem_request_hash, stored.idem_response, SettlementOut
        )
    claim = _adjudicated(state, body)
    values = _values(claim, principal, setl_id=new_id("S"))
    out = settlement_out(
        values,
        presettle_token=presettle_token.issue(mdtrt_id, claim.state_digest),
        accumulators_changed=None if presettled is None else presettled != claim.state_digest,
    )
    effects = settlement_store.Effects(
        settlement=values,
        accumulators={
            "psn_no": values["psn_no"],
            "year": values["year"],
            "category": values["category"],
            **dataclasses.asdict(_stored_delta(values)),
        },
        case_entries=funding.case_entries(_facts(values), claim.route),
        audit_entry=audit.entry_values(
            actor=principal,
            action="settlement.settled",
            object_type="settlement",
            object_id=values["setl_id"],
            payload=settlement_facts(values),
        ),
        event=outbox.event_values(
            "settlement.settled", values["fixmedins_code"], _event_payload(values)
        ),
        response=None if reservation is None else (reservation, out),
        ledger_version=claim.visit.ledger_version,
    )
    return out if await store.write(effects) else None


@metrics.Outcomes(metrics.REVOCATIONS)
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
    values = _columns(row)
    await repository.subtract_from_accumulators(
        session, row.psn_no, row.year, row.category, _stored_delta(values)
    )
    person.acct_balc += row.acct_pay
    person.ledger_version += 1
    row.status = "revoked"
    row.revoked_at = utcnow()
    await session.flush()
    values = _columns(row)
    await funding.record_revocation(session, row.setl_id, row.revoked_at)
    await audit.record(
        session,
        actor=principal,
        action="settlement.revoked",
        object_type="settlement",
        object_id=row.setl_id,
        payload=settlement_facts(values),
    )
    outbox.emit(session, "settlement.revoked", row.fixmedins_code, _event_payload(values))
    return settlement_out(values)


def _stored_delta(values: Mapping[str, Any]) -> repository.AccumulatorValues:
    """The accumulator delta the settlement applied; revoke subtracts exactly these numbers."""
    return repository.AccumulatorValues(
        deductible_used=values["d_deductible_used"],
        hifp_paid=values["d_hifp_paid"],
        inscp_psn_cum=values["d_inscp_psn_cum"],
        critical_paid=values["d_critical_paid"],
        assistance_paid=values["d_assistance_paid"],
    )


def _event_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "setl_id": values["setl_id"],
        "mdtrt_id": values["mdtrt_id"],
        "fixmedins_code": values["fixmedins_code"],
        "admdvs": values["admdvs"],
        "status": values["status"],
        "medfee_sumamt": str(yuan(values["medfee_sumamt"])),
        "fund_pay_sumamt": str(yuan(values["fund_pay_sumamt"])),
        "setl_time": values["setl_time"].isoformat(),
    }


async def visible_settlement(
    session: AsyncSession, principal: Principal, setl_id: str
) -> SettlementOut:
    """A hospital sees its own settlements; an insurer those of its region's institutions and
    those of its insured wherever they were treated (docs/domain.md section 15)."""
    row = await repository.settlement(session, setl_id)
    visible = row is not None and (
        row.fixmedins_code == principal.institution_code
        if is_institution(principal)
        else principal.in_region(row.admdvs) or principal.in_region(row.insuplc_admdvs)
    )
    if row is None or not visible:
        raise NotFound("no such settlement", code="unknown_settlement", field="setl_id")
    return settlement_out(_columns(row))


async def visible_settlements(
    session: AsyncSession,
    principal: Principal,
    *,
    fixmedins_code: str | None,
    status: str | None,
    begin: datetime,
    end: datetime,
    cursor: str | None,
    limit: int,
) -> SettlementPage:
    """A hospital's or pharmacy's own settlements, or an insurer's: its region's institutions'
    and its insured's elsewhere (of one institution of its region if it names one)."""
    rows = await repository.settlements_page(
        session,
        admdvs=None if is_institution(principal) else principal.admdvs,
        fixmedins_code=await institution_filter(session, principal, fixmedins_code),
        status=status,
        begin=begin,
        end=end,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return SettlementPage(
        items=[settlement_out(_columns(r)) for r in rows],
        next_cursor=encode_cursor(rows[-1].setl_time, rows[-1].setl_id) if more and rows else None,
    )
