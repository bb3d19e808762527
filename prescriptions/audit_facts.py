"""What a prescription's audit entries say of it, so `sanyi audit verify` can hold the
prescription table to them: a status or dispense count edited in the table, not through a
transition, no longer matches the newest entry of the prescription's stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from prescriptions.models import Prescription

FIELDS = ("status", "dspe_cnt")


async def _prescriptions(session: AsyncSession) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
    result = await session.stream(
        select(Prescription.hi_rxno, Prescription.status, Prescription.dspe_cnt).order_by(
            Prescription.hi_rxno
        )
    )
    async for hi_rxno, status, dspe_cnt in result:
        yield hi_rxno, {"status": status, "dspe_cnt": dspe_cnt}


DESCRIBED = (
    audit.Described(
        object_type="prescription", table="prescription", fields=FIELDS, rows=_prescriptions
    ),
)
