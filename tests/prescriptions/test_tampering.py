"""A stored prescription changed by one byte in the database is refused on download, lock and
dispense with ``invalid_signature`` (docs/domain.md section 9; issue 6, judged): in the signed
document, in the signature envelope, or in a column copy of a signed value."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Settlement
from prescriptions.models import Prescription
from tests.prescriptions.world import RxWorld, build_rx_world


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session)


def one_byte(old: str, new: str) -> Callable[[Prescription], dict[str, Any]]:
    """Change the first ``old`` in the stored document's JSON text to ``new`` (same length)."""
    assert len(old.encode()) == len(new.encode())

    def change(row: Prescription) -> dict[str, Any]:
        text = json.dumps(row.document, ensure_ascii=False)
        assert old in text
        return {"document": json.loads(text.replace(old, new, 1))}

    return change


def signature_byte(row: Prescription) -> dict[str, Any]:
    value = row.signature["value"]
    flipped = ("B" if value[10] == "A" else "A").join((value[:10], value[11:]))
    return {"signature": row.signature | {"value": flipped}}


def _other_last_char(value: str) -> str:
    """``value`` with its last character changed (to "0", or to "1" if it already was "0")."""
    return value[:-1] + ("1" if value.endswith("0") else "0")


TAMPERS: dict[str, Callable[[Prescription], dict[str, Any]]] = {
    "drug quantity": one_byte('"drug_cnt": "1"', '"drug_cnt": "9"'),
    "course days": one_byte('"medc_days": 7', '"medc_days": 8'),
    "validity": one_byte("23:59:59+08:00", "23:59:58+08:00"),
    "signature": signature_byte,
    "column: repeats": lambda row: {"max_rept_cnt": 2},
    "column: patient": lambda row: {"psn_no": _other_last_char(row.psn_no)},
    "column: validity": lambda row: {"vali_end_time": row.vali_end_time + timedelta(days=1)},
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
async def test_a_changed_byte_fails_download_and_dispense(
    world: RxWorld,
    session: AsyncSession,
    tamper: Callable[[Prescription], dict[str, Any]],
) -> None:
    code, headers = world.pharmacy(0)
    patient, hi_rxno, _ = await world.issue(nominate=code)
    assert (await world.get(hi_rxno, headers)).status_code == 200
    assert (await world.lock(0, hi_rxno)).status_code == 200

    row = await session.get_one(Prescription, hi_rxno)
    await session.execute(
        update(Prescription).where(Prescription.hi_rxno == hi_rxno).values(**tamper(row))
    )
    for response in (
        await world.get(hi_rxno, headers),
        await world.get(hi_rxno, world.hospital[1]),
        await world.lock(0, hi_rxno),
        await world.dispense(0, hi_rxno),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_signature"
    settled = await session.scalar(
        select(func.count()).select_from(Settlement).where(Settlement.psn_no == patient.psn_no)
    )
    assert settled == 0
