"""The ``sanyi`` command line (typer + rich)."""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit, logs, metrics, migrate, relay, scheduler
from engine.auth import Role, create_api_key, create_organisation, find_organisation
from engine.db import run_in_unit_of_work
from engine.domains import domain_modules
from engine.settings import get_settings

app = typer.Typer(
    help="Sanyi: one-stop settlement and e-prescription engine.", no_args_is_help=True
)
org_app = typer.Typer(help="Organisations (hospitals, pharmacies, insurers, operators).")
key_app = typer.Typer(help="API keys.")
audit_app = typer.Typer(help="The tamper-evident audit log.")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(audit_app, name="audit")
console = Console()


@app.command(name="migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply database migrations (alembic upgrade)."""
    settings = get_settings()
    migrate.upgrade(settings.sync_database_url, revision)
    console.print(f"[green]database at {revision}[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run the HTTP API with uvicorn (uvloop, httptools), logging redacted JSON lines (one access
    line per request, engine/access.py) to standard error."""
    import uvicorn

    settings = get_settings()
    metrics.reset_multiprocess_dir()
    uvicorn.run(
        "engine.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=logs.uvicorn_config(settings),
    )


@app.command()
def worker(
    processes: Annotated[int, typer.Option(help="worker processes")] = 1,
    threads: Annotated[int, typer.Option(help="threads per process")] = 4,
) -> None:
    """Run dramatiq workers for every domain's actors (RabbitMQ needs BROKER_URL)."""
    if not get_settings().broker_url:
        console.print("[yellow]BROKER_URL is not set: background jobs run inside `sanyi serve`.")
        raise typer.Exit(1)
    argv = ["dramatiq", "workers", "--processes", str(processes), "--threads", str(threads)]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="display name")],
    role: Annotated[Role, typer.Option(help="hospital, pharmacy, insurer or admin")],
    code: Annotated[str | None, typer.Option(help="institution code (fixmedins_code)")] = None,
    region: Annotated[str | None, typer.Option(help="pooling region admdvs")] = None,
) -> None:
    """Create an organisation."""

    async def work(session: AsyncSession) -> str:
        org = await create_organisation(
            session, name=name, role=role, institution_code=code, admdvs=region
        )
        await audit.record(
            session,
            actor=None,
            action="organisation.created",
            object_type="organisation",
            object_id=str(org.id),
            payload={"name": name, "role": role.value, "institution_code": code, "admdvs": region},
        )
        return str(org.id)

    console.print(run_in_unit_of_work(work))


@key_app.command("create")
def key_create(
    org: Annotated[str, typer.Option(help="organisation id or institution code")],
    label: Annotated[str | None, typer.Option(help="what the key is for")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""

    async def work(session: AsyncSession) -> str:
        found = await find_organisation(session, org)
        if found is None:
            raise typer.BadParameter(f"no organisation {org!r}", param_hint="--org")
        token = await create_api_key(session, found, label=label)
        await audit.record(
            session,
            actor=None,
            action="api_key.created",
            object_type="organisation",
            object_id=str(found.id),
            payload={"label": label},
        )
        return token

    print(run_in_unit_of_work(work))


@audit_app.command("verify")
def audit_verify(
    seal_mac: Annotated[
        list[str] | None,
        typer.Option(help="a seal MAC recorded outside the database, which must still be there"),
    ] = None,
) -> None:
    """Check every audit chain, seal and audited row; exit 1 naming each problem found."""
    report = run_in_unit_of_work(functools.partial(audit.verify, known_seals=tuple(seal_mac or ())))
    rows = ", ".join(f"{count} {table} row(s)" for table, count in report.rows.items())
    console.print(
        f"checked {report.entries} entries in {report.streams} streams, {report.seals} seal(s)"
        + (f", {rows}" if rows else "")
    )
    if report.last_sealed_at is None:
        console.print("[yellow]never sealed: deleting the newest entries goes unseen[/yellow]")
    else:
        console.print(
            f"last seal {report.last_sealed_at.isoformat()}; {report.unsealed_streams} "
            "stream(s) moved since (not sealed yet)"
        )
    if report.unkeyed:
        console.print(
            f"{report.unkeyed} entries from before keyed MACs, "
            f"{report.unkeyed_unproven} of them not yet covered by a seal"
        )
    if not report.findings:
        console.print("[green]audit log intact[/green]")
        return
    table = Table(
        "where", "problem", title=f"audit log tampered: {len(report.findings)} problem(s)"
    )
    for finding in report.findings:
        table.add_row(finding.where, finding.problem)
    console.print(table)
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(
    full: Annotated[bool, typer.Option(help="look at every stream, not only recent ones")] = False,
) -> None:
    """Seal now the head of every audit stream that moved since the previous seal."""

    async def work(session: AsyncSession) -> tuple[int, int, str] | None:
        sealed = await audit.seal(session, full=full)
        return None if sealed is None else (sealed.id, sealed.head_count, sealed.mac)

    sealed = run_in_unit_of_work(work)
    if sealed is None:
        console.print("nothing moved since the last seal")
        return
    seal_id, heads, mac = sealed
    console.print(f"audit_seal id={seal_id}: {heads} stream head(s), mac {mac}")


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="days of activity to simulate")] = 30,
) -> None:
    """Run the demo region end to end through the real HTTP API and print a report."""
    from demo.run import run_demo

    run_demo(days=days)


app.add_typer(relay.events_cli, name="events")
app.command(name="scheduler")(scheduler.scheduler_command)

for _cli in domain_modules("cli"):
    app.add_typer(_cli.app, name=_cli.NAME)
