"""What a settlement's audit entries say of it, so `sanyi audit verify` can hold the settlement
table to them: an amount or a status edited in the table, not through a settlement or a
revocation, no longer matches the newest entry of the settlement's stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import SETTLEMENT_AMOUNTS, Settlement
from engine import audit
from engine.money import yuan

#: The accumulator delta a revocation reverses: edited, a revoke would reverse other numbers.
_DELTAS = (
    "d_deductible_used",
    "d_hifp_paid",
    "d_inscp_psn_cum",
    "d_critical_paid",
    "d_assistance_paid",
)
_IDENTITY = ("mdtrt_id", "psn_no", "fixmedins_code", "admdvs", "status")
FIELDS = (*_IDENTITY, *SETTLEMENT_AMOUNTS, *_DELTAS)


def settlement_facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of a settlement's settle and revoke entries, from its column values: who and
    what it is, its status, and every amount in yuan as on the wire."""
    return {
        **{name: values[name] for name in _IDENTITY},
        **{name: str(yuan(values[name])) for name in (*SETTLEMENT_AMOUNTS, *_DELTAS)},
    }


async def _settlements(session: AsyncSession) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
    columns = [getattr(Settlement, name) for name in ("setl_id", *FIELDS)]
    result = await session.stream(select(*columns).order_by(Settlement.setl_id))
    async for row in result.mappings():
        yield row["setl_id"], settlement_facts(dict(row))


DESCRIBED = (
    audit.Described(object_type="settlement", table="settlement", fields=FIELDS, rows=_settlements),
)
