"""Reconciliation (3201 totals, 3202 details) and clearing (3203) endpoints.

Hospitals and pharmacies reconcile their own settlements and apply for clearing; insurers
reconcile any institution of their region (details: or the whole region) and approve batches.
The 3202 detail file is the request body itself (``text/csv``) or a form's file part, streamed to
the database; the CSV exports stream back from the database on a session of their own, after the
request's unit of work has committed, so neither direction holds a file in memory.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import batches, interregion, reconciliation, refusals
from claims.clearing.schemas import (
    ClearingApplyIn,
    ClearingBatchOut,
    ClearingBatchPage,
    ClrType,
    DetailJobOut,
    DetailReconOut,
    InterRegionClaimIn,
    InterRegionClaimList,
    InterRegionClaimOut,
    InterRegionReconOut,
    Setlym,
    TotalsIn,
    TotalsOut,
)
from claims.settlement.door import reads as settlement
from engine.auth import Principal, Role, require_role
from engine.db import Database, UnitOfWorkRoute, get_session
from engine.idempotency import IdempotencyKey, fingerprint, run_idempotent
from engine.openapi import csv_download, documented
from engine.uploads import csv_chunks, csv_file_body, read_csv
from engine.wire import CalendarDate, Code, Insutype

router = APIRouter(tags=["reconciliation"], route_class=UnitOfWorkRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[Principal, require_role(Role.hospital, Role.pharmacy, Role.insurer)]
Institution = Annotated[Principal, require_role(Role.hospital, Role.pharmacy)]
Insurer = Annotated[Principal, require_role(Role.insurer)]
InstitutionCode = Annotated[Code | None, Query()]
CSV_FLUSH_BYTES = 64 * 1024

DETAIL_FILE_BODY = csv_file_body(
    "the institution's settlement rows, one per settlement (a revoked one with "
    "`refd_setl_flag` 1), as a `text/csv` body or the `file` part of a form",
    example="setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag\n"
    "SA7BB1CA2A6FEE8C5FF83,M2E6F9344F84C269AD56C,P7B7B9BE453A64047,211.40,58.00,100.00,0\n",
)


def _csv_response(
    request: Request,
    header: Sequence[str],
    rows: Callable[[AsyncSession], AsyncIterator[list[str]]],
    filename: str,
) -> StreamingResponse:
    """Stream CSV rows read on a session of the response's own (the request's is closed by then),
    written out every ``CSV_FLUSH_BYTES``."""
    db: Database = request.app.state.db

    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        async with db.sessionmaker() as session:
            async for cells in rows(session):
                writer.writerow(cells)
                if buffer.tell() >= CSV_FLUSH_BYTES:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- reconciliation ------------------------------------------------------------------------------


@router.post(
    "/reconciliation/totals",
    operation_id="reconcile_totals_3201",
    summary="3201 Reconcile totals",
    responses=documented(
        refusals.FIXMEDINS_CODE_REQUIRED, refusals.INVALID_PERIOD, settlement.UNKNOWN_INSTITUTION
    ),
)
async def reconcile_totals(body: TotalsIn, principal: Reader, session: Session) -> TotalsOut:
    """3201: the institution's count and sums against the engine's, balanced or not."""
    return await reconciliation.totals(session, principal, body)


async def detail_scope(
    stmt_begndate: CalendarDate,
    stmt_enddate: CalendarDate,
    fixmedins_code: InstitutionCode = None,
    insutype: Insutype | None = None,
    clr_type: ClrType | None = None,
) -> reconciliation.ScopeRequest:
    """3202's query parameters."""
    return reconciliation.ScopeRequest(
        reconciliation.Period(stmt_begndate, stmt_enddate), fixmedins_code, insutype, clr_type
    )


DetailScope = Annotated[reconciliation.ScopeRequest, Depends(detail_scope)]


@router.post(
    "/reconciliation/details",
    status_code=201,
    openapi_extra=DETAIL_FILE_BODY,
    operation_id="reconcile_details_3202",
    responses=documented(
        refusals.INVALID_DETAIL_FILE,
        refusals.INVALID_UPLOAD,
        refusals.INVALID_PERIOD,
        settlement.UNKNOWN_INSTITUTION,
    ),
    summary="3202 Reconcile details (CSV)",
)
async def reconcile_details(
    request: Request, principal: Reader, session: Session, asked: DetailScope
) -> DetailReconOut:
    """3202: upload the institution's settlement rows as CSV; every mismatch comes back."""
    return await reconciliation.reconcile_details(session, principal, asked, csv_chunks(request))


