"""Operator endpoints: organisations and their API keys (role ``admin``).

A revoked key is refused by every API process within ``SANYI_KEY_CACHE_SECONDS`` (5 s by
default), the time a process trusts a key it has verified.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.auth import (
    ApiKey,
    Organisation,
    Principal,
    Role,
    create_api_key,
    create_organisation,
    list_api_keys,
    list_organisations,
    require_role,
    revoke_api_key,
)
from engine.db import UnitOfWorkRoute, get_session
from engine.errors import NotFound
from engine.openapi import Refusal, documented
from engine.wire import Admdvs, Code, Text, WireModel

router = APIRouter(prefix="/admin", tags=["admin"], route_class=UnitOfWorkRoute)
_NO_ORGANISATION = Refusal(404, "not_found", "no organisation with that id")
Admin = Annotated[Principal, require_role(Role.admin)]
Session = Annotated[AsyncSession, Depends(get_session)]


class OrganisationIn(WireModel):
    name: Annotated[Text, Field(max_length=200)]
    role: Role
    institution_code: Code | None = None
    admdvs: Admdvs | None = None


class OrganisationOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    institution_code: str | None
    admdvs: str | None


class ApiKeyIn(WireModel):
    label: Annotated[Text, Field(max_length=100)] | None = None


class ApiKeyOut(BaseModel):
    org_id: uuid.UUID
    api_key: str = Field(description="shown once; only a hash is stored")


class OrganisationPage(BaseModel):
    items: list[OrganisationOut]


class ApiKeyInfo(BaseModel):
    """A key as an operator sees it: never the token, which is not stored."""

    key_id: str = Field(description="the public part of the token: sk_<key_id>_...")
    org_id: uuid.UUID
    label: str | None
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute; null if never used")
    revoked_at: datetime | None


class ApiKeyPage(BaseModel):
    items: list[ApiKeyInfo]


def _key_info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=key.key_id,
        org_id=key.org_id,
        label=key.label,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def _organisation(session: AsyncSession, org_id: uuid.UUID) -> Organisation:
    org = await session.get(Organisation, org_id)
    if org is None:
        raise NotFound("no such organisation", field="org_id")
    return org


def _org_out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=org.id,
        name=org.name,
        role=Role(org.role),
        institution_code=org.institution_code,
        admdvs=org.admdvs,
    )


@router.post(
    "/organisations",
    status_code=201,
    operation_id="create_organisation",
    responses=documented(
        Refusal(400, "duplicate", "the institution code is another organisation's already"),
        Refusal(
            400,
            "invalid_request",
            "a hospital or pharmacy without its institution code, or a region code that is not "
            "six digits",
        ),
    ),
    summary="Create an organisation",
)
async def create_organisation_endpoint(
    body: OrganisationIn, principal: Admin, session: Session
) -> OrganisationOut:
    """Create an organisation (an insurer of a region, a hospital or a pharmacy with its
    institution code); it needs a key before it can call anything."""
    org = await create_organisation(
        session,
        name=body.name,
        role=body.role,
        institution_code=body.institution_code,
        admdvs=body.admdvs,
    )
    await audit.record(
        session,
        actor=principal,
        action="organisation.created",
        object_type="organisation",
        object_id=str(org.id),
        payload=body.model_dump(mode="json"),
    )
    return _org_out(org)


@router.post(
    "/organisations/{org_id}/keys",
    status_code=201,
    operation_id="issue_api_key",
    responses=documented(_NO_ORGANISATION),
    summary="Issue an API key",
)
async def create_key_endpoint(
    org_id: uuid.UUID, body: ApiKeyIn, principal: Admin, session: Session
) -> ApiKeyOut:
    """Issue an API key for an organisation; the key is shown once, in this answer only."""
    org = await _organisation(session, org_id)
    token = await create_api_key(session, org, label=body.label)
    await audit.record(
        session,
        actor=principal,
        action="api_key.created",
        object_type="organisation",
        object_id=str(org.id),
        payload={"label": body.label},
    )
    return ApiKeyOut(org_id=org.id, api_key=token)


@router.get("/organisations", operation_id="list_organisations", summary="List organisations")
async def list_organisations_endpoint(_: Admin, session: Session) -> OrganisationPage:
    """Every organisation, by role then name."""
    return OrganisationPage(items=[_org_out(org) for org in await list_organisations(session)])


@router.get(
    "/organisations/{org_id}/keys",
    operation_id="list_api_keys",
    summary="List an organisation's API keys",
    responses=documented(_NO_ORGANISATION),
)
async def list_keys_endpoint(org_id: uuid.UUID, _: Admin, session: Session) -> ApiKeyPage:
    """The organisation's keys, revoked ones included, oldest first."""
    org = await _organisation(session, org_id)
    return ApiKeyPage(items=[_key_info(key) for key in await list_api_keys(session, org)])


@router.post(
    "/keys/{key_id}/revoke",
    operation_id="revoke_api_key",
    summary="Revoke an API key",
    responses=documented(
        Refusal(404, "unknown_api_key", "no key with that id"),
        Refusal(409, "already_revoked", "the key was revoked before"),
    ),
)
async def revoke_key_endpoint(
    key_id: Annotated[str, Path(min_length=1, max_length=16)], principal: Admin, session: Session
) -> ApiKeyInfo:
    """Revoke a key: every API process refuses it within ``SANYI_KEY_CACHE_SECONDS`` (5 s by
    default)."""
    key = await revoke_api_key(session, key_id)
    await audit.record(
        session,
        actor=principal,
        action="api_key.revoked",
        object_type="organisation",
        object_id=str(key.org_id),
        payload={"key_id": key.key_id},
    )
    return _key_info(key)
