"""Who may import, read and price: insurers in their own region, hospitals and pharmacies
read-only in their own region, operators not at all; refusals change nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from tariffs.codes import InstitutionKind
from tariffs.models import CatalogueEntry
from tests.support.factories.orgs import make_key, make_org
from tests.tariffs.factories import (
    FOLLOW_UP,
    admin_headers,
    demo_csv,
    import_csv,
    insurer_headers,
    load_demo,
    make_institution,
    make_region,
)


async def _entries(session: AsyncSession) -> int:
    """Catalogue rows of region 230100 (race tests commit rows in regions of their own)."""
    query = (
        select(func.count()).select_from(CatalogueEntry).where(CatalogueEntry.admdvs == "230100")
    )
    return int(await session.scalar(query) or 0)


async def test_a_hospital_cannot_import(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_region(session, "230100")
    _, hospital = await make_institution(session)
    refused = await import_csv(client, hospital, "230100", demo_csv("230100_services"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert await _entries(session) == 0


async def test_an_insurer_of_another_region_gets_403_everywhere(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_demo(session, "230100", "230100_services")
    other = await insurer_headers(session, "510100")
    before = await _entries(session)
    attempts = [
        await import_csv(client, other, "230100", demo_csv("drugs")),
        await client.get(
            "/v1/tariffs/230100/catalogue", params={"on": "2026-01-01"}, headers=other
        ),
        await client.get(
            "/v1/tariffs/230100/price",
            params={"med_list_codg": FOLLOW_UP, "on": "2026-01-01", "hosp_lv": 3},
            headers=other,
        ),
        await client.get(f"/v1/tariffs/230100/items/{FOLLOW_UP}/versions", headers=other),
        await client.patch("/v1/registry/regions/230100", json={"name": "x"}, headers=other),
    ]
    assert [a.status_code for a in attempts] == [403] * len(attempts)
    assert all(a.json()["field"] == "admdvs" for a in attempts)
    assert await _entries(session) == before


async def test_an_operator_does_no_insurer_work(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The operator's keys manage organisations and keys; a region's catalogue and registry are
    its insurer's."""
    await make_region(session, "230100")
    await make_region(session, "510100")
    info, _ = await make_institution(session)
    admin = await admin_headers(session)
    before = await _entries(session)
    attempts = [
        await import_csv(client, admin, "510100", demo_csv("510100_services")),
        await client.patch("/v1/registry/regions/510100", json={"name": "x"}, headers=admin),
        await client.patch(
            f"/v1/registry/institutions/{info.fixmedins_code}",
            json={"fixmedins_name": "x"},
            headers=admin,
        ),
        await client.get(f"/v1/registry/institutions/{info.fixmedins_code}", headers=admin),
        await client.get(
            "/v1/tariffs/510100/catalogue", params={"on": "2026-01-01"}, headers=admin
        ),
    ]
    assert [(a.status_code, a.json()["code"]) for a in attempts] == [(403, "forbidden")] * len(
        attempts
    )
    assert await _entries(session) == before


@pytest.mark.parametrize("kind", [InstitutionKind.hospital, InstitutionKind.pharmacy])
async def test_hospitals_and_pharmacies_read_prices_in_their_own_region_only(
    client: httpx.AsyncClient, session: AsyncSession, kind: InstitutionKind
) -> None:
    await load_demo(session, "230100", "230100_services")
    await make_region(session, "510100")
    _, headers = await make_institution(session, kind=kind)
    params: dict[str, str | int] = {"med_list_codg": FOLLOW_UP, "on": "2026-01-01", "hosp_lv": 3}
    own = await client.get("/v1/tariffs/230100/price", params=params, headers=headers)
    other = await client.get("/v1/tariffs/510100/price", params=params, headers=headers)
    assert own.status_code == 200
    assert other.status_code == 403


async def test_keys_are_required(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_region(session, "230100")
    anonymous = await client.get("/v1/tariffs/230100/catalogue", params={"on": "2026-01-01"})
    assert anonymous.status_code == 401


async def test_registry_writes_are_for_insurers_and_operators(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    _, hospital = await make_institution(session)
    pharmacy_org = await make_org(session, role=Role.pharmacy)
    pharmacy = await make_key(session, pharmacy_org)
    for headers in (hospital, pharmacy):
        refused = await client.post(
            "/v1/registry/regions", json={"admdvs": "230100", "name": "x"}, headers=headers
        )
        assert refused.status_code == 403
