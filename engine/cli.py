"""The ``sanyi`` command line (typer + rich).

Conventions every command follows: the pooling region is ``--region``, a year ``--year`` and a
month ``--month``; files are arguments; results are tables on stdout with amounts in one format
(:func:`engine.terminal.money`); long work shows progress on stderr; a refusal prints its code on
stderr and exits 1.

``sanyi --help`` must answer at once, so this module imports neither the web stack nor the
database: each command imports what it needs when it runs, and the groups of the domains (and of
the relay) are imported only when one of their commands is run or its help asked for.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
import typer.main

# typer vendors click: its groups take typer's own copy of these classes.
from typer._click import Command, Context, HelpFormatter
from typer.core import TyperCommand, TyperGroup

from engine.terminal import console, refuse, run, table

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from engine.auth import ApiKey, Organisation


@dataclass(frozen=True, slots=True)
class LazyGroup:
    """A command group in another module: ``module:attribute`` names its ``typer.Typer``, and
    ``help`` is its help text, both in ``sanyi --help`` and in its own."""

    target: str
    help: str

    def load(self) -> Command:
        module, _, attribute = self.target.partition(":")
        command = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        command.help = self.help
        return command


LAZY_GROUPS = {
    "tariffs": LazyGroup("tariffs.cli:app", "Tariffs and catalogues: CSV import and export."),
    "claims": LazyGroup("claims.settlement.cli:app", "Benefit policies and claims."),
    "funding": LazyGroup(
        "claims.funding.cli:app", "Global budgets, DIP points and per-capita bundles."
    ),
    "recon": LazyGroup(
        "claims.clearing.cli:recon_app", "Reconciliation: 3201 totals and 3202 details."
    ),
    "clearing": LazyGroup("claims.clearing.cli:clearing_app", "Clearing batches (3203)."),
    "rx": LazyGroup(
        "prescriptions.cli:app", "E-prescriptions: doctors' signing keys and signatures."
    ),
    "voucher": LazyGroup(
        "vouchers.cli:app", "E-vouchers: insurers' signing keys and the tokens they issue."
    ),
    "events": LazyGroup(
        "engine.relay_cli:events_cli",
        "Domain events: the outbox relay to RabbitMQ (docs/events.md).",
    ),
}


class SanyiGroup(TyperGroup):
    """The top-level group: lists the :data:`LAZY_GROUPS` by their help text, and imports one
    only when it is used."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_GROUPS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        lazy = LAZY_GROUPS.get(cmd_name)
        if cmd_name in self.commands or lazy is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(name=cmd_name, help=lazy.help)
        self.commands[cmd_name] = lazy.load()
        return self.commands[cmd_name]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=SanyiGroup,
    help="Sanyi: one-stop settlement and e-prescription engine.",
    no_args_is_help=True,
)
org_app = typer.Typer(help="Organisations (hospitals, pharmacies, insurers, operators).")
key_app = typer.Typer(help="API keys: create, list, revoke.")
audit_app = typer.Typer(help="The tamper-evident audit log.")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(audit_app, name="audit")


def require_secret_key() -> None:
    """Exit 1 with the reason when the settings are not fit to serve or to key API keys."""
    from engine.settings import InsecureSecretKey, get_settings

    try:
        get_settings().require_secret_key()
    except InsecureSecretKey as insecure:
        raise refuse(str(insecure)) from None


