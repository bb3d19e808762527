"""What every ``sanyi`` command shares: the options it names alike, one money format, tables,
progress and refusals.

Kept free of the database and web stack so that ``sanyi --help`` stays fast: the commands import
their services when they run. Results go to stdout, progress and refusals to stderr, so a
command's output can be piped while a person still watches it move.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from moneyed import Money
    from sqlalchemy.ext.asyncio import AsyncSession

    from engine.errors import SanyiError

T = TypeVar("T")

#: The pooling region a command works in: ``--region`` everywhere.
Region = Annotated[str, typer.Option(help="pooling region admdvs, e.g. 230100")]
Year = Annotated[int, typer.Option(help="year", min=2000, max=2099)]
Month = Annotated[int, typer.Option(help="month", min=1, max=12)]

FEN = Decimal("0.01")

#: Line width of output that is not a terminal (a file, a pipe): wide enough for every table.
PIPED_WIDTH = 200

console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)


def money(amount: Decimal | Money) -> str:
    """Yuan with thousands separators and two decimals ("1,200,000.00"): the one format of
    amounts in human output. An amount finer than a fen is a bug upstream, refused rather than
    rounded out of sight."""
    value = amount if isinstance(amount, Decimal) else amount.amount
    if value != value.quantize(FEN):
        raise ValueError(f"{value} is not a whole number of fen")
    return f"{value:,.2f}"


def table(*columns: str, title: str | None = None, amounts: tuple[str, ...] = ()) -> Table:
    """A result table; the ``amounts`` columns (and counts) are right-aligned to line up, and
    never wrapped: on a narrow terminal the text columns give way."""
    result = Table(title=title)
    for column in columns:
        if column in amounts:
            result.add_column(column, justify="right", no_wrap=True)
        else:
            result.add_column(column)
    return result


def progress(*, in_bytes: bool = False) -> Progress:
    """A progress display on stderr: what is happening, how far along (items, or bytes with
    ``in_bytes``), for how long."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    )


@contextmanager
def step(description: str) -> Iterator[None]:
    """A spinner with the elapsed time for one step whose length is not known in advance."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=errors
    ) as bar:
        task = bar.add_task(description, total=1)
        yield
        bar.update(task, completed=1)


def refuse(message: str) -> typer.Exit:
    """Print a refusal on stderr; raise the returned exit (status 1)."""
    errors.print(f"[red]{message}[/red]")
    return typer.Exit(1)


def refused(error: SanyiError) -> typer.Exit:
    """Print a domain refusal as ``code: message (field)``; raise the returned exit."""
    where = f" ({error.field})" if error.field else ""
    return refuse(f"{error.code}: {error.message}{where}")


def run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed unit of work; a refusal is printed on stderr and exits 1,
    and nothing is written."""
    from engine.db import run_in_unit_of_work
    from engine.errors import SanyiError

    try:
        return run_in_unit_of_work(work)
    except SanyiError as error:
        raise refused(error) from None


def export_csv(
    header: Sequence[str],
    rows: Callable[[AsyncSession], AsyncIterator[list[str]]],
    out: Path | None,
) -> None:
    """Write ``rows`` as CSV to ``out`` (or stdout) as they stream from the database, in one
    unit of work; ``rows`` checks what the caller may see before its first row."""

    def write(target: TextIO) -> int:
        async def work(session: AsyncSession) -> int:
            writer = csv.writer(target)
            writer.writerow(header)
            written = 0
            async for cells in rows(session):
                writer.writerow(cells)
                written += 1
            return written

        return run(work)

    if out is None:
        write(sys.stdout)
        return
    with out.open("w", encoding="utf-8", newline="") as target:
        written = write(target)
    console.print(f"{written:,} row(s) written to {out}")


M = TypeVar("M", bound=BaseModel)


def parsed(model: type[M], values: dict[str, object]) -> M:
    """Options as an API request model: the first invalid one refused like a bad option, so a
    command checks exactly what the endpoint checks."""
    try:
        return model.model_validate(values)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(str(first["msg"]), param_hint=field) from None
