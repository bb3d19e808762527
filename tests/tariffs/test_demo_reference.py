"""The demo's reference data: the shipped demo catalogues say what issue 3 asks of them, and
``demo.reference.load_reference_data`` loads them through a real server as ``make demo`` does."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from demo.reference import load_reference_data
from demo.run import bootstrap_admin, setup_region
from demo.server import running_server
from engine import migrate, signatures
from engine.settings import Settings
from engine.signatures import SignatureScheme
from tariffs.csv_format import parse_catalogue
from tests.scratch import scratch_database_url
from tests.tariffs.factories import demo_csv


def test_the_demo_drug_catalogue_covers_chronic_care() -> None:
    parsed = parse_catalogue(demo_csv("drugs"))
    assert parsed.errors == []
    drugs = [row for _, row in parsed.rows]
    assert len(drugs) >= 60
    assert {d.chrgitm_lv for d in drugs} == {1, 2, 3}
    assert {str(d.selfpay_prop) for d in drugs if d.chrgitm_lv == 2} == {"0.10"}
    controlled = {d.controlled_class for d in drugs} - {"none"}
    assert {"narcotic", "psychotropic_1", "psychotropic_2", "toxic"} <= controlled
    assert all(d.long_term_excluded for d in drugs if d.controlled_class != "none")
    antimicrobials = [d for d in drugs if d.antimicrobial]
    assert len(antimicrobials) >= 4
    assert sum(d.long_term_excluded for d in antimicrobials) == len(antimicrobials) - 1
    assert any(d.pric_uplmt_amt is not None and d.pric_uplmt_amt.as_tuple().exponent == -4
               for d in drugs)  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[httpx.Client, str]]:
    with scratch_database_url() as url:
        migrate.upgrade(url)
        settings = Settings(database_url=url, broker_url=None)
        admin_token = bootstrap_admin(settings)
        with running_server(settings) as base_url, httpx.Client(base_url=base_url) as http:
            yield http, admin_token


def test_load_reference_data_registers_the_region_through_the_api(
    server: tuple[httpx.Client, str],
) -> None:
    http, admin_token = server
    region = setup_region(http, admin_token)

    data = load_reference_data(region.insurer, region.hospitals, region.pharmacies)

    assert set(data.institutions) == {
        "H23010000001",
        "H23010000002",
        "P23010000001",
        "P23010000002",
    }
    assert data.institutions["H23010000001"]["hosp_lv"] == 3
    assert data.institutions["H23010000002"]["hosp_lv"] == 2
    assert len(data.practitioners) >= 6
    assert any(not p.internet_practice for p in data.practitioners.values())
    assert len(data.drug_codes) >= 60
    assert [i["rows"] for i in data.imports] == [6, 86]

    hospital = region.hospitals["H23010000001"]
    own = hospital.get("/v1/registry/practitioners")
    assert {p["dr_code"] for p in own} == {p.dr_code for p in data.practitioners_at("H23010000001")}
    doctors = data.practitioners_at("H23010000001")
    assert {d.key_scheme for d in doctors} == {SignatureScheme.ed25519, SignatureScheme.sm2}
    for doctor in doctors:
        registered = hospital.get(f"/v1/registry/practitioners/{doctor.dr_code}")
        assert registered["key_scheme"] == doctor.key_scheme
        signature = signatures.sign(doctor.private_key, b"prescription")
        public = base64.b64decode(registered["public_key"])
        signatures.verify(doctor.key_scheme, public, b"prescription", signature)

    price = region.insurer.get(
        "/v1/tariffs/230100/price",
        params={"med_list_codg": data.follow_up_code, "on": "2026-03-15", "hosp_lv": 3,
                "dr_title": "chief"},
    )  # fmt: skip
    assert price["pric"] == "7.00"
