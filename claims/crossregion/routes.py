"""Cross-region endpoints (insurer role): filings (备案) and inter-region claims (跨区清算)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from claims.crossregion import filings, interregion, refusals
from claims.crossregion.schemas import (
    ClaimIn,
    ClaimList,
    ClaimOut,
    ClaimReconOut,
    FilingEndIn,
    FilingIn,
    FilingOut,
    FilingPage,
)
from claims.settlement import refusals as claims_refusals
from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session
from engine.idempotency import IdempotencyKey, fingerprint, run_idempotent
from engine.openapi import csv_download, documented
from engine.uploads import csv_file_body, read_csv
from engine.wire import Code, ParameterInt

router = APIRouter(prefix="/cross-region", route_class=UnitOfWorkRoute, tags=["cross-region"])
Session = Annotated[AsyncSession, Depends(get_session)]
Insurer = Annotated[Principal, require_role(Role.insurer)]


@router.post(
    "/filings",
    status_code=201,
    operation_id="create_filing",
    responses=documented(
        claims_refusals.UNKNOWN_PERSON,
        refusals.SAME_REGION,
        refusals.INVALID_PERIOD,
        refusals.OVERLAPPING_FILING,
    ),
    summary="File a person for cross-region care",
)
async def create_filing(
    body: FilingIn, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> FilingOut:
    """File a person of the insurer's region for care in another region (备案), idempotent under
    ``Idempotency-Key``."""

    async def create() -> FilingOut:
        return filings.filing_out(await filings.file(session, principal, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("filing", body.model_dump(mode="json")),
        create,
        FilingOut,
    )


@router.get(
    "/filings",
    operation_id="list_filings",
    summary="List filings of the insurer's insured or for its region",
)
async def list_filings(
    principal: Insurer,
    session: Session,
    psn_no: Annotated[Code | None, Query(description="one person only")] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[ParameterInt, Query(ge=1, le=500)] = 100,
) -> FilingPage:
    """Filings of the insurer's own insured, and filings naming its region as the treatment
    place (the filing only: nothing else of the person)."""
    return await filings.visible_filings(
        session, principal, psn_no=psn_no, cursor=cursor, limit=limit
    )


@router.get(
    "/filings/{trt_dcla_detl_sn}",
    operation_id="get_filing",
    responses=documented(refusals.UNKNOWN_FILING),
    summary="Get a filing",
)
async def get_filing(trt_dcla_detl_sn: str, principal: Insurer, session: Session) -> FilingOut:
    """A filing, to the insurer of the insured place or of the treatment place."""
    return await filings.visible_filing(session, principal, trt_dcla_detl_sn)


@router.post(
    "/filings/{trt_dcla_detl_sn}/end",
    operation_id="end_filing",
    responses=documented(refusals.UNKNOWN_FILING, refusals.FILING_REVOKED, refusals.INVALID_PERIOD),
    summary="End a filing",
)
async def end_filing(
    trt_dcla_detl_sn: str,
    body: FilingEndIn,
    principal: Insurer,
    session: Session,
    idempotency_key: IdempotencyKey,
) -> FilingOut:
    """End a filing of the insurer's insured on ``enddate``, idempotent under
    ``Idempotency-Key``."""

    async def end() -> FilingOut:
        return filings.filing_out(await filings.end(session, principal, trt_dcla_detl_sn, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"filing-end:{trt_dcla_detl_sn}", body.model_dump(mode="json")),
        end,
        FilingOut,
    )


@router.post(
    "/filings/{trt_dcla_detl_sn}/revocation",
    operation_id="revoke_filing",
    responses=documented(refusals.UNKNOWN_FILING, refusals.FILING_REVOKED),
    summary="Revoke a filing",
)
async def revoke_filing(
    trt_dcla_detl_sn: str, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> FilingOut:
    """Revoke a filing made in error, idempotent under ``Idempotency-Key``."""

    async def revoke() -> FilingOut:
        return filings.filing_out(await filings.revoke(session, principal, trt_dcla_detl_sn))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"filing-revoke:{trt_dcla_detl_sn}", {}),
        revoke,
        FilingOut,
    )


# --- inter-region claims -------------------------------------------------------------------------


@router.post(
    "/claims",
    status_code=201,
    operation_id="make_interregion_claim",
    responses=documented(
        refusals.SAME_REGION, claims_refusals.PERIOD_NOT_OVER, refusals.CLAIM_EXISTS
    ),
    summary="Make the month's inter-region claim",
)
async def make_claim(
    body: ClaimIn, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> ClaimOut:
    """The treatment place's claim on an insured place for a settled month: the fund share of
    every cross-region settlement, with revocations since the pair's earlier claims carried in;
    frozen as made. Idempotent under ``Idempotency-Key``."""

    async def make() -> ClaimOut:
        return interregion.claim_out(await interregion.make_claim(session, principal, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("interregion-claim", body.model_dump(mode="json")),
        make,
        ClaimOut,
    )


@router.get(
    "/claims",
    operation_id="list_interregion_claims",
    summary="List the inter-region claims of the insurer's region",
)
async def list_claims(principal: Insurer, session: Session) -> ClaimList:
    """The claims the insurer's region made as treatment place and those made on it."""
    return await interregion.visible_claims(session, principal)


@router.get(
    "/claims/{claim_id}",
    operation_id="get_interregion_claim",
    responses=documented(refusals.UNKNOWN_CLAIM),
    summary="Get an inter-region claim",
)
async def get_claim(claim_id: str, principal: Insurer, session: Session) -> ClaimOut:
    """A claim, to the insurer of the treatment place or of the insured place."""
    return interregion.claim_out(await interregion.visible_claim(session, principal, claim_id))


@router.get(
    "/claims/{claim_id}/lines.csv",
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
    "/claims/{claim_id}/reconciliation",
    operation_id="reconcile_interregion_claim",
    responses=documented(refusals.UNKNOWN_CLAIM, refusals.INVALID_CLAIM_FILE),
    openapi_extra=csv_file_body(
        "the claim as the insured place received it (the claim CSV); an empty body reconciles "
        "the claim as stored"
    ),
    summary="Reconcile an inter-region claim",
)
async def reconcile_claim(
    claim_id: str, request: Request, principal: Insurer, session: Session
) -> ClaimReconOut:
    """The insured place reconciles a claim on it against its own record of its insured's
    settlements at the treatment place: totals, and each line missing on either side or with
    another fund share. Only the insured place's insurer reconciles (403 for the treatment
    place's)."""
    data, _ = await read_csv(request)
    return await interregion.reconcile(session, principal, claim_id, data or None)
