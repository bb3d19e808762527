"""3201 reconcile totals, 3202 reconcile details and 3203 apply for clearing: the national
shapes mapped onto the /v1 reconciliation and clearing services."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from claims.clearing import batches, reconciliation
from claims.clearing.schemas import ClearingApplyIn
from claims.clearing.schemas import TotalsIn as V1TotalsIn
from nhsa.envelope import Call, fields_under, parse
from nhsa.schemas import (
    ClearingApplied,
    ClearingIn,
    ClearingOut,
    DetailIn,
    DetailMismatch,
    DetailOut,
    DetailRow,
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


async def _detail_file(rows: list[DetailRow]) -> AsyncIterator[bytes]:
    """The inline rows as the detail file /v1 takes: CSV under a header of the same names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(DetailRow.model_fields)
    for row in rows:
        writer.writerow(str(value) for value in row.model_dump(mode="json").values())
    yield buffer.getvalue().encode()


async def details(call: Call, body: DetailIn) -> DetailOut:
    """3202: the HIS's settlements of the period, one by one, against the engine's."""
    data = body.data
    asked = reconciliation.ScopeRequest(
        reconciliation.Period(data.stmt_begndate, data.stmt_enddate),
        None,
        data.insutype,
        data.clr_type,
    )
    with fields_under("input.data"):
        out = await reconciliation.reconcile_details(
            call.session, call.principal, asked, _detail_file(body.detail)
        )
    differences = {kind: n for kind, n in out.counts.model_dump().items() if n}
    return DetailOut(
        stmtinfo=StmtInfo(
            setl_optins=data.setl_optins,
            stmt_rslt=out.stmt_rslt,
            stmt_rslt_dscr=", ".join(f"{kind} {n}" for kind, n in differences.items())
            or "balanced",
        ),
        recon_id=str(out.recon_id),
        mismatches=[DetailMismatch(setl_id=m.setl_id, kinds=list(m.kinds)) for m in out.mismatches],
        mismatches_truncated=out.mismatches_truncated,
    )


async def apply_for_clearing(call: Call, body: ClearingIn) -> ClearingOut:
    """3203: apply for clearing a settled month."""
    asked = parse(
        ClearingApplyIn,
        body.data.model_dump(mode="json", include={"setlym", "clr_type"}),
        prefix="input.data",
    )
    with fields_under("input.data"):
        batch = await batches.apply(call.session, call.principal, asked)
    return ClearingOut(
        data=ClearingApplied(clr_appy_evt_id=batch.clr_appy_evt_id, clr_stas=batch.clr_stas)
    )
