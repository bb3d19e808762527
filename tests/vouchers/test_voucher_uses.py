"""The other uses of a voucher token: the envelope's 1101 and 2201, and prescription
presentation at a pharmacy, each once per token."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from engine import signatures
from engine.signatures import SignatureScheme
from tests.nhsa.his import His, registration
from tests.prescriptions.world import DAY0, RxWorld, build_rx_world
from tests.support.factories.world import World, build_world
from tests.vouchers.factories import altered, forge, issue, register_voucher_key
from vouchers.routes import clock as voucher_clock


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


async def test_1101_answers_the_token_holder_once(world: World) -> None:
    key = await register_voucher_key(world)
    psn_no, certno = await world.enrol()
    his = His(world)
    token = await issue(world, key, psn_no)
    query = {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token, "certno": certno}}
    message = his.message("1101", query)
    answer = await his.post(message)
    assert answer["infcode"] == 0, answer
    assert answer["output"]["baseinfo"]["psn_no"] == psn_no
    # A retry of the same message replays the answer; a new message with the token is a reuse.
    assert await his.post(message) == answer
    again = await his.refused("1101", query)
    assert (again["err_code"], again["err_field"]) == ("voucher_reused", "input.data.mdtrt_cert_no")

    stranger = signatures.generate_private_key(SignatureScheme.sm2)
    for bad, code in (
        (forge(stranger, admdvs=world.admdvs, psn_no=psn_no, key=key), "voucher_invalid"),
        (altered(await issue(world, key, psn_no), token_id="0" * 32), "voucher_invalid"),
    ):
        refused = await his.refused(
            "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": bad, "certno": certno}}
        )
        assert (refused["err_code"], refused["err_field"]) == (code, "input.data.mdtrt_cert_no")


async def test_1101_with_the_token_alone_answers_without_sex_and_birth_date(
    world: World,
) -> None:
    """The HIS that scanned the QR code knows no resident ID: the token alone names the person
    (the engine keeps no resident ID to read sex and birth date from)."""
    key = await register_voucher_key(world)
    psn_no, certno = await world.enrol()
    his = His(world)
    token = await issue(world, key, psn_no)
    answer = await his.call(
        "1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token, "certno": ""}}
    )
    base = answer["baseinfo"]
    assert (base["psn_no"], base["certno"]) == (psn_no, certno[:6] + "********" + certno[-4:])
    assert (base["gend"], base["brdy"], base["age"]) == (None, None, None)
    assert answer["insuinfo"][0]["insuplc_admdvs"] == world.admdvs


async def test_1101_with_another_persons_resident_id_finds_nobody(world: World) -> None:
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    _, other_certno = await world.enrol()
    his = His(world)
    token = await issue(world, key, psn_no)
    refused = await his.refused(
        "1101",
        {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token, "certno": other_certno}},
    )
    assert (refused["err_code"], refused["err_field"]) == ("unknown_person", "input.data.certno")


async def test_the_envelopes_2201_registers_with_a_token_once(world: World) -> None:
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    his = His(world)
    token = await issue(world, key, psn_no)
    body = registration(psn_no, "", world.doctors["chief"], begntime="2026-03-02 09:30:00")
    body["data"] |= {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}
    message = his.message("2201", body)
    registered = await his.post(message)
    assert registered["infcode"] == 0, registered
    assert registered["output"]["data"]["psn_no"] == psn_no
    assert await his.post(message) == registered  # the same msgid replays its answer
    body["data"]["ipt_otp_no"] = body["data"]["ipt_otp_no"] + "B"
    again = await his.refused("2201", body)
    assert (again["err_code"], again["err_field"]) == ("voucher_reused", "input.data.mdtrt_cert_no")


@pytest.fixture
async def rx_world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    """The prescription world, its insurer issuing tokens at the moment the pharmacies act."""
    world = await build_rx_world(app, client, session)
    app.dependency_overrides[voucher_clock] = lambda: DAY0
    return world


async def test_a_pharmacy_opens_a_prescription_with_the_patients_token(rx_world: RxWorld) -> None:
    key = await register_voucher_key(rx_world.claims)
    patient, hi_rxno, trace_code = await rx_world.issue()
    token = await issue(rx_world.claims, key, patient.psn_no)
    opened = await rx_world.present(0, trace_code, token, cert_type="01")
    assert opened.status_code == 200, opened.text
    assert opened.json()["hi_rxno"] == hi_rxno
    reused = await rx_world.present(1, trace_code, token, cert_type="01")
    assert (reused.status_code, reused.json()["code"]) == (409, "voucher_reused")

    # Another person's genuine token opens nothing, like a wrong ID card.
    other, _, _ = await rx_world.issue()
    wrong = await rx_world.present(
        1, trace_code, await issue(rx_world.claims, key, other.psn_no), cert_type="01"
    )
    assert (wrong.status_code, wrong.json()["code"]) == (404, "unknown_prescription")


async def test_a_bad_token_is_refused_before_the_trace_code_is_looked_up(
    rx_world: RxWorld,
) -> None:
    """The refusal of a bad token is the same for a real and an unknown trace code, so a token
    cannot probe trace codes."""
    key = await register_voucher_key(rx_world.claims)
    patient, _, trace_code = await rx_world.issue()
    expired = forge(
        key,
        admdvs=rx_world.claims.admdvs,
        psn_no=patient.psn_no,
        issued=datetime(2026, 1, 1, tzinfo=UTC),
    )
    answers = [
        (await rx_world.present(0, code, expired, cert_type="01")).json()
        for code in (trace_code, "F" * 24)
    ]
    assert answers[0] == answers[1]
    assert answers[0]["code"] == "voucher_expired"
