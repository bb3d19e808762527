"""Database: the declarative base, engines, and the unit of work.

One unit of work per request and per actor: it begins at the edge, commits once at the end and
rolls back on any error. Services only ``flush()``. The request edge is :class:`UnitOfWorkRoute`,
which commits *before* the response leaves, so a client never sees a 2xx for a change that then
failed to commit.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import psycopg
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
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeDecorator

from engine.settings import get_settings

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


def _prepare_sqlite(engine: AsyncEngine) -> None:
    """Make SQLite transactional enough for the embedded default.

    pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; SQLAlchemy's documented
    recipe takes it over. BEGIN IMMEDIATE takes the write lock up front so two writers queue on
    ``busy_timeout`` instead of failing half-way.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class Database:
    """An async engine and its session factory; one per process (and one per test run)."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 20, null_pool: bool = False) -> Database:
        kwargs: dict[str, Any] = {}
        if null_pool:
            kwargs["poolclass"] = NullPool
        elif not url.startswith("sqlite"):
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
        # SQL parameters hold personal data: never rendered into an error (engine/logs.py).
        engine = create_async_engine(url, hide_parameters=True, **kwargs)
        if engine.dialect.name == "sqlite":
            _prepare_sqlite(engine)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


T = TypeVar("T")


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database from synchronous code (the CLI, dramatiq
    actors): its own event loop and a NullPool engine, because pooled connections belong to the
    loop that opened them. For work that commits more than once."""

    async def main() -> T:
        db = Database.connect(get_settings().async_database_url, null_pool=True)
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


class UnitOfWorkRoute(APIRoute):
    """Wraps each endpoint in one unit of work, committed before the response is sent.

    The session is put on ``request.state`` and handed to endpoints by :func:`get_session`. An
    exception (domain error included) rolls everything back; so does any error response.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def unit_of_work_handler(request: Request) -> Response:
            db: Database = request.app.state.db
            async with db.sessionmaker() as session:
                request.state.session = session
                try:
                    response = await handler(request)
                except BaseException:
                    await session.rollback()
                    raise
                if response.status_code < 400:
                    await session.commit()
                else:
                    await session.rollback()
                return response

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
