"""A doctor with an SM2 key (docs/domain.md sections 9 and 17): the prescription is accepted,
reviewed, locked and dispensed through the API; an altered one is refused at upload, and a stored
one changed afterwards is refused when a pharmacy opens it."""

from __future__ import annotations

import base64
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.signatures import SignatureScheme
from prescriptions.models import Prescription
from prescriptions.signing import sign
from tests.prescriptions.world import RxWorld, build_rx_world, register_doctor


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    world = await build_rx_world(app, client, session)
    doctor = await register_doctor(
        world.claims, "sm2", internet=True, since=date(2006, 7, 1), scheme=SignatureScheme.sm2
    )
    world.doctors["sm2"] = doctor
    world.claims.doctors["sm2"] = doctor.dr_code
    return world


async def test_an_sm2_signed_prescription_circulates_and_is_dispensed(world: RxWorld) -> None:
    code, headers = world.pharmacy(0)
    patient = await world.patient()
    mdtrt_id = await world.visit(patient, dr="sm2")
    uploaded = await world.upload(
        world.document(mdtrt_id, patient, dr="sm2"), dr="sm2", nominate=code
    )
    await world.review(uploaded["hi_rxno"])
    shown = await world.get(uploaded["hi_rxno"], headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["signature"]["scheme"] == "sm2"
    assert (await world.lock(0, uploaded["hi_rxno"])).status_code == 200
    dispensed = await world.dispense(0, uploaded["hi_rxno"])
    assert dispensed.status_code == 201, dispensed.text


async def test_an_altered_sm2_prescription_is_refused_at_upload(world: RxWorld) -> None:
    patient = await world.patient()
    mdtrt_id = await world.visit(patient, dr="sm2")
    doc = world.document(mdtrt_id, patient, dr="sm2")
    signature = sign(doc, world.doctors["sm2"].key).model_dump(mode="json", exclude_none=True)
    doc["rxdrugdetail"][0]["drug_cnt"] = "2"
    refused = await world.client.post(
        "/v1/prescriptions", json=doc | {"signature": signature}, headers=world.hospital[1]
    )
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("invalid_signature", "signature")

    # Another doctor's Ed25519 signature presented as SM2, and an SM2 value that is not DER.
    ed_signature = sign(doc, world.doctors["chief"].key).model_dump(mode="json")
    for bad in (
        ed_signature | {"scheme": "sm2", "key_id": None},
        signature | {"value": base64.b64encode(b"\x01" * 64).decode()},
    ):
        response = await world.client.post(
            "/v1/prescriptions", json=doc | {"signature": bad}, headers=world.hospital[1]
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_signature"


async def test_a_stored_sm2_prescription_changed_later_is_refused(
    world: RxWorld, session: AsyncSession
) -> None:
    code, headers = world.pharmacy(0)
    patient = await world.patient()
    mdtrt_id = await world.visit(patient, dr="sm2")
    uploaded = await world.upload(
        world.document(mdtrt_id, patient, dr="sm2"), dr="sm2", nominate=code
    )
    await world.review(uploaded["hi_rxno"])
    row = await session.get_one(Prescription, uploaded["hi_rxno"])
    document = row.document | {"vali_days": 2}
    await session.execute(
        update(Prescription)
        .where(Prescription.hi_rxno == uploaded["hi_rxno"])
        .values(document=document)
    )
    for response in (
        await world.get(uploaded["hi_rxno"], headers),
        await world.lock(0, uploaded["hi_rxno"]),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_signature"
