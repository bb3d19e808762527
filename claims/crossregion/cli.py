"""``sanyi xregion ...``: cross-region filings (备案) and inter-region claims (跨区清算) by hand,
as the insurer of ``--region`` (:func:`engine.auth.cli_insurer`), through the same services as
the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from engine.terminal import Region, console, export_csv, money, run, table

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.crossregion.models import CrossRegionFiling
    from claims.crossregion.schemas import ClaimOut, ClaimReconOut, FilingOut, FilingPage

app = typer.Typer(no_args_is_help=True)

FilingSn = Annotated[str, typer.Argument(help="the filing's trt_dcla_detl_sn")]


M = TypeVar("M", bound="BaseModel")


def _parsed(model: type[M], values: dict[str, object]) -> M:
    """The options as the API's request model, a bad one refused like a bad option."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(str(first["msg"]), param_hint=field) from None


def _print(filing: FilingOut) -> None:
    console.print(
        f"{filing.trt_dcla_detl_sn}  {filing.psn_no}  {filing.filing_type}  "
        f"{filing.insuplc_admdvs} -> {filing.mdtrtarea_admvs}  "
        f"{filing.begndate}..{filing.enddate or ''}  {filing.status}"
    )


@app.command("file")
def file_command(
    region: Region,
    psn_no: Annotated[str, typer.Option(help="the insured person's psn_no")],
    filing_type: Annotated[
        str, typer.Option(help="long_term_residence, referral or temporary_travel")
    ],
    treatment_region: Annotated[str, typer.Option(help="mdtrtarea_admvs, e.g. 510100")],
    begin: Annotated[str, typer.Option("--from", help="begndate, YYYY-MM-DD")],
    end: Annotated[str | None, typer.Option("--to", help="enddate, YYYY-MM-DD")] = None,
) -> None:
    """File a person of REGION for care in another region."""
    from claims.crossregion import filings
    from claims.crossregion.schemas import FilingIn
    from engine.auth import cli_insurer

    body = _parsed(
        FilingIn,
        {
            "psn_no": psn_no,
            "filing_type": filing_type,
            "mdtrtarea_admvs": treatment_region,
            "begndate": begin,
            "enddate": end,
        },
    )

    async def work(session: AsyncSession) -> FilingOut:
        return filings.filing_out(await filings.file(session, cli_insurer(region), body))

    _print(run(work))


@app.command("end")
def end_command(
    sn: FilingSn,
    region: Region,
    end: Annotated[str, typer.Option("--to", help="the last day, YYYY-MM-DD")],
) -> None:
    """End a filing of REGION's insured on a day."""
    from claims.crossregion import filings
    from claims.crossregion.schemas import FilingEndIn
    from engine.auth import cli_insurer

    body = _parsed(FilingEndIn, {"enddate": end})

    async def work(session: AsyncSession) -> FilingOut:
        return filings.filing_out(await filings.end(session, cli_insurer(region), sn, body))

    _print(run(work))


@app.command("revoke")
def revoke_command(sn: FilingSn, region: Region) -> None:
    """Revoke a filing of REGION's insured made in error."""
    from claims.crossregion import filings
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> CrossRegionFiling:
        return await filings.revoke(session, cli_insurer(region), sn)

    _print(filings.filing_out(run(work)))


@app.command("filings")
def list_command(
    region: Region,
    psn_no: Annotated[str | None, typer.Option(help="one person only")] = None,
) -> None:
    """Filings of REGION's insured and filings naming REGION as treatment place."""
    from claims.crossregion import filings
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> FilingPage:
        return await filings.visible_filings(
            session, cli_insurer(region), psn_no=psn_no, cursor=None, limit=500
        )

    page = run(work)
    listed = table("trt_dcla_detl_sn", "psn_no", "type", "from", "to", "period", "status")
    for f in page.items:
        listed.add_row(
            f.trt_dcla_detl_sn,
            f.psn_no,
            f.filing_type,
            f.insuplc_admdvs,
            f.mdtrtarea_admvs,
            f"{f.begndate}..{f.enddate or ''}",
            f.status,
        )
    console.print(listed)


ClaimId = Annotated[str, typer.Argument(help="the inter-region claim's claim_id")]


@app.command("claim")
def claim_command(
    region: Region,
    insured_region: Annotated[str, typer.Option(help="insuplc_admdvs claimed from")],
    setlym: Annotated[str, typer.Option(help="the settled month, YYYYMM")],
) -> None:
    """Make REGION's claim on an insured place for a settled month (frozen as made)."""
    from claims.crossregion import interregion
    from claims.crossregion.schemas import ClaimIn
    from engine.auth import cli_insurer

    body = _parsed(ClaimIn, {"insuplc_admdvs": insured_region, "setlym": setlym})

    async def work(session: AsyncSession) -> ClaimOut:
        return interregion.claim_out(
            await interregion.make_claim(session, cli_insurer(region), body)
        )

    claim = run(work)
    console.print(
        f"{claim.claim_id}  {claim.mdtrtarea_admvs} -> {claim.insuplc_admdvs}  {claim.setlym}  "
        f"{claim.setl_cnt} settlement(s), {claim.adjustment_cnt} adjustment(s)  "
        f"fund {money(claim.fund_pay_sumamt)}"
    )


@app.command("claim-lines")
def claim_lines_command(
    claim_id: ClaimId,
    region: Region,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Export a claim's lines as CSV (either region's insurer)."""
    from claims.crossregion import interregion
    from engine.auth import cli_insurer

    async def rows(session: AsyncSession) -> AsyncIterator[list[str]]:
        await interregion.visible_claim(session, cli_insurer(region), claim_id)
        async for cells in interregion.line_rows(session, claim_id):
            yield cells

    export_csv(interregion.LINE_CSV_HEADER, rows, out)


@app.command("reconcile")
def reconcile_command(
    claim_id: ClaimId,
    region: Region,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="the claim CSV as received"),
    ] = None,
) -> None:
    """Reconcile a claim on REGION against REGION's record; exit 1 on any mismatch."""
    from claims.crossregion import interregion
    from engine.auth import cli_insurer

    data = file.read_bytes() if file is not None else None

    async def work(session: AsyncSession) -> ClaimReconOut:
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
