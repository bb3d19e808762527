"""``sanyi events``: the outbox relay as a command of its own.

Kept apart from :mod:`engine.relay` so that ``sanyi events --help`` imports neither pika nor
SQLAlchemy: the relay loads when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

events_cli = typer.Typer(no_args_is_help=True)


@events_cli.callback()
def events() -> None:
    """Domain events: the outbox relay to RabbitMQ (docs/events.md)."""


@events_cli.command("relay")
def relay_command(
    once: Annotated[bool, typer.Option(help="publish what is due, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between runs")] = 1.0,
    batch_size: Annotated[
        int | None, typer.Option(help="events per transaction [default: the relay's]", min=1)
    ] = None,
) -> None:
    """Publish pending outbox events to the events exchange (needs BROKER_URL).

    Safe to run next to the workers' periodic relay and next to other relays. With ``--once`` the
    exit status is 1 when some events could not be published (they stay pending).
    """
    from engine import logs, relay
    from engine.settings import get_settings

    settings = get_settings()
    logs.configure(settings)
    if not settings.broker_url:
        typer.echo("BROKER_URL is not set: there is no RabbitMQ to publish to.", err=True)
        raise typer.Exit(1)
    try:
        stats = relay.run_relay(
            settings, once=once, interval=interval, batch_size=batch_size or relay.BATCH_SIZE
        )
    except KeyboardInterrupt:
        return
    typer.echo(f"published {stats.published}, failed {stats.failed}")
    if stats.failed:
        raise typer.Exit(1)
