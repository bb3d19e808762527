"""The demo's month of care: a simulated population visits the demo hospitals in person and by
internet follow-up, and every visit is registered, priced, pre-settled and settled through the
real API. Some internet visits are refused (no in-person diagnosis, a doctor not qualified for
internet practice), a few settlements are revoked and settled again.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

import claims.settlement
from demo.client import ApiError, Client
from demo.reference import ReferenceData
from engine.terminal import money

POLICY_FILE = Path(claims.settlement.__file__).parent / "demo_data" / "policy_230100.json"
CHRONIC = {
    "I10": ("I10.x00", "高血压"),
    "E11": ("E11.900", "2型糖尿病"),
    "J45": ("J45.900", "哮喘"),
}
GENERAL = [("J06.900", "急性上呼吸道感染"), ("K29.700", "胃炎"), ("M54.500", "腰痛")]
AMOUNTS = (
    "medfee_sumamt",
    "hifp_pay",
    "hifmi_pay",
    "maf_pay",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass
class Insured:
    psn_no: str
    certno: str
    insutype: str
    condition: str | None
    seen_in_person: set[str] = field(default_factory=set)


@dataclass
class ClaimsReport:
    settlements: list[dict[str, Any]] = field(default_factory=list)
    revoked: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    internet_visits: int = 0
    people: list[Insured] = field(default_factory=list)

    def table(self) -> Table:
        live = [s for s in self.settlements if s["status"] == "settled"]
        totals = {name: sum((Decimal(s[name]) for s in live), Decimal("0")) for name in AMOUNTS}
        table = Table(title="One-stop settlement, month to date", show_header=False)
        table.add_row("people enrolled", str(len(self.people)))
        table.add_row("settlements (live / revoked)", f"{len(live)} / {self.revoked}")
        table.add_row("internet follow-ups settled", str(self.internet_visits))
        for name in AMOUNTS:
            table.add_row(name, money(totals[name]))
        for code, count in sorted(self.refused.items()):
            table.add_row(f"refused: {code}", str(count))
        by_way = Counter(s["clr_way"] for s in live)
        table.add_row("clr_way", ", ".join(f"{k}: {v}" for k, v in sorted(by_way.items())))
        return table


def _certno(rng: random.Random) -> str:
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    body = "230102" + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def load_policy(insurer: Client, admdvs: str) -> None:
    doc = json.loads(POLICY_FILE.read_text(encoding="utf-8"))
    insurer.post(
        f"/v1/policies/{admdvs}",
        json={k: v for k, v in doc.items() if not k.startswith("_")},
        expect=201,
    )


def enrol_population(
    insurer: Client, admdvs: str, rng: random.Random, size: int, *, enrolled: Callable[[], None]
) -> list[Insured]:
    """Enrol ``size`` people, calling ``enrolled`` after each."""
    people = []
    for i in range(size):
        insutype = "310" if rng.random() < 0.6 else "390"
        condition = rng.choice(list(CHRONIC)) if rng.random() < 0.5 else None
        body: dict[str, Any] = {
            "psn_no": f"{admdvs}{i:08d}",
            "psn_name": f"参保人{i:03d}",
            "certno": _certno(rng),
            "admdvs": admdvs,
            "insutype": insutype,
            "retired": insutype == "310" and rng.random() < 0.2,
            "opsp_dise_codes": [condition] if condition else [],
            "acct_balc": f"{rng.randrange(0, 1500)}.00" if insutype == "310" else "0.00",
        }
        if insutype == "390" and rng.random() < 0.15:
            body["asst_type"] = rng.choice(["dibao", "dibao", "tekun"])
        insurer.post("/v1/persons", json=body, expect=201)
        people.append(Insured(body["psn_no"], body["certno"], insutype, condition))
        enrolled()
    return people


def _drug_prices(insurer: Client, admdvs: str, on: date, rng: random.Random) -> dict[str, str]:
    """Each drug at the hospital's own price: around the payment standard, sometimes above."""
    items = insurer.get(
        f"/v1/tariffs/{admdvs}/catalogue", params={"on": on.isoformat(), "kind": "drug"}
    )["items"]
    prices = {}
    for item in items:
        cap = Decimal(item["pric_uplmt_amt"]) if item.get("pric_uplmt_amt") else Decimal("30")
        factor = Decimal(rng.randrange(85, 116)) / 100
        prices[item["med_list_codg"]] = str((cap * factor).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return prices


@dataclass
class _Day:
    hospitals: dict[str, Client]
    ref: ReferenceData
    prices: dict[str, str]
    rng: random.Random
    report: ClaimsReport


def _visit(
    day: _Day, person: Insured, hospital: str, when: datetime, *, internet: bool, dr_code: str
) -> None:
    client = day.hospitals[hospital]
    rng = day.rng
    if person.condition:
        diag_code, diag_name = CHRONIC[person.condition]
        med_type = "14"
    else:
        diag_code, diag_name = rng.choice(GENERAL)
        med_type = "11"
    try:
        visit = client.post(
            "/v1/visits",
            expect=201,
            json={
                "psn_no": person.psn_no,
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": person.certno,
                "fixmedins_code": hospital,
                "med_type": med_type,
                "biz_type_code": "02" if internet else "01",
                "begntime": when.isoformat(),
                "dr_code": dr_code,
                "diseinfo": [
                    {"diag_code": diag_code, "diag_name": diag_name, "maindiag_flag": "1"}
                ],
            },
        )
    except ApiError as refused:
        day.report.refused[str(refused.body.get("code"))] += 1
        return
    drugs = rng.sample(list(day.prices), k=rng.randint(1, 3))
    lines = [
        {
            "feedetl_sn": "1",
            "med_list_codg": day.ref.follow_up_code if internet else day.ref.consultation_code,
            "cnt": "1",
        }
    ]
    lines += [
        {
            "feedetl_sn": str(i + 2),
            "med_list_codg": code,
            "cnt": str(rng.randint(1, 3)),
            "pric": day.prices[code],
        }
        for i, code in enumerate(drugs)
    ]
    if internet:
        lines.append(
            {"feedetl_sn": "9", "med_list_codg": day.ref.delivery_code, "cnt": "1", "pric": "8.00"}
        )
    client.post(f"/v1/visits/{visit['mdtrt_id']}/fee-lines", json={"feedetail": lines}, expect=201)
    body = {"acct_used_flag": person.insutype == "310"}
    pre = client.post(f"/v1/visits/{visit['mdtrt_id']}/pre-settlement", json=body)
    settled = client.post(
        f"/v1/visits/{visit['mdtrt_id']}/settlement",
        idempotent=True,
        json=body | {"presettle_token": pre["presettle_token"]},
        expect=201,
    )
    day.report.settlements.append(settled)
    day.report.internet_visits += internet
    if not internet:
        person.seen_in_person.add(hospital)
    if rng.random() < 0.03:
        revoked = client.post(f"/v1/settlements/{settled['setl_id']}/revocation", idempotent=True)
        settled.update(revoked)
        day.report.revoked += 1


def run_claims(
    insurer: Client,
    hospitals: dict[str, Client],
    ref: ReferenceData,
    people: list[Insured],
    *,
    start: date,
    days: int,
    rng: random.Random,
    day_done: Callable[[], None],
    visits_per_day: int = 10,
) -> ClaimsReport:
    """``visits_per_day`` visits on each of ``days`` days from ``start``, calling ``day_done``
    after each day."""
    report = ClaimsReport(people=people)
    day = _Day(hospitals, ref, _drug_prices(insurer, ref.admdvs, start, rng), rng, report)
    doctors = {
        code: [d for d in ref.practitioners.values() if d.fixmedins_code == code]
        for code in hospitals
    }
    for offset in range(days):
        on = start + timedelta(days=offset)
        for n in range(visits_per_day):
            person = rng.choice(people)
            hospital = rng.choice(list(hospitals))
            doctor = rng.choice(doctors[hospital])
            when = datetime.combine(on, time(8 + n % 9, rng.randrange(60)), tzinfo=UTC)
            # Internet follow-ups mostly come after an in-person visit; some do not, and some
            # pick a doctor not qualified for internet practice: those are refused.
            internet = (bool(person.seen_in_person) and rng.random() < 0.6) or rng.random() < 0.05
            if internet and person.seen_in_person and rng.random() < 0.9:
                hospital = rng.choice(sorted(person.seen_in_person))
                doctor = rng.choice(doctors[hospital])
            _visit(day, person, hospital, when, internet=internet, dr_code=doctor.dr_code)
        day_done()
    return report