@router.post(
    "/reconciliation/detail-jobs",
    operation_id="submit_detail_reconciliation_3202",
    summary="3202 Submit a detail reconciliation job (CSV)",
    status_code=202,
    openapi_extra=DETAIL_FILE_BODY,
    responses=documented(
        refusals.INVALID_DETAIL_FILE,
        refusals.INVALID_UPLOAD,
        refusals.INVALID_PERIOD,
        settlement.UNKNOWN_INSTITUTION,
    )
    | {202: {"headers": {"Location": {"description": "the job's status URL"}}}},
)
async def submit_detail_reconciliation(
    request: Request,
    response: Response,
    principal: Reader,
    session: Session,
    idempotency_key: IdempotencyKey,
    asked: DetailScope,
) -> DetailJobOut:
    """3202 for a large file, done by a worker: the file is checked and stored, and the job
    queued; poll ``status_url``. Idempotent under ``Idempotency-Key``, which names the
    submission (a retry is answered with the first job, its file not read again)."""
    out = await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("reconciliation.submit", asked.fingerprint_fields()),
        lambda: reconciliation.submit_details(session, principal, asked, csv_chunks(request)),
        DetailJobOut,
    )
    response.headers["Location"] = out.status_url
    return out


@router.get(
    "/reconciliation/detail-jobs/{recon_id}",
    operation_id="get_detail_job",
    responses=documented(refusals.UNKNOWN_RECONCILIATION),
    summary="Get a detail reconciliation job",
)
async def get_detail_job(recon_id: uuid.UUID, principal: Reader, session: Session) -> DetailJobOut:
    """A submitted 3202: queued, running, done (with the result) or failed (with the error)."""
    return await reconciliation.visible_job(session, principal, recon_id)


@router.get(
    "/reconciliation/details/{recon_id}",
    operation_id="get_detail_reconciliation",
    responses=documented(refusals.UNKNOWN_RECONCILIATION, refusals.RECONCILIATION_NOT_DONE),
    summary="Get a detail reconciliation",
)
async def get_detail_reconciliation(
    recon_id: uuid.UUID, principal: Reader, session: Session
) -> DetailReconOut:
    """A finished 3202 detail reconciliation with its mismatches."""
    run = await reconciliation.visible_run(session, principal, recon_id)
    return await reconciliation.detail_out(session, run)


@router.get(
    "/reconciliation/details/{recon_id}/mismatches.csv",
    operation_id="download_mismatches_csv",
    response_class=StreamingResponse,
    responses=documented(refusals.UNKNOWN_RECONCILIATION, refusals.RECONCILIATION_NOT_DONE)
    | {200: csv_download("every mismatch, one row each")},
    summary="Download mismatches as CSV",
)
async def detail_mismatches_csv(
    recon_id: uuid.UUID, request: Request, principal: Reader, session: Session
) -> StreamingResponse:
    """Every mismatch of a detail reconciliation, as CSV."""
    await reconciliation.visible_run(session, principal, recon_id)
    return _csv_response(
        request,
        reconciliation.MISMATCH_CSV_HEADER,
        lambda s: reconciliation.mismatch_rows(s, recon_id),
        f"mismatches-{recon_id}.csv",
    )


# --- clearing ------------------------------------------------------------------------------------


@router.post(
    "/clearing/batches",
    status_code=201,
    operation_id="apply_for_clearing_3203",
    responses=documented(refusals.PERIOD_NOT_OVER, refusals.ALREADY_APPLIED),
    summary="3203 Apply for clearing",
)
async def apply_for_clearing(
    body: ClearingApplyIn,
    principal: Institution,
    session: Session,
    idempotency_key: IdempotencyKey,
) -> ClearingBatchOut:
    """3203: apply for a settled month, idempotent under ``Idempotency-Key``."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("clearing.apply", body.model_dump(mode="json")),
        lambda: batches.apply(session, principal, body),
        ClearingBatchOut,
    )


@router.get(
    "/clearing/batches",
    operation_id="list_clearing_batches",
    summary="List clearing batches",
    responses=documented(settlement.UNKNOWN_INSTITUTION),
)
async def list_clearing_batches(
    principal: Reader,
    session: Session,
    setlym: Annotated[Setlym | None, Query()] = None,
    clr_stas: Annotated[str | None, Query(pattern=r"^(applied|approved)$")] = None,
    fixmedins_code: InstitutionCode = None,
) -> ClearingBatchPage:
    """Clearing batches: an institution's own, an insurer's region's (or one institution's)."""
    return await batches.list_batches(
        session, principal, setlym=setlym, clr_stas=clr_stas, fixmedins_code=fixmedins_code
    )


@router.get(
    "/clearing/batches/{clr_appy_evt_id}",
    operation_id="get_clearing_batch",
    responses=documented(refusals.UNKNOWN_BATCH),
    summary="Get a clearing batch",
)
async def get_clearing_batch(
    clr_appy_evt_id: str, principal: Reader, session: Session
) -> ClearingBatchOut:
    """A clearing batch with its totals."""
    return await batches.visible_batch(session, principal, clr_appy_evt_id)


@router.post(
    "/clearing/batches/{clr_appy_evt_id}/approval",
    operation_id="approve_clearing_batch",
    responses=documented(refusals.UNKNOWN_BATCH, refusals.ALREADY_APPROVED),
    summary="Approve a clearing batch",
)
async def approve_clearing_batch(
    clr_appy_evt_id: str,
    principal: Insurer,
    session: Session,
    idempotency_key: IdempotencyKey,
) -> ClearingBatchOut:
    """The insurer approves: the batch freezes. Idempotent under ``Idempotency-Key``."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"clearing.approve:{clr_appy_evt_id}", {}),
        lambda: batches.approve(session, principal, clr_appy_evt_id),
        ClearingBatchOut,
    )


