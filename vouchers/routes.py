"""Voucher endpoints (insurer): the region's signing keys and the preparation of tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session, utcnow
from engine.idempotency import IdempotencyKey, fingerprint, run_idempotent
from engine.openapi import documented
from vouchers import refusals, service, tokens
from vouchers.models import VoucherKey
from vouchers.schemas import TokenDraftOut, TokenIn, VoucherKeyIn, VoucherKeyList, VoucherKeyOut

router = APIRouter(prefix="/vouchers", tags=["vouchers"], route_class=UnitOfWorkRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Insurer = Annotated[Principal, require_role(Role.insurer)]


def clock() -> datetime:
    """The time the endpoints act at (overridden in tests)."""
    return utcnow()


Now = Annotated[datetime, Depends(clock)]


def _region(principal: Principal) -> str:
    assert principal.admdvs is not None  # an insurer's key is bound to its region
    return principal.admdvs


def _key_out(row: VoucherKey) -> VoucherKeyOut:
    return VoucherKeyOut.model_validate(row, from_attributes=True)


@router.post(
    "/keys",
    status_code=201,
    operation_id="register_voucher_key",
    summary="Register a voucher signing key",
    responses=documented(refusals.INVALID_PUBLIC_KEY, refusals.VOUCHER_KEY_EXISTS),
)
async def register_key(
    body: VoucherKeyIn, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> VoucherKeyOut:
    """Register a public key (SM2 or Ed25519) the insurer signs its own region's tokens with,
    idempotent under ``Idempotency-Key``."""

    async def register() -> VoucherKeyOut:
        row = await service.register_key(
            session,
            principal,
            admdvs=_region(principal),
            key_scheme=body.key_scheme,
            public_key=body.public_key,
        )
        return _key_out(row)

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("voucher-key", body.model_dump(mode="json")),
        register,
        VoucherKeyOut,
    )


@router.post(
    "/keys/{key_id}/retirement",
    operation_id="retire_voucher_key",
    summary="Retire a voucher signing key",
    responses=documented(refusals.VOUCHER_KEY_NOT_FOUND, refusals.VOUCHER_KEY_RETIRED),
)
async def retire_key(
    key_id: str, principal: Insurer, session: Session, now: Now, idempotency_key: IdempotencyKey
) -> VoucherKeyOut:
    """Retire one of the caller's region's keys, idempotent under ``Idempotency-Key``: from now
    on it prepares no token and verifies none, a token signed before included (refused
    `voucher_unknown_issuer`). Retire a key whose private half may be exposed at once; to rotate,
    register the next key, sign with it, and retire the old one once its last tokens have
    expired (minutes)."""

    async def retire() -> VoucherKeyOut:
        row = await service.retire_key(
            session, principal, admdvs=_region(principal), key_id=key_id, now=now
        )
        return _key_out(row)

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"voucher-key-retire:{key_id}", {}),
        retire,
        VoucherKeyOut,
    )


@router.get("/keys", operation_id="list_voucher_keys", summary="The region's voucher keys")
async def list_keys(principal: Insurer, session: Session) -> VoucherKeyList:
    """The voucher keys registered for the caller's region, retired ones with `retired_at`."""
    rows = await service.region_keys(session, _region(principal))
    return VoucherKeyList(items=[_key_out(row) for row in rows])


@router.post(
    "/tokens",
    status_code=201,
    operation_id="prepare_voucher_token",
    summary="Prepare a voucher token",
    responses=documented(refusals.UNKNOWN_VOUCHER_KEY, refusals.UNKNOWN_PERSON),
)
async def prepare_token(
    body: TokenIn, principal: Insurer, session: Session, now: Now
) -> TokenDraftOut:
    """A new token for a person insured in the caller's region, to sign with the key named: the
    engine holds no private key, so the insurer appends ``"." + base64url(signature)`` of the
    payload bytes to make the token. Tokens live three minutes and are used once."""
    payload = await service.prepare(
        session,
        principal,
        admdvs=_region(principal),
        psn_no=body.psn_no,
        key_id=body.key_id,
        now=now,
    )
    return TokenDraftOut(
        token_id=payload.token_id,
        insuplc_admdvs=payload.insuplc_admdvs,
        key_id=payload.key_id,
        psn_no=payload.psn_no,
        issued_at=datetime.fromtimestamp(payload.iat, UTC),
        expires_at=datetime.fromtimestamp(payload.exp, UTC),
        payload=tokens.segment(tokens.payload_bytes(payload)),
    )
