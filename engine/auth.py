"""Organisations, API keys and the authenticated principal.

Every request carries ``Authorization: Bearer <key>``. A key belongs to one organisation, and the
organisation has one role (domain.md section 1): a hospital acts only for its own institution code,
a pharmacy only for its own, an insurer only for its pooling region. Keys are shown once and stored
as a keyed hash (HMAC-SHA256 with ``SANYI_SECRET_KEY``), so a database leak does not leak keys.

Each API process trusts a verified key for ``SANYI_KEY_CACHE_SECONDS`` (5 by default) before
reading it again, so a revoked key stops working on every process within that bound. The key's
``last_used_at`` is written on such a read only when it is more than :data:`LAST_USED_GRANULARITY`
old: at most one write per key per minute, however busy the key.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import CheckConstraint, ForeignKey, String, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthenticated
from engine.settings import get_settings

KEY_PREFIX = "sk"
LAST_USED_GRANULARITY = timedelta(minutes=1)


class Role(enum.StrEnum):
    hospital = "hospital"
    pharmacy = "pharmacy"
    insurer = "insurer"
    admin = "admin"


class Organisation(UuidPrimaryKey, Base):
    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint("role IN ('hospital','pharmacy','insurer','admin')", name="role"),
    )

    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # fixmedins_code for hospitals and pharmacies; unique across the country.
    institution_code: Mapped[str | None] = mapped_column(String(30), unique=True)
    # admdvs: the pooling region the organisation belongs to (insurers: the region they run).
    admdvs: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(UuidPrimaryKey, Base):
    __tablename__ = "api_key"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # To the minute (LAST_USED_GRANULARITY): when a request last authenticated with the key.
    last_used_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the organisation behind the key, with what it may act for."""

    org_id: uuid.UUID
    key_id: str
    role: Role
    institution_code: str | None
    admdvs: str | None
    #: The CLI or a worker on the server: it already holds the database credentials, so no
    #: region binds it. No API key ever yields such a principal.
    on_server: bool = False

    def require_institution(self, code: str, *, field: str = "fixmedins_code") -> None:
        """A hospital or pharmacy may act only for its own institution code."""
        if self.institution_code != code:
            raise Forbidden("this key may not act for that institution", field=field)

    def in_region(self, admdvs: str | None) -> bool:
        """Whether the caller may see and act on things of pooling region ``admdvs``: its own
        region only. The operator's keys manage organisations and keys, not a region's insurance
        work, so an ``admin`` key is in no region; only the server itself is in every one."""
        return self.on_server or (
            self.role is not Role.admin and admdvs is not None and self.admdvs == admdvs
        )

    def require_region(self, admdvs: str, *, field: str = "admdvs") -> None:
        """Refuse work in a region the caller is not bound to. The refusal names the region the
        caller asked for, never an object, so it tells nothing about what exists there."""
        if not self.in_region(admdvs):
            raise Forbidden("this key may not act for that pooling region", field=field)


# Whoever runs the ``sanyi`` CLI on a server already holds the database credentials: CLI actions
# act as the operator on the server (any region), and the audit log records them under this
# all-zero org id.
CLI_OPERATOR = Principal(
    org_id=uuid.UUID(int=0),
    key_id="cli",
    role=Role.admin,
    institution_code=None,
    admdvs=None,
    on_server=True,
)


def cli_insurer(admdvs: str) -> Principal:
    """The operator doing by hand what a region's insurer does (reconcile, approve clearing),
    with the insurer's scope: that region only. Its org id, under which the audit log and
    ``requested_by`` record it, is derived from the region, so that what the CLI asked in one
    region is not its own in another."""
    return Principal(
        org_id=uuid.uuid5(CLI_OPERATOR.org_id, admdvs),
        key_id=CLI_OPERATOR.key_id,
        role=Role.insurer,
        institution_code=None,
        admdvs=admdvs,
    )


def _hash_key(token: str) -> str:
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


VALID_ROLE_FIELDS: dict[Role, tuple[bool, bool]] = {
    # role: (needs institution_code, needs admdvs)
    Role.hospital: (True, True),
    Role.pharmacy: (True, True),
    Role.insurer: (False, True),
    Role.admin: (False, False),
}


