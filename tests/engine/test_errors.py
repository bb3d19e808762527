"""Unhandled errors and database outages: one clean answer, the connection kept, nothing leaked."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sqlite3
import time

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

import claims.settlement.routes
import tariffs.routes
from claims.clearing import routes as recon_routes
from engine.app import create_app
from engine.db import Database, DatabaseBounds, UnitOfWorkRoute, get_session, is_outage
from engine.settings import Settings, to_async_url
from tests.conftest import BACKEND
from tests.support.server import serving

OUTAGES = [
    psycopg.OperationalError("server closed the connection unexpectedly"),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    psycopg.InterfaceError("the connection is closed"),
    sqlalchemy.exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached"),
    sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("gone")),
    sqlalchemy.exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")),
    sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("reset"), connection_invalidated=True),
]
NOT_OUTAGES = [
    sqlalchemy.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate")),
    sqlalchemy.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")),
    psycopg.errors.UniqueViolation("duplicate key"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_driver_and_pool_failures_are_outages(exc: BaseException) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize("exc", NOT_OUTAGES, ids=lambda e: type(e).__name__)
def test_constraint_and_statement_errors_are_not_outages(exc: BaseException) -> None:
    assert not is_outage(exc)


def _raising_routes(app: FastAPI) -> None:
    """Routes that fail the way a bug or an outage would, in and out of a unit of work."""
    in_unit_of_work = APIRouter(prefix="/test", route_class=UnitOfWorkRoute)

    @in_unit_of_work.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @in_unit_of_work.get("/connection-lost")
    async def connection_lost(session: AsyncSession = Depends(get_session)) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    @in_unit_of_work.get("/integrity")
    async def integrity() -> None:
        raise sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError("duplicate"))

    @app.get("/test/pool-exhausted")
    async def pool_exhausted() -> None:
        raise sqlalchemy.exc.TimeoutError("QueuePool limit reached")

    @app.get("/test/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(in_unit_of_work)


async def test_an_unhandled_error_is_one_logged_500_in_the_error_shape(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    _raising_routes(app)
    with caplog.at_level(logging.ERROR, logger="sanyi"):
        response = await client.get("/test/bug")
    assert response.status_code == 500
    assert response.json() == {
        "type": "urn:sanyi:problem:internal_error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal error",
        "code": "internal_error",
        "message": "internal error",
        "field": None,
    }
    assert "a bug" not in response.text
    [record] = [r for r in caplog.records if r.message == "unhandled error"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


@pytest.mark.parametrize("path", ["/test/connection-lost", "/test/pool-exhausted"])
async def test_a_database_outage_is_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    _raising_routes(app)
    response = await client.get(path)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "2"


async def test_an_integrity_error_is_not_an_outage(app: FastAPI, client: httpx.AsyncClient) -> None:
    _raising_routes(app)
    response = await client.get("/test/integrity")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


def _exchange(connection: socket.socket, path: str) -> tuple[int, bytes]:
    """One HTTP/1.1 request on an open keep-alive connection; the status and the body."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: sanyi.test\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}["content-length"])
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return int(lines[0].split()[1]), body


def test_the_connection_stays_usable_after_a_500(tx_database: Database, settings: Settings) -> None:
    """A HIS's next call on the same keep-alive connection must get an answer."""
    app = create_app(settings, db=tx_database)
    _raising_routes(app)
    with serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        status, body = _exchange(conn, "/test/bug")
        assert status == 500
        assert b'"internal_error"' in body
        assert _exchange(conn, "/test/ok") == (200, b'{"ok":true}')


def _database_routes(app: FastAPI) -> None:
    router = APIRouter(prefix="/test", route_class=UnitOfWorkRoute)

    @router.get("/slow")
    async def slow(session: AsyncSession = Depends(get_session)) -> None:
        await session.execute(text("SELECT 1"))
        await asyncio.sleep(60)

    @router.get("/read")
    async def read(session: AsyncSession = Depends(get_session)) -> None:
        await session.execute(text("SELECT 1"))

    @router.get("/slow-statement")
    async def slow_statement(session: AsyncSession = Depends(get_session)) -> None:
        await session.execute(text("SELECT pg_sleep(60)"))

    app.include_router(router)


