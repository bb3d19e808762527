"""Voucher keys, issuance and redemption (docs/domain.md section 16, docs/vouchers.md).

The issuing fund agency keeps its private key: the engine stores only public keys, so the engine
that verifies tokens cannot make one. Issuance through the API therefore *prepares* the token
(checks the person, assigns the id and lifetime, answers the payload to sign); the insurer signs
it and appends the signature. ``sanyi voucher issue`` does both where the key file is.

Redemption checks, in order: the token's shape, the issuer's key (registered for the token's
issuing region under its key id, and not retired), the signature, the lifetime, that the person
is insured in the issuing region, and single use (a row per redeemed token, written in the
transaction of the use). Each failure has one code; a token naming an unknown person is refused
exactly like an altered one, so a token tells nothing about who exists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.door import reads as settlement
from engine import audit, signatures
from engine.auth import Principal
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.signatures import PrivateKey, SignatureScheme
from vouchers import repository, tokens
from vouchers.models import RedeemedVoucher, VoucherKey
from vouchers.tokens import Payload

#: How long an issued token lives: minutes, as the national voucher's QR code.
LIFETIME: Final = timedelta(minutes=3)
#: The longest lifetime a token may claim; a longer one is not a voucher of this engine's.
MAX_LIFETIME: Final = timedelta(minutes=5)
#: How far an issuer's clock may run ahead of the engine's.
CLOCK_SKEW: Final = timedelta(seconds=60)

FIELD: Final = "mdtrt_cert_no"


class VoucherRefused(InvalidRequest):
    """A token the engine will not accept (``code`` says why; docs/vouchers.md)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, code=code, field=FIELD)


class VoucherReused(VoucherRefused):
    status = 409

    def __init__(self) -> None:
        super().__init__("the voucher token was used before", "voucher_reused")


def _invalid() -> VoucherRefused:
    return VoucherRefused("the voucher token does not verify", "voucher_invalid")


@dataclass(frozen=True, slots=True)
class Holder:
    """The person a redeemed token names, and the region that vouched for them."""

    psn_no: str
    insuplc_admdvs: str
    token_id: str


async def _insured_in(session: AsyncSession, psn_no: str, admdvs: str) -> bool:
    """Whether ``psn_no`` is insured in ``admdvs``: all a voucher's issuer vouches for."""
    return psn_no in await settlement.insured_in(session, [psn_no], admdvs)


# --- keys ----------------------------------------------------------------------------------------


def key_id(public_key: bytes) -> str:
    """The name of a public key in tokens: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _raw_public_key(scheme: SignatureScheme, public_key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        signatures.check_public_key(scheme, raw)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"public_key must be a {scheme.value} public key in base64 (docs/signatures.md)",
            code="invalid_public_key",
            field="public_key",
        ) from None
    return raw


async def register_key(
    session: AsyncSession,
    actor: Principal | None,
    *,
    admdvs: str,
    key_scheme: SignatureScheme,
    public_key: str,
) -> VoucherKey:
    """Register a public key the insurer of ``admdvs`` signs that region's tokens with."""
    raw = _raw_public_key(key_scheme, public_key)
    row = VoucherKey(
        admdvs=admdvs,
        key_id=key_id(raw),
        key_scheme=key_scheme.value,
        public_key=base64.b64encode(raw).decode("ascii"),
        created_at=utcnow(),
    )
    if not await repository.add_key(session, row):
        raise Conflict(
            "this key is already registered for the region",
            code="voucher_key_exists",
            field="public_key",
        )
    await audit.record(
        session,
        actor=actor,
        action="voucher_key.registered",
        object_type="voucher_key",
        object_id=f"{admdvs}:{row.key_id}",
        payload={"admdvs": admdvs, "key_id": row.key_id, "key_scheme": row.key_scheme},
        new_stream=True,
    )
    return row


async def retire_key(
    session: AsyncSession, actor: Principal | None, *, admdvs: str, key_id: str, now: datetime
) -> VoucherKey:
    """Retire the region's key ``key_id``: from now on it prepares no token and verifies none,
    even one signed before (a token lives minutes, so an insurer rotating keys registers the next
    one and signs with it a few minutes before retiring the old). Under the key's row lock, so
    two retirements at once retire it once."""
    row = await repository.key(session, admdvs, key_id, lock=True)
    if row is None:
        raise NotFound(
            "no voucher key of the region has this key id",
            code="unknown_voucher_key",
            field="key_id",
        )
    if row.retired_at is not None:
        raise Conflict("the voucher key is retired", code="voucher_key_retired", field="key_id")
    row.retired_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="voucher_key.retired",
        object_type="voucher_key",
        object_id=f"{admdvs}:{key_id}",
        payload={"admdvs": admdvs, "key_id": key_id, "retired_at": now.isoformat()},
    )
    return row


