"""Typed factories: each makes one thing, flushed, with sensible defaults."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Organisation, Role, create_api_key, create_organisation


def unique_code(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5).upper()}"


async def make_org(
    session: AsyncSession,
    *,
    role: Role,
    institution_code: str | None = None,
    admdvs: str | None = "230100",
    name: str | None = None,
) -> Organisation:
    if institution_code is None and role in (Role.hospital, Role.pharmacy):
        institution_code = unique_code("H" if role is Role.hospital else "P")
    return await create_organisation(
        session,
        name=name or f"{role.value} {institution_code or ''}".strip(),
        role=role,
        institution_code=institution_code,
        admdvs=None if role is Role.admin else admdvs,
    )


async def make_key(session: AsyncSession, org: Organisation) -> dict[str, str]:
    """Authorization headers for a new key of ``org``."""
    token = await create_api_key(session, org)
    return {"Authorization": f"Bearer {token}"}
