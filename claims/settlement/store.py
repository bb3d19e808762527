"""The settlement hot path's statements, built once at import and executed as plain rows.

A settle is two statements: the state read (the visit with its fee lines, the person with its
ledger version and accumulators, the policy version token, whether the visit has a live
settlement, the funding route, and the record already stored under the request's
Idempotency-Key) and one write. Building an ORM query per request, cache-keying it and hydrating
objects cost more CPU than PostgreSQL spends on the whole settlement, so these statements are
Core, built with bind parameters once, and their rows are read by column name.

The write applies only if the person's ledger version is still the one the state read
(compare-and-set), and moves it on. On PostgreSQL it is a single statement: every insert and
update (the settlement, both accumulators, the account debit, the funding case entries, the audit
entry, the outbox event and the idempotency record with its response) is a data-modifying CTE
gated on the compare-and-set. So a settle that opens the request's unit of work needs no
transaction of its own: each statement commits alone, no row is locked and no BEGIN or COMMIT
travels (:meth:`SettlementStore.optimistic_attempt`). When the version moved, the caller settles
again under the person's row lock (:meth:`SettlementStore.serialized`), where it cannot move.

On PostgreSQL the statements run on the psycopg connection itself
(:class:`engine.db.DriverStatement`). SQLite has no data-modifying CTEs, so there the same
statements run through SQLAlchemy, the writes one after another in the unit of work's transaction,
which BEGIN IMMEDIATE already serialises. ``docs/performance.md`` has the figures.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import (
    Executable,
    Integer,
    Table,
    TextClause,
    and_,
    bindparam,
    event,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from claims.funding import door as funding
from claims.settlement.models import (
    BenefitAccumulator,
    FeeLine,
    Person,
    PersonYearAccumulator,
    PolicyVersion,
    Settlement,
    Visit,
)
from claims.settlement.schemas import SettlementOut
from engine import idempotency, metrics
from engine.audit import AuditEntry
from engine.batching import Batcher
from engine.clock import CST
from engine.db import (
    DriverConnection,
    DriverStatement,
    driver_connection,
    driver_execute,
    table_of,
)
from engine.idempotency import IdempotencyRecord
from engine.outbox import OutboxEvent

#: A row of the statements below, read by column name: SQLAlchemy's ``Row`` on SQLite, psycopg's
#: named tuple on PostgreSQL.
StateRow = Any


_visit, _person, _fee = table_of(Visit), table_of(Person), table_of(FeeLine)
_settlement, _policy_version = table_of(Settlement), table_of(PolicyVersion)
_benefit, _per_year = table_of(BenefitAccumulator), table_of(PersonYearAccumulator)
_funding, _audit, _outbox = funding.CASE_ENTRIES, table_of(AuditEntry), table_of(OutboxEvent)
_records = table_of(IdempotencyRecord)


class _LocalYear(FunctionElement[int]):
    """The calendar year in the pooling region of a UTC timestamp column: in SQL,
    ``local_date(t).year``, the year whose accumulators a visit counts against."""

    type = Integer()
    name = "local_year"
    inherit_cache = True


_CST_HOURS = int(CST.utcoffset(None).total_seconds()) // 3600


@compiles(_LocalYear, "postgresql")
def _local_year_on_postgresql(element: _LocalYear, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp = compiler.process(element.clauses, **kw)
    local = f"(({timestamp}) AT TIME ZONE 'UTC') + INTERVAL '{_CST_HOURS} hours'"
    return f"CAST(EXTRACT(YEAR FROM {local}) AS INTEGER)"


@compiles(_LocalYear, "sqlite")
def _local_year_on_sqlite(element: _LocalYear, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%Y', {timestamp}, '+{_CST_HOURS} hours') AS INTEGER)"


_ACC_YEAR = _LocalYear(_visit.c.begntime)

#: The state a settle adjudicates on: one row per fee line of the visit (one row with null line
#: columns when there is none) and per benefit accumulator category of the person's year
#: (``acc_category``, null before the person's first settlement of the year; the category a claim
#: counts against is policy data, resolved after the read). Each carries the visit's columns with
#: its person's, the region's policy version token, ``live`` (the visit has a live settlement), the
#: person's per-year accumulators, the record under the request's Idempotency-Key
#: (:func:`state_params`) and the funding route lookups (``funding.route_lookup_columns``).
_STATE = (
    select(
        *_visit.c,
        _person.c.admdvs.label("person_admdvs"),
        _person.c.retired,
        _person.c.asst_type,
        _person.c.acct_balc,
        _person.c.ledger_version,
        select(_policy_version.c.token)
        .where(_policy_version.c.admdvs == _person.c.admdvs)
        .scalar_subquery()
        .label("policy_token"),
        exists()
        .where(_settlement.c.mdtrt_id == bindparam("mdtrt_id"), _settlement.c.status == "settled")
        .label("live"),
        _records.c.request_hash.label("idem_request_hash"),
        _records.c.response.label("idem_response"),
        _benefit.c.category.label("acc_category"),
        _benefit.c.deductible_used,
        _benefit.c.hifp_paid,
        _per_year.c.inscp_psn_cum,
        _per_year.c.critical_paid,
        _per_year.c.assistance_paid,
        *funding.route_lookup_columns(_visit.c.psn_no, _visit.c.admdvs, _visit.c.main_diag_code),
        _fee.c.id.label("fee_line_id"),
        *(c for c in _fee.c if c.key not in ("id", "mdtrt_id")),
    )
    .select_from(
        _visit.join(_person, _person.c.psn_no == _visit.c.psn_no)
        .outerjoin(_fee, _fee.c.mdtrt_id == _visit.c.mdtrt_id)
        .outerjoin(
            _benefit,
            and_(_benefit.c.psn_no == _visit.c.psn_no, _benefit.c.year == _ACC_YEAR),
        )
        .outerjoin(
            _per_year,
            and_(_per_year.c.psn_no == _visit.c.psn_no, _per_year.c.year == _ACC_YEAR),
        )
        .outerjoin(  # the record under the request's Idempotency-Key (state_params)
            _records,
            and_(
                _records.c.org_id == bindparam("idem_org_id"),
                _records.c.key == bindparam("idem_key"),
            ),
        )
    )
    .where(_visit.c.mdtrt_id == bindparam("mdtrt_id"))
    .order_by(_fee.c.id, _benefit.c.category)
)

#: The person's row lock, taken before :data:`_STATE` when settling under it on PostgreSQL. A
#: statement of its own: under READ COMMITTED the state read after it then sees what a settlement
#: that held the lock before committed, which a locking read's own joins and subqueries would not.
_LOCK_PERSON_ON_POSTGRESQL = DriverStatement.of(
    select(_person.c.ledger_version)
    .select_from(_visit.join(_person, _person.c.psn_no == _visit.c.psn_no))
    .where(_visit.c.mdtrt_id == bindparam("mdtrt_id"))
    .with_for_update(of=_person)
)

#: Planned once per connection: its constants are in its text, so PostgreSQL's generic plan reads
#: the live settlement through the partial index (tests/claims/settlement/test_settlement_store.py).
STATE_ON_POSTGRESQL = DriverStatement.of(_STATE)


#: The state read's parameters (:func:`state_params`) as the batched read takes them: one array
#: each, an element per request, with the PostgreSQL type of its elements.
_STATE_ARRAYS = (
    ("mdtrt_id", "text"),
    ("year", "smallint"),
    ("on", "date"),
    ("idem_org_id", "uuid"),
    ("idem_key", "text"),
)


def _batched_state() -> DriverStatement:
    """:data:`STATE_ON_POSTGRESQL` for many requests at once: the state read as a lateral
    subquery of the requests' parameters (``unnest`` of one array per parameter), each row
    tagged with its request's position in the arrays (``batch_n``, from 1). Every placeholder of
    the single read becomes a reference to its request's parameter, so the plan per visit is the
    single read's."""
    single = STATE_ON_POSTGRESQL
    if set(single.names) != {name for name, _ in _STATE_ARRAYS}:
        raise RuntimeError("the batched state read does not bind the state read's parameters")

    def parameter(match: re.Match[str]) -> str:
        return f'requests."{single.names[int(match.group(1)) - 1]}"'

    inner = re.sub(r"\$(\d+)(::[A-Z]+)?", parameter, single.sql)
    arrays = ", ".join(f"CAST(${n} AS {kind}[])" for n, (_, kind) in enumerate(_STATE_ARRAYS, 1))
    names = ", ".join(f'"{name}"' for name, _ in _STATE_ARRAYS)
    sql = (
        f"SELECT requests.batch_n, state.* FROM unnest({arrays}) WITH ORDINALITY "
        f"AS requests({names}, batch_n) CROSS JOIN LATERAL ({inner}) AS state "
        "ORDER BY requests.batch_n, state.fee_line_id, state.acc_category"
    )
    return DriverStatement(sql=sql, names=tuple(name for name, _ in _STATE_ARRAYS))