@app.command(name="migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply database migrations (alembic upgrade)."""
    from engine import migrate
    from engine.settings import get_settings

    migrate.upgrade(get_settings().sync_database_url, revision)
    console.print(f"[green]database at {revision}[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run the HTTP API with uvicorn (uvloop, httptools), logging redacted JSON lines (one access
    line per request, engine/access.py) to standard error."""
    require_secret_key()
    import uvicorn

    from engine import logs, metrics
    from engine.settings import get_settings

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
    from engine.settings import get_settings

    if not get_settings().broker_url:
        raise refuse("BROKER_URL is not set: background jobs run inside `sanyi serve`.")
    require_secret_key()
    argv = ["dramatiq", "workers", "--processes", str(processes), "--threads", str(threads)]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])


@app.command(name="scheduler")
def scheduler_command() -> None:
    """Enqueue the periodic jobs on their triggers; run exactly one per deployment."""
    require_secret_key()
    from workers.processes import scheduler_command

    scheduler_command()


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="display name")],
    role: Annotated[str, typer.Option(help="hospital, pharmacy, insurer or admin")],
    code: Annotated[str | None, typer.Option(help="institution code (fixmedins_code)")] = None,
    region: Annotated[str | None, typer.Option(help="pooling region admdvs")] = None,
) -> None:
    """Create an organisation; print its id."""
    from engine import audit
    from engine.auth import Role, create_organisation

    try:
        kind = Role(role)
    except ValueError:
        raise typer.BadParameter(
            f"{role!r} is not one of {', '.join(Role)}", param_hint="--role"
        ) from None

    async def work(session: AsyncSession) -> str:
        org = await create_organisation(
            session, name=name, role=kind, institution_code=code, admdvs=region
        )
        await audit.record(
            session,
            actor=None,
            action="organisation.created",
            object_type="organisation",
            object_id=str(org.id),
            payload={"name": name, "role": kind.value, "institution_code": code, "admdvs": region},
        )
        return str(org.id)

    print(run(work))


@org_app.command("list")
def org_list() -> None:
    """Every organisation, by role then name."""
    from engine.auth import list_organisations

    async def work(session: AsyncSession) -> list[Organisation]:
        return list(await list_organisations(session))

    result = table("id", "role", "name", "fixmedins_code", "admdvs", title="organisations")
    for org in run(work):
        result.add_row(
            str(org.id), org.role, org.name, org.institution_code or "", org.admdvs or ""
        )
    console.print(result)


async def _organisation(session: AsyncSession, ref: str) -> Organisation:
    from engine.auth import find_organisation

    found = await find_organisation(session, ref)
    if found is None:
        raise typer.BadParameter(f"no organisation {ref!r}", param_hint="--org")
    return found


Org = Annotated[str, typer.Option(help="organisation id or institution code")]


@key_app.command("create")
def key_create(
    org: Org,
    label: Annotated[str | None, typer.Option(help="what the key is for")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    require_secret_key()
    from engine import audit
    from engine.auth import create_api_key

    async def work(session: AsyncSession) -> str:
        found = await _organisation(session, org)
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

    print(run(work))


@key_app.command("list")
def key_list(org: Org) -> None:
    """An organisation's keys (never the tokens): created, last used (to the minute), revoked."""
    from engine.auth import list_api_keys

    async def work(session: AsyncSession) -> list[ApiKey]:
        return list(await list_api_keys(session, await _organisation(session, org)))

    def when(moment: datetime | None) -> str:
        return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""

    result = table("prefix", "label", "created", "last used", "revoked", title=f"keys of {org}")
    for key in run(work):
        result.add_row(
            f"sk_{key.key_id}_",
            key.label or "",
            when(key.created_at),
            when(key.last_used_at) or "never",
            when(key.revoked_at),
        )
    console.print(result)


@key_app.command("revoke")
def key_revoke(
    key: Annotated[str, typer.Argument(help="the key's prefix sk_<key_id>_ (or its key_id)")],
) -> None:
    """Revoke a key; every API process refuses it within SANYI_KEY_CACHE_SECONDS (5 s)."""
    from engine import audit
    from engine.auth import revoke_api_key
    from engine.settings import get_settings

    key_id = key.removeprefix("sk_").split("_", 1)[0]

    async def work(session: AsyncSession) -> None:
        revoked = await revoke_api_key(session, key_id)
        await audit.record(
            session,
            actor=None,
            action="api_key.revoked",
            object_type="organisation",
            object_id=str(revoked.org_id),
            payload={"key_id": revoked.key_id},
        )

    run(work)
    bound = get_settings().key_cache_seconds
    console.print(f"key sk_{key_id}_ revoked; refused everywhere within {bound:g} s")


@audit_app.command("verify")
def audit_verify(
    seal_mac: Annotated[
        list[str] | None,
        typer.Option(help="a seal MAC recorded outside the database, which must still be there"),
    ] = None,
) -> None:
    """Check every audit chain, seal and audited row; exit 1 naming each problem found."""
    from engine import audit
    from engine.db import run_in_unit_of_work

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
    result = table(
        "where", "problem", title=f"audit log tampered: {len(report.findings)} problem(s)"
    )
    for finding in report.findings:
        result.add_row(finding.where, finding.problem)
    console.print(result)
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(
    full: Annotated[bool, typer.Option(help="look at every stream, not only recent ones")] = False,
) -> None:
    """Seal now the head of every audit stream that moved since the previous seal."""

    from engine import audit
    from engine.db import run_in_unit_of_work

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
    days: Annotated[int, typer.Option(help="days of activity to simulate", min=1)] = 30,
    serve: Annotated[
        bool, typer.Option(help="keep serving the API and console afterwards")
    ] = False,
) -> None:
    """Run the demo region end to end through the real HTTP API and print a report."""
    require_secret_key()
    from demo.run import run_demo

    run_demo(days=days, serve=serve)
