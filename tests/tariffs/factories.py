"""Typed factories and helpers for the tariffs tests."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncSession

import tariffs
from engine.auth import Role
from tariffs import catalogue, registry
from tariffs.codes import InstitutionKind
from tariffs.csv_format import COLUMNS
from tests.support.factories.orgs import make_key, make_org, unique_code

DEMO_DATA = Path(tariffs.__file__).parent / "demo_data"
CONSULTATION = "110200001"
FOLLOW_UP = "111200001"
DELIVERY = "990000001"
METFORMIN = "XA10BA02D001"


def demo_csv(name: str) -> str:
    return (DEMO_DATA / f"{name}.csv").read_text(encoding="utf-8")


def unique_region() -> str:
    """A six-digit region code no other test uses (for committed data)."""
    return f"9{secrets.randbelow(10**5):05d}"


async def make_region(session: AsyncSession, admdvs: str = "230100") -> str:
    await registry.create_region(session, None, admdvs=admdvs, name=f"region {admdvs}")
    await session.flush()  # the audit entry, before another session looks at the stream
    return admdvs


async def insurer_headers(session: AsyncSession, admdvs: str = "230100") -> dict[str, str]:
    return await make_key(session, await make_org(session, role=Role.insurer, admdvs=admdvs))


async def admin_headers(session: AsyncSession) -> dict[str, str]:
    return await make_key(session, await make_org(session, role=Role.admin))


async def make_institution(
    session: AsyncSession,
    *,
    admdvs: str = "230100",
    kind: InstitutionKind = InstitutionKind.hospital,
    hosp_lv: int | None = 3,
    hosp_grade: str | None = "A",
    internet_hospital: bool = True,
) -> tuple[registry.InstitutionInfo, dict[str, str]]:
    """A registered institution and headers for its organisation's key."""
    role = Role.hospital if kind is InstitutionKind.hospital else Role.pharmacy
    org = await make_org(session, role=role, admdvs=admdvs)
    assert org.institution_code is not None
    pharmacy = kind is InstitutionKind.pharmacy
    info = await registry.register_institution(
        session,
        None,
        fixmedins_code=org.institution_code,
        fixmedins_name=f"institution {org.institution_code}",
        admdvs=admdvs,
        kind=kind,
        hosp_lv=None if pharmacy else hosp_lv,
        hosp_grade=None if pharmacy else hosp_grade,
        internet_hospital=internet_hospital and not pharmacy,
    )
    await session.flush()
    return info, await make_key(session, org)


def public_key_b64(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def practitioner_body(fixmedins_code: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dr_code": unique_code("D"),
        "dr_name": "Dr Test",
        "prac_cert_no": unique_code("L"),
        "dr_title": "chief",
        "fixmedins_code": fixmedins_code,
        "indep_prac_start": "2010-07-01",
        "internet_practice": True,
        "public_key": public_key_b64(Ed25519PrivateKey.generate()),
    }
    return body | overrides


async def make_practitioner(
    session: AsyncSession, fixmedins_code: str, **overrides: Any
) -> registry.PractitionerInfo:
    body = practitioner_body(fixmedins_code, **overrides)
    body["indep_prac_start"] = date.fromisoformat(body["indep_prac_start"])
    body.setdefault("licensed", True)
    body.setdefault("key_scheme", "ed25519")
    info = await registry.register_practitioner(session, None, **body)
    await session.flush()
    return info


def catalogue_csv(rows: Iterable[Mapping[str, str]]) -> str:
    """A CSV with every canonical column, rows given as {column: cell}."""
    names = [column.name for column in COLUMNS]
    lines = [",".join(names)]
    lines += [",".join(row.get(name, "") for name in names) for row in rows]
    return "\n".join(lines) + "\n"


def service_row(code: str, pric: str, **cells: str) -> dict[str, str]:
    return {
        "med_list_codg": code,
        "name": f"service {code}",
        "kind": "service",
        "unit": "次",
        "chrgitm_lv": "1",
        "pric": pric,
        "valid_from": "2026-01-01",
    } | cells


def drug_row(code: str, cap: str, **cells: str) -> dict[str, str]:
    return {
        "med_list_codg": code,
        "name": f"drug {code}",
        "kind": "drug",
        "spec": "10mg×28片",
        "unit": "盒",
        "chrgitm_lv": "1",
        "pric_uplmt_amt": cap,
        "valid_from": "2026-01-01",
        "rx_only": "1",
    } | cells


async def import_csv(
    client: httpx.AsyncClient,
    headers: Mapping[str, str],
    admdvs: str,
    text: str,
    *,
    content_type: str = "text/csv; charset=utf-8",
    encoding: str = "utf-8",
) -> httpx.Response:
    return await client.post(
        f"/v1/tariffs/{admdvs}/imports",
        content=text.encode(encoding),
        headers={**headers, "Content-Type": content_type},
    )


async def load_demo(session: AsyncSession, admdvs: str, *files: str) -> None:
    """Region ``admdvs`` with the named demo files imported (setup, through the service)."""
    if await registry.list_regions(session, admdvs) == []:
        await make_region(session, admdvs)
    for name in files:
        await catalogue.import_catalogue(
            session, admdvs=admdvs, text=demo_csv(name), source=name, actor=None
        )
    await session.flush()


async def get_price(
    client: httpx.AsyncClient, headers: Mapping[str, str], admdvs: str, **params: str | int
) -> httpx.Response:
    return await client.get(f"/v1/tariffs/{admdvs}/price", params=params, headers=headers)