_BATCHED_STATE = _batched_state()


#: The accumulator rows a settlement adds its delta to: (table, key columns, amount columns).
_ACCUMULATORS = (
    (_benefit, ("psn_no", "year", "category"), ("deductible_used", "hifp_paid")),
    (_per_year, ("psn_no", "year"), ("inscp_psn_cum", "critical_paid", "assistance_paid")),
)
#: The tables a settlement appends rows to, in write order.
_APPENDED = (_settlement, _funding, _audit, _outbox, _records)


def _inserted(table: Table) -> list[str]:
    """Every column but a database-generated key."""
    return [c.name for c in table.c if not (c.primary_key and c.autoincrement is True)]


def _postgresql_write() -> TextClause:
    """Every write of a settlement as data-modifying CTEs of one statement, all gated on ``cas``:
    the account debit, applied only while the person's ledger version is the one adjudicated on.
    The statement answers ``applied``: False when the version had moved and nothing was written.

    Each appended table gets its rows as one JSON array (``json_populate_recordset`` against the
    table's own row type), so the statement has a handful of parameters whatever the number of
    case entries, and stays short enough for psycopg to cache its parsed form (docs/performance.md).
    """
    applied = "EXISTS (SELECT 1 FROM cas)"
    ctes = [
        "cas AS (UPDATE person SET acct_balc = acct_balc - :acct_pay, "
        "ledger_version = ledger_version + 1 "
        "WHERE psn_no = :acc_psn_no AND ledger_version = :ledger_version RETURNING 1)"
    ]
    ctes += [
        f"w_{t.name} AS (INSERT INTO {t.name} ({', '.join(_inserted(t))}) "
        f"SELECT {', '.join(_inserted(t))} "
        f"FROM json_populate_recordset(NULL::{t.name}, CAST(:{t.name} AS json)) WHERE {applied})"
        for t in _APPENDED
    ]
    for table, key, amounts in _ACCUMULATORS:
        columns = key + amounts
        ctes.append(
            f"w_{table.name} AS (INSERT INTO {table.name} AS t ({', '.join(columns)}) "
            f"SELECT {', '.join(f':acc_{c}' for c in columns)} WHERE {applied} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in amounts)
            + ")"
        )
    return text(f"WITH {', '.join(ctes)} SELECT {applied} AS applied")


