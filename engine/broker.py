"""The dramatiq broker: RabbitMQ when ``BROKER_URL`` is set, in-process otherwise.

Actors bind to the global broker when their module is imported, so :func:`setup_broker` runs
before any ``tasks`` module is imported (``workers/__init__.py`` does it for worker processes, the
app factory for the API). It hands out one broker per URL per process: the app factory and
``workers`` both call it, and an actor imported after the first call must still be served by the
worker started after the second (the embedded default runs both in ``sanyi serve``).
"""

from __future__ import annotations

import logging
import threading
from time import perf_counter
from typing import Any

import anyio
import dramatiq
import pika
from dramatiq import MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from engine import logs, metrics
from engine.settings import Settings, get_settings

log = logging.getLogger("sanyi.jobs")

_brokers: dict[str | None, dramatiq.Broker] = {}


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """The process's broker for ``settings.broker_url``, made current.

    ``CurrentMessage`` lets an actor read its own message id, which ``workers.runtime.run_once``
    records in the inbox (engine/inbox.py) so a redelivered message is done once;
    :class:`JobObserver` logs and measures every run, and :class:`WorkerLogs` makes a worker
    process log like the API.
    """
    broker = _brokers.get(settings.broker_url)
    if broker is None:
        if settings.broker_url:
            broker = RabbitmqBroker(url=settings.broker_url, confirm_delivery=True)
        else:
            broker = StubBroker()
            broker.emit_after("process_boot")
        broker.add_middleware(CurrentMessage())
        broker.add_middleware(JobObserver())
        broker.add_middleware(WorkerLogs())
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
    """(reachable, kind), bounded by the broker timeout so a probe never hangs; the outcome and
    the check's duration are kept in ``sanyi_broker_up`` and ``sanyi_broker_check_seconds``."""
    if not settings.broker_url:
        metrics.BROKER_UP.set(1)
        return True, "in-process"
    started = perf_counter()
    try:
        with anyio.fail_after(settings.broker_timeout_seconds + 0.5):
            await anyio.to_thread.run_sync(
                _rabbitmq_reachable,
                settings.broker_url,
                settings.broker_timeout_seconds,
                abandon_on_cancel=True,
            )
        reachable = True
    except Exception:
        reachable = False
    metrics.BROKER_CHECK_SECONDS.set(perf_counter() - started)
    metrics.BROKER_UP.set(1 if reachable else 0)
    return reachable, "rabbitmq"


class JobObserver(dramatiq.Middleware):
    """One log line (logger ``sanyi.jobs``) and one ``sanyi_job_seconds`` observation per actor
    run, and ``sanyi_job_failures`` when it raised. The line names the actor, the message id, the
    retry count, the outcome and the exception's type; never its arguments or message, which can
    carry data (dramatiq logs the traceback itself, through the same redacting handler)."""

    def __init__(self) -> None:
        # A worker thread runs one message at a time: its start time is per thread.
        self._started = threading.local()

    @property
    def actor_options(self) -> set[str]:
        """``log_ok_runs=False`` keeps an actor's successful runs out of the log (the relay ticks
        every second); they are still measured, and failures are always logged."""
        return {"log_ok_runs"}

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started.at = perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        # Unset when an earlier middleware refused the message before this one saw it.
        started = getattr(self._started, "at", None)
        self._started.at = None
        seconds = 0.0 if started is None else perf_counter() - started
        metrics.JOB_SECONDS.labels(job=message.actor_name).observe(seconds)
        if exception is not None:
            metrics.JOB_FAILURES.labels(job=message.actor_name).inc()
        elif not broker.get_actor(message.actor_name).options.get("log_ok_runs", True):
            return
        self._log(message, "ok" if exception is None else "failed", seconds, exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        """A message dropped unrun (older than its actor's ``max_age``)."""
        self._log(message, "skipped", 0.0, None)

    @staticmethod
    def _log(
        message: MessageProxy, outcome: str, seconds: float, exception: BaseException | None
    ) -> None:
        log.info(
            "job",
            extra={
                "job": message.actor_name,
                "message_id": message.message_id,
                "retries": message.options.get("retries", 0),
                "outcome": outcome,
                "error": None if exception is None else type(exception).__name__,
                "duration_ms": round(seconds * 1000, 2),
            },
        )


class WorkerLogs(dramatiq.Middleware):
    """A ``sanyi worker`` process logs through the redacting JSON handler (engine/logs.py), not
    dramatiq's plain-text lines. ``process_boot`` is emitted by dramatiq's worker processes only
    (the in-process broker emits it before this middleware is added), so the API's logging and
    the tests' are left alone."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        logs.configure(get_settings(), force=True)  # replaces dramatiq's plain-text handler
