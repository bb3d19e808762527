"""Upload and review through the HTTP API (domain.md sections 6 and 9): the judged refusals with
their reason codes, the signature, the visit and the prescriber checks, and the pharmacist's
review that alone lets a prescription circulate."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from prescriptions.signing import sign
from tests.prescriptions.world import (
    AMOXICILLIN,
    DAY0,
    MORPHINE,
    RxWorld,
    build_rx_world,
    day,
    iso,
)
from tests.support.factories.orgs import make_key, make_org


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session)


async def refused(
    world: RxWorld, *, internet: bool = False, dr: str = "chief", repeat: bool = False, **doc: Any
) -> dict[str, Any]:
    """Upload a prescription changed by ``doc`` from a fresh visit; return the 400 body."""
    patient = await world.patient()
    mdtrt_id = await world.visit(patient, internet=internet, dr="chief")
    make = world.repeat_document if repeat else world.document
    return await world.upload(make(mdtrt_id, patient, dr=dr, **doc), dr=dr, expect=400)


async def test_upload_returns_random_numbers_and_a_one_time_trace_code(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    first = await world.upload(world.document(mdtrt_id, patient))
    second = await world.upload(world.document(mdtrt_id, patient))
    assert first["rx_stas_codg"] == "1" and first["status"] == "pending_review"
    for body in (first, second):
        assert re.fullmatch(r"R[0-9A-F]{20}", body["hi_rxno"])
        assert re.fullmatch(r"[0-9A-F]{24}", body["rx_trace_code"])
    assert first["hi_rxno"] != second["hi_rxno"]
    assert first["rx_trace_code"] != second["rx_trace_code"]
    # Neither number says anything about the other (no shared prefix beyond the kind letter).
    assert first["hi_rxno"][1:6] != second["hi_rxno"][1:6]

    shown = await world.get(first["hi_rxno"], world.hospital[1])
    assert shown.status_code == 200, shown.text
    assert first["rx_trace_code"] not in shown.text  # shown once, at upload only


async def test_a_controlled_drug_on_an_internet_prescription_is_refused(world: RxWorld) -> None:
    line = world.document("x", await world.patient())["rxdrugdetail"][0]
    body = await refused(
        world, internet=True, rxdrugdetail=[line | {"med_list_codg": MORPHINE, "medc_days": 3}]
    )
    assert (body["code"], body["field"]) == (
        "controlled_drug_internet",
        "rxdrugdetail.0.med_list_codg",
    )
    body = await refused(world, internet=True, rx_type_code="7")
    assert (body["code"], body["field"]) == ("controlled_drug_internet", "rx_type_code")


async def test_the_same_controlled_drug_in_person_is_accepted(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient)
    doc["rxdrugdetail"][0] |= {"med_list_codg": MORPHINE, "medc_days": 3}
    await world.upload(doc)


async def test_a_five_day_validity_is_refused(world: RxWorld) -> None:
    body = await refused(world, vali_days=5, vali_end_time=iso(day(4, 23)))
    assert (body["code"], body["field"]) == ("validity_too_long", "vali_days")


async def test_a_thirteen_week_long_term_prescription_is_refused(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.repeat_document(mdtrt_id, patient)
    doc["rxdrugdetail"][0]["medc_days"] = 91
    body = await world.upload(doc, expect=400)
    assert (body["code"], body["field"]) == (
        "long_term_days_exceeded",
        "rxdrugdetail.0.medc_days",
    )
    doc["rxdrugdetail"][0]["medc_days"] = 84  # twelve weeks is the limit
    await world.upload(doc)


async def test_an_antimicrobial_is_never_on_a_long_term_prescription(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.repeat_document(mdtrt_id, patient)
    doc["rxdrugdetail"][0]["med_list_codg"] = AMOXICILLIN
    body = await world.upload(doc, expect=400)
    assert (body["code"], body["field"]) == (
        "long_term_excluded_drug",
        "rxdrugdetail.0.med_list_codg",
    )


async def test_a_doctor_without_internet_practice_cannot_prescribe_from_an_internet_visit(
    world: RxWorld,
) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient, internet=True, dr="offline", selfpay=True)
    doc = world.document(mdtrt_id, patient, dr="offline")
    body = await world.upload(doc, dr="offline", expect=400)
    assert (body["code"], body["field"]) == ("prescriber_no_internet_practice", "dr_code")
    # In person the same doctor may.
    in_person = await world.visit(patient, dr="offline")
    await world.upload(world.document(in_person, patient, dr="offline"), dr="offline")


async def test_an_unlicensed_or_unknown_doctor_cannot_prescribe(world: RxWorld) -> None:
    body = await refused(world, dr="unlicensed")
    assert (body["code"], body["field"]) == ("prescriber_unlicensed", "dr_code")
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient, dr_code="DNOSUCHDOCTOR")
    body = await world.upload(doc, expect=400)
    assert (body["code"], body["field"]) == ("prescriber_not_registered", "dr_code")


async def test_the_signature_must_be_the_doctors_over_exactly_this_document(
    world: RxWorld,
) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    # Signed by another doctor's key for this doctor's prescription.
    doc = world.document(mdtrt_id, patient)
    body = await world.upload(doc, dr="offline", expect=400)
    assert body["code"] == "invalid_signature"
    # Signed, then changed.
    signature = sign(doc, world.doctors["chief"].key).model_dump(mode="json", exclude_none=True)
    changed = doc | {"rxdrugdetail": [doc["rxdrugdetail"][0] | {"drug_cnt": "10"}]}
    response = await world.client.post(
        "/v1/prescriptions", json=changed | {"signature": signature}, headers=world.hospital[1]
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_signature", "signature")
    # Unsigned.
    response = await world.client.post("/v1/prescriptions", json=doc, headers=world.hospital[1])
    assert response.status_code == 422 and response.json()["field"] == "signature"


async def test_signed_values_keep_their_json_types(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    for change in ({"vali_days": "1"}, {"vali_days": 1.0}, {"long_rx_flag": 1}):
        doc = world.document(mdtrt_id, patient) | change
        response = await world.client.post(
            "/v1/prescriptions",
            json=doc | {"signature": {"scheme": "ed25519", "value": "AA=="}},
            headers=world.hospital[1],
        )
        assert response.status_code == 422, change


async def test_only_from_the_hospitals_own_visit_of_this_patient(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, other = await world.patient(), await world.patient()
    mdtrt_id = await world.visit(patient)
    body = await world.upload(world.document(mdtrt_id, other), expect=400)
    assert (body["code"], body["field"]) == ("patient_mismatch", "psn_no")

    stranger = await make_org(session, role=Role.hospital)
    assert stranger.institution_code is not None
    headers = await make_key(session, stranger)
    doc = world.document(mdtrt_id, patient, fixmedins_code=stranger.institution_code)
    response = await world.client.post(
        "/v1/prescriptions",
        json=doc | {"signature": {"scheme": "ed25519", "value": "AA=="}},
        headers=headers,
    )
    assert response.status_code == 404 and response.json()["code"] == "unknown_visit"
    # Nor for another institution's code.
    response = await world.client.post(
        "/v1/prescriptions",
        json=world.document(mdtrt_id, patient) | {"signature": {"scheme": "ed25519", "value": "A"}},
        headers=headers,
    )
    assert response.status_code == 403


async def test_a_hospital_number_is_uploaded_once(world: RxWorld) -> None:
    """A retried upload (same number, same signed document) answers the prescription, without
    the trace code shown once; another document under the number is refused."""
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient)
    first = await world.upload(doc)
    again = await world.upload(doc)
    assert again == first | {"rx_trace_code": None}
    other = await world.upload(doc | {"vali_days": 2}, expect=409)
    assert (other["code"], other["field"]) == ("duplicate_prescription", "hosp_rxno")


async def test_an_upload_under_its_key_replays_without_the_trace_code(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient)
    body = doc | {"signature": sign(doc, world.doctors["chief"].key).model_dump(mode="json")}
    headers = world.hospital[1] | {"Idempotency-Key": f"rx-{uuid.uuid4().hex}"}
    first = await world.client.post("/v1/prescriptions", json=body, headers=headers)
    again = await world.client.post("/v1/prescriptions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert re.fullmatch(r"[0-9A-F]{24}", first.json()["rx_trace_code"])
    assert again.json() == first.json() | {"rx_trace_code": None}
    other = world.document(mdtrt_id, patient)
    refused = await world.client.post(
        "/v1/prescriptions",
        json=other | {"signature": sign(other, world.doctors["chief"].key).model_dump(mode="json")},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "idempotency_key_reused"


async def test_a_prescription_past_its_validity_or_from_the_future_is_refused(
    world: RxWorld,
) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    world.at(day(1))
    body = await world.upload(world.document(mdtrt_id, patient), expect=400)
    assert (body["code"], body["field"]) == ("prescription_expired", "vali_end_time")
    world.at(DAY0 - timedelta(hours=1))
    body = await world.upload(world.document(mdtrt_id, patient), expect=400)
    assert (body["code"], body["field"]) == ("prsc_time_in_future", "prsc_time")


async def test_the_nominated_pharmacy_must_be_a_pharmacy_of_the_region(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient)
    for code in (world.hospital[0], "PNOSUCHPHARMACY"):
        body = await world.upload(doc, nominate=code, expect=400)
        assert (body["code"], body["field"]) == ("unknown_pharmacy", "nomi_fixmedins_code")


async def test_only_an_approved_prescription_reaches_the_nominated_pharmacy(
    world: RxWorld,
) -> None:
    code, headers = world.pharmacy(0)
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    uploaded = await world.upload(world.document(mdtrt_id, patient), nominate=code)
    hi_rxno = uploaded["hi_rxno"]
    assert (await world.get(hi_rxno, headers)).status_code == 404
    listed = await world.client.get("/v1/prescriptions", headers=headers)
    assert listed.json()["items"] == []

    approved = await world.review(hi_rxno)
    assert (approved["status"], approved["rx_stas_codg"]) == ("circulating", "1")
    listed = await world.client.get("/v1/prescriptions", headers=headers)
    assert [(i["hi_rxno"], i["via"]) for i in listed.json()["items"]] == [(hi_rxno, "routed")]
    assert (await world.get(hi_rxno, headers)).status_code == 200
    again = await world.review(hi_rxno, expect=409)
    assert again["code"] == "prescription_reviewed"


async def test_a_rejected_prescription_is_voided_and_never_circulates(world: RxWorld) -> None:
    code, headers = world.pharmacy(0)
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    uploaded = await world.upload(world.document(mdtrt_id, patient), nominate=code)
    hi_rxno = uploaded["hi_rxno"]
    without = await world.review(hi_rxno, "rejected", expect=400)
    assert (without["code"], without["field"]) == ("opinion_required", "rvw_opnn")
    voided = await world.review(hi_rxno, "rejected", rvw_opnn="剂量过大")
    assert (voided["status"], voided["rx_stas_codg"], voided["rvw_opnn"]) == (
        "voided",
        "4",
        "剂量过大",
    )
    assert (await world.get(hi_rxno, headers)).status_code == 404
    presented = await world.present(1, uploaded["rx_trace_code"], patient.certno)
    assert presented.status_code == 404
