"""Clearing's commands, each acting as the insurer of ``--region`` (:func:`engine.auth.cli_insurer`)
through the same services as the API.

* ``sanyi recon ...`` (:data:`recon_app`): the reconciliations an insurer runs by hand (3201
  totals, 3202 details): an institution's declared totals against the engine's, its detail file
  diffed row by row (here, or as a job for the workers), a job's status, every mismatch as CSV.
* ``sanyi clearing ...`` (:data:`clearing_app`): the clearing batches (3203) an insurer reviews and
  approves by hand (institutions apply through the API; approving freezes the batch), and the
  inter-region claims between fund agencies.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.terminal import (
    Region,
    console,
    export_csv,
    money,
    parsed,
    progress,
    run,
    step,
    table,
)

if TYPE_CHECKING:
    from decimal import Decimal

    from rich.progress import Progress
    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.clearing.schemas import (
        ClearingBatchOut,
        ClearingBatchPage,
        DetailJobOut,
        DetailReconOut,
        InterRegionClaimOut,
        InterRegionReconOut,
        TotalsOut,
    )

recon_app = typer.Typer(no_args_is_help=True)
clearing_app = typer.Typer(no_args_is_help=True)

# --- sanyi recon ---------------------------------------------------------------------------------

#: Bytes read from the detail file at a time (the service streams them to the database).
CHUNK_BYTES = 1024 * 1024
#: Seconds between two looks at a job's status with ``recon job --wait``.
POLL_SECONDS = 1.0

Code = Annotated[str | None, typer.Option("--code", help="the institution's fixmedins_code")]
Begin = Annotated[str, typer.Option("--from", help="stmt_begndate, YYYY-MM-DD")]
End = Annotated[str, typer.Option("--to", help="stmt_enddate, YYYY-MM-DD (inclusive)")]
InsutypeOption = Annotated[str | None, typer.Option(help="insutype, e.g. 310")]
ClrTypeOption = Annotated[str | None, typer.Option(help="clr_type: 11, 21 or 41")]
ReconId = Annotated[str, typer.Argument(help="the reconciliation's recon_id")]


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def _recon_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a recon_id", param_hint="RECON_ID") from None


def _count(value: int) -> str:
    return f"{value:,}"


@recon_app.command("totals")
def totals(
    region: Region,
    code: Annotated[str, typer.Option("--code", help="the institution's fixmedins_code")],
    begin: Begin,
    end: End,
    insutype: Annotated[str, typer.Option(help="insutype, e.g. 310")],
    clr_type: Annotated[str, typer.Option(help="clr_type: 11, 21 or 41")],
    count: Annotated[int, typer.Option(help="fixmedins_setl_cnt the institution declared")],
    medfee: Annotated[str, typer.Option(help="medfee_sumamt declared, yuan")],
    fund_pay: Annotated[str, typer.Option(help="fund_pay_sumamt declared, yuan")],
    acct_pay: Annotated[str, typer.Option(help="acct_pay declared, yuan")],
) -> None:
    """3201: an institution's declared count and sums against the engine's; exit 1 if they
    differ."""
    from pydantic import ValidationError

    from claims.clearing import reconciliation
    from claims.clearing.schemas import TotalsIn
    from engine.auth import cli_insurer

    try:
        body = TotalsIn.model_validate(
            {
                "fixmedins_code": code,
                "insutype": insutype,
                "clr_type": clr_type,
                "stmt_begndate": _day(begin, "--from"),
                "stmt_enddate": _day(end, "--to"),
                "fixmedins_setl_cnt": count,
                "medfee_sumamt": medfee,
                "fund_pay_sumamt": fund_pay,
                "acct_pay": acct_pay,
            }
        )
    except ValidationError as invalid:
        first = invalid.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(str(first["msg"]), param_hint=field) from None

    async def work(session: AsyncSession) -> TotalsOut:
        return await reconciliation.totals(session, cli_insurer(region), body)

    result = run(work)
    figures = table(
        "figure", "declared", "engine", title=_totals_title(result), amounts=("declared", "engine")
    )
    figures.add_row("fixmedins_setl_cnt", _count(count), _count(result.here.fixmedins_setl_cnt))
    for name, declared, here in (
        ("medfee_sumamt", body.medfee_sumamt, result.here.medfee_sumamt),
        ("fund_pay_sumamt", body.fund_pay_sumamt, result.here.fund_pay_sumamt),
        ("acct_pay", body.acct_pay, result.here.acct_pay),
    ):
        figures.add_row(name, money(declared), money(here))
    console.print(figures)
    if result.stmt_rslt != "0":
        raise typer.Exit(1)


def _totals_title(result: TotalsOut) -> str:
    verdict = "balanced" if result.stmt_rslt == "0" else "NOT balanced"
    return (
        f"3201 {result.fixmedins_code} {result.stmt_begndate}..{result.stmt_enddate} "
        f"insutype {result.insutype} clr_type {result.clr_type}: {verdict}"
    )


async def _file_chunks(path: Path, bar: Progress) -> AsyncIterator[bytes]:
    """The file in chunks for the service to stream to the database, moving a bar by bytes;
    once it is all read, a second line shows the diff running."""
    upload = bar.add_task(f"uploading {path.name}", total=path.stat().st_size)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk
            bar.advance(upload, len(chunk))
    bar.add_task("comparing with the engine's settlements", total=None)


@recon_app.command("details")
def details(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="3202 detail CSV")],
    region: Region,
    begin: Begin,
    end: End,
    code: Code = None,
    insutype: InsutypeOption = None,
    clr_type: ClrTypeOption = None,
    job: Annotated[
        bool, typer.Option("--job", help="store the file and leave the diff to the workers")
    ] = False,
) -> None:
    """3202: diff an institution's (or, without --code, the region's) settlement rows with the
    engine's; exit 1 on any mismatch. With --job, print the recon_id to follow with
    `sanyi recon job`."""
    from claims.clearing import reconciliation
    from engine.auth import cli_insurer

    asked = reconciliation.ScopeRequest(
        reconciliation.Period(_day(begin, "--from"), _day(end, "--to")), code, insutype, clr_type
    )
    principal = cli_insurer(region)

    with progress(in_bytes=True) as bar:
        if job:

            async def submit(session: AsyncSession) -> DetailJobOut:
                return await reconciliation.submit_details(
                    session, principal, asked, _file_chunks(file, bar)
                )

            submitted = run(submit)
        else:

            async def diff(session: AsyncSession) -> DetailReconOut:
                return await reconciliation.reconcile_details(
                    session, principal, asked, _file_chunks(file, bar)
                )

            result = run(diff)
        for task in bar.tasks:  # the comparison had no known length
            bar.update(task.id, total=task.total or 1, completed=task.total or 1)
    if job:
        console.print(
            f"job {submitted.recon_id} {submitted.status}: "
            f"{_count(submitted.file.rows)} row(s) stored; "
            f"follow it with `sanyi recon job {submitted.recon_id} --region {region} --wait`"
        )
        return
    _print_result(result)


def _print_result(result: DetailReconOut) -> None:
    """The two sides' figures, the mismatch counts and the first mismatches; exit 1 on any."""
    scope = result.fixmedins_code or f"region {result.admdvs}"
    verdict = "balanced" if result.stmt_rslt == "0" else "NOT balanced"
    sides = table(
        "figure",
        "file",
        "engine",
        title=f"3202 {scope} {result.stmt_begndate}..{result.stmt_enddate}: {verdict}",
        amounts=("file", "engine"),
    )
    sides.add_row("rows", _count(result.file.rows), _count(result.here.rows))
    sides.add_row(
        "fixmedins_setl_cnt",
        _count(result.file.fixmedins_setl_cnt),
        _count(result.here.fixmedins_setl_cnt),
    )
    for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay"):
        sides.add_row(name, money(getattr(result.file, name)), money(getattr(result.here, name)))
    console.print(sides)
    counts = result.counts.model_dump()
    if any(counts.values()):
        kinds = table("mismatch", "rows", title="mismatches", amounts=("rows",))
        for kind, number in counts.items():
            kinds.add_row(kind, _count(number))
        console.print(kinds)
        console.print(
            f"every mismatch: `sanyi recon mismatches {result.recon_id} --region {result.admdvs}`"
        )
        raise typer.Exit(1)
    console.print(f"recon_id {result.recon_id}")


