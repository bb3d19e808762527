"""``sanyi tariffs``: load a price bureau's CSV, export the catalogue in force on a date.

The same services as the API, in one committed unit of work (no acting key: the audit entry
records no actor, as for other operator commands). A refusal prints its code and exits 1; a
refused file prints every bad row.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from engine.terminal import Region, console, errors, refused, step, table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tariffs.catalogue import ImportResult

app = typer.Typer(no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]], doing: str | None = None) -> T:
    """:func:`engine.terminal.run` (under a spinner saying what it is ``doing``), with a refused
    file's rows as a table."""
    from engine.db import run_in_unit_of_work
    from engine.errors import SanyiError
    from tariffs.catalogue import InvalidCatalogue, OverlappingVersions

    try:
        with step(doing) if doing else nullcontext():
            return run_in_unit_of_work(work)
    except (InvalidCatalogue, OverlappingVersions) as error:
        rows = table("line", "code", "column", "reason", title=f"{error.code}: {error.message}")
        for row in error.errors:
            rows.add_row(str(row.line), row.med_list_codg or "", row.column or "", row.reason)
        errors.print(rows)
        raise typer.Exit(1) from None
    except SanyiError as error:
        raise refused(error) from None


@app.command("add-region")
def add_region(
    region: Region,
    name: Annotated[str, typer.Option(help="region name")],
) -> None:
    """Register a pooling region (insurers do this through the API)."""
    from tariffs import registry

    async def work(session: AsyncSession) -> str:
        return (await registry.create_region(session, None, admdvs=region, name=name)).admdvs

    console.print(f"region {_run(work)} registered")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="catalogue CSV")],
    region: Region,
    encoding: Annotated[
        str, typer.Option(help="file encoding (gb18030 for Excel on Chinese systems)")
    ] = "utf-8",
) -> None:
    """Import a catalogue CSV, all rows or none; exit 1 listing every bad row."""
    from tariffs import catalogue, csv_format

    with step(f"reading {file.name}"):
        body = file.read_bytes()
    lines = body.count(b"\n")

    async def work(session: AsyncSession) -> ImportResult:
        text = csv_format.decode(body, encoding)
        return await catalogue.import_catalogue(
            session, admdvs=region, text=text, source=file.name, actor=None
        )

    result = _run(work, f"checking and importing {lines:,} line(s) into {region}")
    console.print(
        f"imported {result.rows:,} version(s) into {region} (import {result.import_id}); "
        f"closed {len(result.closed):,} open-ended version(s)"
    )
    if result.ignored_columns:
        console.print(f"ignored columns: {', '.join(result.ignored_columns)}")


@app.command("export")
def export_command(
    region: Region,
    on: Annotated[str, typer.Option("--on", help="date the catalogue is in force, YYYY-MM-DD")],
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Export the catalogue in force on a date as CSV (the import format)."""
    from tariffs import catalogue
    from tariffs.csv_format import write_catalogue

    try:
        day = date.fromisoformat(on)
    except ValueError:
        raise typer.BadParameter(f"{on!r} is not a date YYYY-MM-DD", param_hint="--on") from None

    async def work(session: AsyncSession) -> str:
        return write_catalogue(await catalogue.catalogue_on(session, region, day))

    text = _run(work)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
