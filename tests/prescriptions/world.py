"""A prescription world, built through the HTTP API as clients would: the claims world (insurer,
hospital, benefit policy, catalogue) plus doctors whose private keys the tests keep, pharmacies,
a drug catalogue with controlled and long-term-excluded drugs, and helpers that drive a
prescription from upload to dispense with the request clock under the test's control.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from engine.clock import CST
from prescriptions.routes import clock
from prescriptions.signing import generate_key_pair, sign
from tests.support.factories.orgs import make_key, make_org, unique_code
from tests.support.factories.world import World, build_world

#: The day the tests' prescriptions are issued on (the claims world's visits are that morning).
DAY0 = datetime(2026, 3, 2, 10, 0, tzinfo=CST)

AMLODIPINE = "XRXAMLO000001"  # class 1, payment standard 30.00 a box
METFORMIN = "XRXMETF000001"  # class 1, per tablet
MORPHINE = "XRXMORP000001"  # narcotic
AMOXICILLIN = "XRXAMOX000001"  # antimicrobial

DRUG_CSV = f"""\
med_list_codg,name,kind,chrgitm_lv,selfpay_prop,pric_uplmt_amt,valid_from,controlled_class,long_term_excluded,antimicrobial
{AMLODIPINE},amlodipine 5mg x 28,drug,1,,30.00,2026-01-01,,0,0
{METFORMIN},metformin 0.25g,drug,1,,0.0325,2026-01-01,,0,0
{MORPHINE},morphine SR 10mg x 10,drug,1,,25.00,2026-01-01,narcotic,1,0
{AMOXICILLIN},amoxicillin 0.5g x 24,drug,1,,12.00,2026-01-01,,0,1
"""


def day(n: int, hour: int = 10) -> datetime:
    """Day ``n`` after :data:`DAY0`, at ``hour`` China time."""
    return (DAY0 + timedelta(days=n)).replace(hour=hour)


def iso(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat()


@dataclass
class Doctor:
    dr_code: str
    key: Ed25519PrivateKey


@dataclass
class Patient:
    psn_no: str
    certno: str


@dataclass
class RxWorld:
    app: FastAPI
    claims: World
    doctors: dict[str, Doctor] = field(default_factory=dict)
    pharmacies: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.claims.client

    @property
    def hospital(self) -> tuple[str, dict[str, str]]:
        return self.claims.hospital(0)

    def pharmacy(self, index: int) -> tuple[str, dict[str, str]]:
        code = list(self.pharmacies)[index]
        return code, self.pharmacies[code]

    def at(self, moment: datetime) -> None:
        """Every later request happens at ``moment`` (the routes' clock dependency)."""
        self.app.dependency_overrides[clock] = lambda: moment

    # --- the hospital ----------------------------------------------------------------------------

    async def patient(self, **extra: Any) -> Patient:
        psn_no, certno = await self.claims.enrol(**extra)
        return Patient(psn_no, certno)

    async def visit(
        self, patient: Patient, *, internet: bool = False, dr: str = "chief", selfpay: bool = False
    ) -> str:
        """A visit that morning; an internet one follows an in-person diagnosis in January."""
        if internet:
            await self.claims.visit(patient.psn_no, patient.certno, when=datetime(2026, 1, 6, 9))
        visit = await self.claims.visit(
            patient.psn_no,
            patient.certno,
            biz_type_code="02" if internet else "01",
            dr=dr,
            selfpay_flag=selfpay,
        )
        return str(visit["mdtrt_id"])

    def document(
        self, mdtrt_id: str, patient: Patient, *, dr: str = "chief", **overrides: Any
    ) -> dict[str, Any]:
        """A one-day, 7-day-course prescription of amlodipine issued at :data:`DAY0`."""
        doc: dict[str, Any] = {
            "hosp_rxno": unique_code("RX"),
            "fixmedins_code": self.hospital[0],
            "mdtrt_id": mdtrt_id,
            "psn_no": patient.psn_no,
            "dr_code": self.doctors[dr].dr_code,
            "rx_type_code": "1",
            "prsc_time": iso(DAY0),
            "vali_days": 1,
            "vali_end_time": iso(DAY0.replace(hour=23, minute=59, second=59)),
            "diseinfo": [
                {
                    "diag_type": "1",
                    "maindiag_flag": "1",
                    "diag_srt_no": 1,
                    "diag_code": "I10.x00",
                    "diag_name": "原发性高血压",
                }
            ],
            "rxdrugdetail": [
                {
                    "med_list_codg": AMLODIPINE,
                    "drug_genname": "苯磺酸氨氯地平片",
                    "drug_cnt": "1",
                    "drug_cnt_unit": "盒",
                    "sin_doscnt": "5",
                    "sin_dosunt": "mg",
                    "used_frqu_codg": "qd",
                    "medc_days": 7,
                }
            ],
        }
        doc.update(overrides)
        return doc

    def repeat_document(self, mdtrt_id: str, patient: Patient, **overrides: Any) -> dict[str, Any]:
        """A 12-week long-term prescription for a stable chronic patient, in 3 portions 28 days
        apart (3 boxes: one a portion)."""
        base = self.document(mdtrt_id, patient)
        line = base["rxdrugdetail"][0] | {"drug_cnt": "3", "medc_days": 84}
        return (
            base
            | {
                "vali_days": 3,
                "vali_end_time": iso(day(2, 23)),
                "long_rx_flag": "1",
                "rept_flag": "1",
                "max_rept_cnt": 3,
                "min_inrv_days": 28,
                "chro_dise_flag": "1",
                "stab_cond_flag": "1",
                "extd_days_rsn": "高血压病情稳定，长期用药",
                "rxdrugdetail": [line],
            }
            | overrides
        )

    async def upload(
        self,
        doc: dict[str, Any],
        *,
        dr: str = "chief",
        nominate: str | None = None,
        expect: int = 201,
    ) -> dict[str, Any]:
        signature = sign(doc, self.doctors[dr].key).model_dump(mode="json", exclude_none=True)
        body = doc | {"signature": signature}
        if nominate is not None:
            body["nomi_fixmedins_code"] = nominate
        response = await self.client.post("/v1/prescriptions", json=body, headers=self.hospital[1])
        assert response.status_code == expect, response.text
        return dict(response.json())

    async def review(
        self, hi_rxno: str, result: str = "approved", *, expect: int = 200, **extra: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/prescriptions/{hi_rxno}/review",
            json={"rvw_rslt": result, "phar_code": "PH001", "phar_name": "药师甲"} | extra,
            headers=self.hospital[1],
        )
        assert response.status_code == expect, response.text
        return dict(response.json())

    async def issue(
        self, *, nominate: str | None = None, repeat: bool = False, internet: bool = False
    ) -> tuple[Patient, str, str]:
        """A patient with an approved prescription: (patient, hi_rxno, rx_trace_code)."""
        patient = await self.patient()
        mdtrt_id = await self.visit(patient, internet=internet)
        make = self.repeat_document if repeat else self.document
        uploaded = await self.upload(make(mdtrt_id, patient), nominate=nominate)
        await self.review(uploaded["hi_rxno"])
        return patient, uploaded["hi_rxno"], uploaded["rx_trace_code"]

    # --- pharmacies ------------------------------------------------------------------------------

    async def present(
        self, pharmacy: int, trace_code: str, certno: str, *, cert_type: str = "02"
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/prescriptions/presentations",
            json={
                "rx_trace_code": trace_code,
                "mdtrt_cert_type": cert_type,
                "mdtrt_cert_no": certno,
            },
            headers=self.pharmacy(pharmacy)[1],
        )

    async def lock(self, pharmacy: int, hi_rxno: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/prescriptions/{hi_rxno}/lock", json=body, headers=self.pharmacy(pharmacy)[1]
        )

    async def dispense(
        self,
        pharmacy: int,
        hi_rxno: str,
        *,
        cnt: str = "1",
        drug: str = AMLODIPINE,
        key: str | None = None,
        traces: list[str] | None = None,
    ) -> httpx.Response:
        line = {
            "med_list_codg": drug,
            "cnt": cnt,
            "pric": "25.50",
            "manu_lotnum": "LOT2026A",
            "drug_trac_codg": traces or [f"8{secrets.randbelow(10**19):019d}"],
        }
        return await self.client.post(
            f"/v1/prescriptions/{hi_rxno}/dispensations",
            json={"dspe_lines": [line], "acct_used_flag": True},
            headers=self.pharmacy(pharmacy)[1] | {"Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def get(self, hi_rxno: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/v1/prescriptions/{hi_rxno}", headers=headers)


async def register_doctor(
    world: World, name: str, *, internet: bool, since: date, licensed: bool = True
) -> Doctor:
    private_key, public_key = generate_key_pair()
    dr_code = unique_code("D")
    response = await world.client.post(
        "/v1/registry/practitioners",
        headers=world.insurer,
        json={
            "dr_code": dr_code,
            "dr_name": name,
            "prac_cert_no": unique_code("L"),
            "dr_title": "chief",
            "fixmedins_code": world.hospital(0)[0],
            "indep_prac_start": since.isoformat(),
            "internet_practice": internet,
            "licensed": licensed,
            "public_key": public_key,
        },
    )
    assert response.status_code == 201, response.text
    return Doctor(dr_code, private_key)


async def add_pharmacies(world: RxWorld, session: AsyncSession, count: int) -> None:
    """``count`` designated pharmacies of the world's region, each with its own key."""
    codes = []
    for _ in range(count):
        org = await make_org(session, role=Role.pharmacy, admdvs=world.claims.admdvs)
        assert org.institution_code is not None
        world.pharmacies[org.institution_code] = await make_key(session, org)
        codes.append(org.institution_code)
    await session.commit()  # visible to the API's own connections in race tests
    for code in codes:
        response = await world.client.post(
            "/v1/registry/institutions",
            headers=world.claims.insurer,
            json={
                "fixmedins_code": code,
                "fixmedins_name": f"Pharmacy {code}",
                "admdvs": world.claims.admdvs,
                "kind": "pharmacy",
            },
        )
        assert response.status_code == 201, response.text


async def build_rx_world(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    admdvs: str = "230100",
    pharmacies: int = 2,
) -> RxWorld:
    claims = await build_world(client, session, admdvs=admdvs)
    world = RxWorld(app=app, claims=claims)
    response = await client.post(
        f"/v1/tariffs/{admdvs}/imports",
        content=DRUG_CSV.encode(),
        headers=claims.insurer | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    for name, internet, since, licensed in (
        ("chief", True, date(2005, 7, 1), True),
        ("offline", False, date(2010, 7, 1), True),
        ("unlicensed", False, date(2010, 7, 1), False),
    ):
        doctor = await register_doctor(
            claims, name, internet=internet, since=since, licensed=licensed
        )
        world.doctors[name] = doctor
        claims.doctors[name] = doctor.dr_code  # so claims visits can name them
    await add_pharmacies(world, session, pharmacies)
    world.at(DAY0)
    return world
