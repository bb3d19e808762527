"""Clearing (清算 3203), docs/domain.md section 10: apply, approve and freeze a settled month.

An institution applies for a month (``setlym``, calendar month in China Standard Time, over) and
a ``clr_type``; the insurer of its region approves, and approval freezes the batch in the same
transaction:

1. every settlement of the institution, ``clr_type`` and month that is live at that moment is
   copied into the batch (``clearing_line``), with every amount and how its pooled-fund share is
   paid (``hifp_route``, read from the funding entries settlement wrote: item by item, the
   holder's bundle, or DIP points);
2. every settlement of an *earlier approved* batch of the same institution and ``clr_type`` that
   has been revoked since, and not carried yet, is carried in as an adjustment, every amount
   negated. A frozen batch therefore never changes: a revocation after the freeze lands in the
   next batch approved after it;
3. the per-fund figures are computed from those lines only and stored (``clearing_fund_line``).

Per fund (the settlement columns ``hifp_pay`` ... ``oth_pay`` and the personal account
``acct_pay``): claimed (the month's settlements) + adjustment (revocations carried in), then for
the basic pooled fund only, since budgets, DIP and bundles are budgets of that fund
(``claims.funding.budgets``):

* ``bundle_deduction``: members' care paid out of the holder's per-capita bundle, not item by item
  (docs/domain.md section 8; the holder is paid by capitation, ``claims.funding.bundles``);
* ``dip_deduction``: DIP cases, paid by points (section 7, ``claims.funding.dip``);
* for an institution with a global budget that year, the budget's figures come from the one
  record of the month's budget payment, the funding ledger's prepayment entry
  (``claims.funding.door.budget_month``): approval makes that prepayment first if the month has
  not been run (the same step as the month run, once, under the budget's row lock), then takes the
  batch's ``clr_type`` part of it (the month's gross is shared among clr_types when it is made,
  ``claims.funding.budgets.apportion``). ``budget_withheld`` = the part's withholding and
  ``budget_deferred`` = the batch's item-by-item share A − the part's gross, so the pooled fund
  pays exactly the part's prepaid amount. ``deferred`` is the budget's monthly cap at work plus
  whatever differs between what the run saw and what the batch froze (settlements and revocations
  after the run, revocations carried in); it is negative when the run prepaid more than the batch
  froze, and the year-end clearing, which counts every case entry of the year against every
  prepayment, settles it either way.

payable = claimed + adjustment − the deductions; negative when revocations outweigh the month.
Apply and approve are idempotent under ``Idempotency-Key``, audited, and approval emits
``clearing.approved.<fixmedins_code>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import repository as repo
from claims.clearing.models import FUNDS, ClearingBatch, ClearingFundLine
from claims.clearing.repository import LineSums
from claims.clearing.schemas import ClearingApplyIn, ClearingBatchOut, ClearingBatchPage
from claims.funding import door as funding
from claims.settlement.door.reads import institution_filter, is_institution
from engine import audit, outbox
from engine.auth import Principal
from engine.clock import CST, month_bounds
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.ids import new_id
from engine.money import amount_text, from_fen, to_fen, yuan

POOLED = "hifp_pay"


def month_of(setlym: str) -> tuple[int, int]:
    """(year, month) of a clearing month ``YYYYMM``."""
    return int(setlym[:4]), int(setlym[4:])


def require_month_over(setlym: str) -> None:
    """Only a settled month is cleared: while it runs, settlements still arrive."""
    if utcnow() < month_bounds(*month_of(setlym))[1]:
        raise InvalidRequest(f"{setlym} is not over yet", code="period_not_over", field="setlym")


# --- the statement (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundFigures:
    """Fen figures of one fund line (``ClearingFundLine``)."""

    fund: str
    claimed: int
    adjustment: int
    bundle_deduction: int = 0
    dip_deduction: int = 0
    budget_withheld: int = 0
    budget_deferred: int = 0

    @property
    def payable(self) -> int:
        return (
            self.claimed
            + self.adjustment
            - self.bundle_deduction
            - self.dip_deduction
            - self.budget_withheld
            - self.budget_deferred
        )


@dataclass(frozen=True, slots=True)
class Statement:
    funds: list[FundFigures]
    totals: dict[str, int]
    budget: dict[str, str] | None


def _sum(sums: Sequence[LineSums], column: str, **where: str) -> int:
    return sum(s.amounts[column] for s in sums if all(getattr(s, k) == v for k, v in where.items()))


def statement(sums: Sequence[LineSums], budget: funding.BudgetMonth | None) -> Statement:
    """A frozen batch's figures from its summed lines (module docstring)."""
    funds = [
        FundFigures(
            fund,
            claimed=_sum(sums, fund, kind="settlement"),
            adjustment=_sum(sums, fund, kind="adjustment"),
        )
        for fund in FUNDS
        if fund != POOLED
    ]
    pooled = FundFigures(
        POOLED,
        claimed=_sum(sums, POOLED, kind="settlement"),
        adjustment=_sum(sums, POOLED, kind="adjustment"),
        bundle_deduction=_sum(sums, POOLED, hifp_route="bundle"),
        dip_deduction=_sum(sums, POOLED, hifp_route="points"),
    )
    basis = None
    if budget is not None:
        share, part = from_fen(pooled.payable), budget.part
        deferred = share - part.gross
        pooled = replace(
            pooled, budget_withheld=to_fen(part.withheld), budget_deferred=to_fen(deferred)
        )
        figures = {
            "budget_amt": budget.budget_amt,
            "monthly_cap": budget.monthly_cap,
            "fund_share": share,
            "gross": part.gross,
            "prepaid": part.prepaid,
            "withheld": part.withheld,
            "deferred": deferred,
            "run_fund_share": part.fund_share,
            "deferred_at_run": part.fund_share - part.gross,
            "since_run": share - part.fund_share,
            "month_fund_share": budget.month.fund_share,
            "month_gross": budget.month.gross,
            "month_prepaid": budget.month.prepaid,
            "month_withheld": budget.month.withheld,
        }
        basis = {name: amount_text(amount) for name, amount in figures.items()}
        basis["withhold_ratio"] = format(budget.withhold_ratio, "f")
    lines = [pooled, *funds]
    totals = {
        "psntime": sum(s.count for s in sums if s.kind == "settlement"),
        "adjustment_cnt": sum(s.count for s in sums if s.kind == "adjustment"),
        "medfee_sumamt": _sum(sums, "medfee_sumamt"),
        "fund_appy_sum": _sum(sums, "fund_pay_sumamt"),
        "acct_pay": _sum(sums, "acct_pay"),
        "cash_payamt": _sum(sums, "psn_cash_pay"),
        "payable_sumamt": sum(line.payable for line in lines),
    }
    return Statement(lines, totals, basis)