_POSTGRESQL_WRITE = DriverStatement.of(_postgresql_write())


def _batched_write() -> TextClause:
    """:func:`_postgresql_write` for many settlements, of different people, at once, all given
    as one JSON array (``:settlements``), an object per settlement: its position ``n``, ``psn_no``,
    the ``ledger_version`` it was adjudicated on, ``acct_pay``, its accumulator delta
    (``accumulators``) and its rows for each appended table (under the table's name). ``cas``
    moves the ledger version of each person still at the version their settlement was
    adjudicated on and answers those settlements' positions; every other write takes the rows
    of those settlements only. One JSON document rather than an array per column: psycopg
    escapes the elements of a text array one by one, which cost more than the settle itself."""
    tables = ", ".join(f"{t.name} json" for t in _APPENDED)
    ctes = [
        "batch AS MATERIALIZED (SELECT * FROM json_to_recordset(CAST(:settlements AS json)) AS s("
        f"n integer, psn_no text, ledger_version bigint, acct_pay bigint, accumulators json, "
        f"{tables}))",
        "cas AS (UPDATE person SET acct_balc = person.acct_balc - batch.acct_pay, "
        "ledger_version = person.ledger_version + 1 FROM batch "
        "WHERE person.psn_no = batch.psn_no AND person.ledger_version = batch.ledger_version "
        "RETURNING batch.n)",
        "applied AS MATERIALIZED (SELECT batch.* FROM batch JOIN cas USING (n))",
    ]
    ctes += [
        f"w_{t.name} AS (INSERT INTO {t.name} ({', '.join(_inserted(t))}) "
        f"SELECT {', '.join(f'r.{c}' for c in _inserted(t))} FROM applied CROSS JOIN LATERAL "
        f"json_populate_recordset(NULL::{t.name}, applied.{t.name}) AS r)"
        for t in _APPENDED
    ]
    for table, key, amounts in _ACCUMULATORS:
        columns = key + amounts
        ctes.append(
            f"w_{table.name} AS (INSERT INTO {table.name} AS t ({', '.join(columns)}) "
            f"SELECT {', '.join(f'r.{c}' for c in columns)} FROM applied CROSS JOIN LATERAL "
            f"json_populate_record(NULL::{table.name}, applied.accumulators) AS r "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in amounts)
            + ")"
        )
    return text(f"WITH {', '.join(ctes)} SELECT n FROM applied")