@recon_app.command("job")
def job_status(
    recon_id: ReconId,
    region: Region,
    wait: Annotated[bool, typer.Option(help="wait until the job is done or failed")] = False,
) -> None:
    """A detail job's status; with --wait, follow it to the end and print its result."""
    import time

    from claims.clearing import reconciliation
    from engine.auth import cli_insurer

    wanted = _recon_id(recon_id)

    async def look(session: AsyncSession) -> DetailJobOut:
        return await reconciliation.visible_job(session, cli_insurer(region), wanted)

    with step(f"waiting for job {wanted}") if wait else nullcontext():
        out = run(look)
        while wait and out.status in ("queued", "running"):
            time.sleep(POLL_SECONDS)
            out = run(look)
    if out.status == "failed":
        console.print(f"[red]job {wanted} failed: {out.error}[/red]")
        raise typer.Exit(1)
    if out.result is None:
        console.print(f"job {wanted} {out.status} ({_count(out.file.rows)} row(s) stored)")
        return
    _print_result(out.result)


@recon_app.command("mismatches")
def mismatches(
    recon_id: ReconId,
    region: Region,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Every mismatch of a detail reconciliation as CSV."""
    from claims.clearing import reconciliation
    from engine.auth import cli_insurer

    wanted = _recon_id(recon_id)

    async def rows(session: AsyncSession) -> AsyncIterator[list[str]]:
        await reconciliation.visible_run(session, cli_insurer(region), wanted)
        async for cells in reconciliation.mismatch_rows(session, wanted):
            yield cells

    export_csv(reconciliation.MISMATCH_CSV_HEADER, rows, out)


# --- sanyi clearing ------------------------------------------------------------------------------

BatchId = Annotated[str, typer.Argument(help="the batch's clr_appy_evt_id")]


def _amount(value: Decimal | None) -> str:
    """Figures frozen at approval are empty before it."""
    return "" if value is None else money(value)


@clearing_app.command("list")
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


@clearing_app.command("show")
def show(batch_id: BatchId, region: Region) -> None:
    """One batch with its fund lines."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> ClearingBatchOut:
        return await clearing.visible_batch(session, cli_insurer(region), batch_id)

    _print_batch(run(work))


@clearing_app.command("approve")
def approve(batch_id: BatchId, region: Region) -> None:
    """Approve a batch: its settlements and figures are frozen, the fund lines computed."""
    from claims.clearing import batches as clearing
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> ClearingBatchOut:
        return await clearing.approve(session, cli_insurer(region), batch_id)

    with step(f"approving {batch_id}"):
        approved = run(work)
    _print_batch(approved)


@clearing_app.command("lines")
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


interregion_app = typer.Typer(
    no_args_is_help=True,
    help="Inter-region claims (跨区清算): make, export, reconcile (docs/cross-region.md).",
)
clearing_app.add_typer(interregion_app, name="interregion")

ClaimId = Annotated[str, typer.Argument(help="the inter-region claim's claim_id")]


@interregion_app.command("make")
def claim_command(
    region: Region,
    insured_region: Annotated[str, typer.Option(help="insuplc_admdvs claimed from")],
    setlym: Annotated[str, typer.Option(help="the settled month, YYYYMM")],
) -> None:
    """Make REGION's claim on an insured place for a settled month (frozen as made)."""
    from claims.clearing import interregion
    from claims.clearing.schemas import InterRegionClaimIn
    from engine.auth import cli_insurer

    body = parsed(InterRegionClaimIn, {"insuplc_admdvs": insured_region, "setlym": setlym})

    async def work(session: AsyncSession) -> InterRegionClaimOut:
        return interregion.claim_out(
            await interregion.make_claim(session, cli_insurer(region), body)
        )

    claim = run(work)
    console.print(
        f"{claim.claim_id}  {claim.mdtrtarea_admvs} -> {claim.insuplc_admdvs}  {claim.setlym}  "
        f"{claim.setl_cnt} settlement(s), {claim.adjustment_cnt} adjustment(s)  "
        f"fund {money(claim.fund_pay_sumamt)}"
    )


@interregion_app.command("lines")
def claim_lines_command(
    claim_id: ClaimId,
    region: Region,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Export a claim's lines as CSV (either region's insurer)."""
    from claims.clearing import interregion
    from engine.auth import cli_insurer

    async def rows(session: AsyncSession) -> AsyncIterator[list[str]]:
        await interregion.visible_claim(session, cli_insurer(region), claim_id)
        async for cells in interregion.line_rows(session, claim_id):
            yield cells

    export_csv(interregion.LINE_CSV_HEADER, rows, out)


@interregion_app.command("reconcile")
def reconcile_command(
    claim_id: ClaimId,
    region: Region,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="the claim CSV as received"),
    ] = None,
) -> None:
    """Reconcile a claim on REGION against REGION's record; exit 1 on any mismatch."""
    from claims.clearing import interregion
    from engine.auth import cli_insurer

    data = file.read_bytes() if file is not None else None

    async def work(session: AsyncSession) -> InterRegionReconOut:
        return await interregion.reconcile(session, cli_insurer(region), claim_id, data)

    result = run(work)
    console.print(
        f"claim {result.claim.lines} line(s) {money(result.claim.fund_pay_sumamt)}; "
        f"record {result.record.lines} line(s) {money(result.record.fund_pay_sumamt)}"
    )
    if result.balanced:
        console.print("[green]balanced[/green]")
        return
    listed = table("setl_id", "kind", "mismatch", "claimed", "recorded")
    for m in result.mismatches:
        listed.add_row(
            m.setl_id,
            m.kind,
            m.mismatch,
            "" if m.claimed is None else money(m.claimed),
            "" if m.recorded is None else money(m.recorded),
        )
    console.print(listed)
    raise typer.Exit(1)