async def _get_within(app: FastAPI, path: str, bound: float) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
        started = time.monotonic()
        response = await client.get(path)
        assert time.monotonic() - started < bound
        return response


async def _pool_settles(database: Database, checked_out: int) -> None:
    """Wait (bounded) until the abandoned work has given its connection up."""
    for _ in range(100):
        if database.engine.sync_engine.pool.checkedout() <= checked_out:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the abandoned unit of work kept its connection")


@pytest.mark.parametrize("path", ["/test/slow", "/test/slow-statement"])
async def test_a_unit_of_work_past_its_deadline_answers_503_and_gives_its_connection_up(
    database: Database, settings: Settings, path: str
) -> None:
    if path == "/test/slow-statement" and database.dialect != "postgresql":
        pytest.skip("pg_sleep is PostgreSQL's")
    checked_out = database.engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined]
    bounded = dataclasses.replace(database, deadline=0.5)
    app = create_app(settings, db=bounded)
    _database_routes(app)
    response = await _get_within(app, path, bound=3.0)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    await _pool_settles(database, checked_out)


@pytest.mark.postgres_only
async def test_the_server_ends_a_statement_past_the_statement_timeout(
    database_url: str, settings: Settings
) -> None:
    bounds = DatabaseBounds(statement_timeout=0.2)
    database = Database.connect(to_async_url(database_url), pool_size=1, bounds=bounds)
    try:
        app = create_app(settings, db=database)
        _database_routes(app)
        response = await _get_within(app, "/test/slow-statement", bound=3.0)
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
        async with database.sessionmaker() as session:  # the pool recovered its one connection
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.dispose()


async def test_every_unit_of_work_operation_documents_its_503(app: FastAPI) -> None:
    operations = [
        operation
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for operation in item.values()
    ]
    assert operations
    for operation in operations:
        unavailable = operation["responses"]["503"]
        assert "database_unavailable" in unavailable["description"]
        assert "Retry-After" in unavailable["headers"]


async def test_a_sqlite_writer_past_its_busy_timeout_answers_503(
    database_url: str, settings: Settings
) -> None:
    if BACKEND != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    bounds = DatabaseBounds(statement_timeout=0.2)
    database = Database.connect(to_async_url(database_url), bounds=bounds)
    holder = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        app = create_app(settings, db=database)
        _database_routes(app)
        response = await _get_within(app, "/test/read", bound=3.0)
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
    finally:
        holder.rollback()
        holder.close()
        await database.dispose()


async def test_a_file_upload_runs_under_the_file_deadline(
    database_url: str, settings: Settings
) -> None:
    """A CSV sheet streams into the database while it uploads: the request deadline and the
    statement timeout, sized for a settle, would refuse any large file."""
    bounds = DatabaseBounds(statement_timeout=0.2, deadline=0.5, file_deadline=5)
    database = Database.connect(to_async_url(database_url), pool_size=2, bounds=bounds)
    router = APIRouter(prefix="/test", route_class=UnitOfWorkRoute)
    csv_body = {"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}}

    @router.post("/sheet", openapi_extra=csv_body)
    async def sheet(session: AsyncSession = Depends(get_session)) -> str:
        await asyncio.sleep(1)  # a slow upload
        if database.dialect != "postgresql":
            return "-"
        return str((await session.execute(text("SHOW statement_timeout"))).scalar_one())

    @router.post("/json")
    async def json(session: AsyncSession = Depends(get_session)) -> None:
        await asyncio.sleep(1)

    try:
        app = create_app(settings, db=database)
        app.include_router(router)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
            uploaded = await client.post("/test/sheet", content=b"a,b\n")
            assert uploaded.status_code == 200, uploaded.text
            assert uploaded.json() in ("5s", "-")
            assert (await client.post("/test/json")).status_code == 503
    finally:
        await database.dispose()


def test_the_file_uploads_run_under_the_file_deadline() -> None:
    routes = [*recon_routes.router.routes, *tariffs.routes.tariffs_router.routes]
    routes += claims.settlement.routes.router.routes
    takes_file = {r.path for r in routes if isinstance(r, UnitOfWorkRoute) and r.takes_file}
    assert takes_file == {
        "/tariffs/{admdvs}/imports",
        "/reconciliation/details",
        "/reconciliation/detail-jobs",
    }