@router.get(
    "/clearing/batches/{clr_appy_evt_id}/lines.csv",
    operation_id="download_clearing_lines_csv",
    response_class=StreamingResponse,
    responses=documented(refusals.UNKNOWN_BATCH)
    | {200: csv_download("every settlement and adjustment of the batch, one row each")},
    summary="Download a batch's lines as CSV",
)
async def clearing_batch_csv(
    clr_appy_evt_id: str, request: Request, principal: Reader, session: Session
) -> StreamingResponse:
    """Every settlement and adjustment of a batch, as CSV."""
    await batches.visible_batch(session, principal, clr_appy_evt_id)
    return _csv_response(
        request,
        batches.LINE_CSV_HEADER,
        lambda s: batches.line_rows(s, clr_appy_evt_id),
        f"clearing-{clr_appy_evt_id}.csv",
    )


# --- inter-region claims (跨区清算) ---------------------------------------------------------------


@router.post(
    "/cross-region/claims",
    status_code=201,
    operation_id="make_interregion_claim",
    responses=documented(refusals.SAME_REGION, refusals.PERIOD_NOT_OVER, refusals.CLAIM_EXISTS),
    summary="Make the month's inter-region claim",
)
async def make_claim(
    body: InterRegionClaimIn, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> InterRegionClaimOut:
    """The treatment place's claim on an insured place for a settled month: the fund share of
    every cross-region settlement, with revocations since the pair's earlier claims carried in;
    frozen as made. Idempotent under ``Idempotency-Key``."""

    async def make() -> InterRegionClaimOut:
        return interregion.claim_out(await interregion.make_claim(session, principal, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("interregion-claim", body.model_dump(mode="json")),
        make,
        InterRegionClaimOut,
    )


@router.get(
    "/cross-region/claims",
    operation_id="list_interregion_claims",
    summary="List the inter-region claims of the insurer's region",
)
async def list_claims(principal: Insurer, session: Session) -> InterRegionClaimList:
    """The claims the insurer's region made as treatment place and those made on it."""
    return await interregion.visible_claims(session, principal)


@router.get(
    "/cross-region/claims/{claim_id}",
    operation_id="get_interregion_claim",
    responses=documented(refusals.UNKNOWN_CLAIM),
    summary="Get an inter-region claim",
)
async def get_claim(claim_id: str, principal: Insurer, session: Session) -> InterRegionClaimOut:
    """A claim, to the insurer of the treatment place or of the insured place."""
    return interregion.claim_out(await interregion.visible_claim(session, principal, claim_id))


@router.get(
    "/cross-region/claims/{claim_id}/lines.csv",
    operation_id="download_interregion_claim_csv",
    response_class=Response,
    responses=documented(refusals.UNKNOWN_CLAIM)
    | {200: csv_download("every settlement and adjustment of the claim, one row each")},
    summary="Download a claim's lines as CSV",
)
async def claim_csv(claim_id: str, principal: Insurer, session: Session) -> Response:
    """Every settlement and adjustment of a claim, as CSV: the file the treatment place sends
    and the insured place reconciles."""
    await interregion.visible_claim(session, principal, claim_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(interregion.LINE_CSV_HEADER)
    async for cells in interregion.line_rows(session, claim_id):
        writer.writerow(cells)
    return Response(
        buffer.getvalue().encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="claim-{claim_id}.csv"'},
    )


@router.post(
    "/cross-region/claims/{claim_id}/reconciliation",
    operation_id="reconcile_interregion_claim",
    responses=documented(
        refusals.UNKNOWN_CLAIM, refusals.INVALID_CLAIM_FILE, refusals.INVALID_UPLOAD
    ),
    openapi_extra=csv_file_body(
        "the claim as the insured place received it (the claim CSV); an empty body reconciles "
        "the claim as stored"
    ),
    summary="Reconcile an inter-region claim",
)
async def reconcile_claim(
    claim_id: str, request: Request, principal: Insurer, session: Session
) -> InterRegionReconOut:
    """The insured place reconciles a claim on it against its own record of its insured's
    settlements at the treatment place: totals, and each line missing on either side or with
    another fund share. Only the insured place's insurer reconciles (403 for the treatment
    place's)."""
    data, _ = await read_csv(request)
    return await interregion.reconcile(session, principal, claim_id, data or None)
