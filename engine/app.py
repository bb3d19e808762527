"""The FastAPI application factory: every domain's routes under /v1, the probes and /metrics,
one error shape, a request id and access line for every request, and the contract
(``/openapi.json``) with its docs page (``/docs``) served offline."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from console import routes as console_routes
from engine import admin, metrics, migrate, openapi, probes
from engine.access import AccessMiddleware
from engine.broker import setup_broker
from engine.db import Database, DatabaseBounds
from engine.domains import domain_modules
from engine.edge import ControlCharacterGuard
from engine.errors import SanyiError
from engine.server_errors import UnhandledErrors, error_response
from engine.settings import Settings, get_settings
from nhsa import routes as nhsa_routes

log = logging.getLogger("sanyi")

#: Where the docs page's scripts and styles are served from: the app itself, never a CDN, so
#: ``/docs`` works on a fund's private network.
DOCS_ASSETS = "/docs/assets"


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if loc and loc[0] == "header":
        return ".".join(str(p) for p in loc[1:]) or None
    return ".".join(parts) or (str(loc[0]) if loc else None)


def install_error_handlers(app: FastAPI) -> None:
    """The one error shape for every refusal. An exception no handler takes is answered by
    :class:`engine.server_errors.UnhandledErrors`, the innermost middleware whatever is added
    after this (appended, where ``add_middleware`` would put it outermost), so it answers inside
    every other layer (the request id of the log context included)."""
    app.user_middleware.append(Middleware(UnhandledErrors))

    @app.exception_handler(SanyiError)
    async def domain_error(_: Request, exc: SanyiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers())

    @app.exception_handler(RequestValidationError)
    async def payload_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # its loc is a byte offset, not a field
            return error_response(422, "malformed_json", str(first["msg"]))
        return error_response(
            422, "validation_error", str(first["msg"]), _field_of(tuple(first["loc"]))
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400: FastAPI could not read the body as its content type says (bytes that are not
        # UTF-8 in a JSON body).
        codes = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail)
        )


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
                settings.async_database_url,
                pool_size=settings.db_pool_size,
                bounds=DatabaseBounds.for_requests(settings),
            )
        jobs: AbstractContextManager[None] = nullcontext()
        if owned and not settings.broker_url:
            # Only a process that runs the jobs itself imports the workers (and their broker);
            # with BROKER_URL set they belong to `sanyi scheduler` and `sanyi worker`.
            from workers.processes import embedded_jobs

            jobs = embedded_jobs(settings)
        with jobs:
            yield
        if owned:
            await app.state.db.dispose()

    app = FastAPIOffline(
        title="Sanyi",
        version="0.1.0",
        description=openapi.DESCRIPTION,
        openapi_tags=openapi.TAGS,
        redoc_url=None,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={
            "persistAuthorization": True,
            "displayOperationId": True,
            "validatorUrl": None,  # the public validator is out of reach offline
        },
        lifespan=lifespan,
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    setup_broker(settings)
    install_error_handlers(app)
    app.add_middleware(ControlCharacterGuard)

    v1 = APIRouter(prefix="/v1")
    for routes in domain_modules("routes"):  # the hot path's first (engine.domains.DOMAINS)
        v1.include_router(routes.router)
    v1.include_router(admin.router)
    app.include_router(v1)
    app.include_router(nhsa_routes.router)  # the national envelope, beside /v1
    app.include_router(probes.router)
    app.include_router(metrics.router)
    app.include_router(console_routes.router)
    openapi.install(app)
    app.add_middleware(AccessMiddleware)  # outermost: the request id covers the whole request

    return app
