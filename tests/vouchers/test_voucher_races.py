"""Real races on PostgreSQL (separate connections): one token sent with many registrations at
once registers exactly one visit; one key retired many times at once is retired once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from claims.settlement.models import Visit
from engine.audit import AuditEntry
from engine.db import Database
from tests.support.factories.world import World
from tests.vouchers.factories import issue, key_id, register_voucher_key
from vouchers.models import RedeemedVoucher

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
            f"/v1/vouchers/keys/{key_id(key)}/retirement", headers=world.insurer
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
