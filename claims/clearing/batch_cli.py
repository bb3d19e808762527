"""``sanyi clearing ...``: the clearing batches (3203) an insurer reviews and approves by hand.

Each command acts as the insurer of ``--region`` (:func:`engine.auth.cli_insurer`), through the
same services as the API. Institutions apply through the API; approving freezes the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.terminal import Region, console, export_csv, money, run, step, table

if TYPE_CHECKING:
    from decimal import Decimal

    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.clearing.schemas import ClearingBatchOut, ClearingBatchPage

app = typer.Typer(no_args_is_help=True)

BatchId = Annotated[str, typer.Argument(help="the batch's clr_appy_evt_id")]


def _amount(value: Decimal | None) -> str:
    """Figures frozen at approval are empty before it."""
    return "" if value is None else money(value)


@app.command("list")
def list_command(
    region: Region,
    setlym: Annotated[str | None, typer.Option(help="settlement month, YYYYMM")] = None,
    status: Annotated[str | None, typer.Option(help="applied or approved")] = None,
    code: Annotated[str | None, typer.Option("--code", help="one institution")] = None,
) -> None:
    """The region's batches, newest month first."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> ClearingBatchPage:
        return await clearing.list_batches(
            session, cli_insurer(region), setlym=setlym, clr_stas=status, fixmedins_code=code
        )

    amounts = ("settlements", "medfee_sumamt", "fund_appy_sum", "payable_sumamt")
    batches = table(
        "clr_appy_evt_id",
        "institution",
        "setlym",
        "clr_type",
        "status",
        *amounts,
        title=f"clearing batches of {region}",
        amounts=amounts,
    )
    for batch in run(work).items:
        batches.add_row(
            batch.clr_appy_evt_id,
            batch.fixmedins_code,
            batch.setlym,
            batch.clr_type,
            batch.clr_stas,
            "" if batch.psntime is None else f"{batch.psntime:,}",
            _amount(batch.medfee_sumamt),
            _amount(batch.fund_appy_sum),
            _amount(batch.payable_sumamt),
        )
    console.print(batches)


def _print_batch(batch: ClearingBatchOut) -> None:
    """The batch's totals, then what each fund pays and why."""
    head = table("figure", "value", title=f"batch {batch.clr_appy_evt_id}", amounts=("value",))
    head.add_row("institution", batch.fixmedins_code)
    head.add_row("setlym / clr_type", f"{batch.setlym} / {batch.clr_type}")
    head.add_row("status", batch.clr_stas)
    head.add_row("settlements", "" if batch.psntime is None else f"{batch.psntime:,}")
    head.add_row("adjustments", "" if batch.adjustment_cnt is None else f"{batch.adjustment_cnt:,}")
    for name in ("medfee_sumamt", "fund_appy_sum", "acct_pay", "cash_payamt", "payable_sumamt"):
        head.add_row(name, _amount(getattr(batch, name)))
    console.print(head)
    if not batch.funds:
        return
    amounts = ("claimed", "adjustment", "bundle", "DIP", "withheld", "deferred", "payable")
    funds = table("fund", *amounts, title="by fund", amounts=amounts)
    for line in batch.funds:
        funds.add_row(
            line.fund,
            money(line.claimed),
            money(line.adjustment),
            money(line.bundle_deduction),
            money(line.dip_deduction),
            money(line.budget_withheld),
            money(line.budget_deferred),
            money(line.payable),
        )
    console.print(funds)


@app.command("show")
def show(batch_id: BatchId, region: Region) -> None:
    """One batch with its fund lines."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> ClearingBatchOut:
        return await clearing.visible_batch(session, cli_insurer(region), batch_id)

    _print_batch(run(work))


@app.command("approve")
def approve(batch_id: BatchId, region: Region) -> None:
    """Approve a batch: its settlements and figures are frozen, the fund lines computed."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> ClearingBatchOut:
        return await clearing.approve(session, cli_insurer(region), batch_id)

    with step(f"approving {batch_id}"):
        approved = run(work)
    _print_batch(approved)


@app.command("lines")
def lines(
    batch_id: BatchId,
    region: Region,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Every settlement and adjustment of a batch as CSV (amounts in yuan, times in CST)."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def rows(session: AsyncSession) -> AsyncIterator[list[str]]:
        await clearing.visible_batch(session, cli_insurer(region), batch_id)
        async for cells in clearing.line_rows(session, batch_id):
            yield cells

    export_csv(clearing.LINE_CSV_HEADER, rows, out)
