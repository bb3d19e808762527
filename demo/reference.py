"""Reference data of the demo region, loaded through the real HTTP API as the insurer would.

Registers pooling region 230100, its two hospitals and two pharmacies (their organisations exist
already), a handful of practitioners per hospital with freshly generated key pairs, every other
one SM2 and the rest Ed25519 (the public keys are registered; the private keys are returned so
the demo can sign prescriptions), and
imports the shipped demo catalogues (``tariffs/demo_data``: demo data, not official tariffs).

The practitioners are chosen to exercise the internet-practice rule (互联网诊疗管理办法（试行）:
at least 3 years of independent practice): most qualify, one is not registered for internet
practice, and two have under 3 years of independent practice in 2026.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import tariffs
from demo.client import Client
from engine import signatures
from engine.signatures import PrivateKey, SignatureScheme

REGION = "230100"
REGION_NAME = "哈尔滨市 (demo)"
DEMO_DATA = Path(tariffs.__file__).parent / "demo_data"
CATALOGUES = ("230100_services.csv", "drugs.csv")

CONSULTATION = "110200001"
FOLLOW_UP = "111200001"
DELIVERY = "990000001"

# fixmedins_code: (name, kind, level, grade, internet-hospital licence)
INSTITUTIONS: dict[str, tuple[str, str, int | None, str | None, bool]] = {
    "H23010000001": ("Harbin First Hospital", "hospital", 3, "A", True),
    "H23010000002": ("Daoli District Hospital", "hospital", 2, "A", True),
    "P23010000001": ("Longtai Pharmacy", "pharmacy", None, None, False),
    "P23010000002": ("Renmin Pharmacy", "pharmacy", None, None, False),
}

# dr_code: (name, title, hospital, independent practice since, internet practice)
PRACTITIONERS: dict[str, tuple[str, str, str, date, bool]] = {
    "D230100000101": ("张志远", "chief", "H23010000001", date(2006, 7, 1), True),
    "D230100000102": ("李秀英", "associate_chief", "H23010000001", date(2011, 9, 1), True),
    "D230100000103": ("王建国", "attending", "H23010000001", date(2016, 8, 1), False),
    "D230100000104": ("刘洋", "physician", "H23010000001", date(2025, 3, 1), True),
    "D230100000201": ("陈静", "chief", "H23010000002", date(2008, 3, 1), True),
    "D230100000202": ("赵磊", "attending", "H23010000002", date(2018, 7, 1), True),
    "D230100000203": ("孙丽", "physician", "H23010000002", date(2024, 9, 1), True),
}


@dataclass(frozen=True)
class DemoPractitioner:
    dr_code: str
    dr_name: str
    dr_title: str
    fixmedins_code: str
    indep_prac_start: date
    internet_practice: bool
    private_key: PrivateKey

    @property
    def key_scheme(self) -> SignatureScheme:
        return signatures.scheme_of(self.private_key)

    @property
    def public_key(self) -> str:
        """The raw public key in base64, as registered (docs/signatures.md)."""
        return base64.b64encode(signatures.public_key_bytes(self.private_key)).decode()


@dataclass(frozen=True)
class ReferenceData:
    admdvs: str
    institutions: dict[str, dict[str, Any]]
    practitioners: dict[str, DemoPractitioner]
    consultation_code: str
    follow_up_code: str
    delivery_code: str
    drug_codes: tuple[str, ...]
    imports: tuple[dict[str, Any], ...]

    def practitioners_at(self, fixmedins_code: str) -> list[DemoPractitioner]:
        return [p for p in self.practitioners.values() if p.fixmedins_code == fixmedins_code]


def _register_institutions(insurer: Client, codes: set[str]) -> dict[str, dict[str, Any]]:
    registered: dict[str, dict[str, Any]] = {}
    for code, (name, kind, level, grade, internet) in INSTITUTIONS.items():
        if code not in codes:
            continue
        registered[code] = insurer.post(
            "/v1/registry/institutions",
            json={
                "fixmedins_code": code,
                "fixmedins_name": name,
                "admdvs": REGION,
                "kind": kind,
                "hosp_lv": level,
                "hosp_grade": grade,
                "internet_hospital": internet,
            },
            expect=201,
        )
    return registered


def _register_practitioners(insurer: Client, hospitals: set[str]) -> dict[str, DemoPractitioner]:
    registered: dict[str, DemoPractitioner] = {}
    for index, (dr_code, (name, title, hospital, since, internet)) in enumerate(
        PRACTITIONERS.items()
    ):
        if hospital not in hospitals:
            continue
        # Every other doctor signs with SM2, the national algorithm; the rest with Ed25519.
        scheme = SignatureScheme.sm2 if index % 2 else SignatureScheme.ed25519
        doctor = DemoPractitioner(
            dr_code=dr_code,
            dr_name=name,
            dr_title=title,
            fixmedins_code=hospital,
            indep_prac_start=since,
            internet_practice=internet,
            private_key=signatures.generate_private_key(scheme),
        )
        insurer.post(
            "/v1/registry/practitioners",
            json={
                "dr_code": dr_code,
                "dr_name": name,
                "prac_cert_no": f"1{dr_code[1:]}",
                "dr_title": title,
                "fixmedins_code": hospital,
                "indep_prac_start": since.isoformat(),
                "internet_practice": internet,
                "public_key": doctor.public_key,
                "key_scheme": scheme.value,
            },
            expect=201,
        )
        registered[dr_code] = doctor
    return registered


def load_reference_data(
    insurer: Client, hospitals: dict[str, Client], pharmacies: dict[str, Client]
) -> ReferenceData:
    """Register the demo region's registry and catalogues through the API (insurer's key).

    ``hospitals`` and ``pharmacies`` (keyed by institution code) name the institutions whose
    organisations exist; only those are registered.
    """
    insurer.post("/v1/registry/regions", json={"admdvs": REGION, "name": REGION_NAME}, expect=201)
    institutions = _register_institutions(insurer, set(hospitals) | set(pharmacies))
    practitioners = _register_practitioners(insurer, set(hospitals))
    imports = tuple(
        insurer.post(
            f"/v1/tariffs/{REGION}/imports",
            params={"source": name},
            content=(DEMO_DATA / name).read_bytes(),
            expect=201,
        )
        for name in CATALOGUES
    )
    drugs = insurer.get(
        f"/v1/tariffs/{REGION}/catalogue", params={"on": date.today().isoformat(), "kind": "drug"}
    )
    return ReferenceData(
        admdvs=REGION,
        institutions=institutions,
        practitioners=practitioners,
        consultation_code=CONSULTATION,
        follow_up_code=FOLLOW_UP,
        delivery_code=DELIVERY,
        drug_codes=tuple(item["med_list_codg"] for item in drugs["items"]),
        imports=imports,
    )
