"""Database: the declarative base, engines, and the unit of work.

One unit of work per request and per actor: it begins at the edge, commits once at the end and
rolls back on any error. Services only ``flush()``. The request edge is :class:`UnitOfWorkRoute`,
which commits *before* the response leaves, so a client never sees a 2xx for a change that then
failed to commit.

Every wait on the database is bounded (:class:`DatabaseBounds`): connect, pool checkout, each
statement (server-side) and the whole unit of work (client-side, :func:`within_deadline`), so a
database that is gone, or stalled behind a silent network, costs a request a bounded time and
answers 503 ``database_unavailable`` (:func:`is_outage`), never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy.exc
from fastapi import Request, Response
from fastapi.routing import APIRoute
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    BigInteger,
    ClauseElement,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Table,
    bindparam,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as sqlalchemy_psycopg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.types import TypeDecorator

from engine.errors import DatabaseUnavailable
from engine.settings import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Autoincrement keys: BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY
# autoincrements there).
BigIntPK = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012


class UuidPrimaryKey:
    """Random (non-guessable, non-sequential) primary keys."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def _prepare_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    """Make SQLite transactional enough for the embedded default.

    pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; SQLAlchemy's documented
    recipe takes it over. BEGIN IMMEDIATE takes the write lock up front so two writers queue on
    ``busy_timeout`` (seconds) instead of failing half-way; a writer that waits longer gets
    "database is locked", an outage (:func:`is_outage`).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


#: TCP keepalives on PostgreSQL connections (libpq parameters): a peer that vanished without
#: closing (a dead host, a dropped route) is noticed in about 25 s even on an idle pooled
#: connection, instead of at the next request's deadline.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


@dataclass(frozen=True)
class DatabaseBounds:
    """How long the database may keep its caller waiting, in seconds.

    ``connect_timeout`` bounds opening a connection and ``pool_timeout`` waiting for a pooled
    one. ``statement_timeout`` is PostgreSQL's (and SQLite's busy timeout): the server ends a
    statement that runs longer. None of these helps when an established connection stalls (the
    socket stays open and nothing comes back), so ``deadline`` bounds a request's whole unit of
    work on the client side. A request whose body is a file (:attr:`UnitOfWorkRoute.takes_file`)
    streams it into the database as it arrives, so its statements last as long as the upload:
    ``file_deadline`` bounds both its unit of work and each of its statements. None by default:
    unbounded, for work that is not a request (the CLI, actors, a month's funding run).
    """

    connect_timeout: int = 5
    pool_timeout: float = 30.0
    statement_timeout: float | None = None
    deadline: float | None = None
    file_deadline: float | None = None

    @classmethod
    def for_requests(cls, settings: Settings) -> DatabaseBounds:
        """The API's bounds (``SANYI_DB_*`` settings)."""
        return cls(
            connect_timeout=settings.db_connect_timeout,
            pool_timeout=settings.db_pool_timeout,
            statement_timeout=settings.db_statement_timeout,
            deadline=settings.db_deadline,
            file_deadline=settings.db_file_deadline,
        )

    def postgresql_connect_args(self) -> dict[str, Any]:
        """psycopg's connection parameters that carry these bounds."""
        args: dict[str, Any] = {"connect_timeout": self.connect_timeout, **_KEEPALIVES}
        if self.statement_timeout is not None:
            args["options"] = f"-c statement_timeout={round(self.statement_timeout * 1000)}"
        return args


@dataclass
class Database:
    """An async engine and its session factory; one per process (and one per test run).
    ``deadline`` and ``file_deadline``: the bounds on a request's unit of work
    (:class:`DatabaseBounds`)."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    deadline: float | None = None
    file_deadline: float | None = None

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        pool_size: int = 20,
        null_pool: bool = False,
        bounds: DatabaseBounds | None = None,
    ) -> Database:
        bounds = bounds or DatabaseBounds()
        kwargs: dict[str, Any] = {}
        if null_pool:
            kwargs["poolclass"] = NullPool
        elif not url.startswith("sqlite"):
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=False,
                pool_timeout=bounds.pool_timeout,
            )
        if not url.startswith("sqlite"):
            kwargs["connect_args"] = bounds.postgresql_connect_args()
        # SQL parameters hold personal data: never rendered into an error (engine/logs.py).
        engine = create_async_engine(url, hide_parameters=True, **kwargs)
        if engine.dialect.name == "sqlite":
            _prepare_sqlite(engine, busy_timeout=bounds.statement_timeout or 10.0)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        return cls(
            engine, sessionmaker, deadline=bounds.deadline, file_deadline=bounds.file_deadline
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self, timeout: float | None = None) -> None:
        """``SELECT 1``; raises :class:`DatabaseUnavailable` when the database does not answer
        within ``timeout`` seconds (``/health`` answers within its own bound whatever the
        database does)."""
        await within_deadline(self._select_one(), timeout)

    async def _select_one(self) -> None:
        async with bounded_session(self.sessionmaker) as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


T = TypeVar("T")
log = logging.getLogger("sanyi.db")


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database from synchronous code (the CLI, dramatiq
    actors): its own event loop and a NullPool engine, because pooled connections belong to the
    loop that opened them. For work that commits more than once. Connecting is bounded; the work
    is not (a month's funding run or a reconciliation may take long)."""

    async def main() -> T:
        settings = get_settings()
        db = Database.connect(
            settings.async_database_url,
            null_pool=True,
            bounds=DatabaseBounds(connect_timeout=settings.db_connect_timeout),
        )
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def run_in_unit_of_work(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """:func:`run_with_database` for work done in one committed transaction."""

    async def in_one_transaction(db: Database) -> T:
        async with unit_of_work(db.sessionmaker) as session:
            return await work(session)

    return run_with_database(in_one_transaction)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed on normal exit, rolled back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached or did not answer in time: a
    broken or refused connection, an exhausted pool, a statement the server cancelled on its
    timeout, SQLite's busy timeout. Constraint violations and other statement errors are not
    outages: they are conflicts or bugs, for their own handlers."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError) and isinstance(
        exc.orig, sqlite3.OperationalError
    ):
        # SQLite reports a missing table as an OperationalError too: only locking is an outage.
        return any(word in str(exc.orig) for word in ("locked", "busy"))
    return isinstance(exc, _OUTAGES)


