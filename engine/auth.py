"""Organisations, API keys and the authenticated principal.

Every request carries ``Authorization: Bearer <key>``. A key belongs to one organisation, and the
organisation has one role (DOMAIN.md section 1): a hospital acts only for its own institution code,
a pharmacy only for its own, an insurer only for its pooling region. Keys are shown once and stored
as a keyed hash (HMAC-SHA256 with ``SANYI_SECRET_KEY``), so a database leak does not leak keys.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import CheckConstraint, ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow
from engine.errors import Forbidden, InvalidRequest, Unauthenticated
from engine.settings import get_settings

KEY_PREFIX = "sk"
_CACHE_TTL_SECONDS = 30.0


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


# Verified keys are cached briefly so the hot path does not pay a round trip per request for
# authentication; a revoked key stops working within _CACHE_TTL_SECONDS.
_principal_cache: dict[str, tuple[float, Principal]] = {}


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
    _principal_cache[digest] = (time.monotonic() + _CACHE_TTL_SECONDS, principal)
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
