"""Two regions for cross-region tests: people insured in A (``230100``, the demo policy with its
cross-region terms) treated at an institution of B (``510100``), whose catalogue classes and
caps the test items differently from A's, so every figure shows which catalogue priced it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories.world import CLASS_A_ITEM, DRUG_Y, World, build_world

INSURED, TREATMENT = "230100", "510100"

#: B's own versions of two items, from before the test visits (2026-03-02): the class A item of
#: A's catalogue is class B here (10% self-pay), and drug Y has a lower payment standard and a
#: larger self-pay share.
TREATMENT_CATALOGUE = f"""\
med_list_codg,name,kind,chrgitm_lv,selfpay_prop,pric_uplmt_amt,pric,valid_from,non_medical
{CLASS_A_ITEM},class B item in 510100,drug,2,0.10,,,2026-02-01,0
{DRUG_Y},drug Y in 510100,drug,2,0.20,38.00,,2026-02-01,0
"""

#: A visit's lines at B: 1 × 100.00 of the item, 2 × 42.80 of drug Y. Priced by B: the item
#: 10.00 self-pay first, 90.00 in scope; drug Y capped at 2 × 38.00 = 76.00 (9.60 over the
#: standard), 15.20 self-pay first, 60.80 in scope: 185.60 of fees, 150.80 in scope.
LINES: list[tuple[str, str, str | None]] = [(CLASS_A_ITEM, "1", "100.00"), (DRUG_Y, "2", "42.80")]


async def treatment_world(
    client: httpx.AsyncClient, session: AsyncSession, *, admdvs: str = TREATMENT
) -> World:
    world = await build_world(client, session, admdvs=admdvs, hospital_levels=(3, 3))
    response = await client.post(
        f"/v1/tariffs/{admdvs}/imports",
        content=TREATMENT_CATALOGUE.encode(),
        headers=world.insurer | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return world


@dataclass
class CrossRegion:
    home: World
    away: World

    async def insured(
        self, filing_type: str | None = None, *, insutype: str = "390", **person: Any
    ) -> tuple[str, str]:
        """A person insured in A, filed for care in B for 2026 unless ``filing_type`` is None."""
        psn_no, certno = await self.home.enrol(insutype=insutype, **person)
        if filing_type is not None:
            response = await self.home.client.post(
                "/v1/cross-region/filings",
                json={
                    "psn_no": psn_no,
                    "filing_type": filing_type,
                    "mdtrtarea_admvs": self.away.admdvs,
                    "begndate": "2026-01-01",
                    "enddate": "2026-12-31",
                },
                headers=self.home.insurer | {"Idempotency-Key": uuid.uuid4().hex},
            )
            assert response.status_code == 201, response.text
        return psn_no, certno

    async def visit_with_lines(
        self, psn_no: str, certno: str, *, hospital: int = 0, **extra: Any
    ) -> dict[str, Any]:
        """A visit at B's hospital with :data:`LINES` uploaded."""
        visit = await self.away.visit(psn_no, certno, hospital=hospital, dr=None, **extra)
        await self.away.fees(visit["mdtrt_id"], LINES, hospital=hospital)
        return visit

    async def settled(
        self, filing_type: str | None = None, *, hospital: int = 0, **person: Any
    ) -> dict[str, Any]:
        psn_no, certno = await self.insured(filing_type, **person)
        visit = await self.visit_with_lines(psn_no, certno, hospital=hospital)
        response = await self.away.settle(visit["mdtrt_id"], hospital=hospital)
        assert response.status_code == 201, response.text
        return dict(response.json())
