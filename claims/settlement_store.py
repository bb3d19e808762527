"""The settlement hot path's statements, built once at import and executed as plain rows.

A settle is three statements after its idempotency claim: the claim read (visit, person, policy
version token; the person's row locked), the claim state (live settlement, fee lines,
accumulators, funding route) and one write. Building an ORM query per request, cache-keying it
and hydrating objects cost more CPU than PostgreSQL spends on the whole settlement, so these
statements are Core, built with bind parameters once, and their rows are read by column name.

On PostgreSQL they run on the psycopg connection itself (:class:`engine.db.DriverStatement`),
the idempotency claim and the claim read sent together in one round trip (pipeline mode), and the
write is a single statement: every insert and update (the settlement, both accumulators, the
account debit, the funding case entries, the audit entry, the outbox event and the idempotent
response) is a data-modifying CTE of one ``SELECT``. SQLite has no data-modifying CTEs, so there
the same statements run through SQLAlchemy, the writes one after another in the same transaction.
``docs/performance.md`` has the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import (
    Executable,
    Table,
    TextClause,
    and_,
    bindparam,
    exists,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from claims.budget_models import FundingCaseEntry
from claims.budget_repository import ROUTE_LOOKUP_COLUMNS
from claims.models import (
    BenefitAccumulator,
    FeeLine,
    Person,
    PersonYearAccumulator,
    PolicyVersion,
    Settlement,
    Visit,
)
from engine import idempotency
from engine.audit import AuditEntry
from engine.db import (
    DriverConnection,
    DriverStatement,
    driver_connection,
    driver_execute,
    table_of,
)
from engine.outbox import OutboxEvent

#: A row of the statements below, read by column name: SQLAlchemy's ``Row`` on SQLite, psycopg's
#: named tuple on PostgreSQL.
ClaimRow = Any


_visit, _person, _fee = table_of(Visit), table_of(Person), table_of(FeeLine)
_settlement, _policy_version = table_of(Settlement), table_of(PolicyVersion)
_benefit, _per_year = table_of(BenefitAccumulator), table_of(PersonYearAccumulator)
_funding, _audit, _outbox = table_of(FundingCaseEntry), table_of(AuditEntry), table_of(OutboxEvent)

_CLAIM = select(
    *_visit.c,
    _person.c.admdvs.label("person_admdvs"),
    _person.c.retired,
    _person.c.asst_type,
    _person.c.acct_balc,
    select(_policy_version.c.token)
    .where(_policy_version.c.admdvs == _person.c.admdvs)
    .scalar_subquery()
    .label("policy_token"),
).select_from(_visit.join(_person, _person.c.psn_no == _visit.c.psn_no))
_CLAIM = _CLAIM.where(_visit.c.mdtrt_id == bindparam("mdtrt_id"))
_CLAIM_LOCKED = _CLAIM.with_for_update(of=_person)


_CLAIM_ON_POSTGRESQL = {
    False: DriverStatement.of(_CLAIM),
    True: DriverStatement.of(_CLAIM_LOCKED),
}


_ONE = select(literal(1).label("one")).subquery("one")
_CLAIM_STATE = (
    select(
        exists()
        .where(_settlement.c.mdtrt_id == bindparam("mdtrt_id"), _settlement.c.status == "settled")
        .label("live"),
        _benefit.c.deductible_used,
        _benefit.c.hifp_paid,
        _per_year.c.inscp_psn_cum,
        _per_year.c.critical_paid,
        _per_year.c.assistance_paid,
        *ROUTE_LOOKUP_COLUMNS,
        _fee.c.id.label("fee_line_id"),
        *(c for c in _fee.c if c.key not in ("id", "mdtrt_id")),
    )
    .select_from(
        _ONE.outerjoin(_fee, _fee.c.mdtrt_id == bindparam("mdtrt_id"))
        .outerjoin(
            _benefit,
            and_(
                _benefit.c.psn_no == bindparam("psn_no"),
                _benefit.c.year == bindparam("acc_year"),
                _benefit.c.category == bindparam("category"),
            ),
        )
        .outerjoin(
            _per_year,
            and_(
                _per_year.c.psn_no == bindparam("psn_no"),
                _per_year.c.year == bindparam("acc_year"),
            ),
        )
    )
    .order_by(_fee.c.id)
)
#: Planned once per connection: its constants are in its text, so PostgreSQL's generic plan reads
#: the live settlement through the partial index (tests/claims/test_settlement_store.py).
CLAIM_STATE_ON_POSTGRESQL = DriverStatement.of(_CLAIM_STATE)


#: The accumulator rows a settlement adds its delta to: (table, key columns, amount columns).
_ACCUMULATORS = (
    (_benefit, ("psn_no", "year", "category"), ("deductible_used", "hifp_paid")),
    (_per_year, ("psn_no", "year"), ("inscp_psn_cum", "critical_paid", "assistance_paid")),
)
#: The tables a settlement appends rows to, in write order.
_APPENDED = (_settlement, _funding, _audit, _outbox)


def _inserted(table: Table) -> list[str]:
    """Every column but a database-generated key."""
    return [c.name for c in table.c if not (c.primary_key and c.autoincrement is True)]


def _postgresql_write() -> TextClause:
    """Every write of a settlement as data-modifying CTEs of one statement.

    Each appended table gets its rows as one JSON array (``json_populate_recordset`` against the
    table's own row type), so the statement has a handful of parameters whatever the number of
    case entries, and stays short enough for psycopg to cache its parsed form: bound one column
    at a time, it had over a hundred parameters and was re-parsed on every settle.
    """
    ctes = [
        f"INSERT INTO {t.name} ({', '.join(_inserted(t))}) SELECT {', '.join(_inserted(t))} "
        f"FROM json_populate_recordset(NULL::{t.name}, CAST(:{t.name} AS json))"
        for t in _APPENDED
    ]
    for table, key, amounts in _ACCUMULATORS:
        columns = key + amounts
        ctes.append(
            f"INSERT INTO {table.name} AS t ({', '.join(columns)}) "
            f"VALUES ({', '.join(f':acc_{c}' for c in columns)}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in amounts)
        )
    ctes.append("UPDATE person SET acct_balc = acct_balc - :acct_pay WHERE psn_no = :acc_psn_no")
    ctes.append(
        "UPDATE idempotency_record SET response = CAST(:response AS json) "
        "WHERE org_id = :response_org_id AND key = :response_key"
    )
    return text("WITH " + ", ".join(f"w{i} AS ({cte})" for i, cte in enumerate(ctes)) + " SELECT 1")


_POSTGRESQL_WRITE = DriverStatement.of(_postgresql_write())


def _sqlite_writes() -> list[tuple[Table | None, Executable]]:
    """The same writes one statement at a time (SQLite has no data-modifying CTEs): an insert per
    appended table, run with that table's rows, then the upserts and the debit with the
    ``acc_`` parameters."""
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
    debit = (
        update(_person)
        .where(_person.c.psn_no == bindparam("acc_psn_no"))
        .values(acct_balc=_person.c.acct_balc - bindparam("acct_pay"))
    )
    writes.append((None, debit))
    return writes


_SQLITE_WRITES = _sqlite_writes()


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class Effects:
    """Everything a settlement writes: its row, the delta for both accumulator rows
    (``accumulators``: psn_no, year, category and the five delta columns), its funding case
    entries, audit entry and outbox event, and the response to store under the request's claimed
    Idempotency-Key (None: a settlement made without one, as dispensing makes)."""

    settlement: dict[str, Any]
    accumulators: dict[str, Any]
    case_entries: Sequence[dict[str, Any]]
    audit_entry: dict[str, Any]
    event: dict[str, Any]
    response: tuple[idempotency.Claimed, BaseModel] | None

    def appended_rows(self) -> dict[Table, list[dict[str, Any]]]:
        return {
            _settlement: [self.settlement],
            _funding: list(self.case_entries),
            _audit: [self.audit_entry],
            _outbox: [self.event],
        }

    def delta_params(self) -> dict[str, Any]:
        """The accumulator delta as ``acc_<column>`` and the account debit as ``acct_pay``."""
        params = {f"acc_{name}": value for name, value in self.accumulators.items()}
        params["acct_pay"] = self.settlement["acct_pay"]
        return params


class SettlementStore:
    """Settle's statements for one unit of work, through the session (SQLite, and any backend
    without the driver path): :func:`store` picks the PostgreSQL one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, mdtrt_id: str, *, lock: bool, idempotency_claim: idempotency.Claim | None = None
    ) -> tuple[bool, ClaimRow | None]:
        """Claim the request's Idempotency-Key (when given; True when claimed or none was given)
        and read the visit's columns with its person's (``person_admdvs``, ``retired``,
        ``asst_type``, ``acct_balc``) and the region's ``policy_token``. ``lock`` takes the
        person's row lock (FOR UPDATE OF person on PostgreSQL), the lock that guards every limit
        of a settlement."""
        won = idempotency_claim is None or await idempotency.insert_claim(
            self.session, idempotency_claim
        )
        statement = _CLAIM_LOCKED if lock else _CLAIM
        return won, (await self.session.execute(statement, {"mdtrt_id": mdtrt_id})).first()

    async def claim_state(self, params: dict[str, Any]) -> Sequence[ClaimRow]:
        """One row per fee line (one row with null line columns when there is none), each
        carrying ``live`` (the visit has a live settlement), the accumulators of (``psn_no``,
        ``acc_year``, ``category``) (null before the first settlement of the year) and the route
        lookups (``claims.budget_repository.route_params``).

        Read after :meth:`claim` took the person lock, as a statement of its own: under READ
        COMMITTED a new statement sees what a settlement that held the lock before us committed,
        which a subquery of the locking statement itself would not."""
        return (await self.session.execute(_CLAIM_STATE, params)).all()

    async def write(self, effects: Effects) -> None:
        """Insert the settlement, add its delta to both accumulator rows, debit the person's
        account, and append the funding case entries, the audit entry and the outbox event;
        store the response under its Idempotency-Key. The caller holds the person lock, so the
        values it adjudicated on are the ones the delta is added to; the CHECK constraints
        refuse anything that does not add up."""
        rows, params = effects.appended_rows(), effects.delta_params()
        for appended, statement in _SQLITE_WRITES:
            if appended is None:
                await self.session.execute(statement, params)
            elif rows[appended]:
                await self.session.execute(statement, rows[appended])
        if effects.response is not None:
            await idempotency.store_response(self.session, *effects.response)


