"""The registry through the HTTP API: regions, institutions tied to their organisation, and
practitioners with their signing keys; every change audited; each party sees only its own."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import AuditEntry
from engine.auth import Role
from engine.errors import NotFound
from tariffs import registry
from tests.support.factories.orgs import make_org, unique_code
from tests.tariffs.factories import (
    insurer_headers,
    make_institution,
    make_practitioner,
    make_region,
    practitioner_body,
)


async def _audit(session: AsyncSession, object_type: str, object_id: str) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
        .order_by(AuditEntry.seq)
    )
    return list(rows)


async def test_an_insurer_registers_and_renames_its_own_region(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    insurer = await insurer_headers(session, "230100")
    created = await client.post(
        "/v1/registry/regions", json={"admdvs": "230100", "name": "哈尔滨"}, headers=insurer
    )
    assert created.status_code == 201, created.text
    again = await client.post(
        "/v1/registry/regions", json={"admdvs": "230100", "name": "x"}, headers=insurer
    )
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_region")
    elsewhere = await client.post(
        "/v1/registry/regions", json={"admdvs": "510100", "name": "成都"}, headers=insurer
    )
    assert elsewhere.status_code == 403
    renamed = await client.patch(
        "/v1/registry/regions/230100", json={"name": "哈尔滨市"}, headers=insurer
    )
    assert renamed.json()["name"] == "哈尔滨市"
    listed = await client.get("/v1/registry/regions", headers=insurer)
    assert [r["admdvs"] for r in listed.json()] == ["230100"]
    actions = [e.action for e in await _audit(session, "pooling_region", "230100")]
    assert actions == ["region.created", "region.updated"]


async def test_an_institution_is_tied_to_the_organisation_with_its_code(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    insurer = await insurer_headers(session)
    org = await make_org(session, role=Role.hospital, institution_code=unique_code("H"))
    assert org.institution_code is not None
    body: dict[str, Any] = {
        "fixmedins_code": org.institution_code,
        "fixmedins_name": "Harbin First Hospital",
        "admdvs": "230100",
        "kind": "hospital",
        "hosp_lv": 3,
        "hosp_grade": "A",
        "internet_hospital": True,
    }
    created = await client.post("/v1/registry/institutions", json=body, headers=insurer)
    assert created.status_code == 201, created.text
    assert created.json()["org_id"] == str(org.id)
    duplicate = await client.post("/v1/registry/institutions", json=body, headers=insurer)
    assert duplicate.json()["code"] == "duplicate_institution"

    entries = await _audit(session, "institution", org.institution_code)
    assert entries[0].action == "institution.registered"
    assert entries[0].payload["hosp_lv"] == 3

    patched = await client.patch(
        f"/v1/registry/institutions/{org.institution_code}",
        json={"hosp_lv": 2, "hosp_grade": None},
        headers=insurer,
    )
    assert (patched.json()["hosp_lv"], patched.json()["hosp_grade"]) == (2, None)
    changed = (await _audit(session, "institution", org.institution_code))[-1].payload
    assert changed == {"changed": {"hosp_lv": [3, 2], "hosp_grade": ["A", None]}}
    null_name = await client.patch(
        f"/v1/registry/institutions/{org.institution_code}",
        json={"fixmedins_name": None},
        headers=insurer,
    )
    assert null_name.status_code == 422


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"fixmedins_code": "H-NOBODY"}, "unknown_organisation"),
        ({"kind": "pharmacy", "hosp_lv": None, "hosp_grade": None}, "organisation_role_mismatch"),
        ({"hosp_lv": None}, "hosp_lv_required"),
        ({"admdvs": "230200"}, "organisation_region_mismatch"),
        ({"admdvs": "999999"}, "unknown_region"),
    ],
)
async def test_institutions_that_do_not_fit_their_organisation_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, overrides: dict[str, Any], code: str
) -> None:
    await make_region(session, "230100")
    await make_region(session, "230200")
    org = await make_org(session, role=Role.hospital)
    body = {
        "fixmedins_code": org.institution_code,
        "fixmedins_name": "x",
        "admdvs": "230100",
        "kind": "hospital",
        "hosp_lv": 2,
        "hosp_grade": "B",
    } | overrides
    insurer = await insurer_headers(session, body["admdvs"])
    refused = await client.post("/v1/registry/institutions", json=body, headers=insurer)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == code


async def test_a_pharmacy_has_no_level(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_region(session, "230100")
    insurer = await insurer_headers(session)
    org = await make_org(session, role=Role.pharmacy)
    body = {
        "fixmedins_code": org.institution_code,
        "fixmedins_name": "Longtai Pharmacy",
        "admdvs": "230100",
        "kind": "pharmacy",
    }
    refused = await client.post(
        "/v1/registry/institutions", json=body | {"hosp_lv": 1}, headers=insurer
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "not_for_pharmacy")
    created = await client.post("/v1/registry/institutions", json=body, headers=insurer)
    assert created.status_code == 201
    assert created.json()["hosp_lv"] is None


async def test_practitioners_are_registered_with_a_valid_ed25519_key(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    insurer = await insurer_headers(session)
    hospital, _ = await make_institution(session)
    pharmacy, _ = await make_institution(session, kind=registry.InstitutionKind.pharmacy)
    body = practitioner_body(hospital.fixmedins_code, dr_title="associate_chief")
    created = await client.post("/v1/registry/practitioners", json=body, headers=insurer)
    assert created.status_code == 201, created.text
    assert created.json()["key_scheme"] == "ed25519"
    assert (await _audit(session, "practitioner", body["dr_code"]))[0].payload[
        "indep_prac_start"
    ] == "2010-07-01"

    cases = [
        ({"dr_code": body["dr_code"]}, 409, "duplicate_practitioner"),
        ({"public_key": base64.b64encode(b"short").decode()}, 400, "invalid_public_key"),
        ({"public_key": "not base64!"}, 400, "invalid_public_key"),
        ({"key_scheme": "sm2"}, 400, "unsupported_key_scheme"),
        ({"fixmedins_code": pharmacy.fixmedins_code}, 400, "not_a_hospital"),
        ({"fixmedins_code": "H-NOWHERE"}, 400, "unknown_institution"),
    ]
    for overrides, status, code in cases:
        refused = await client.post(
            "/v1/registry/practitioners",
            json=practitioner_body(hospital.fixmedins_code) | overrides,
            headers=insurer,
        )
        assert (refused.status_code, refused.json()["code"]) == (status, code), overrides


async def test_practitioner_updates_are_checked_and_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    await make_region(session, "510100")
    insurer = await insurer_headers(session)
    hospital, _ = await make_institution(session)
    elsewhere, _ = await make_institution(session, admdvs="510100")
    doctor = await make_practitioner(
        session, hospital.fixmedins_code, dr_title="attending", internet_practice=False
    )
    url = f"/v1/registry/practitioners/{doctor.dr_code}"

    promoted = await client.patch(
        url, json={"dr_title": "chief", "internet_practice": True}, headers=insurer
    )
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["dr_title"], promoted.json()["internet_practice"]) == ("chief", True)
    bad_key = await client.patch(url, json={"public_key": "AAAA"}, headers=insurer)
    assert bad_key.json()["code"] == "invalid_public_key"
    moved_away = await client.patch(
        url, json={"fixmedins_code": elsewhere.fixmedins_code}, headers=insurer
    )
    # A hospital of another region reads as one nobody registered.
    assert (moved_away.status_code, moved_away.json()["code"]) == (400, "unknown_institution")

    entries = await _audit(session, "practitioner", doctor.dr_code)
    assert [e.action for e in entries] == ["practitioner.registered", "practitioner.updated"]
    assert entries[-1].payload == {
        "changed": {"dr_title": ["attending", "chief"], "internet_practice": [False, True]}
    }


async def test_a_hospital_reads_its_own_practitioners_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    mine, my_headers = await make_institution(session)
    theirs, _ = await make_institution(session, hosp_lv=2)
    my_doctor = await make_practitioner(session, mine.fixmedins_code)
    their_doctor = await make_practitioner(session, theirs.fixmedins_code)

    listed = await client.get("/v1/registry/practitioners", headers=my_headers)
    assert [p["dr_code"] for p in listed.json()] == [my_doctor.dr_code]
    own = await client.get(f"/v1/registry/practitioners/{my_doctor.dr_code}", headers=my_headers)
    assert own.json()["public_key"] == my_doctor.public_key
    other = await client.get(
        f"/v1/registry/practitioners/{their_doctor.dr_code}", headers=my_headers
    )
    assert (other.status_code, other.json()["code"]) == (404, "unknown_practitioner")
    other_list = await client.get(
        "/v1/registry/practitioners",
        params={"fixmedins_code": theirs.fixmedins_code},
        headers=my_headers,
    )
    assert (other_list.status_code, other_list.json()["code"]) == (404, "unknown_institution")
    own_record = await client.get(
        f"/v1/registry/institutions/{mine.fixmedins_code}", headers=my_headers
    )
    assert own_record.json()["hosp_lv"] == 3
    other_record = await client.get(
        f"/v1/registry/institutions/{theirs.fixmedins_code}", headers=my_headers
    )
    unknown_record = await client.get("/v1/registry/institutions/H-NOBODY", headers=my_headers)
    assert other_record.json() == unknown_record.json()
    assert (other_record.status_code, other_record.json()["code"]) == (404, "unknown_institution")


async def test_insurers_see_their_own_region(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    await make_region(session, "510100")
    insurer = await insurer_headers(session, "230100")
    here, _ = await make_institution(session)
    there, _ = await make_institution(session, admdvs="510100")
    doctor_here = await make_practitioner(session, here.fixmedins_code)
    doctor_there = await make_practitioner(session, there.fixmedins_code)

    institutions = await client.get("/v1/registry/institutions", headers=insurer)
    assert [i["fixmedins_code"] for i in institutions.json()] == [here.fixmedins_code]
    practitioners = await client.get("/v1/registry/practitioners", headers=insurer)
    assert [p["dr_code"] for p in practitioners.json()] == [doctor_here.dr_code]
    other = await client.get(f"/v1/registry/practitioners/{doctor_there.dr_code}", headers=insurer)
    unknown = await client.get("/v1/registry/practitioners/D-NOBODY", headers=insurer)
    assert (other.status_code, other.json()) == (unknown.status_code, unknown.json())
    assert other.json()["code"] == "unknown_practitioner"
    other_record = await client.get(
        f"/v1/registry/institutions/{there.fixmedins_code}", headers=insurer
    )
    assert (other_record.status_code, other_record.json()["code"]) == (404, "unknown_institution")
    other_list = await client.get(
        "/v1/registry/institutions", params={"admdvs": "510100"}, headers=insurer
    )
    assert other_list.status_code == 403


async def test_other_domains_get_frozen_values_and_stable_not_found_codes(
    session: AsyncSession,
) -> None:
    await make_region(session, "230100")
    hospital, _ = await make_institution(session, hosp_lv=2, hosp_grade="B")
    doctor = await make_practitioner(session, hospital.fixmedins_code, dr_title="attending")

    institution = await registry.get_institution(session, hospital.fixmedins_code)
    practitioner = await registry.get_practitioner(session, doctor.dr_code)
    assert (institution.hosp_lv, institution.hosp_grade, institution.kind) == (2, "B", "hospital")
    assert (practitioner.dr_title, practitioner.fixmedins_code) == (
        "attending",
        hospital.fixmedins_code,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        institution.hosp_lv = 3  # type: ignore[misc]
    for lookup, code in [
        (registry.get_institution(session, "H-NONE"), "unknown_institution"),
        (registry.get_practitioner(session, "D-NONE"), "unknown_practitioner"),
    ]:
        with pytest.raises(NotFound) as missing:
            await lookup
        assert missing.value.code == code
