"""An approved clearing batch as a FHIR R4 PaymentReconciliation: valid for the R4 models, the
month as its period, the batch's payable as its payment and one detail per fund, to the fen; an
applied batch has none yet; scoped exactly like ``GET /v1/clearing/batches/{id}``."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from engine.clock import CST
from tests.fhir.validation import fhir_json, identifier_value, money, refusal
from tests.support.factories.clearing import backdate, settled
from tests.support.factories.orgs import make_key, make_org
from tests.support.factories.world import World, build_world

SEPTEMBER = "202609"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


async def _applied(world: World, session: AsyncSession) -> dict[str, Any]:
    """Two settlements of September 2026 at hospital 0, and its clearing application."""
    for price in ("100.00", "36.40"):
        settlement = await settled(world, price=price)
        await backdate(session, settlement["setl_id"], datetime(2026, 9, 15, 10, tzinfo=CST))
    response = await world.client.post(
        "/v1/clearing/batches",
        json={"setlym": SEPTEMBER, "clr_type": "11"},
        headers=world.hospital(0)[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _approved(world: World, batch_id: str) -> dict[str, Any]:
    response = await world.client.post(
        f"/v1/clearing/batches/{batch_id}/approval",
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _read(world: World, batch_id: str, headers: dict[str, str]) -> httpx.Response:
    return await world.client.get(f"/v1/fhir/PaymentReconciliation/{batch_id}", headers=headers)


async def test_an_approved_batch_is_a_payment_reconciliation(
    world: World, session: AsyncSession
) -> None:
    batch_id = (await _applied(world, session))["clr_appy_evt_id"]
    not_yet = await _read(world, batch_id, world.insurer)
    assert refusal(not_yet) == (
        409,
        {
            "code": "batch_not_approved",
            "message": "the clearing batch is not approved yet: it has no figures to reconcile",
            "field": "clr_appy_evt_id",
        },
    )
    batch = await _approved(world, batch_id)

    for headers in (world.insurer, world.hospital(0)[1]):
        resource = fhir_json(await _read(world, batch_id, headers))
        assert (resource["id"], resource["status"], resource["outcome"]) == (
            batch_id,
            "active",
            "complete",
        )
        assert identifier_value(resource["identifier"], "clr_appy_evt_id") == batch_id
        assert resource["period"] == {"start": "2026-09-01", "end": "2026-09-30"}
        assert resource["requestor"]["identifier"]["value"] == world.hospital(0)[0]
        assert resource["paymentIssuer"]["identifier"]["value"] == world.admdvs
        assert money(resource["paymentAmount"]) == Decimal(batch["payable_sumamt"])
        details = {d["type"]["coding"][0]["code"]: money(d["amount"]) for d in resource["detail"]}
        assert details == {f["fund"]: Decimal(f["payable"]) for f in batch["funds"]}
        assert details["hifp_pay"] == Decimal("68.20")  # half of 136.40, by the pooled fund


async def test_scope_is_that_of_the_v1_read(world: World, session: AsyncSession) -> None:
    """Another hospital and another region's insurer get what the /v1 read answers them, the
    404 of a batch that does not exist."""
    batch_id = (await _applied(world, session))["clr_appy_evt_id"]
    await _approved(world, batch_id)
    stranger = await make_key(session, await make_org(session, role=Role.insurer, admdvs="110100"))
    await session.commit()
    for headers in (world.hospital(1)[1], stranger):
        fhir = refusal(await _read(world, batch_id, headers))
        v1 = await world.client.get(f"/v1/clearing/batches/{batch_id}", headers=headers)
        assert fhir == refusal(v1)
        assert fhir[0] == 404 and fhir[1]["code"] == "unknown_batch"
        assert refusal(await _read(world, "CLR0000000000000000000", headers)) == fhir
