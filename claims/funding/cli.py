"""``sanyi funding ...``: set up budgets, DIP schemes and bundles, and run the months and the
year end, as the API does (each command one unit of work, acting as the operator)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.terminal import Month, Region, Year, console, money, progress, step, table
from engine.terminal import run as run_work

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.funding.schemas import (
        Balance,
        MonthRunOut,
        PrepaymentOut,
        QualityScoreIn,
        RegionSummaryOut,
        YearEndOut,
    )

app = typer.Typer(no_args_is_help=True)


@app.command("setup")
def setup(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="set-up JSON")],
) -> None:
    """Create the budgets, DIP schemes and bundles (with members) of a JSON document."""
    from claims.funding import bundles, dip
    from claims.funding.budgets import create_budget
    from claims.funding.schemas import BundleIn, FundingSetupIn, MembersIn
    from engine.auth import CLI_OPERATOR

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

    run_work(work)
    console.print(
        f"{len(doc.budgets)} budget(s), {len(doc.dip_schemes)} DIP scheme(s) and "
        f"{len(doc.bundles)} bundle(s) set up"
    )


@app.command("prepay")
def prepay(
    region: Region,
    year: Year,
    month: Month,
) -> None:
    """Run a month's prepayment for the region (records it once, however often it is run)."""
    from claims.funding import ledger
    from claims.funding.schemas import MonthRunOut
    from engine.auth import CLI_OPERATOR

    with progress() as bar:

        async def work(session: AsyncSession) -> MonthRunOut:
            # ledger.run_month's steps, one by one, so that the bar follows them.
            steps = await ledger.month_steps(session, CLI_OPERATOR, region, year, month)
            task = bar.add_task(f"prepaying {year}-{month:02d} (schemes)", total=len(steps))
            prepayments: list[PrepaymentOut] = []
            for month_step in steps:
                prepayments += await month_step(session)
                bar.advance(task)
            return MonthRunOut(admdvs=region, year=year, month=month, prepayments=prepayments)

        console.print(_month_table(run_work(work)))


def _month_table(run: MonthRunOut) -> Table:
    result = table(
        "scheme",
        "provider",
        "gross",
        "prepaid",
        "withheld",
        title=f"{run.admdvs} {run.year}-{run.month:02d} prepayment",
        amounts=("gross", "prepaid", "withheld"),
    )
    for p in run.prepayments:
        result.add_row(
            p.scheme, p.fixmedins_code, money(p.gross), money(p.prepaid), money(p.withheld)
        )
    return result


def _score(text: str) -> QualityScoreIn:
    from claims.funding.schemas import QualityScoreIn

    code, sep, score = text.partition("=")
    try:
        if not sep:
            raise InvalidOperation
        return QualityScoreIn(fixmedins_code=code, quality_score=Decimal(score))
    except (InvalidOperation, ValueError):
        raise typer.BadParameter(f"{text!r} is not CODE=SCORE", param_hint="--score") from None


@app.command("clear")
def clear(
    region: Region,
    year: Year,
    score: Annotated[list[str], typer.Option(help="fixmedins_code=quality score, per provider")],
) -> None:
    """Run the year-end clearing of every budget, DIP provider and bundle of the region."""
    from claims.funding import ledger
    from engine.auth import CLI_OPERATOR

    scores = [_score(s) for s in score]

    async def work(session: AsyncSession) -> YearEndOut:
        return await ledger.clear_year(session, CLI_OPERATOR, region, year, scores)

    with step(f"clearing {region} {year}"):
        result = run_work(work)
    amounts = ("q", "entitlement", "prepaid", "forfeited", "clearing")
    cleared = table(
        "scheme", "provider", *amounts, title=f"{region} {year} year-end", amounts=amounts
    )
    for c in result.clearings:
        cleared.add_row(
            c.scheme,
            c.fixmedins_code,
            str(c.quality_score),
            money(c.entitlement),
            money(c.prepaid),
            money(c.forfeited),
            money(c.final_clearing),
        )
    console.print(cleared)


def _balance(totals: Balance) -> tuple[str, str, str]:
    return money(totals.paid_out), money(totals.withheld_pending), money(totals.balance)


BALANCE = ("paid out", "withheld", "balance")


@app.command("summary")
def summary(region: Region, year: Year) -> None:
    """Budget burn, DIP points and bundle balances of a region's year, with what was paid."""
    from claims.funding import ledger
    from engine.auth import CLI_OPERATOR

    async def work(session: AsyncSession) -> RegionSummaryOut:
        return await ledger.region_summary(session, CLI_OPERATOR, region, year)

    result = run_work(work)
    budget_amounts = ("budget", "fund share", "burn", *BALANCE)
    budgets = table(
        "provider",
        *budget_amounts,
        "cleared",
        title=f"{region} {year} global budgets",
        amounts=budget_amounts,
    )
    for b in result.budgets:
        budgets.add_row(
            b.fixmedins_code,
            money(b.budget_amt),
            money(b.fund_share),
            f"{b.burn_ratio:.2%}",
            *_balance(b.totals),
            "yes" if b.cleared else "no",
        )
    console.print(budgets)
    if result.dip is not None:
        value = "not set" if result.dip.point_value is None else f"{result.dip.point_value}"
        dip_amounts = ("points", "fund share", *BALANCE)
        dip = table(
            "provider",
            *dip_amounts,
            title=f"DIP: {result.dip.total_points} points, point value {value}",
            amounts=dip_amounts,
        )
        for d in result.dip.providers:
            dip.add_row(d.fixmedins_code, str(d.points), money(d.fund_share), *_balance(d.totals))
        console.print(dip)
    bundle_amounts = ("capitation", "care", "bundle balance", *BALANCE)
    bundles = table(
        "provider",
        *bundle_amounts,
        "cleared",
        title=f"{region} {year} bundles",
        amounts=bundle_amounts,
    )
    for u in result.bundles:
        bundles.add_row(
            u.fixmedins_code,
            money(u.capitation),
            money(u.care),
            money(u.bundle_balance),
            *_balance(u.totals),
            "yes" if u.cleared else "no",
        )
    console.print(bundles)
    paid, withheld, balance = _balance(result.totals)
    console.print(f"region total: paid out {paid}, withheld {withheld}, balance {balance}")