_OUTAGES = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # pool checkout
    psycopg.OperationalError,  # the settle path's statements run on the psycopg connection
    psycopg.InterfaceError,
)


@asynccontextmanager
async def bounded_session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session rolled back on any error, and whose connection is discarded, not returned to
    the pool, when its work is cancelled (:func:`within_deadline`) or meets an outage, which is
    then raised as :class:`DatabaseUnavailable`. A statement cut off on the client side leaves
    its connection in an unknown state: a rollback on it could wait as long as the statement
    did."""
    async with sessionmaker() as session:
        try:
            yield session
        except asyncio.CancelledError:
            await session.invalidate()
            raise
        except Exception as exc:
            if is_outage(exc):
                log.warning("database unavailable", exc_info=exc)
                await session.invalidate()
                raise DatabaseUnavailable() from exc
            await session.rollback()
            raise


#: Work abandoned at its deadline, kept referenced until its cancellation completes.
_abandoned: set[asyncio.Task[Any]] = set()


async def within_deadline(work: Coroutine[Any, Any, T], deadline: float | None) -> T:
    """Await ``work``, or raise :class:`DatabaseUnavailable` once ``deadline`` seconds passed.

    The work runs as a task of its own so that the answer does not wait for its cancellation:
    cancelled during a statement, psycopg first tries to cancel it on the server, which over a
    stalled network takes seconds more. The task is cancelled and finishes in the background,
    where :func:`bounded_session` discards its connection.
    """
    if deadline is None:
        return await work
    # A future woken by the task's end or by the deadline, whichever comes first: a third of
    # what asyncio.wait costs, on every request.
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    settled = loop.create_future()

    def wake(_: object = None) -> None:
        if not settled.done():
            settled.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(deadline, wake)
    try:
        await settled
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_forget)
    if not task.done():
        log.warning("database work abandoned at its %s s deadline", deadline)
        raise DatabaseUnavailable()
    return task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    """Drop an abandoned task once it ended, taking its outcome so asyncio does not report it
    as never retrieved."""
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("abandoned unit of work ended", exc_info=task.exception())


_FILE_BODY = "text/csv"


def _statement_timeout(seconds: float) -> TextClause:
    """PostgreSQL's statement timeout for the rest of the transaction."""
    return text(f"SET LOCAL statement_timeout = {round(seconds * 1000)}")


#: The OpenAPI entry of every unit-of-work operation's 503.
DATABASE_UNAVAILABLE_RESPONSE: dict[str, Any] = {
    "description": "`database_unavailable`: the database did not answer in time. Send the "
    "request again after `Retry-After` seconds; under the same Idempotency-Key it never applies "
    "twice.",
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer"},
        }
    },
}


