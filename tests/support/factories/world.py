"""A small insured world for claims tests, built through the HTTP API as clients would.

``World`` holds an insurer, hospitals and their keys, the demo benefit policy of docs/domain.md
section 4, a catalogue reproducing worked example A, and helpers to enrol people and drive a
visit from registration to settlement.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric

from claims.settlement.cli import read_policy_file
from engine.auth import Role
from tests.support.factories.orgs import make_key, make_org, unique_code

POLICY_FILE = (
    Path(__file__).resolve().parents[3]
    / "claims"
    / "settlement"
    / "demo_data"
    / "policy_230100.json"
)

# Worked example A's catalogue (domain.md section 13): code -> (kind, class, price, cap, selfpay).
FOLLOWUP = "001102000010000"  # internet follow-up visit, 7.00 per visit
DRUG_X = "XDRUGX00000001"
DRUG_Y = "XDRUGY00000001"
DRUG_Z = "XDRUGZ00000001"
DELIVERY = "DELIVERY000001"
CLASS_A_ITEM = "XCLASSA0000001"  # a class A drug without a payment standard
#: 310-11 opening accumulators that leave 50.00 of the pooled fund's annual cap.
NEAR_CAP = {
    "insutype": "310",
    "med_type": "11",
    "deductible_used": "200.00",
    "hifp_paid": "4950.00",
}


def make_certno() -> str:
    """A random resident ID of Harbin's Daoli district with a valid ISO 7064 MOD 11-2 check
    character."""
    birth = date(1940, 1, 1) + timedelta(days=secrets.randbelow(365 * 65))
    body = "230102" + birth.strftime("%Y%m%d") + f"{secrets.randbelow(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class World:
    client: httpx.AsyncClient
    admdvs: str
    insurer: dict[str, str]
    hospitals: dict[str, dict[str, str]] = field(default_factory=dict)
    doctors: dict[str, str] = field(default_factory=dict)  # role -> dr_code

    def hospital(self, index: int = 0) -> tuple[str, dict[str, str]]:
        code = list(self.hospitals)[index]
        return code, self.hospitals[code]

    async def enrol(self, *, insutype: str = "310", **extra: Any) -> tuple[str, str]:
        """Enrol a person; returns (psn_no, certno)."""
        certno = make_certno()
        psn_no = "P" + uuid.uuid4().hex[:16].upper()
        body = {
            "psn_no": psn_no,
            "psn_name": "测试",
            "certno": certno,
            "admdvs": self.admdvs,
            "insutype": insutype,
        } | extra
        response = await self.client.post("/v1/persons", json=body, headers=self.insurer)
        assert response.status_code == 201, response.text
        return psn_no, certno

    async def opening(self, psn_no: str, **body: Any) -> None:
        response = await self.client.post(
            f"/v1/persons/{psn_no}/opening-balances",
            json={"year": 2026} | body,
            headers=self.insurer,
        )
        assert response.status_code == 200, response.text

    async def visit(
        self,
        psn_no: str,
        certno: str,
        *,
        hospital: int = 0,
        med_type: str = "11",
        biz_type_code: str = "01",
        diag: str = "I10.x00",
        dr: str | None = "chief",
        when: datetime | None = None,
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        code, headers = self.hospital(hospital)
        body = {
            "psn_no": psn_no,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "fixmedins_code": code,
            "med_type": med_type,
            "biz_type_code": biz_type_code,
            "begntime": (when or datetime(2026, 3, 2, 9, 30)).isoformat() + "+08:00",
            "dr_code": self.doctors[dr] if dr else None,
            "diseinfo": [{"diag_code": diag, "diag_name": "诊断", "maindiag_flag": "1"}],
        } | extra
        response = await self.client.post("/v1/visits", json=body, headers=headers)
        assert response.status_code == expect, response.text
        return dict(response.json())

    async def fees(
        self, mdtrt_id: str, lines: list[tuple[str, str, str | None]], *, hospital: int = 0
    ) -> dict[str, Any]:
        """Upload (med_list_codg, cnt, pric) lines."""
        _, headers = self.hospital(hospital)
        body = {
            "feedetail": [
                {"feedetl_sn": str(i + 1), "med_list_codg": code, "cnt": cnt}
                | ({"pric": pric} if pric is not None else {})
                for i, (code, cnt, pric) in enumerate(lines)
            ]
        }
        response = await self.client.post(
            f"/v1/visits/{mdtrt_id}/fee-lines", json=body, headers=headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def settle(
        self, mdtrt_id: str, *, hospital: int = 0, key: str | None = None, **body: Any
    ) -> httpx.Response:
        _, headers = self.hospital(hospital)
        return await self.client.post(
            f"/v1/visits/{mdtrt_id}/settlement",
            json=body,
            headers=headers | {"Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def revoke(
        self, setl_id: str, *, hospital: int = 0, key: str | None = None
    ) -> httpx.Response:
        _, headers = self.hospital(hospital)
        return await self.client.post(
            f"/v1/settlements/{setl_id}/revocation",
            headers=headers | {"Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def example_a_lines(self, mdtrt_id: str) -> dict[str, Any]:
        return await self.fees(
            mdtrt_id,
            [
                (FOLLOWUP, "1", None),
                (DRUG_X, "2", "25.50"),
                (DRUG_Y, "3", "42.80"),
                (DRUG_Z, "1", "15.00"),
                (DELIVERY, "1", "10.00"),
            ],
        )


async def build_world(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    admdvs: str = "230100",
    hospital_levels: tuple[int, ...] = (3,),
) -> World:
    insurer_org = await make_org(session, role=Role.insurer, admdvs=admdvs)
    world = World(client=client, admdvs=admdvs, insurer=await make_key(session, insurer_org))
    for _ in hospital_levels:
        org = await make_org(
            session, role=Role.hospital, admdvs=admdvs, institution_code=unique_code("H")
        )
        assert org.institution_code is not None
        world.hospitals[org.institution_code] = await make_key(session, org)
    # Keys must be visible to the API's own connections when it runs on the real engine (race
    # tests); inside a test transaction this only releases a savepoint.
    await session.commit()
    for code, level in zip(world.hospitals, hospital_levels, strict=True):
        await register_institution(world, code, level)
    first = next(iter(world.hospitals))
    for role, (title, internet, since) in {
        "chief": ("chief", True, date(2005, 7, 1)),
        "offline": ("attending", False, date(2010, 7, 1)),
        "junior": ("physician", True, date(2025, 7, 1)),
    }.items():
        world.doctors[role] = await register_practitioner(world, first, title, internet, since)
    await load_catalogue(world)
    policy = read_policy_file(POLICY_FILE).model_dump(mode="json")
    response = await client.post(f"/v1/policies/{admdvs}", json=policy, headers=world.insurer)
    assert response.status_code == 201, response.text
    return world


async def register_institution(world: World, code: str, level: int) -> None:
    regions = await world.client.get("/v1/registry/regions", headers=world.insurer)
    assert regions.status_code == 200, regions.text
    if world.admdvs not in {r["admdvs"] for r in regions.json()}:
        created = await world.client.post(
            "/v1/registry/regions",
            headers=world.insurer,
            json={"admdvs": world.admdvs, "name": "test region"},
        )
        assert created.status_code == 201, created.text
    response = await world.client.post(
        "/v1/registry/institutions",
        headers=world.insurer,
        json={
            "fixmedins_code": code,
            "fixmedins_name": f"Hospital {code}",
            "admdvs": world.admdvs,
            "kind": "hospital",
            "hosp_lv": level,
            "hosp_grade": "A",
            "internet_hospital": True,
        },
    )
    assert response.status_code == 201, response.text


async def register_practitioner(
    world: World, fixmedins_code: str, title: str, internet: bool, since: date
) -> str:
    dr_code = unique_code("D")
    public_key = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    response = await world.client.post(
        "/v1/registry/practitioners",
        headers=world.insurer,
        json={
            "dr_code": dr_code,
            "dr_name": f"Dr {title}",
            "prac_cert_no": unique_code("L"),
            "dr_title": title,
            "fixmedins_code": fixmedins_code,
            "indep_prac_start": since.isoformat(),
            "internet_practice": internet,
            "public_key": base64.b64encode(public_key).decode(),
        },
    )
    assert response.status_code == 201, response.text
    return dr_code


CATALOGUE_CSV = f"""\
med_list_codg,name,kind,chrgitm_lv,selfpay_prop,pric_uplmt_amt,pric,valid_from,non_medical
{FOLLOWUP},internet follow-up visit,service,1,,,7.00,2026-01-01,0
{DRUG_X},drug X,drug,1,,30.00,,2026-01-01,0
{DRUG_Y},drug Y,drug,2,0.10,40.00,,2026-01-01,0
{DRUG_Z},drug Z,drug,3,,,,2026-01-01,0
{DELIVERY},delivery fee,service,3,,,10.00,2026-01-01,1
{CLASS_A_ITEM},class A drug without payment standard,drug,1,,,,2026-01-01,0
"""


async def load_catalogue(world: World) -> None:
    response = await world.client.post(
        f"/v1/tariffs/{world.admdvs}/imports",
        content=CATALOGUE_CSV.encode(),
        headers=world.insurer | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
