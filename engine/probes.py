"""Liveness and readiness probes, and ``/health``.

- ``GET /livez``: the process answers; no I/O, always 200. A failing liveness probe restarts the
  process, so it must not depend on anything outside it.
- ``GET /readyz``: 200 when the database answers ``SELECT 1`` within ``SANYI_PROBE_TIMEOUT``,
  else 503: a replica that cannot reach the database cannot serve and is taken out of rotation.
- ``GET /health``: the same verdict with the same body, kept for existing monitors.

The broker is checked at the same time, within the same bound, reported in the body and in the
``sanyi_broker_up`` gauge, and never decides the status: the API keeps serving while RabbitMQ is
away (events wait in the outbox), and a load balancer that pulled every replica because the broker
was down would turn a delayed-events incident into an outage.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from engine import metrics
from engine.broker import broker_status
from engine.db import Database
from engine.settings import Settings

log = logging.getLogger("sanyi.probes")

router = APIRouter(tags=["ops"])


class ComponentHealth(BaseModel):
    ok: bool
    kind: str


class Health(BaseModel):
    status: str  # "ok", "degraded" (the broker is away) or "unavailable" (the database is)
    database: ComponentHealth
    broker: ComponentHealth


async def _database_ok(database: Database, timeout: float) -> bool:
    try:
        await database.ping(timeout)
    except Exception as exc:
        # One line, no traceback: a load balancer probes every few seconds during an outage.
        log.warning(
            "probe: database unreachable within %.1f s: %s: %s", timeout, type(exc).__name__, exc
        )
        metrics.DATABASE_UP.set(0)
        return False
    metrics.DATABASE_UP.set(1)
    return True


async def _broker(settings: Settings, timeout: float) -> ComponentHealth:
    kind = "rabbitmq" if settings.broker_url else "in-process"
    try:
        ok, kind = await asyncio.wait_for(broker_status(settings), timeout)
    except TimeoutError:
        metrics.BROKER_UP.set(0)
        ok = False
    return ComponentHealth(ok=ok, kind=kind)


async def _check(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.db
    timeout = settings.probe_timeout_seconds
    db_ok, broker = await asyncio.gather(
        _database_ok(database, timeout), _broker(settings, timeout)
    )
    status = "unavailable" if not db_ok else "ok" if broker.ok else "degraded"
    body = Health(
        status=status, database=ComponentHealth(ok=db_ok, kind=database.dialect), broker=broker
    )
    return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)


@router.get("/livez", operation_id="check_liveness", summary="Liveness")
async def livez() -> dict[str, str]:
    """The process is up (no dependency is checked)."""
    return {"status": "live"}


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health}},
    operation_id="check_readiness",
    summary="Readiness",
)
@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health}},
    operation_id="check_health",
    summary="Health",
)
async def readiness(request: Request) -> JSONResponse:
    """Ready to serve: 200 while the database answers (the broker away only degrades), 503
    otherwise."""
    return await _check(request)