class UnitOfWorkRoute(APIRoute):
    """Wraps each endpoint in one unit of work, committed before the response is sent.

    The session is put on ``request.state`` and handed to endpoints by :func:`get_session`. An
    exception (domain error included) rolls everything back; so does any error response. The
    unit of work runs within the database's deadline (:func:`within_deadline`); an outage or the
    deadline answers 503 ``database_unavailable``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = dict(kwargs.pop("responses", None) or {})
        responses.setdefault(503, DATABASE_UNAVAILABLE_RESPONSE)
        #: The operation's documented body is a file (a CSV sheet), streamed into the database
        #: as it arrives: its unit of work runs under :attr:`DatabaseBounds.file_deadline`. Set
        #: first: the base class builds the handler while it initialises.
        self.takes_file = _FILE_BODY in (
            (kwargs.get("openapi_extra") or {}).get("requestBody", {}).get("content", {})
        )
        super().__init__(path, endpoint, responses=responses, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_file = self.takes_file

        async def in_unit_of_work(request: Request, db: Database) -> Response:
            async with bounded_session(db.sessionmaker) as session:
                request.state.session = session
                if takes_file and db.file_deadline is not None and db.dialect == "postgresql":
                    await session.execute(_statement_timeout(db.file_deadline))
                response = await handler(request)
                if response.status_code < 400:
                    await session.commit()
                else:
                    await session.rollback()
                return response

        async def unit_of_work_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            deadline = db.file_deadline if takes_file else db.deadline
            return await within_deadline(in_unit_of_work(request, db), deadline)

        return unit_of_work_handler


async def get_session(request: Request) -> AsyncSession:
    """FastAPI dependency: the request's unit-of-work session. A coroutine, because FastAPI runs
    a plain function dependency in a worker thread: a thread hand-off on every request."""
    session: AsyncSession = request.state.session
    return session


async def insert_or_ignore(
    session: AsyncSession, model: type[Base], values: dict[str, Any]
) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING``; True when this call inserted the row.

    On PostgreSQL a conflicting row that is not committed yet makes this wait for its transaction,
    which is exactly what idempotency keys and processed-message ids need: the loser of a race
    sees the winner's committed row, never a half-done one.
    """
    statement = _insert_or_ignore_statement(model, session.get_bind().dialect.name, tuple(values))
    params = {f"b_{name}": value for name, value in values.items()}
    return (await session.execute(statement, params)).first() is not None


def table_of(model: type[Base]) -> Table:
    """A model's table, typed as the Core ``Table`` that statements built once are built on."""
    return cast(Table, model.__table__)


@functools.cache
def _insert_or_ignore_statement(
    model: type[Base], dialect: str, columns: tuple[str, ...]
) -> ReturningInsert[Any]:
    """:func:`insert_or_ignore`'s statement, with parameters ``b_<column>``; built once per table
    and column set, since idempotency claims sit on every write's hot path."""
    table = table_of(model)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values({c: bindparam(f"b_{c}", type_=table.c[c].type) for c in columns})
        .on_conflict_do_nothing()
        .returning(*table.primary_key.columns)
    )


class _DriverCompiler(sqlalchemy_psycopg.PGCompiler_psycopg):
    """Renders a bound constant (a Python value given in the statement, as in ``status ==
    "settled"`` or ``LIMIT 1``) as a literal, leaving parameters only for what varies. PostgreSQL
    plans a prepared statement once for all parameter values, and that generic plan can use a
    partial index (``WHERE status = 'settled'``) only if the constant is in the text."""

    def visit_bindparam(self, bindparam: BindParameter[Any], *args: Any, **kw: Any) -> Any:
        if not bindparam.required:
            kw["literal_binds"] = True
        return super().visit_bindparam(bindparam, *args, **kw)


class _DriverDialect(sqlalchemy_psycopg.PGDialect_psycopg):
    statement_compiler = _DriverCompiler


#: Compiles statements for :class:`DriverStatement`: PostgreSQL's own ``$n`` placeholders.
_DRIVER_DIALECT = _DriverDialect(paramstyle="numeric_dollar")


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement compiled once to PostgreSQL's SQL, for the psycopg connection itself.

    The settlement hot path runs its few statements this way: SQLAlchemy's execution layer (cache
    key, parameter processing, result wrapping) and psycopg's own placeholder rewriting cost more
    CPU per statement than PostgreSQL spends executing it. Compiled with ``$n`` placeholders and
    constants inline, the text goes to the server as it is and is prepared there after a few
    executions. Parameters are passed as they are, with no SQLAlchemy type processing, so only
    plain values (str, int, Decimal, date, aware datetime, UUID, JSON text) belong in them.
    """

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: ClauseElement) -> DriverStatement:
        compiled = statement.compile(dialect=_DRIVER_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        return cls(sql=str(compiled), names=tuple(compiled.positiontup or ()))

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The positional arguments; a named parameter missing from ``params`` is a KeyError."""
        return [params[name] for name in self.names]


DriverConnection = psycopg.AsyncConnection[Any]


async def driver_connection(session: AsyncSession) -> DriverConnection:
    """The psycopg connection under the session's transaction (PostgreSQL only). Statements run
    on it belong to the session's transaction and are committed or rolled back with it, unless
    the session's connection was opened in autocommit: then each commits alone."""
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


def driver_cursor(connection: DriverConnection) -> psycopg.AsyncRawCursor[Any]:
    """A cursor for :class:`DriverStatement` text whose rows read by column name."""
    return psycopg.AsyncRawCursor(connection, row_factory=namedtuple_row)


async def driver_execute(
    connection: DriverConnection, statement: DriverStatement, params: dict[str, Any]
) -> psycopg.AsyncRawCursor[Any]:
    """Execute ``statement``; the cursor holds its rows."""
    cursor = driver_cursor(connection)
    await cursor.execute(statement.sql, statement.arguments(params))
    return cursor