# --- service -------------------------------------------------------------------------------------


async def apply(
    session: AsyncSession, principal: Principal, body: ClearingApplyIn
) -> ClearingBatchOut:
    """3203: the institution applies for a settled month; one application per month and
    clr_type."""
    code, admdvs = principal.institution_code, principal.admdvs
    assert code is not None and admdvs is not None  # institutions have both
    require_month_over(body.setlym)
    clr_appy_evt_id = new_id("C")
    applied = await repo.insert_batch(
        session,
        {
            "clr_appy_evt_id": clr_appy_evt_id,
            "fixmedins_code": code,
            "admdvs": admdvs,
            "clr_type": body.clr_type,
            "setlym": body.setlym,
            "clr_stas": "applied",
            "applied_by": principal.org_id,
            "applied_at": utcnow(),
        },
    )
    if not applied:
        raise Conflict(
            f"{code} has already applied for {body.setlym}, clr_type {body.clr_type}",
            code="already_applied",
            field="setlym",
        )
    await audit.record(
        session,
        actor=principal,
        action="clearing.applied",
        object_type="clearing_batch",
        object_id=clr_appy_evt_id,
        payload=body.model_dump(mode="json"),
        new_stream=True,
    )
    row = await repo.batch(session, clr_appy_evt_id)
    assert row is not None
    return await batch_out(session, row)


def _visible(principal: Principal, row: ClearingBatch) -> bool:
    if is_institution(principal):
        return row.fixmedins_code == principal.institution_code
    return principal.in_region(row.admdvs)


async def _visible_batch(
    session: AsyncSession, principal: Principal, clr_appy_evt_id: str, *, lock: bool = False
) -> ClearingBatch:
    row = await repo.batch(session, clr_appy_evt_id, lock=lock)
    if row is None or not _visible(principal, row):
        raise NotFound("no such clearing batch", code="unknown_batch", field="clr_appy_evt_id")
    return row


