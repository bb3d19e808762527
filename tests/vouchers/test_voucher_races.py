"""Real races on PostgreSQL (separate connections): one token sent with many registrations at
once registers exactly one visit; one key retired many times at once is retired once; a key
registered or retired many times at once under one Idempotency-Key is written and audited once."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest
from sqlalchemy import func, select

from claims.settlement.models import Visit
from engine import signatures
from engine.audit import AuditEntry
from engine.db import Database
from engine.signatures import SignatureScheme
from tests.support.factories.world import World
from tests.vouchers.factories import issue, key_id, register_voucher_key
from vouchers.models import RedeemedVoucher, VoucherKey

pytestmark = pytest.mark.postgres_only


async def test_a_token_sent_twenty_times_at_once_registers_one_visit(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    token = await issue(world, key, psn_no)
    code, headers = world.hospital()

    async def register(i: int) -> tuple[int, str | None]:
        response = await world.client.post(
            "/v1/visits",
            json={
                "psn_no": psn_no,
                "mdtrt_cert_type": "01",
                "mdtrt_cert_no": token,
                "fixmedins_code": code,
                "med_type": "11",
                "biz_type_code": "01",
                "begntime": "2026-03-02T09:30:00+08:00",
                "diseinfo": [{"diag_code": "I10.x00", "diag_name": "诊断", "maindiag_flag": "1"}],
                "ipt_otp_no": f"OP{i}{uuid.uuid4().hex[:8]}",
            },
            headers=headers,
        )
        return response.status_code, response.json().get("code")

    answers = await asyncio.gather(*(register(i) for i in range(20)))
    assert sorted(answers, key=str) == sorted(
        [(201, None)] + [(409, "voucher_reused")] * 19, key=str
    )
    async with database.sessionmaker() as session:
        visits = await session.scalar(
            select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no)
        )
        redeemed = await session.scalar(
            select(func.count())
            .select_from(RedeemedVoucher)
            .where(RedeemedVoucher.psn_no == psn_no)
        )
    assert (visits, redeemed) == (1, 1)


async def test_a_key_retired_ten_times_at_once_is_retired_once(
    committed_world: World, database: Database
) -> None:
    """The key's row lock serialises retirements: one retires it, the others find it retired,
    and one audit entry records it."""
    world = committed_world
    key = await register_voucher_key(world)

    async def retire() -> tuple[int, str | None]:
        response = await world.client.post(
            f"/v1/vouchers/keys/{key_id(key)}/retirement",
            headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )
        return response.status_code, response.json().get("code")

    answers = await asyncio.gather(*(retire() for _ in range(10)))
    assert sorted(answers, key=str) == sorted(
        [(200, None)] + [(409, "voucher_key_retired")] * 9, key=str
    )
    async with database.sessionmaker() as session:
        entries = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "voucher_key.retired",
                AuditEntry.object_id == f"{world.admdvs}:{key_id(key)}",
            )
        )
    assert entries == 1


async def test_a_registration_sent_ten_times_at_once_under_one_key_registers_once(
    committed_world: World, database: Database
) -> None:
    """The first request reserves the Idempotency-Key; the others wait on its reservation, then
    replay its answer: one key, one audit entry, ten identical answers."""
    world = committed_world
    private_key = signatures.generate_private_key(SignatureScheme.ed25519)
    public = base64.b64encode(signatures.public_key_bytes(private_key)).decode()
    headers = world.insurer | {"Idempotency-Key": f"vk-{uuid.uuid4().hex}"}

    async def register() -> tuple[int, bytes]:
        response = await world.client.post(
            "/v1/vouchers/keys",
            json={"key_scheme": "ed25519", "public_key": public},
            headers=headers,
        )
        return response.status_code, response.content

    answers = await asyncio.gather(*(register() for _ in range(10)))
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    async with database.sessionmaker() as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(VoucherKey)
            .where(VoucherKey.admdvs == world.admdvs, VoucherKey.key_id == key_id(private_key))
        )
        entries = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "voucher_key.registered",
                AuditEntry.object_id == f"{world.admdvs}:{key_id(private_key)}",
            )
        )
    assert (keys, entries) == (1, 1)


async def test_a_retirement_sent_ten_times_at_once_under_one_key_retires_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    key = await register_voucher_key(world)
    headers = world.insurer | {"Idempotency-Key": f"vr-{uuid.uuid4().hex}"}

    async def retire() -> tuple[int, bytes]:
        response = await world.client.post(
            f"/v1/vouchers/keys/{key_id(key)}/retirement", headers=headers
        )
        return response.status_code, response.content

    answers = await asyncio.gather(*(retire() for _ in range(10)))
    assert {status for status, _ in answers} == {200}
    assert len({content for _, content in answers}) == 1
    async with database.sessionmaker() as session:
        entries = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "voucher_key.retired",
                AuditEntry.object_id == f"{world.admdvs}:{key_id(key)}",
            )
        )
    assert entries == 1
