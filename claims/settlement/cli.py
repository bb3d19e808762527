"""``sanyi claims ...``: load benefit policies from a JSON file (the same document as the API);
``sanyi claims filing ...``: cross-region filings by hand, as the insurer of ``--region``
(:func:`engine.auth.cli_insurer`), through the same services as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.terminal import Region, console, parsed, run, table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.settlement.models import CrossRegionFiling
    from claims.settlement.schemas import FilingOut, FilingPage, PolicyLoad, PolicyLoadResult

app = typer.Typer(no_args_is_help=True)


def read_policy_file(path: Path) -> PolicyLoad:
    """A policy document; keys starting with '_' are comments (demo data marks itself so)."""
    from claims.settlement.schemas import PolicyLoad

    raw = json.loads(path.read_text(encoding="utf-8"))
    return PolicyLoad.model_validate({k: v for k, v in raw.items() if not k.startswith("_")})


@app.command("load-policy")
def load_policy(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="policy JSON")],
    region: Annotated[str, typer.Option(help="pooling region admdvs, e.g. 230100")],
) -> None:
    """Load benefit policy versions for a region."""
    from claims.settlement.service import policies
    from engine.auth import CLI_OPERATOR

    body = read_policy_file(file)

    async def work(session: AsyncSession) -> PolicyLoadResult:
        return await policies.load(session, CLI_OPERATOR, region, body)

    result = run(work)
    console.print(
        f"loaded {result.basic} basic, {result.critical_illness} critical-illness and "
        f"{result.assistance} assistance rows for {result.admdvs}"
    )


filing_app = typer.Typer(
    no_args_is_help=True,
    help="Cross-region filings (备案), as the insurer of --region (docs/cross-region.md).",
)
app.add_typer(filing_app, name="filing")

FilingSn = Annotated[str, typer.Argument(help="the filing's trt_dcla_detl_sn")]


def _print(filing: FilingOut) -> None:
    console.print(
        f"{filing.trt_dcla_detl_sn}  {filing.psn_no}  {filing.filing_type}  "
        f"{filing.insuplc_admdvs} -> {filing.mdtrtarea_admvs}  "
        f"{filing.begndate}..{filing.enddate or ''}  {filing.status}"
    )


@filing_app.command("create")
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
    from claims.settlement.schemas import FilingIn
    from claims.settlement.service import filings
    from engine.auth import cli_insurer

    body = parsed(
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


@filing_app.command("end")
def end_command(
    sn: FilingSn,
    region: Region,
    end: Annotated[str, typer.Option("--to", help="the last day, YYYY-MM-DD")],
) -> None:
    """End a filing of REGION's insured on a day."""
    from claims.settlement.schemas import FilingEndIn
    from claims.settlement.service import filings
    from engine.auth import cli_insurer

    body = parsed(FilingEndIn, {"enddate": end})

    async def work(session: AsyncSession) -> FilingOut:
        return filings.filing_out(await filings.end(session, cli_insurer(region), sn, body))

    _print(run(work))


@filing_app.command("revoke")
def revoke_command(sn: FilingSn, region: Region) -> None:
    """Revoke a filing of REGION's insured made in error."""
    from claims.settlement.service import filings
    from engine.auth import cli_insurer

    async def work(session: AsyncSession) -> CrossRegionFiling:
        return await filings.revoke(session, cli_insurer(region), sn)

    _print(filings.filing_out(run(work)))


@filing_app.command("list")
def list_command(
    region: Region,
    psn_no: Annotated[str | None, typer.Option(help="one person only")] = None,
) -> None:
    """Filings of REGION's insured and filings naming REGION as treatment place."""
    from claims.settlement.service import filings
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
