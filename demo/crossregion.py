"""The demo's cross-region care (docs/cross-region.md): four people insured in 230100 are treated
at a hospital of 510100, one per filing type and one unfiled. Each visit is priced by 510100's
catalogue and paid by 230100's policy for its care type; then 510100's agency claims the month's
fund share from 230100's, and 230100 reconciles the claim as stored and as the CSV it received.

A claim is made for a month that is over, and the demo has only today: once settled, the four
settlements are dated into last month on the database, as the CLI operator could (the same
shift ``tests.claims.recon_factories.backdate`` makes), so that last month's claim holds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.table import Table
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding.models import FundingCaseEntry
from claims.settlement.models import Settlement
from demo.client import Client
from demo.reference import DEMO_DATA
from engine.clock import CST
from engine.terminal import money

TREATMENT_REGION = "510100"
TREATMENT_REGION_NAME = "成都市 (demo)"
HOSPITAL = "H51010000001"
HOSPITAL_NAME = "Chengdu Second People's Hospital (tier 2, grade B)"
CATALOGUES = ("510100_services.csv", "drugs.csv")
#: One person per care type; None: not on file.
CARE_TYPES = ("temporary_travel", "long_term_residence", "referral", None)

InDatabase = Callable[[Callable[[AsyncSession], Awaitable[str]]], str]


@dataclass
class CrossRegionReport:
    settlements: list[dict[str, Any]] = field(default_factory=list)
    claim: dict[str, Any] = field(default_factory=dict)
    reconciled: dict[str, Any] = field(default_factory=dict)
    reconciled_file: dict[str, Any] = field(default_factory=dict)

    def table(self) -> Table:
        table = Table(
            title=f"Cross-region care: insured in 230100, treated in {TREATMENT_REGION}",
            show_header=False,
        )
        for s in self.settlements:
            ratio = s["explanation"]["funds"][0]["bands"][0]["ratio"]
            table.add_row(
                f"{s['psn_no']} {s['filing_type']}",
                f"fees {money(Decimal(s['medfee_sumamt']))}, in scope "
                f"{money(Decimal(s['inscp_scp_amt']))}, pooled fund {money(Decimal(s['hifp_pay']))}"
                f" at {Decimal(ratio):.0%}",
            )
        claim = self.claim
        table.add_row(
            f"inter-region claim {claim['setlym']}",
            f"{claim['claim_id']}: {claim['setl_cnt']} settlement(s), "
            f"{claim['adjustment_cnt']} adjustment(s), fund share "
            f"{money(Decimal(claim['fund_pay_sumamt']))}",
        )
        for name, result in (("as stored", self.reconciled), ("as CSV", self.reconciled_file)):
            table.add_row(
                f"230100 reconciles {name}",
                f"{'balanced' if result['balanced'] else 'NOT balanced'}: "
                f"{result['record']['lines']} line(s), "
                f"{money(Decimal(result['record']['fund_pay_sumamt']))}, "
                f"{len(result['mismatches'])} mismatch(es)",
            )
        return table


def setup_treatment_region(
    admin: Client, organisation_key: Callable[..., str]
) -> dict[str, Client]:
    """510100's insurer and one hospital, through the operator's API, with the region's
    registry and catalogues loaded by its insurer; returns the clients by role."""
    insurer = admin.as_org(
        organisation_key(
            admin, name="Chengdu Medical Insurance Bureau", role="insurer", admdvs=TREATMENT_REGION
        )
    )
    hospital = admin.as_org(
        organisation_key(
            admin,
            name=HOSPITAL_NAME,
            role="hospital",
            institution_code=HOSPITAL,
            admdvs=TREATMENT_REGION,
        )
    )
    insurer.post(
        "/v1/registry/regions",
        json={"admdvs": TREATMENT_REGION, "name": TREATMENT_REGION_NAME},
        expect=201,
    )
    insurer.post(
        "/v1/registry/institutions",
        json={
            "fixmedins_code": HOSPITAL,
            "fixmedins_name": HOSPITAL_NAME,
            "admdvs": TREATMENT_REGION,
            "kind": "hospital",
            "hosp_lv": 2,
            "hosp_grade": "B",
            "internet_hospital": False,
        },
        expect=201,
    )
    for name in CATALOGUES:
        insurer.post(
            f"/v1/tariffs/{TREATMENT_REGION}/imports",
            params={"source": name},
            content=(DEMO_DATA / name).read_bytes(),
            expect=201,
        )
    return {"insurer": insurer, "hospital": hospital}


def _file(home_insurer: Client, psn_no: str, filing_type: str, today: date) -> None:
    home_insurer.post(
        "/v1/cross-region/filings",
        idempotent=True,
        expect=201,
        json={
            "psn_no": psn_no,
            "filing_type": filing_type,
            "mdtrtarea_admvs": TREATMENT_REGION,
            "begndate": (today - timedelta(days=60)).isoformat(),
            "enddate": (today + timedelta(days=60)).isoformat(),
        },
    )


def _settle(
    hospital: Client, psn_no: str, certno: str, drugs: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """A general outpatient visit at the hospital buying two of each of ``drugs`` (code, price)."""
    visit = hospital.post(
        "/v1/visits",
        expect=201,
        json={
            "psn_no": psn_no,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "fixmedins_code": HOSPITAL,
            "med_type": "11",
            "biz_type_code": "01",
            "begntime": (datetime.now(CST) - timedelta(hours=1)).isoformat(),
            "diseinfo": [{"diag_code": "J06.900", "diag_name": "急性上呼吸道感染",
                          "maindiag_flag": "1"}],
        },
    )  # fmt: skip
    lines = [
        {"feedetl_sn": str(i + 1), "med_list_codg": code, "cnt": "2", "pric": price}
        for i, (code, price) in enumerate(drugs)
    ]
    path = f"/v1/visits/{visit['mdtrt_id']}"
    hospital.post(f"{path}/fee-lines", json={"feedetail": lines}, expect=201)
    pre = hospital.post(f"{path}/pre-settlement", json={})
    settled: dict[str, Any] = hospital.post(
        f"{path}/settlement",
        idempotent=True,
        json={"presettle_token": pre["presettle_token"]},
        expect=201,
    )
    return settled


def _into_last_month(in_database: InDatabase, setl_ids: list[str], today: date) -> str:
    """Date the settlements (and the funding entries they wrote) on last month's last day."""
    when = datetime.combine(today.replace(day=1) - timedelta(days=1), datetime.min.time(), CST)
    when = when.replace(hour=10)

    async def work(session: AsyncSession) -> str:
        await session.execute(
            update(Settlement).where(Settlement.setl_id.in_(setl_ids)).values(setl_time=when)
        )
        await session.execute(
            update(FundingCaseEntry)
            .where(FundingCaseEntry.setl_id.in_(setl_ids), FundingCaseEntry.reverses_id.is_(None))
            .values(year=when.year, month=when.month, occurred_at=when)
        )
        return when.strftime("%Y%m")

    return in_database(work)