async def create_organisation(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    institution_code: str | None = None,
    admdvs: str | None = None,
) -> Organisation:
    needs_code, needs_region = VALID_ROLE_FIELDS[role]
    if needs_code and not institution_code:
        raise InvalidRequest(f"a {role} needs an institution code", field="institution_code")
    if needs_region and not (admdvs and len(admdvs) == 6 and admdvs.isdigit()):
        raise InvalidRequest("admdvs must be a six-digit region code", field="admdvs")
    if institution_code:
        taken = await session.scalar(
            select(Organisation.id).where(Organisation.institution_code == institution_code)
        )
        if taken:
            raise InvalidRequest(
                "institution code already registered", code="duplicate", field="institution_code"
            )
    org = Organisation(name=name, role=role.value, institution_code=institution_code, admdvs=admdvs)
    session.add(org)
    await session.flush()
    return org


async def create_api_key(
    session: AsyncSession, org: Organisation, *, label: str | None = None
) -> str:
    """Create a key and return its token; the token is never stored and cannot be shown again."""
    key_id = secrets.token_hex(6)
    token = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(org_id=org.id, key_id=key_id, key_hash=_hash_key(token), label=label))
    await session.flush()
    return token


async def find_organisation(session: AsyncSession, ref: str) -> Organisation | None:
    """An organisation by institution code, or by id."""
    org = await session.scalar(select(Organisation).where(Organisation.institution_code == ref))
    if org is None:
        try:
            org = await session.get(Organisation, uuid.UUID(ref))
        except ValueError:
            return None
    return org


async def list_organisations(session: AsyncSession) -> Sequence[Organisation]:
    """Every organisation, by role then name."""
    return (
        await session.scalars(select(Organisation).order_by(Organisation.role, Organisation.name))
    ).all()


async def list_api_keys(session: AsyncSession, org: Organisation) -> Sequence[ApiKey]:
    """An organisation's keys, revoked ones included, oldest first."""
    return (
        await session.scalars(
            select(ApiKey).where(ApiKey.org_id == org.id).order_by(ApiKey.created_at)
        )
    ).all()


async def revoke_api_key(session: AsyncSession, key_id: str) -> ApiKey:
    """Revoke a key by its public id (the part after ``sk_``); every API process refuses it
    within ``SANYI_KEY_CACHE_SECONDS``. Revoking twice is a conflict, not a silent success, so
    an operator learns the key was already dead."""
    key = await session.scalar(select(ApiKey).where(ApiKey.key_id == key_id).with_for_update())
    if key is None:
        raise NotFound("no such API key", code="unknown_api_key", field="key_id")
    if key.revoked_at is not None:
        raise Conflict("the API key is already revoked", code="already_revoked", field="key_id")
    key.revoked_at = utcnow()
    await session.flush()
    return key


# Verified keys, by hash, with the monotonic time until which this process trusts them.
_principal_cache: dict[str, tuple[float, Principal]] = {}


async def _touch(session: AsyncSession, key: ApiKey) -> None:
    """Record the key as used now, unless it was within the last minute (by any process)."""
    now = utcnow()
    stale = now - LAST_USED_GRANULARITY
    if key.last_used_at is not None and key.last_used_at > stale:
        return
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def authenticate(session: AsyncSession, token: str) -> Principal:
    digest = _hash_key(token)
    cached = _principal_cache.get(digest)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthenticated("unknown API key")
    row = (
        await session.execute(
            select(ApiKey, Organisation)
            .join(Organisation, Organisation.id == ApiKey.org_id)
            .where(ApiKey.key_id == parts[1], ApiKey.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.ApiKey.key_hash, digest):
        raise Unauthenticated("unknown API key")
    org = row.Organisation
    principal = Principal(
        org_id=org.id,
        key_id=row.ApiKey.key_id,
        role=Role(org.role),
        institution_code=org.institution_code,
        admdvs=org.admdvs,
    )
    await _touch(session, row.ApiKey)
    ttl = get_settings().key_cache_seconds
    _principal_cache[digest] = (time.monotonic() + ttl, principal)
    return principal


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer API key", field="Authorization")
    principal: Principal = await authenticate(request.state.session, token.strip())
    request.state.principal = principal  # for the access line (engine/access.py)
    return principal


def require_role(*roles: Role) -> Any:
    """FastAPI dependency marker: the caller, if its role is one of ``roles``; else 403.

    Use as ``Annotated[Principal, require_role(Role.hospital)]``.
    """

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this endpoint is for {', '.join(r.value for r in roles)} keys")
        return principal

    return Depends(dependency)