_BATCHED_WRITE = DriverStatement.of(_batched_write())


def _sqlite_writes() -> list[tuple[Table | None, Executable]]:
    """The same writes one statement at a time, after :data:`_SQLITE_DEBIT` (SQLite has no
    data-modifying CTEs): an insert per appended table, run with that table's rows, then the
    upserts with the ``acc_`` parameters."""
    writes: list[tuple[Table | None, Executable]] = [(t, insert(t)) for t in _APPENDED]
    for table, key, amounts in _ACCUMULATORS:
        upsert = sqlite.insert(table).values(
            {c: bindparam(f"acc_{c}", type_=table.c[c].type) for c in key + amounts}
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=list(key),
            set_={c: table.c[c] + upsert.excluded[c] for c in amounts},
        )
        writes.append((None, upsert))
    return writes


#: The account debit, as compare-and-set on the ledger version (``cas`` above).
_SQLITE_DEBIT = (
    update(_person)
    .where(
        _person.c.psn_no == bindparam("acc_psn_no"),
        _person.c.ledger_version == bindparam("ledger_version"),
    )
    .values(
        acct_balc=_person.c.acct_balc - bindparam("acct_pay"),
        ledger_version=_person.c.ledger_version + 1,
    )
)
_SQLITE_WRITES = _sqlite_writes()


def _json_fragment(answer: SettlementOut) -> orjson.Fragment:
    """The answer as the JSON text it is sent as, which orjson embeds as it is."""
    return orjson.Fragment(answer.as_json())


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class Effects:
    """Everything a settlement writes: its row, the delta for both accumulator rows
    (``accumulators``: psn_no, year, category and the five delta columns), its funding case
    entries, audit entry and outbox event, and the response to store under the request's
    Idempotency-Key (None: a settlement made without one, as dispensing makes). It applies only
    while the person's ledger is at ``ledger_version``, the version it was adjudicated on."""

    settlement: dict[str, Any]
    accumulators: dict[str, Any]
    case_entries: Sequence[dict[str, Any]]
    audit_entry: dict[str, Any]
    event: dict[str, Any]
    response: tuple[idempotency.Reservation, SettlementOut] | None
    ledger_version: int

    def appended_rows(
        self, document: Callable[[SettlementOut], Any]
    ) -> dict[Table, list[dict[str, Any]]]:
        """The rows per appended table, the idempotent response as ``document`` makes it (the
        form the store's statements take a JSON column in)."""
        records = []
        if self.response is not None:
            reservation, answer = self.response
            records.append(reservation.record() | {"response": document(answer)})
        return {
            _settlement: [self.settlement],
            _funding: list(self.case_entries),
            _audit: [self.audit_entry],
            _outbox: [self.event],
            _records: records,
        }

    def delta_params(self) -> dict[str, Any]:
        """The accumulator delta as ``acc_<column>``, the account debit as ``acct_pay`` and the
        ledger version it applies to."""
        params = {f"acc_{name}": value for name, value in self.accumulators.items()}
        params["acct_pay"] = self.settlement["acct_pay"]
        params["ledger_version"] = self.ledger_version
        return params


