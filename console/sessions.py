"""Console sign-in: an API key, or a one-time link, exchanged for a server-side session.

The browser holds one random session id in an HttpOnly, SameSite=Strict cookie (Secure over
TLS); nothing of the key reaches it. Every request reads the session and the key it came from
again, so signing out, expiry or revoking the key ends the console at once. Every form carries
the session's CSRF token, compared in constant time on each POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from console.models import ConsoleSession, SignInLink
from engine.auth import ApiKey, Organisation, Principal, Role, authenticate
from engine.db import utcnow
from engine.errors import Forbidden, NotFound, Unauthenticated

COOKIE = "sanyi_console"
SESSION_LIFETIME = timedelta(hours=8)
LINK_LIFETIME = timedelta(minutes=15)
#: Roles that may sign in: the insurer of a region, and the operator, who only reads.
CONSOLE_ROLES = (Role.insurer, Role.admin)


class CsrfRefused(Forbidden):
    """A form posted without the session's CSRF token (or with another one)."""

    def __init__(self) -> None:
        super().__init__("the form's CSRF token is missing or wrong", code="csrf_refused")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in caller of a console request, with its session's CSRF token."""

    principal: Principal
    csrf_token: str
    organisation: str

    @property
    def may_approve(self) -> bool:
        """Approvals are insurer work; the operator's console is read-only."""
        return self.principal.role is Role.insurer


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _key_row(session: AsyncSession, api_key: str) -> ApiKey:
    principal = await authenticate(session, api_key)
    if principal.role not in CONSOLE_ROLES:
        raise Forbidden("the console is for insurer and operator keys", code="console_role")
    row = await session.scalar(select(ApiKey).where(ApiKey.key_id == principal.key_id))
    assert row is not None  # authenticate just found it
    return row


async def _open(session: AsyncSession, api_key_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ConsoleSession(
            token_hash=_digest(token),
            api_key_id=api_key_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            csrf_token=secrets.token_urlsafe(32),
        )
    )
    await session.flush()
    return token


async def sign_in(session: AsyncSession, api_key: str) -> str:
    """A new session for a valid insurer or operator key; returns the cookie's token."""
    return await _open(session, (await _key_row(session, api_key)).id)


async def create_link(session: AsyncSession, api_key: str) -> str:
    """A one-time sign-in token for ``api_key``, valid for :data:`LINK_LIFETIME`."""
    row = await _key_row(session, api_key)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        SignInLink(
            token_hash=_digest(token),
            api_key_id=row.id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    await session.flush()
    return token


async def redeem_link(session: AsyncSession, token: str) -> str:
    """Spend a one-time link (under its row lock) for a new session's token. A used, expired
    or unknown link gets one answer, so a link tells nothing once it is spent."""
    link = await session.scalar(
        select(SignInLink).where(SignInLink.token_hash == _digest(token)).with_for_update()
    )
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise NotFound("the sign-in link is unknown, used or expired", code="signin_link_spent")
    link.used_at = utcnow()
    return await _open(session, link.api_key_id)


async def viewer(session: AsyncSession, token: str | None) -> Viewer:
    """The caller behind a session cookie, or :class:`Unauthenticated`."""
    if not token:
        raise Unauthenticated("not signed in", code="console_signed_out")
    row = (
        await session.execute(
            select(ConsoleSession, ApiKey, Organisation)
            .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
            .join(Organisation, Organisation.id == ApiKey.org_id)
            .where(
                ConsoleSession.token_hash == _digest(token),
                ConsoleSession.ended_at.is_(None),
                ConsoleSession.expires_at > utcnow(),
                ApiKey.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        raise Unauthenticated("the console session has ended", code="console_signed_out")
    org: Organisation = row.Organisation
    return Viewer(
        principal=Principal(
            org_id=org.id,
            key_id=row.ApiKey.key_id,
            role=Role(org.role),
            institution_code=org.institution_code,
            admdvs=org.admdvs,
        ),
        csrf_token=row.ConsoleSession.csrf_token,
        organisation=org.name,
    )


def check_csrf(viewer: Viewer, sent: str | None) -> None:
    """Refuse a POST whose form token is not the session's."""
    if not sent or not hmac.compare_digest(sent.encode(), viewer.csrf_token.encode()):
        raise CsrfRefused()


async def sign_out(session: AsyncSession, token: str) -> None:
    """End the session of ``token`` (a no-op for an unknown or ended one)."""
    row = await session.get(ConsoleSession, _digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