async def region_keys(session: AsyncSession, admdvs: str) -> list[VoucherKey]:
    return await repository.keys(session, admdvs)


async def _key_in_force(session: AsyncSession, admdvs: str, key_id: str) -> VoucherKey | None:
    """The region's key ``key_id`` unless it is retired."""
    row = await repository.key(session, admdvs, key_id)
    return None if row is None or row.retired_at is not None else row


# --- issuance ------------------------------------------------------------------------------------


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


async def prepare(
    session: AsyncSession,
    actor: Principal | None,
    *,
    admdvs: str,
    psn_no: str,
    key_id: str,
    now: datetime,
) -> Payload:
    """The payload of a new token for ``psn_no``, insured in ``admdvs``, to be signed with the
    region's key ``key_id``. A person of another region is as unknown as one nobody enrolled
    (checked first, so the answer is the same whatever the key)."""
    if not await _insured_in(session, psn_no, admdvs):
        raise NotFound("no such insured person", code="unknown_person", field="psn_no")
    if await _key_in_force(session, admdvs, key_id) is None:
        raise InvalidRequest(
            "no voucher key in force of the region has this key id",
            code="unknown_voucher_key",
            field="key_id",
        )
    issued = _seconds(now)
    payload = Payload(
        insuplc_admdvs=admdvs,
        key_id=key_id,
        psn_no=psn_no,
        token_id=secrets.token_hex(16),
        iat=issued,
        exp=issued + int(LIFETIME.total_seconds()),
    )
    await audit.record(
        session,
        actor=actor,
        action="voucher.issued",
        object_type="voucher",
        object_id=payload.token_id,
        payload={"admdvs": admdvs, "key_id": key_id, "psn_no": psn_no, "exp": payload.exp},
        new_stream=True,
    )
    return payload


def sign(payload: Payload, private_key: PrivateKey) -> str:
    """The compact token: ``payload`` signed with the issuer's private key."""
    signed = tokens.payload_bytes(payload)
    return tokens.compact(signed, signatures.sign(private_key, signed))


async def issue(
    session: AsyncSession,
    actor: Principal | None,
    *,
    admdvs: str,
    psn_no: str,
    private_key: PrivateKey,
    now: datetime,
) -> tuple[Payload, str]:
    """Prepare and sign a token in one go, where the issuer's private key is at hand."""
    public = signatures.public_key_bytes(private_key)
    payload = await prepare(
        session, actor, admdvs=admdvs, psn_no=psn_no, key_id=key_id(public), now=now
    )
    return payload, sign(payload, private_key)


# --- redemption ----------------------------------------------------------------------------------


async def redeem(
    session: AsyncSession, token: str, *, used_for: str, used_by: str, now: datetime
) -> Holder:
    """Verify ``token`` and use it up, in the caller's transaction (module docstring)."""
    try:
        payload, signed, signature = tokens.parse(token)
    except tokens.Malformed:
        raise _invalid() from None
    issuer = await _key_in_force(session, payload.insuplc_admdvs, payload.key_id)
    if issuer is None:
        raise VoucherRefused(
            "no voucher key in force of the issuing region has the token's key id",
            "voucher_unknown_issuer",
        )
    try:
        signatures.verify(
            SignatureScheme(issuer.key_scheme),
            base64.b64decode(issuer.public_key),
            signed,
            signature,
        )
    except signatures.SignatureFailed:
        raise _invalid() from None
    lifetime = timedelta(seconds=payload.exp - payload.iat)
    issued = datetime.fromtimestamp(payload.iat, UTC)
    if not timedelta(0) < lifetime <= MAX_LIFETIME or issued > now + CLOCK_SKEW:
        raise _invalid()
    if _seconds(now) >= payload.exp:
        raise VoucherRefused("the voucher token has expired", "voucher_expired")
    if not await _insured_in(session, payload.psn_no, payload.insuplc_admdvs):
        raise _invalid()
    used = RedeemedVoucher(
        token_id=payload.token_id,
        insuplc_admdvs=payload.insuplc_admdvs,
        psn_no=payload.psn_no,
        used_for=used_for,
        used_by=used_by,
        used_at=now,
    )
    if not await repository.mark_redeemed(session, used):
        raise VoucherReused()
    return Holder(payload.psn_no, payload.insuplc_admdvs, payload.token_id)
