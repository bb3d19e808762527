"""The dramatiq broker: RabbitMQ when ``BROKER_URL`` is set, in-process otherwise.

Actors bind to the global broker when their module is imported, so :func:`setup_broker` runs
before any ``tasks`` module is imported (``workers/__init__.py`` does it for worker processes, the
app factory for the API). It hands out one broker per URL per process: the app factory and
``workers`` both call it, and an actor imported after the first call must still be served by the
worker started after the second (the embedded default runs both in ``sanyi serve``).
"""

from __future__ import annotations

import anyio
import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from engine.settings import Settings

_brokers: dict[str | None, dramatiq.Broker] = {}


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """The process's broker for ``settings.broker_url``, made current.

    ``CurrentMessage`` lets an actor read its own message id, which ``workers.runtime.run_once``
    records in the inbox (engine/inbox.py) so a redelivered message is done once.
    """
    broker = _brokers.get(settings.broker_url)
    if broker is None:
        if settings.broker_url:
            broker = RabbitmqBroker(url=settings.broker_url, confirm_delivery=True)
        else:
            broker = StubBroker()
            broker.emit_after("process_boot")
        broker.add_middleware(CurrentMessage())
        _brokers[settings.broker_url] = broker
    dramatiq.set_broker(broker)
    return broker


def _rabbitmq_reachable(url: str, timeout: float) -> None:
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.stack_timeout = timeout
    params.connection_attempts = 1
    pika.BlockingConnection(params).close()


async def broker_status(settings: Settings) -> tuple[bool, str]:
    """(reachable, kind), bounded by the broker timeout so /health never hangs."""
    if not settings.broker_url:
        return True, "in-process"
    try:
        with anyio.fail_after(settings.broker_timeout_seconds + 0.5):
            await anyio.to_thread.run_sync(
                _rabbitmq_reachable,
                settings.broker_url,
                settings.broker_timeout_seconds,
                abandon_on_cancel=True,
            )
    except Exception:
        return False, "rabbitmq"
    return True, "rabbitmq"
