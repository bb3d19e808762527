"""A pharmacy purchase (med_type 41) at a designated pharmacy of B (510100) by a person insured
in A (230100), on a prescription from a visit at a hospital of B: priced by B's catalogue, paid
by A's policy for pharmacy purchases under the care type, against A's accumulators, to the fen.

B's catalogue has amlodipine as class B (10% self-pay) with a payment standard of 24.00 from
February; A's has it class A at 30.00. A pays residents (390) 50% of pharmacy purchases, no
deductible (demo policy), 10 points less for temporary travel, 20 less unfiled."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import BenefitAccumulator
from tests.prescriptions.world import (
    AMLODIPINE,
    DAY0,
    DRUG_CSV,
    Patient,
    RxWorld,
    build_rx_world,
)
from tests.support.factories.crossregion import INSURED, TREATMENT
from tests.support.factories.world import World, build_world
from tests.vouchers.factories import issue, register_voucher_key
from vouchers.routes import clock as voucher_clock

B_AMLODIPINE = f"""\
med_list_codg,name,kind,chrgitm_lv,selfpay_prop,pric_uplmt_amt,valid_from,controlled_class,long_term_excluded,antimicrobial
{AMLODIPINE},amlodipine 5mg x 28 in 510100,drug,2,0.10,24.00,2026-02-01,,0,0
"""


class Regions:
    def __init__(self, home: World, away: RxWorld) -> None:
        self.home, self.away = home, away

    async def patient(self, filing_type: str | None) -> Patient:
        psn_no, certno = await self.home.enrol(insutype="390")
        if filing_type is not None:
            response = await self.home.client.post(
                "/v1/cross-region/filings",
                json={"psn_no": psn_no, "filing_type": filing_type, "mdtrtarea_admvs": TREATMENT,
                      "begndate": "2026-01-01", "enddate": "2026-12-31"},
                headers=self.home.insurer | {"Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert response.status_code == 201, response.text
        return Patient(psn_no, certno)

    async def prescribed(self, patient: Patient, *, selfpay: bool = False) -> tuple[str, str]:
        """A visit at B's hospital and an approved prescription of it: (hi_rxno, trace code)."""
        mdtrt_id = await self.away.visit(patient, selfpay=selfpay)
        uploaded = await self.away.upload(self.away.document(mdtrt_id, patient))
        await self.away.review(uploaded["hi_rxno"])
        return uploaded["hi_rxno"], uploaded["rx_trace_code"]

    async def dispensed(
        self, patient: Patient, *, certificate: tuple[str, str] | None = None
    ) -> httpx.Response:
        """Presented at B's first pharmacy with ``certificate`` (type and number; default the
        resident ID), locked and dispensed there (one box at 25.50)."""
        hi_rxno, trace_code = await self.prescribed(patient)
        cert_type, cert_no = certificate or ("02", patient.certno)
        presented = await self.away.present(0, trace_code, cert_no, cert_type=cert_type)
        assert presented.status_code == 200, presented.text
        locked = await self.away.lock(0, hi_rxno)
        assert locked.status_code == 200, locked.text
        return await self.away.dispense(0, hi_rxno)


@pytest.fixture
async def regions(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> Regions:
    home = await build_world(client, session, admdvs=INSURED)
    imported = await client.post(
        f"/v1/tariffs/{INSURED}/imports",
        content=DRUG_CSV.encode(),
        headers=home.insurer | {"Content-Type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    away = await build_rx_world(app, client, session, admdvs=TREATMENT)
    imported = await client.post(
        f"/v1/tariffs/{TREATMENT}/imports",
        content=B_AMLODIPINE.encode(),
        headers=away.claims.insurer | {"Content-Type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    return Regions(home, away)


def _settlement(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json()["settlement"])


@pytest.mark.parametrize(
    ("filing_type", "hifp", "psn_part"),
    [
        # Priced by B: 25.50 over the 24.00 standard by 1.50; 10% of 24.00 = 2.40 self-pay
        # first; 21.60 in scope.
        ("temporary_travel", "8.64", "16.86"),  # 21.60 × 40%
        ("long_term_residence", "10.80", "14.70"),  # 21.60 × 50%
        (None, "6.48", "19.02"),  # unfiled: 21.60 × 30%
    ],
)
async def test_b_prices_a_pays_to_the_fen(
    regions: Regions,
    session: AsyncSession,
    filing_type: str | None,
    hifp: str,
    psn_part: str,
) -> None:
    patient = await regions.patient(filing_type)
    settlement = _settlement(await regions.dispensed(patient))
    assert {
        name: settlement[name]
        for name in (
            "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
            "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt",
            "acct_pay", "psn_cash_pay",
        )
    } == {
        "medfee_sumamt": "25.50",
        "fulamt_ownpay_amt": "0.00",
        "overlmt_selfpay": "1.50",
        "preselfpay_amt": "2.40",
        "inscp_scp_amt": "21.60",
        "act_pay_dedc": "0.00",
        "hifp_pay": hifp,
        "fund_pay_sumamt": hifp,
        "psn_part_amt": psn_part,
        "acct_pay": "0.00",
        "psn_cash_pay": psn_part,
    }  # fmt: skip
    assert (
        settlement["med_type"],
        settlement["insuplc_admdvs"],
        settlement["mdtrtarea_admvs"],
        settlement["filing_type"],
    ) == ("41", INSURED, TREATMENT, filing_type or "unfiled")
    # A's accumulator of pharmacy purchases (counted with general outpatient, 390-11).
    accumulator = await session.get_one(BenefitAccumulator, (patient.psn_no, 2026, "390-11"))
    assert accumulator.hifp_paid == int(hifp.replace(".", ""))


async def test_a_patient_shows_the_insured_places_voucher_at_the_pharmacy(
    app: FastAPI, regions: Regions
) -> None:
    """The token A's insurer signed opens the prescription at B's pharmacy (verified against A's
    key), and the purchase settles as with the resident ID."""
    app.dependency_overrides[voucher_clock] = lambda: DAY0
    key = await register_voucher_key(regions.home)
    patient = await regions.patient("temporary_travel")
    token = await issue(regions.home, key, patient.psn_no)
    settlement = _settlement(await regions.dispensed(patient, certificate=("01", token)))
    assert (settlement["hifp_pay"], settlement["insuplc_admdvs"]) == ("8.64", INSURED)


async def test_care_a_refuses_is_refused_at_the_counter_and_changes_nothing(
    regions: Regions,
) -> None:
    """A's terms refuse unfiled care from February: the dispense is refused with the stable
    code, and the prescription is left as it was, to dispense once the person is filed."""
    loaded = await regions.home.client.post(
        f"/v1/policies/{INSURED}",
        json={"cross_region": [{"care_type": "unfiled", "valid_from": "2026-02-01",
                                "payable": False}]},
        headers=regions.home.insurer,
    )  # fmt: skip
    assert loaded.status_code == 201, loaded.text
    patient = await regions.patient(None)
    # The hospital's visit is refused for insurance too, and registered as self-pay.
    hi_rxno, trace_code = await regions.prescribed(patient, selfpay=True)
    assert (await regions.away.present(0, trace_code, patient.certno)).status_code == 200
    assert (await regions.away.lock(0, hi_rxno)).status_code == 200
    refused = await regions.away.dispense(0, hi_rxno)
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (
        "cross_region_not_covered",
        "hi_rxno",
    )
    read = await regions.away.get(hi_rxno, regions.away.pharmacy(0)[1])
    assert read.json()["rx_stas_codg"] == "1"
