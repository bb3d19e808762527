"""The FastAPI application factory: every domain's routes under /v1, /health, one error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import admin, migrate, scheduler
from engine.broker import broker_status, setup_broker
from engine.db import Database
from engine.domains import domain_modules
from engine.errors import SanyiError
from engine.settings import Settings, get_settings

log = logging.getLogger("sanyi")


class ComponentHealth(BaseModel):
    ok: bool
    kind: str


class Health(BaseModel):
    status: str
    database: ComponentHealth
    broker: ComponentHealth


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "field": field}, status_code=status)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if loc and loc[0] == "header":
        return ".".join(str(p) for p in loc[1:]) or None
    return ".".join(parts) or (str(loc[0]) if loc else None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SanyiError)
    async def domain_error(_: Request, exc: SanyiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def payload_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        code = "malformed_json" if first.get("type") == "json_invalid" else "validation_error"
        return _error(422, code, str(first["msg"]), _field_of(tuple(first["loc"])))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error")


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. Tests pass their own ``db`` (bound to a rolled-back transaction).

    Raises :class:`~engine.settings.InsecureSecretKey` outside the embedded default without a
    real ``SANYI_SECRET_KEY``, however the app is started (``sanyi serve`` or uvicorn directly).
    """
    settings = settings or get_settings()
    settings.require_secret_key()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = db is None
        if owned:
            if settings.embedded:
                migrate.upgrade(settings.sync_database_url)
            app.state.db = Database.connect(
                settings.async_database_url, pool_size=settings.db_pool_size
            )
        with scheduler.embedded_jobs(settings) if owned else nullcontext():
            yield
        if owned:
            await app.state.db.dispose()

    app = FastAPI(
        title="Sanyi",
        version="0.1.0",
        description="One-stop settlement, e-prescription circulation and insurer clearing.",
        lifespan=lifespan,
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    setup_broker(settings)
    install_error_handlers(app)

    v1 = APIRouter(prefix="/v1")
    v1.include_router(admin.router)
    for routes in domain_modules("routes"):
        v1.include_router(routes.router)
    app.include_router(v1)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        database: Database = request.app.state.db
        try:
            await database.ping()
            db_ok = True
        except Exception:
            log.warning("health: database unreachable", exc_info=True)
            db_ok = False
        broker_ok, broker_kind = await broker_status(settings)
        body = Health(
            status="ok" if db_ok and broker_ok else "degraded",
            database=ComponentHealth(ok=db_ok, kind=database.dialect),
            broker=ComponentHealth(ok=broker_ok, kind=broker_kind),
        )
        return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

    return app
