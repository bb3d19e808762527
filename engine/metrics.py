"""Prometheus metrics: the objects every module updates, and ``GET /metrics``.

HTTP traffic is measured with prometheus-fastapi-instrumentator's standard set
(``http_requests_total``, ``http_request_duration_seconds`` by method, route template and exact
status, and the size summaries), fed by the access middleware (engine/access.py), which knows the
route template already: the instrumentator's own middleware finds it again by matching the request
against every route, about a tenth of a millisecond a request on the settle path. The domain
metrics below are updated where the thing happens, each by a counter increment or a histogram
observation; the outbox backlog is read from the database when ``/metrics`` is scraped, because
every process sees the same outbox.

Several processes (``sanyi serve`` runs two uvicorn workers): when ``PROMETHEUS_MULTIPROC_DIR``
names a directory, every process writes its values there and ``/metrics`` answers with the sum of
all of them (prometheus_client's multiprocess mode). Without it each process answers for itself.
Labels hold codes, route templates and actor names only: never an identifier or personal data.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from time import perf_counter
from typing import Any, Final, ParamSpec, TypeVar

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_fastapi_instrumentator import metrics as http_metrics
from starlette.datastructures import Headers
from starlette.types import Scope

from engine import outbox
from engine.db import Database, utcnow
from engine.errors import SanyiError

log = logging.getLogger("sanyi.metrics")

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Routes the HTTP metrics leave out: probes and the scrape itself would drown the traffic.
UNMEASURED_PATHS: Final = ("/livez", "/readyz", "/health", "/metrics")
#: How long a scrape waits for the outbox figures before answering without fresh ones.
COLLECT_TIMEOUT_SECONDS: Final = 2.0

if MULTIPROC_ENV in os.environ:
    # prometheus_client opens its value files there as each metric below is made.
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

SETTLEMENTS = Counter(
    "sanyi_settlements",
    "Settle (2207) calls by result: ok, refused (a 4xx) or error.",
    ["result"],
)
REVOCATIONS = Counter(
    "sanyi_revocations",
    "Revoke (2208) calls by result: ok, refused (a 4xx) or error.",
    ["result"],
)
SETTLE_SECONDS = Histogram(
    "sanyi_settle_seconds",
    "Time in the settle service, whatever its result (the request's own latency is in "
    "http_request_duration_seconds).",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
SETTLE_BATCH_SIZE = Histogram(
    "sanyi_settle_batch_size",
    "Settlements whose writes shared one statement (group commit, claims/settlement/store.py).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
REFUSALS = Counter(
    "sanyi_refusals",
    "Error responses by their error code (4xx refusals, and 503 unavailable, 500 internal_error).",
    ["code"],
)
PRESCRIPTION_TRANSITIONS = Counter(
    "sanyi_prescription_transitions",
    "Prescription transitions recorded, by transition (uploaded, reviewed, locked, dispensed...).",
    ["transition"],
)
OUTBOX_PENDING = Gauge(
    "sanyi_outbox_pending_events",
    "Outbox events not yet published, read from the database at scrape time.",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "sanyi_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox event (0 when none is pending), read at scrape time.",
    multiprocess_mode="mostrecent",
)
RELAY_PUBLISHED = Counter("sanyi_relay_published_events", "Events the broker confirmed.")
RELAY_FAILURES = Counter(
    "sanyi_relay_publish_failures",
    "Event publications that failed (the events stay pending and are retried).",
)
JOB_SECONDS = Histogram(
    "sanyi_job_seconds",
    "Duration of background job runs (dramatiq actors), by actor.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
)
JOB_FAILURES = Counter(
    "sanyi_job_failures", "Background job runs that raised, by actor (retried or not).", ["job"]
)
RECONCILIATION_ROWS = Counter(
    "sanyi_reconciliation_rows", "Detail rows (3202) reconciled against the settlements."
)
RECONCILIATION_ROWS_PER_SECOND = Gauge(
    "sanyi_reconciliation_rows_per_second",
    "Throughput of the most recent detail reconciliation (rows over its timed steps).",
    multiprocess_mode="mostrecent",
)
DATABASE_UP = Gauge(
    "sanyi_database_up",
    "1 when the last probe reached the database within its bound, else 0.",
    multiprocess_mode="mostrecent",
)
BROKER_UP = Gauge(
    "sanyi_broker_up",
    "1 when the last check reached the broker (always 1 in-process), else 0. Informational: the "
    "API serves without the broker, events wait in the outbox.",
    multiprocess_mode="mostrecent",
)
BROKER_CHECK_SECONDS = Gauge(
    "sanyi_broker_check_seconds",
    "How long the last broker check took.",
    multiprocess_mode="mostrecent",
)


def _standard_http_metrics() -> Callable[[http_metrics.Info], None]:
    """The instrumentator's standard HTTP metrics, registered once for the process (it answers
    None when they are registered already)."""
    instrumentation = http_metrics.default()
    if instrumentation is None:
        raise RuntimeError("the HTTP metrics were registered outside engine.metrics")
    return instrumentation


_HTTP_METRICS = _standard_http_metrics()


def observe_http(
    scope: Scope, route: str, status: int, headers: list[tuple[bytes, bytes]], seconds: float
) -> None:
    """Count one finished request of ``route`` (a template) in the HTTP metrics."""
    if route in UNMEASURED_PATHS:
        return
    _HTTP_METRICS(
        http_metrics.Info(
            request=Request(scope),
            response=Response(status_code=status, headers=Headers(raw=headers)),
            method=scope["method"],
            modified_handler=route,
            modified_status=str(status),
            modified_duration=seconds,
        )
    )


P = ParamSpec("P")
R = TypeVar("R")


class Outcomes:
    """Counts a service's calls by result (``ok``, ``refused``: a :class:`SanyiError`, ``error``)
    and, given a histogram, observes their duration. Used as a decorator on the service."""

    def __init__(self, counter: Counter, seconds: Histogram | None = None) -> None:
        # Label children bound once: the settle path pays one increment and one observation.
        self.ok = counter.labels(result="ok")
        self.refused = counter.labels(result="refused")
        self.error = counter.labels(result="error")
        self.seconds = seconds

    def __call__(self, service: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(service)
        async def observed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = perf_counter()
            try:
                result = await service(*args, **kwargs)
            except SanyiError:
                self.refused.inc()
                raise
            except Exception:
                self.error.inc()
                raise
            finally:
                if self.seconds is not None:
                    self.seconds.observe(perf_counter() - started)
            self.ok.inc()
            return result

        return observed


def reconciled(rows: int, seconds: float) -> None:
    """Record one detail reconciliation of ``rows`` rows done in ``seconds``."""
    RECONCILIATION_ROWS.inc(rows)
    if seconds > 0:
        RECONCILIATION_ROWS_PER_SECOND.set(rows / seconds)


async def collect_outbox(db: Database) -> None:
    """Set the outbox gauges from the database, bounded by :data:`COLLECT_TIMEOUT_SECONDS`; on
    failure the gauges keep their last values and the scrape still answers."""

    async def read() -> outbox.Backlog:
        async with db.sessionmaker() as session:
            return await outbox.backlog(session)

    try:
        backlog = await asyncio.wait_for(read(), COLLECT_TIMEOUT_SECONDS)
    except Exception as exc:
        # One line, no traceback: Prometheus scrapes every few seconds during an outage.
        log.warning("metrics: outbox backlog not read: %s: %s", type(exc).__name__, exc)
        return
    OUTBOX_PENDING.set(backlog.pending)
    oldest = backlog.oldest_created_at
    OUTBOX_OLDEST_AGE.set(0 if oldest is None else (utcnow() - oldest).total_seconds())


def exposition() -> bytes:
    """The text format of every metric: of all processes in multiprocess mode, else this one."""
    if MULTIPROC_ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def reset_multiprocess_dir() -> None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` before the server's processes start, as
    prometheus_client requires: files of processes from an earlier run would be summed in."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        for values in Path(directory).glob("*.db"):
            values.unlink()


router = APIRouter(tags=["ops"])


@router.get(
    "/metrics", response_class=Response, operation_id="scrape_metrics", summary="Prometheus metrics"
)
async def scrape(request: Request) -> Response:
    """Prometheus text exposition; keep it on the operators' network (no credentials asked)."""
    await collect_outbox(request.app.state.db)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