def run_cross_region(
    home_insurer: Client,
    treatment: dict[str, Client],
    people: Sequence[tuple[str, str]],
    *,
    insured_region: str,
    in_database: InDatabase,
    today: date,
) -> CrossRegionReport:
    """Settle one visit at 510100 for each of ``people`` (psn_no, certno) insured in
    ``insured_region``, one per care type of :data:`CARE_TYPES`; claim last month from the
    insured region and reconcile the claim there."""
    report = CrossRegionReport()
    drugs = treatment["insurer"].get(
        f"/v1/tariffs/{TREATMENT_REGION}/catalogue",
        params={"on": today.isoformat(), "kind": "drug"},
    )["items"]
    # Two drugs of the catalogue (class A or B), sold at their payment standard.
    in_catalogue = [
        (d["med_list_codg"], d["pric_uplmt_amt"])
        for d in drugs
        if d["chrgitm_lv"] in (1, 2) and d["pric_uplmt_amt"]
    ][:2]
    for (psn_no, certno), care_type in zip(people, CARE_TYPES, strict=True):
        if care_type is not None:
            _file(home_insurer, psn_no, care_type, today)
        report.settlements.append(_settle(treatment["hospital"], psn_no, certno, in_catalogue))
    setlym = _into_last_month(in_database, [s["setl_id"] for s in report.settlements], today)
    report.claim = treatment["insurer"].post(
        "/v1/cross-region/claims",
        idempotent=True,
        expect=201,
        json={"insuplc_admdvs": insured_region, "setlym": setlym},
    )
    claim_id = report.claim["claim_id"]
    report.reconciled = home_insurer.post(
        f"/v1/cross-region/claims/{claim_id}/reconciliation",
        content=b"",
        headers={"Content-Type": "text/csv"},
    )
    exported = treatment["insurer"].http.get(
        f"/v1/cross-region/claims/{claim_id}/lines.csv", headers=treatment["insurer"].headers
    )
    report.reconciled_file = home_insurer.post(
        f"/v1/cross-region/claims/{claim_id}/reconciliation",
        content=exported.content,
        headers={"Content-Type": "text/csv"},
    )
    return report
