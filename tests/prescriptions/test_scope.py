"""Scope through the HTTP API: a caller that may not see a prescription (another hospital of the
region or of another region, a pharmacy it was neither routed nor presented to) gets, on every
operation, byte for byte the answer for a number that does not exist, or for one the engine
could not have issued."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from tests.prescriptions.world import RxWorld, build_rx_world
from tests.support.factories.orgs import make_key, make_org

UNKNOWN = (
    b'{"type":"urn:sanyi:problem:unknown_prescription","title":"Not Found","status":404,'
    b'"detail":"no such prescription","code":"unknown_prescription",'
    b'"message":"no such prescription","field":"hi_rxno"}'
)
MISSING = "R" + "0" * 20

Call = Callable[[str, dict[str, str]], Awaitable[httpx.Response]]


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session)


def hospital_calls(world: RxWorld) -> list[Call]:
    client = world.client
    dr_code = world.doctors["chief"].dr_code

    async def download(number: str, headers: dict[str, str]) -> httpx.Response:
        return await client.get(f"/v1/prescriptions/{number}", headers=headers)

    async def review(number: str, headers: dict[str, str]) -> httpx.Response:
        body = {"rvw_rslt": "approved", "phar_code": "PH001", "phar_name": "药师甲"}
        return await client.post(f"/v1/prescriptions/{number}/review", json=body, headers=headers)

    async def revoke(number: str, headers: dict[str, str]) -> httpx.Response:
        body = {"dr_code": dr_code, "revoke_reason": "诊断变更"}
        return await client.post(
            f"/v1/prescriptions/{number}/revocation", json=body, headers=headers
        )

    async def reissue(number: str, headers: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1/prescriptions/{number}/trace-code", headers=headers)

    return [download, review, revoke, reissue]


def pharmacy_calls(world: RxWorld) -> list[Call]:
    client = world.client

    async def download(number: str, headers: dict[str, str]) -> httpx.Response:
        return await client.get(f"/v1/prescriptions/{number}", headers=headers)

    async def lock(number: str, headers: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1/prescriptions/{number}/lock", json={}, headers=headers)

    async def give_back(number: str, headers: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1/prescriptions/{number}/return", headers=headers)

    async def dispense(number: str, headers: dict[str, str]) -> httpx.Response:
        line = {
            "med_list_codg": "XRXAMLO000001",
            "cnt": "1",
            "pric": "25.50",
            "manu_lotnum": "LOT2026A",
            "drug_trac_codg": ["SCOPE-1"],
        }
        return await client.post(
            f"/v1/prescriptions/{number}/dispensations",
            json={"dspe_lines": [line]},
            headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
        )

    return [download, lock, give_back, dispense]


async def answers_alike(calls: list[Call], numbers: list[str], headers: dict[str, str]) -> None:
    for call in calls:
        for number in numbers:
            answer = await call(number, headers)
            assert (answer.status_code, answer.content) == (404, UNKNOWN), (call, number)


async def test_other_hospitals_see_nothing_of_a_hospitals_prescriptions(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, hi_rxno, _ = await world.issue()
    pending = (await world.upload(world.document(await world.visit(patient), patient)))["hi_rxno"]
    for admdvs in (world.claims.admdvs, "110100"):
        other = await make_key(session, await make_org(session, role=Role.hospital, admdvs=admdvs))
        await answers_alike(
            hospital_calls(world), [hi_rxno, pending, MISSING, "R-X", "x" * 300], other
        )
    # The issuing hospital still reads both, unchanged.
    for number, status in ((hi_rxno, "circulating"), (pending, "pending_review")):
        shown = await world.get(number, world.hospital[1])
        assert (shown.status_code, shown.json()["status"]) == (200, status)


async def test_pharmacies_see_nothing_not_routed_or_presented_to_them(
    world: RxWorld, session: AsyncSession
) -> None:
    nominee, _ = world.pharmacy(1)
    _, routed_elsewhere, _ = await world.issue(nominate=nominee)
    _, open_unpresented, _ = await world.issue()
    foreign = await make_key(session, await make_org(session, role=Role.pharmacy, admdvs="110100"))
    numbers = [routed_elsewhere, open_unpresented, MISSING, "R-X", "x" * 300]
    for headers in (world.pharmacy(0)[1], foreign):
        await answers_alike(pharmacy_calls(world), numbers, headers)
    shown = await world.get(routed_elsewhere, world.pharmacy(1)[1])
    assert (shown.json()["locked"], shown.json()["dspe_cnt"]) == (False, 0)