class _DriverSettlementStore(SettlementStore):
    """The same statements on the psycopg connection under the session's transaction
    (:class:`engine.db.DriverStatement`): the idempotency claim and the claim read in one round
    trip (pipeline mode), and every write as the one statement of data-modifying CTEs."""

    def __init__(self, session: AsyncSession, connection: DriverConnection) -> None:
        super().__init__(session)
        self.connection = connection

    async def claim(
        self, mdtrt_id: str, *, lock: bool, idempotency_claim: idempotency.Claim | None = None
    ) -> tuple[bool, ClaimRow | None]:
        """A replayed request reads the visit too, which costs less than a round trip of the
        claim's own on every first request."""
        async with self.connection.pipeline():
            claimed = None
            if idempotency_claim is not None:
                claimed = await driver_execute(
                    self.connection,
                    idempotency.CLAIM_ON_POSTGRESQL,
                    idempotency.claim_params(idempotency_claim),
                )
            visit = await driver_execute(
                self.connection, _CLAIM_ON_POSTGRESQL[lock], {"mdtrt_id": mdtrt_id}
            )
            won = claimed is None or await claimed.fetchone() is not None
            return won, await visit.fetchone()

    async def claim_state(self, params: dict[str, Any]) -> Sequence[ClaimRow]:
        cursor = await driver_execute(self.connection, CLAIM_STATE_ON_POSTGRESQL, params)
        return await cursor.fetchall()

    async def write(self, effects: Effects) -> None:
        params = effects.delta_params()
        for table, table_rows in effects.appended_rows().items():
            params[table.name] = orjson.dumps(table_rows, default=_json_default).decode()
        claimed, answer = effects.response or (None, None)
        params["response"] = None if answer is None else answer.model_dump_json()
        params["response_org_id"] = None if claimed is None else claimed.org_id
        params["response_key"] = None if claimed is None else claimed.key
        await driver_execute(self.connection, _POSTGRESQL_WRITE, params)


async def store(session: AsyncSession) -> SettlementStore:
    """The store for the session's unit of work: on PostgreSQL, on its psycopg connection."""
    await session.flush()  # a caller may have added the visit in this transaction (dispensing)
    if session.get_bind().dialect.name == "postgresql":
        return _DriverSettlementStore(session, await driver_connection(session))
    return SettlementStore(session)
