"""Operator endpoints: organisations and their API keys (role ``admin``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.auth import (
    Organisation,
    Principal,
    Role,
    create_api_key,
    create_organisation,
    require_role,
)
from engine.db import UnitOfWorkRoute, get_session
from engine.errors import NotFound
from engine.wire import Admdvs, Code, Text, WireModel

router = APIRouter(prefix="/admin", tags=["admin"], route_class=UnitOfWorkRoute)
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


def _org_out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=org.id,
        name=org.name,
        role=Role(org.role),
        institution_code=org.institution_code,
        admdvs=org.admdvs,
    )


@router.post("/organisations", status_code=201)
async def create_organisation_endpoint(
    body: OrganisationIn, principal: Admin, session: Session
) -> OrganisationOut:
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


@router.post("/organisations/{org_id}/keys", status_code=201)
async def create_key_endpoint(
    org_id: uuid.UUID, body: ApiKeyIn, principal: Admin, session: Session
) -> ApiKeyOut:
    org = await session.get(Organisation, org_id)
    if org is None:
        raise NotFound("no such organisation", field="org_id")
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
