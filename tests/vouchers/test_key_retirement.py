"""An insurer retires its region's voucher key (rotated, or its private half exposed): tokens
signed by it are refused as from an unknown issuer, even those signed before; the key prepares
no more tokens; a new key is registered and used; each retirement is audited."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import AuditEntry
from tests.support.factories.world import World, build_world
from tests.vouchers.factories import forge, issue, key_id, register_voucher_key
from tests.vouchers.test_vouchers_api import visit_01

HOME, OTHER = "230100", "230200"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=HOME)


async def _retire(world: World, key: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await world.client.post(
        f"/v1/vouchers/keys/{key}/retirement",
        headers=(headers or world.insurer) | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_a_retired_key_verifies_nothing_and_a_new_one_takes_over(
    world: World, session: AsyncSession
) -> None:
    old = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    signed_before = await issue(world, old, psn_no)

    retired = await _retire(world, key_id(old))
    assert retired.status_code == 200, retired.text
    assert retired.json()["key_id"] == key_id(old)
    assert retired.json()["retired_at"] is not None

    refused = await visit_01(world, psn_no, signed_before, expect=400)
    assert (refused["code"], refused["field"]) == ("voucher_unknown_issuer", "mdtrt_cert_no")
    prepared = await world.client.post(
        "/v1/vouchers/tokens",
        json={"psn_no": psn_no, "key_id": key_id(old)},
        headers=world.insurer,
    )
    assert (prepared.status_code, prepared.json()["code"]) == (400, "unknown_voucher_key")

    new = await register_voucher_key(world)
    visit = await visit_01(world, psn_no, await issue(world, new, psn_no))
    assert visit["psn_no"] == psn_no
    listed = (await world.client.get("/v1/vouchers/keys", headers=world.insurer)).json()
    assert {k["key_id"]: k["retired_at"] is not None for k in listed["items"]} == {
        key_id(old): True,
        key_id(new): False,
    }
    # Registering the retired key again does not bring it back.
    again = await world.client.post(
        "/v1/vouchers/keys",
        json={"key_scheme": "sm2", "public_key": listed["items"][0]["public_key"]},
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (again.status_code, again.json()["code"]) == (409, "voucher_key_exists")

    entries = (
        await session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "voucher_key.retired",
                AuditEntry.object_id == f"{HOME}:{key_id(old)}",
            )
        )
    ).all()
    assert [e.payload["key_id"] for e in entries] == [key_id(old)]


async def test_only_the_regions_insurer_retires_its_key_once(
    world: World, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    key = await register_voucher_key(world)
    other = await build_world(client, session, admdvs=OTHER)
    # Another region's insurer: as for a key that does not exist; other roles: forbidden.
    for headers, status, code in (
        (other.insurer, 404, "unknown_voucher_key"),
        (world.hospital()[1], 403, "forbidden"),
    ):
        response = await _retire(world, key_id(key), headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    unknown = await _retire(world, "0" * 16)
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
        404,
        "unknown_voucher_key",
        "key_id",
    )
    assert (await _retire(world, key_id(key))).status_code == 200
    twice = await _retire(world, key_id(key))
    assert (twice.status_code, twice.json()["code"]) == (409, "voucher_key_retired")
    # A token the retired key signs now, outside the engine, is refused like any other.
    psn_no, _ = await world.enrol()
    forged = forge(key, admdvs=HOME, psn_no=psn_no)
    refused = await visit_01(world, psn_no, forged, expect=400)
    assert refused["code"] == "voucher_unknown_issuer"
