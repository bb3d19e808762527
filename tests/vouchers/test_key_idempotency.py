"""Registering and retiring a voucher key under an ``Idempotency-Key``: a retry answers the first
answer byte for byte and writes nothing more, the same key with another request is refused, and a
second request under a new key meets the key's own rules (exists, retired)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import signatures
from engine.audit import AuditEntry
from engine.signatures import SignatureScheme
from tests.support.factories.world import World, build_world
from tests.vouchers.factories import key_id, register_voucher_key
from vouchers.models import VoucherKey

HOME = "230100"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=HOME)


def _public_key() -> str:
    private_key = signatures.generate_private_key(SignatureScheme.ed25519)
    return base64.b64encode(signatures.public_key_bytes(private_key)).decode()


async def _audited(session: AsyncSession, action: str, object_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.object_id == object_id)
    )
    return count or 0


async def test_a_registration_retried_under_its_key_answers_the_first_answer(
    world: World, session: AsyncSession
) -> None:
    body = {"key_scheme": "ed25519", "public_key": _public_key()}
    headers = world.insurer | {"Idempotency-Key": f"vk-{uuid.uuid4().hex}"}

    first = await world.client.post("/v1/vouchers/keys", json=body, headers=headers)
    retry = await world.client.post("/v1/vouchers/keys", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.content) == (201, first.content)

    reused = await world.client.post(
        "/v1/vouchers/keys", json=body | {"public_key": _public_key()}, headers=headers
    )
    assert (reused.status_code, reused.json()["code"], reused.json()["field"]) == (
        409,
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    again = await world.client.post(
        "/v1/vouchers/keys",
        json=body,
        headers=world.insurer | {"Idempotency-Key": f"vk-{uuid.uuid4().hex}"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "voucher_key_exists")

    keys = await session.scalar(
        select(func.count()).select_from(VoucherKey).where(VoucherKey.admdvs == HOME)
    )
    assert keys == 1
    object_id = f"{HOME}:{first.json()['key_id']}"
    assert await _audited(session, "voucher_key.registered", object_id) == 1


async def test_a_retirement_retried_under_its_key_answers_the_first_answer(
    world: World, session: AsyncSession
) -> None:
    key, other = await register_voucher_key(world), await register_voucher_key(world)
    headers = world.insurer | {"Idempotency-Key": f"vr-{uuid.uuid4().hex}"}
    path = f"/v1/vouchers/keys/{key_id(key)}/retirement"

    first = await world.client.post(path, headers=headers)
    retry = await world.client.post(path, headers=headers)
    assert first.status_code == 200, first.text
    assert (retry.status_code, retry.content) == (200, first.content)

    reused = await world.client.post(
        f"/v1/vouchers/keys/{key_id(other)}/retirement", headers=headers
    )
    assert (reused.status_code, reused.json()["code"], reused.json()["field"]) == (
        409,
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    again = await world.client.post(
        path, headers=world.insurer | {"Idempotency-Key": f"vr-{uuid.uuid4().hex}"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "voucher_key_retired")

    listed = (await world.client.get("/v1/vouchers/keys", headers=world.insurer)).json()
    assert {k["key_id"]: k["retired_at"] for k in listed["items"]} == {
        key_id(key): first.json()["retired_at"],
        key_id(other): None,
    }
    assert await _audited(session, "voucher_key.retired", f"{HOME}:{key_id(key)}") == 1


async def test_a_key_write_without_an_idempotency_key_is_refused_and_changes_nothing(
    world: World, session: AsyncSession
) -> None:
    key = await register_voucher_key(world)
    registered = await world.client.post(
        "/v1/vouchers/keys",
        json={"key_scheme": "ed25519", "public_key": _public_key()},
        headers=world.insurer,
    )
    retired = await world.client.post(
        f"/v1/vouchers/keys/{key_id(key)}/retirement", headers=world.insurer
    )
    for response in (registered, retired):
        assert (response.status_code, response.json()["field"]) == (422, "Idempotency-Key")
    listed = (await world.client.get("/v1/vouchers/keys", headers=world.insurer)).json()
    assert [(k["key_id"], k["retired_at"]) for k in listed["items"]] == [(key_id(key), None)]