def state_params(
    mdtrt_id: str, today: date, reservation: idempotency.Reservation | None
) -> dict[str, Any]:
    """The state read's parameters: the visit, the day its funding route is looked up for (in the
    pooling region) and the request's Idempotency-Key, if any."""
    reserved = None if reservation is None else reservation.reserved
    return {
        "mdtrt_id": mdtrt_id,
        **funding.route_params(today),
        "idem_org_id": None if reserved is None else reserved.org_id,
        "idem_key": None if reserved is None else reserved.key,
    }


class SettlementStore:
    """Settle's statements for one unit of work, through the session, as SQLite runs them:
    :func:`store` picks the PostgreSQL one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def optimistic_attempt(self) -> AbstractAsyncContextManager[object] | None:
        """Where a settle may first try without the person's row lock, relying on the write's
        compare-and-set alone; None: it settles under the lock only (SQLite serialises every unit
        of work anyway)."""
        return None

    async def locked(self) -> SettlementStore:
        """The store a settle runs on under its person's row lock (:meth:`serialized`)."""
        return self

    def serialized(self) -> AbstractAsyncContextManager[object]:
        """Where a settle reads under the person's row lock and writes: a transaction (or, inside
        the unit of work's, a savepoint). On SQLite, the unit of work itself: BEGIN IMMEDIATE
        serialises writers already."""
        return nullcontext()

    async def read_state(self, params: dict[str, Any], *, lock: bool) -> Sequence[StateRow]:
        """The state's rows (:data:`_STATE`, :func:`state_params`), none for an unknown visit.
        ``lock``: read under the person's row lock. On SQLite the unit of work's BEGIN IMMEDIATE
        holds every writer's lock already, so there is nothing more to take."""
        return (await self.session.execute(_STATE, params)).all()

    async def write(self, effects: Effects) -> bool:
        """Debit the person's account and move the ledger version on, if it is still
        ``effects.ledger_version``; then insert the settlement, add its delta to both accumulator
        rows, and append the funding case entries, the audit entry, the outbox event and the
        idempotency record. False, writing nothing, when the version had moved. The CHECK
        constraints refuse anything that does not add up."""
        rows = effects.appended_rows(lambda answer: orjson.loads(answer.as_json()))
        params = effects.delta_params()
        debit = await self.session.execute(_SQLITE_DEBIT, params)
        if cast(CursorResult[Any], debit).rowcount != 1:
            return False
        for appended, statement in _SQLITE_WRITES:
            if appended is None:
                await self.session.execute(statement, params)
            elif rows[appended]:
                await self.session.execute(statement, rows[appended])
        return True


class DriverSettlementStore(SettlementStore):
    """The same statements on the psycopg connection (:class:`engine.db.DriverStatement`), every
    write as the one statement of data-modifying CTEs."""

    def __init__(self, session: AsyncSession, connection: DriverConnection) -> None:
        super().__init__(session)
        self.connection = connection

    def optimistic_attempt(self) -> AbstractAsyncContextManager[object]:
        """In autocommit, nothing: the write is one statement. Inside a caller's transaction, a
        savepoint, so that a write refused by a constraint does not abort that transaction."""
        return nullcontext() if self.connection.autocommit else self.connection.transaction()

    def serialized(self) -> AbstractAsyncContextManager[object]:
        return self.connection.transaction()

    async def read_state(self, params: dict[str, Any], *, lock: bool) -> Sequence[StateRow]:
        if lock:
            await driver_execute(self.connection, _LOCK_PERSON_ON_POSTGRESQL, params)
        cursor = await driver_execute(self.connection, STATE_ON_POSTGRESQL, params)
        return await cursor.fetchall()

    async def write(self, effects: Effects) -> bool:
        """Raises :class:`engine.idempotency.KeyTaken` when a request under the same key stored
        its record first (the statement then wrote nothing)."""
        params = effects.delta_params()
        for table, table_rows in effects.appended_rows(_json_fragment).items():
            params[table.name] = orjson.dumps(table_rows, default=_json_default).decode()
        try:
            cursor = await driver_execute(self.connection, _POSTGRESQL_WRITE, params)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.table_name == _records.name:
                raise idempotency.KeyTaken from exc
            raise
        applied: StateRow = await cursor.fetchone()
        return bool(applied.applied)


