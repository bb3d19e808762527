"""Authentication, roles and the error shape, through the HTTP API; none of it changes a row."""

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import ApiKey, Organisation, Role
from tests.support.factories.orgs import make_key, make_org


async def _row_counts(session: AsyncSession) -> tuple[int, int]:
    orgs = await session.scalar(select(func.count()).select_from(Organisation))
    keys = await session.scalar(select(func.count()).select_from(ApiKey))
    return int(orgs or 0), int(keys or 0)


async def test_missing_and_unknown_keys_get_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await _row_counts(session)
    body = {"name": "x", "role": "hospital", "institution_code": "H1", "admdvs": "230100"}
    missing = await client.post("/v1/admin/organisations", json=body)
    unknown = await client.post(
        "/v1/admin/organisations", json=body, headers={"Authorization": "Bearer sk_abc_def"}
    )
    assert missing.status_code == 401
    assert missing.json() == {
        "type": "urn:sanyi:problem:unauthenticated",
        "title": "Unauthorized",
        "status": 401,
        "detail": "missing bearer API key",
        "code": "unauthenticated",
        "message": "missing bearer API key",
        "field": "Authorization",
    }
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "unauthenticated"
    assert await _row_counts(session) == before


async def test_wrong_role_gets_403(client: httpx.AsyncClient, session: AsyncSession) -> None:
    hospital = await make_org(session, role=Role.hospital)
    headers = await make_key(session, hospital)
    before = await _row_counts(session)
    response = await client.post(
        "/v1/admin/organisations",
        json={"name": "x", "role": "pharmacy", "institution_code": "P9", "admdvs": "230100"},
        headers=headers,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert await _row_counts(session) == before


async def test_malformed_json_and_bad_fields_get_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_org(session, role=Role.admin)
    headers = await make_key(session, admin) | {"Content-Type": "application/json"}
    before = await _row_counts(session)
    malformed = await client.post("/v1/admin/organisations", content=b'{"name": ', headers=headers)
    bad_region = await client.post(
        "/v1/admin/organisations",
        json={"name": "x", "role": "insurer", "admdvs": "23"},
        headers=headers,
    )
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "malformed_json"
    assert bad_region.status_code == 422
    assert bad_region.json()["field"] == "admdvs"
    assert await _row_counts(session) == before


async def test_admin_creates_an_organisation_and_a_working_key(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_org(session, role=Role.admin)
    headers = await make_key(session, admin)
    created = await client.post(
        "/v1/admin/organisations",
        json={
            "name": "Harbin No.1",
            "role": "hospital",
            "institution_code": "H230100001",
            "admdvs": "230100",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    org_id = uuid.UUID(created.json()["id"])
    key = await client.post(f"/v1/admin/organisations/{org_id}/keys", json={}, headers=headers)
    assert key.status_code == 201
    token = key.json()["api_key"]
    stored = await session.scalar(select(ApiKey.key_hash).where(ApiKey.org_id == org_id))
    assert stored is not None and token not in stored
    # the new hospital key is authenticated (403 for admin work, not 401)
    as_hospital = await client.post(
        "/v1/admin/organisations",
        json={"name": "y", "role": "insurer", "admdvs": "230100"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert as_hospital.status_code == 403


async def test_duplicate_institution_code_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_org(session, role=Role.admin)
    headers = await make_key(session, admin)
    existing = await make_org(session, role=Role.hospital)
    response = await client.post(
        "/v1/admin/organisations",
        json={
            "name": "dup",
            "role": "hospital",
            "institution_code": existing.institution_code,
            "admdvs": "230100",
        },
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "urn:sanyi:problem:duplicate",
        "title": "Bad Request",
        "status": 400,
        "detail": "institution code already registered",
        "code": "duplicate",
        "message": "institution code already registered",
        "field": "institution_code",
    }


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
