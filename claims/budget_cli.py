"""``sanyi funding ...``: set up budgets, DIP schemes and bundles, and run the months and the
year end, as the API does (each command one unit of work, acting as the operator)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from claims import bundles, dip, funding
from claims.budget_schemas import (
    BundleIn,
    FundingSetupIn,
    MembersIn,
    MonthRunOut,
    QualityScoreIn,
    RegionSummaryOut,
    YearEndOut,
)
from claims.budgets import create_budget
from engine.auth import CLI_OPERATOR
from engine.db import run_in_unit_of_work

NAME = "funding"
app = typer.Typer(help="Global budgets, DIP points and per-capita bundles.", no_args_is_help=True)
console = Console()


@app.command("setup")
def setup(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="set-up JSON")],
) -> None:
    """Create the budgets, DIP schemes and bundles (with members) of a JSON document."""
    doc = FundingSetupIn.model_validate(json.loads(file.read_text(encoding="utf-8")))

    async def work(session: AsyncSession) -> None:
        for budget in doc.budgets:
            await create_budget(session, CLI_OPERATOR, budget)
        for scheme in doc.dip_schemes:
            await dip.create_scheme(session, CLI_OPERATOR, scheme)
        for bundle in doc.bundles:
            await bundles.create_bundle(
                session,
                CLI_OPERATOR,
                BundleIn.model_validate(bundle.model_dump(exclude={"members"})),
            )
            if bundle.members:
                await bundles.sign_members(
                    session,
                    CLI_OPERATOR,
                    bundle.fixmedins_code,
                    bundle.year,
                    MembersIn(members=bundle.members),
                )

    run_in_unit_of_work(work)
    console.print(
        f"{len(doc.budgets)} budget(s), {len(doc.dip_schemes)} DIP scheme(s) and "
        f"{len(doc.bundles)} bundle(s) set up"
    )


@app.command("prepay")
def prepay(
    region: Annotated[str, typer.Argument(help="pooling region admdvs")],
    year: Annotated[int, typer.Argument()],
    month: Annotated[int, typer.Argument(min=1, max=12)],
) -> None:
    """Run a month's prepayment for the region (records it once, however often it is run)."""

    async def work(session: AsyncSession) -> MonthRunOut:
        return await funding.run_month(session, CLI_OPERATOR, region, year, month)

    run = run_in_unit_of_work(work)
    table = Table("scheme", "provider", "gross", "prepaid", "withheld", title=f"{year}-{month:02d}")
    for p in run.prepayments:
        table.add_row(
            p.scheme, p.fixmedins_code, f"{p.gross:.2f}", f"{p.prepaid:.2f}", f"{p.withheld:.2f}"
        )
    console.print(table)


def _score(text: str) -> QualityScoreIn:
    code, sep, score = text.partition("=")
    if not sep:
        raise typer.BadParameter(f"{text!r} is not CODE=SCORE", param_hint="--score")
    return QualityScoreIn(fixmedins_code=code, quality_score=Decimal(score))


@app.command("clear")
def clear(
    region: Annotated[str, typer.Argument(help="pooling region admdvs")],
    year: Annotated[int, typer.Argument()],
    score: Annotated[list[str], typer.Option(help="fixmedins_code=quality score, per provider")],
) -> None:
    """Run the year-end clearing of every budget, DIP provider and bundle of the region."""
    scores = [_score(s) for s in score]

    async def work(session: AsyncSession) -> YearEndOut:
        return await funding.clear_year(session, CLI_OPERATOR, region, year, scores)

    result = run_in_unit_of_work(work)
    table = Table(
        "scheme",
        "provider",
        "q",
        "entitlement",
        "prepaid",
        "forfeited",
        "clearing",
        title=f"{region} {year} year-end",
    )
    for c in result.clearings:
        table.add_row(
            c.scheme,
            c.fixmedins_code,
            str(c.quality_score),
            f"{c.entitlement:.2f}",
            f"{c.prepaid:.2f}",
            f"{c.forfeited:.2f}",
            f"{c.final_clearing:.2f}",
        )
    console.print(table)


@app.command("summary")
def summary(
    region: Annotated[str, typer.Argument(help="pooling region admdvs")],
    year: Annotated[int, typer.Argument()],
) -> None:
    """Budget burn, DIP points and bundle balances of a region's year, with what was paid."""

    async def work(session: AsyncSession) -> RegionSummaryOut:
        return await funding.region_summary(session, CLI_OPERATOR, region, year)

    result = run_in_unit_of_work(work)
    console.print_json(result.model_dump_json())
