"""The demo's funding pieces, through the insurer's API: global budgets for the two demo
hospitals and a per-capita bundle at H23010000002 (set up before the month's settlements), then
the month's prepayment and a report of budget burn and the bundle's balance.

The figures are the demo policy of domain.md sections 7 and 8 (illustrative data, loaded through
the API like any region's policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from rich.table import Table

from demo.client import Client
from engine.terminal import money, table

BUNDLE_HOLDER = "H23010000002"
DEMO_BUDGETS = {"H23010000001": "1200000.00", BUNDLE_HOLDER: "360000.00"}
QUALITY_TERMS = {"withhold_ratio": "0.05", "quality_full_score": "90", "quality_zero_score": "60"}


def setup_funding(
    insurer: Client,
    *,
    admdvs: str,
    year: int,
    bundle_members: Sequence[str],
    sign_date: date,
) -> None:
    """Budgets for the demo hospitals and the bundle with its signed members."""
    for code, budget in DEMO_BUDGETS.items():
        insurer.post(
            "/v1/funding/budgets",
            json={
                "admdvs": admdvs,
                "fixmedins_code": code,
                "year": year,
                "budget_amt": budget,
                "surplus_retention_ratio": "0.50",
                "surplus_retention_cap_ratio": "0.05",
                "overspend_share_ratio": "0.50",
                "overspend_corridor_ratio": "1.10",
                **QUALITY_TERMS,
            },
            expect=201,
        )
    insurer.post(
        "/v1/funding/bundles",
        json={
            "admdvs": admdvs,
            "fixmedins_code": BUNDLE_HOLDER,
            "year": year,
            "rate_per_member_month": "10.00",
            "surplus_retention_ratio": "1.00",
            **QUALITY_TERMS,
        },
        expect=201,
    )
    if bundle_members:
        insurer.post(
            f"/v1/funding/bundles/{BUNDLE_HOLDER}/{year}/members",
            json={
                "members": [
                    {"psn_no": psn_no, "sign_date": sign_date.isoformat()}
                    for psn_no in bundle_members
                ]
            },
        )


def _percent(ratio: str) -> str:
    return f"{Decimal(ratio) * 100:.1f}%"


def _yuan(wire: str | None) -> str:
    """An amount off the wire in the report's money format; "-" for none."""
    return "-" if wire is None else money(Decimal(wire))


def report_funding(insurer: Client, *, admdvs: str, year: int, month: int) -> Table:
    """Run the month's prepayment (once: a rerun pays nothing) and tabulate budget burn and the
    bundle's balance."""
    run = insurer.post(f"/v1/funding/regions/{admdvs}/{year}/months/{month}/prepayment")
    paid: dict[tuple[str, str], dict[str, Any]] = {
        (p["scheme"], p["fixmedins_code"]): p for p in run["prepayments"]
    }
    summary = insurer.get(f"/v1/funding/regions/{admdvs}/{year}/summary")
    amounts = (
        "budget / capitation",
        "fund share / care",
        "burn / balance",
        f"prepaid {year}-{month:02d}",
        "withheld",
    )
    report = table(
        "provider",
        "payment",
        *amounts,
        title=f"Funding {admdvs}: budget burn and bundle balance",
        amounts=amounts,
    )
    for line in summary["budgets"]:
        month_paid = paid.get(("global_budget", line["fixmedins_code"]), {})
        report.add_row(
            line["fixmedins_code"],
            "global budget",
            _yuan(line["budget_amt"]),
            _yuan(line["fund_share"]),
            _percent(line["burn_ratio"]),
            _yuan(month_paid.get("prepaid")),
            _yuan(month_paid.get("withheld")),
        )
    for line in summary["bundles"]:
        month_paid = paid.get(("bundle", line["fixmedins_code"]), {})
        members = month_paid.get("basis", {}).get("members", "-")
        report.add_row(
            line["fixmedins_code"],
            f"bundle ({members} members)",
            _yuan(line["capitation"]),
            _yuan(line["care"]),
            _yuan(line["bundle_balance"]),
            _yuan(month_paid.get("prepaid")),
            _yuan(month_paid.get("withheld")),
        )
    return report
