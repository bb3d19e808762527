"""A prescription as FHIR R4 MedicationRequests and a dispensation as MedicationDispenses: valid
for the R4 models, carrying the signed document's drug lines, dosage, quantities and validity,
the engine's status, and scoped exactly like ``GET /v1/prescriptions/{hi_rxno}``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fhir.validation import entries, fhir_json, identifier_value, refusal
from tests.prescriptions.world import AMLODIPINE, METFORMIN, RxWorld, build_rx_world

METFORMIN_LINE = {
    "med_list_codg": METFORMIN,
    "drug_genname": "盐酸二甲双胍片",
    "drug_cnt": "14",
    "drug_cnt_unit": "片",
    "sin_doscnt": "0.25",
    "sin_dosunt": "g",
    "used_frqu_codg": "bid",
    "used_frqu_name": "每日两次",
    "medc_way_codg": "po",
    "medc_way_dscr": "口服",
    "medc_days": 7,
}


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session, pharmacies=2)


async def _two_drug_prescription(world: RxWorld) -> tuple[dict[str, Any], str]:
    """An approved prescription of amlodipine and metformin routed to pharmacy 0: (the signed
    document, hi_rxno)."""
    patient = await world.patient()
    mdtrt_id = await world.visit(patient)
    doc = world.document(mdtrt_id, patient)
    doc["rxdrugdetail"] = [*doc["rxdrugdetail"], METFORMIN_LINE]
    uploaded = await world.upload(doc, nominate=world.pharmacy(0)[0])
    await world.review(uploaded["hi_rxno"])
    return doc, uploaded["hi_rxno"]


async def _dispense_both(world: RxWorld, hi_rxno: str) -> dict[str, Any]:
    assert (await world.lock(0, hi_rxno)).status_code == 200
    lines = [
        {
            "med_list_codg": code,
            "cnt": cnt,
            "pric": pric,
            "manu_lotnum": "LOT2026A",
            "drug_trac_codg": [f"TRACE-{code}"],
        }
        for code, cnt, pric in ((AMLODIPINE, "1", "25.50"), (METFORMIN, "14", "0.0325"))
    ]
    response = await world.client.post(
        f"/v1/prescriptions/{hi_rxno}/dispensations",
        json={"dspe_lines": lines},
        headers=world.pharmacy(0)[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _requests(world: RxWorld, hi_rxno: str, headers: dict[str, str]) -> httpx.Response:
    return await world.client.get(f"/v1/fhir/MedicationRequest/{hi_rxno}", headers=headers)


async def _dispenses(world: RxWorld, read_id: str, headers: dict[str, str]) -> httpx.Response:
    return await world.client.get(f"/v1/fhir/MedicationDispense/{read_id}", headers=headers)


async def test_a_prescription_is_a_medication_request_per_drug_line(world: RxWorld) -> None:
    doc, hi_rxno = await _two_drug_prescription(world)
    bundle = fhir_json(await _requests(world, hi_rxno, world.hospital[1]))
    amlodipine, metformin = entries(bundle, "MedicationRequest")

    assert [amlodipine["id"], metformin["id"]] == [f"{hi_rxno}-1", f"{hi_rxno}-2"]
    for request in (amlodipine, metformin):
        assert request["groupIdentifier"]["value"] == hi_rxno
        assert identifier_value(request["identifier"], "hosp_rxno") == doc["hosp_rxno"]
        assigner = request["identifier"][0]["assigner"]["identifier"]["value"]
        assert assigner == doc["fixmedins_code"]
        assert (request["status"], request["intent"]) == ("active", "order")
        assert request["statusReason"]["coding"][0]["code"] == "1"
        assert request["subject"]["identifier"]["value"] == doc["psn_no"]
        assert request["requester"]["identifier"]["value"] == doc["dr_code"]
        assert request["authoredOn"] == doc["prsc_time"]
        assert request["reasonCode"][0]["coding"][0]["code"] == "I10.x00"
        assert request["dispenseRequest"]["validityPeriod"] == {
            "start": doc["prsc_time"],
            "end": doc["vali_end_time"],
        }
        nominated = request["dispenseRequest"]["performer"]["identifier"]["value"]
        assert nominated == world.pharmacy(0)[0]

    medication = metformin["medicationCodeableConcept"]["coding"][0]
    assert (medication["code"], medication["display"]) == (METFORMIN, "盐酸二甲双胍片")
    dispense_request = metformin["dispenseRequest"]
    assert dispense_request["quantity"] == {"value": Decimal("14"), "unit": "片"}
    assert dispense_request["expectedSupplyDuration"]["value"] == 7
    (dosage,) = metformin["dosageInstruction"]
    assert dosage["text"] == "每日两次 口服"
    assert dosage["timing"]["code"]["coding"][0]["code"] == "bid"
    assert dosage["route"]["coding"][0]["code"] == "po"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": Decimal("0.25"), "unit": "g"}


async def test_a_dispensation_is_a_medication_dispense_per_line(world: RxWorld) -> None:
    doc, hi_rxno = await _two_drug_prescription(world)
    dispensed = await _dispense_both(world, hi_rxno)
    pharmacy, headers = world.pharmacy(0)
    read_id = f"{hi_rxno}-{dispensed['dspe_seq']}"

    for viewer in (headers, world.hospital[1]):
        bundle = fhir_json(await _dispenses(world, read_id, viewer))
        amlodipine, metformin = entries(bundle, "MedicationDispense")
        assert [amlodipine["id"], metformin["id"]] == [f"{read_id}-1", f"{read_id}-2"]
        for dispense, prescribed in ((amlodipine, 1), (metformin, 2)):
            assert dispense["status"] == "completed"
            assert dispense["authorizingPrescription"] == [
                {"reference": f"MedicationRequest/{hi_rxno}-{prescribed}"}
            ]
            assert dispense["performer"][0]["actor"]["identifier"]["value"] == pharmacy
            assert dispense["supportingInformation"] == [
                {"reference": f"ClaimResponse/{dispensed['settlement']['setl_id']}"}
            ]
            assert dispense["subject"]["identifier"]["value"] == doc["psn_no"]
        assert metformin["quantity"] == {"value": Decimal("14")}
        assert metformin["medicationCodeableConcept"]["coding"][0]["code"] == METFORMIN

    # Dispensed once and for all: every MedicationRequest is completed.
    requests = entries(fhir_json(await _requests(world, hi_rxno, headers)), "MedicationRequest")
    assert {r["status"] for r in requests} == {"completed"}
    assert {r["statusReason"]["coding"][0]["code"] for r in requests} == {"2"}

    missing = await _dispenses(world, f"{hi_rxno}-2", headers)
    assert refusal(missing) == (
        404,
        {"code": "unknown_dispensation", "message": "no such dispensation", "field": "id"},
    )


async def test_scope_is_that_of_the_v1_download(world: RxWorld) -> None:
    """A pharmacy it was not routed or presented to, and an insurer, get what
    ``GET /v1/prescriptions/{hi_rxno}`` answers them; an unknown number the same 404."""
    _, hi_rxno = await _two_drug_prescription(world)
    dispensed = await _dispense_both(world, hi_rxno)
    read_id = f"{hi_rxno}-{dispensed['dspe_seq']}"
    for headers in (world.pharmacy(1)[1], world.claims.insurer):
        v1 = refusal(await world.get(hi_rxno, headers))
        assert refusal(await _requests(world, hi_rxno, headers)) == v1
        assert refusal(await _dispenses(world, read_id, headers)) == v1
    stranger = world.pharmacy(1)[1]
    assert refusal(await world.get(hi_rxno, stranger))[1]["code"] == "unknown_prescription"
    unknown = refusal(await _requests(world, "RX00000000000000000000", stranger))
    assert unknown == refusal(await _requests(world, hi_rxno, stranger))
    assert refusal(await _dispenses(world, "RX00000000000000000000-1", stranger)) == unknown