async def approve(
    session: AsyncSession, principal: Principal, clr_appy_evt_id: str
) -> ClearingBatchOut:
    """The insurer approves: the batch freezes (module docstring), under the batch's row lock."""
    row = await _visible_batch(session, principal, clr_appy_evt_id, lock=True)
    if row.clr_stas == "approved":
        raise Conflict("the batch is already approved", code="already_approved")
    await repo.freeze_settlements(session, row, *month_bounds(*month_of(row.setlym)))
    await repo.carry_adjustments(session, row)
    result = statement(
        await repo.line_sums(session, row.clr_appy_evt_id),
        await funding.budget_month(
            session, principal, row.fixmedins_code, *month_of(row.setlym), row.clr_type
        ),
    )
    session.add_all(
        ClearingFundLine(
            clr_appy_evt_id=row.clr_appy_evt_id,
            fund=line.fund,
            claimed=line.claimed,
            adjustment=line.adjustment,
            bundle_deduction=line.bundle_deduction,
            dip_deduction=line.dip_deduction,
            budget_withheld=line.budget_withheld,
            budget_deferred=line.budget_deferred,
            payable=line.payable,
        )
        for line in result.funds
    )
    for name, value in result.totals.items():
        setattr(row, name, value)
    row.budget = result.budget
    row.clr_stas, row.approved_by, row.approved_at = "approved", principal.org_id, utcnow()
    await session.flush()
    out = await batch_out(session, row)
    payload = out.model_dump(mode="json")
    await audit.record(
        session,
        actor=principal,
        action="clearing.approved",
        object_type="clearing_batch",
        object_id=row.clr_appy_evt_id,
        payload=payload,
    )
    outbox.emit(session, "clearing.approved", row.fixmedins_code, payload)
    return out


async def batch_out(session: AsyncSession, row: ClearingBatch) -> ClearingBatchOut:
    lines = await repo.fund_lines(session, row.clr_appy_evt_id)

    def amount(fen: int | None) -> Any:
        return None if fen is None else yuan(fen)

    return ClearingBatchOut.model_validate(
        {
            "clr_appy_evt_id": row.clr_appy_evt_id,
            "fixmedins_code": row.fixmedins_code,
            "admdvs": row.admdvs,
            "clr_type": row.clr_type,
            "setlym": row.setlym,
            "clr_stas": row.clr_stas,
            "applied_at": row.applied_at,
            "approved_at": row.approved_at,
            "psntime": row.psntime,
            "adjustment_cnt": row.adjustment_cnt,
            **{
                name: amount(getattr(row, name))
                for name in (
                    "medfee_sumamt",
                    "fund_appy_sum",
                    "acct_pay",
                    "cash_payamt",
                    "payable_sumamt",
                )
            },
            "funds": [
                {
                    "fund": line.fund,
                    **{
                        name: yuan(getattr(line, name))
                        for name in (
                            "claimed",
                            "adjustment",
                            "bundle_deduction",
                            "dip_deduction",
                            "budget_withheld",
                            "budget_deferred",
                            "payable",
                        )
                    },
                }
                for line in lines
            ],
            "budget": row.budget,
        }
    )


async def visible_batch(
    session: AsyncSession, principal: Principal, clr_appy_evt_id: str
) -> ClearingBatchOut:
    return await batch_out(session, await _visible_batch(session, principal, clr_appy_evt_id))


async def list_batches(
    session: AsyncSession,
    principal: Principal,
    *,
    setlym: str | None,
    clr_stas: str | None,
    fixmedins_code: str | None,
) -> ClearingBatchPage:
    """An institution's own batches, or every batch of an insurer's region (of one institution
    if it names one; one it may not see is answered as an unknown one)."""
    fixmedins_code = await institution_filter(session, principal, fixmedins_code)
    assert principal.admdvs is not None
    rows = await repo.batches(
        session,
        admdvs=principal.admdvs,
        fixmedins_code=fixmedins_code,
        setlym=setlym,
        clr_stas=clr_stas,
    )
    return ClearingBatchPage(items=[await batch_out(session, row) for row in rows])


LINE_CSV_HEADER = (
    "clr_appy_evt_id",
    "kind",
    "setl_id",
    "carried_from",
    "mdtrt_id",
    "psn_no",
    "insutype",
    "clr_way",
    "hifp_route",
    "setl_time",
    "revoked_at",
    "medfee_sumamt",
    "fund_pay_sumamt",
    "psn_cash_pay",
    *FUNDS,
)


def csv_cells(line: object, header: Sequence[str]) -> list[str]:
    """A clearing line's cells under ``header``, as the exports write them: fen as yuan with two
    decimals, timestamps in China Standard Time, nothing for an empty column."""
    cells: list[str] = []
    for name in header:
        value = getattr(line, name)
        if value is None:
            cells.append("")
        elif isinstance(value, datetime):
            cells.append(value.astimezone(CST).isoformat())
        elif isinstance(value, int):
            cells.append(f"{yuan(value):.2f}")
        else:
            cells.append(str(value))
    return cells


async def line_rows(session: AsyncSession, clr_appy_evt_id: str) -> AsyncIterator[list[str]]:
    """Every line of a batch (settlements, then adjustments) as CSV cells (``LINE_CSV_HEADER``),
    amounts in yuan, times in China Standard Time."""
    async for line in repo.stream_lines(session, clr_appy_evt_id):
        yield csv_cells(line, LINE_CSV_HEADER)