class GroupedSettlementStore(SettlementStore):
    """Settle's optimistic attempt shared with the settles running alongside it in this process
    (group commit, :mod:`engine.batching`): its state read is one of a batch run as one
    statement (:data:`_BATCHED_STATE`), its write one of a batch run as one statement
    (:data:`_BATCHED_WRITE`), each on a pooled connection of its own in autocommit. Each
    settlement still applies only while its person's ledger is at the version it was
    adjudicated on. A settlement that cannot apply in its batch (its person's version moved,
    another settlement of the same person in the batch, or a constraint refusing a row of the
    batch) settles again alone under its person's row lock, on the request's own connection
    (:meth:`locked`); its neighbours' results do not depend on it."""

    def __init__(self, session: AsyncSession, batchers: _Batchers) -> None:
        super().__init__(session)
        self.batchers = batchers

    def optimistic_attempt(self) -> AbstractAsyncContextManager[object]:
        return self.batchers.settling()

    async def locked(self) -> SettlementStore:
        """On the unit of work's own connection: in autocommit, so that the retry's transaction
        is its own, unless reading a policy the process had not cached began the unit of work's
        transaction already; that one then commits the retry, as it writes nothing else."""
        return await _driver_store(self.session, autocommit=not self.session.in_transaction())

    async def read_state(self, params: dict[str, Any], *, lock: bool) -> Sequence[StateRow]:
        assert not lock, "a grouped read never locks: the locked store does"
        return await self.batchers.reads.submit(params)

    async def write(self, effects: Effects) -> bool:
        return await self.batchers.writes.submit(effects)


