"""Cross-region endpoints (insurer role): filings (备案)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from claims import refusals as claims_refusals
from claims.crossregion import filings, refusals
from claims.crossregion.schemas import FilingEndIn, FilingIn, FilingOut, FilingPage
from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session
from engine.idempotency import IdempotencyKey, fingerprint, run_idempotent
from engine.openapi import documented
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
