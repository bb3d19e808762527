"""3201 reconcile totals and 3203 apply for clearing: the national shapes mapped onto the /v1
reconciliation and clearing services."""

from __future__ import annotations

from claims import clearing, reconciliation
from claims.recon_schemas import ClearingApplyIn
from claims.recon_schemas import TotalsIn as V1TotalsIn
from nhsa.envelope import Call, fields_under, parse
from nhsa.schemas import (
    ClearingApplied,
    ClearingIn,
    ClearingOut,
    StmtInfo,
    TotalsIn,
    TotalsOut,
)


async def totals(call: Call, body: TotalsIn) -> TotalsOut:
    """3201: the institution's count and sums for a period against the engine's."""
    data = body.data
    asked = parse(
        V1TotalsIn,
        data.model_dump(mode="json", exclude={"setl_optins", "cash_payamt"}),
        prefix="input.data",
    )
    with fields_under("input.data"):
        out = await reconciliation.totals(call.session, call.principal, asked)
    return TotalsOut(
        stmtinfo=StmtInfo(
            setl_optins=data.setl_optins,
            stmt_rslt=out.stmt_rslt,
            stmt_rslt_dscr=out.stmt_rslt_dscr,
        )
    )


async def apply_for_clearing(call: Call, body: ClearingIn) -> ClearingOut:
    """3203: apply for clearing a settled month."""
    asked = parse(
        ClearingApplyIn,
        body.data.model_dump(mode="json", include={"setlym", "clr_type"}),
        prefix="input.data",
    )
    with fields_under("input.data"):
        batch = await clearing.apply(call.session, call.principal, asked)
    return ClearingOut(
        data=ClearingApplied(clr_appy_evt_id=batch.clr_appy_evt_id, clr_stas=batch.clr_stas)
    )