class _Batchers:
    """The state-read and write batchers of one engine on one event loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reads: Batcher[dict[str, Any], Sequence[StateRow]] = Batcher(self._read)
        self.writes: Batcher[Effects, bool] = Batcher(self._write)
        #: Connections that batches left behind while other batches ran or waited, each with
        #: its psycopg connection.
        self._spare: list[tuple[AsyncConnection, DriverConnection]] = []
        #: Grouped settles between the start of their read and the end of their write.
        self._settles = 0

    @asynccontextmanager
    async def settling(self) -> AsyncIterator[None]:
        """Around a grouped settle's read, adjudication and write: the connections its batches
        leave behind stay for the next batch until no settle is between its read and its write,
        so a lone settle writes on the connection it read on (one pool checkout, not two)."""
        self._settles += 1
        try:
            yield
        finally:
            self._settles -= 1
            if not self._in_use(0):
                await self._close_spare()

    def _in_use(self, running: int) -> bool:
        """Whether a settle or a batch other than the ``running`` ones may want a connection."""
        return self._settles > 0 or self.reads.busy + self.writes.busy > running

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[DriverConnection]:
        """A connection in autocommit: one a batch that ended left behind, or a pooled one. It
        is kept for the next batch while settles or other batches run or wait, and goes back to
        the pool with the others once none does (an idle process holds none): a settle's write
        and, under load, any batch then skip the pool's checkout. Discarded when a statement on
        it met an outage."""
        if self._spare:
            connection, driver = self._spare.pop()
        else:
            connection = await self.engine.connect()
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw = await connection.get_raw_connection()
            pooled = raw.driver_connection
            assert isinstance(pooled, psycopg.AsyncConnection)
            driver = pooled
        try:
            yield driver
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await connection.invalidate()
            await connection.close()
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: the loop is shutting down
                await connection.close()
                raise
            await self._release(connection, driver)
            raise
        await self._release(connection, driver)

    async def _release(self, connection: AsyncConnection, driver: DriverConnection) -> None:
        self._spare.append((connection, driver))
        if not self._in_use(1):  # this batch still counts as running
            await self._close_spare()

    async def _close_spare(self) -> None:
        spare, self._spare = self._spare, []
        for idle, _ in spare:
            await idle.close()

    async def _read(self, requests: Sequence[dict[str, Any]]) -> list[Sequence[StateRow]]:
        params = {
            name: [str(r[name]) if name == "idem_org_id" and r[name] else r[name] for r in requests]
            for name in _BATCHED_STATE.names
        }
        async with self._connection() as connection:
            cursor = await driver_execute(connection, _BATCHED_STATE, params)
            rows = await cursor.fetchall()
        per_request: list[list[StateRow]] = [[] for _ in requests]
        for row in rows:
            per_request[row.batch_n - 1].append(row)
        return list(per_request)

    async def _write(self, batch: Sequence[Effects]) -> list[bool]:
        """Which settlements applied. Only the first of a person's settlements in the batch is
        written (the others were adjudicated on the same version, which it moves on); a
        constraint refusing any row writes nothing, and every settlement of the batch then
        settles alone."""
        people: set[str] = set()
        written: list[tuple[int, Effects]] = []
        for position, effects in enumerate(batch, 1):
            if effects.accumulators["psn_no"] not in people:
                people.add(effects.accumulators["psn_no"])
                written.append((position, effects))
        metrics.SETTLE_BATCH_SIZE.observe(len(written))
        settlements = [
            {
                "n": position,
                "psn_no": effects.accumulators["psn_no"],
                "ledger_version": effects.ledger_version,
                "acct_pay": effects.settlement["acct_pay"],
                "accumulators": effects.accumulators,
                **{str(t.name): rows for t, rows in effects.appended_rows(_json_fragment).items()},
            }
            for position, effects in written
        ]
        params = {"settlements": orjson.dumps(settlements, default=_json_default).decode()}
        try:
            async with self._connection() as connection:
                cursor = await driver_execute(connection, _BATCHED_WRITE, params)
                applied = {row.n for row in await cursor.fetchall()}
        except psycopg.IntegrityError:
            return [False] * len(batch)
        return [position in applied for position in range(1, len(batch) + 1)]


#: The batchers of each engine, made on the event loop that first settles on it and dropped when
#: the engine is disposed (the batchers hold the engine, so a weak key could never let go of it).
_batchers: dict[Engine, _Batchers] = {}


def _batchers_of(engine: AsyncEngine) -> _Batchers:
    sync_engine = engine.sync_engine
    batchers = _batchers.get(sync_engine)
    if batchers is None or batchers.reads.loop is not asyncio.get_running_loop():
        if not event.contains(sync_engine, "engine_disposed", _forget_batchers):
            event.listen(sync_engine, "engine_disposed", _forget_batchers)
        batchers = _batchers[sync_engine] = _Batchers(engine)
    return batchers


def _forget_batchers(engine: Engine) -> None:
    _batchers.pop(engine, None)


class Commit(enum.Enum):
    """How a settlement's statements commit, chosen by the route the request enters through:
    never inferred from the state of its unit of work."""

    #: Shared with the settles running alongside it in this process (group commit), each
    #: statement committing alone; a retry under the person's row lock runs in a transaction of
    #: its own. Only for a unit of work that writes nothing else (JSON 2207).
    GROUPED = enum.auto()
    #: On the unit of work's own connection, opened in autocommit: each statement commits alone
    #: and an optimistic settle sends no BEGIN or COMMIT. The unit of work must not have begun.
    ALONE = enum.auto()
    #: Inside the caller's transaction, committed or rolled back with all else it writes (the
    #: envelope's 2207, which checks the HIS's figures after settling; dispensing).
    WITH_CALLER = enum.auto()


async def _driver_store(session: AsyncSession, *, autocommit: bool) -> DriverSettlementStore:
    """The store on the session's psycopg connection, opened in autocommit when ``autocommit``.
    A session bound to a connection rather than an engine (a test's, inside the transaction it
    rolls back) stays in that connection's transaction."""
    if autocommit and isinstance(session.get_bind(), Engine):
        if session.in_transaction():
            raise RuntimeError("a settle that commits alone must open its unit of work")
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return DriverSettlementStore(session, await driver_connection(session))


async def store(session: AsyncSession, commit: Commit) -> SettlementStore:
    """The store for the session's unit of work, committing as ``commit`` says. SQLite runs
    every settle in the unit of work's transaction (BEGIN IMMEDIATE serialises writers), and a
    session bound to a connection (a test's) cannot share batches, so it settles there alone."""
    await session.flush()  # a caller may have added the visit in this transaction (dispensing)
    if session.get_bind().dialect.name != "postgresql":
        return SettlementStore(session)
    if commit is Commit.GROUPED and isinstance(session.bind, AsyncEngine):
        return GroupedSettlementStore(session, _batchers_of(session.bind))
    return await _driver_store(session, autocommit=commit is not Commit.WITH_CALLER)
