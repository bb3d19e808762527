"""The settlement hot path's statements, built once at import and executed as plain rows.

A settle is three statements after its idempotency claim: the claim read (visit, person, policy
version token; the person's row locked), the claim state (live settlement, fee lines,
accumulators, funding route) and one write. Building an ORM query per request, cache-keying it
and hydrating objects cost more CPU than PostgreSQL spends on the whole settlement, so these
statements are Core, built with bind parameters once, and their rows are read as named tuples.

On PostgreSQL the write is a single statement: every insert and update is a data-modifying CTE of
one ``SELECT``, so a settlement's effects reach the server in one round trip. SQLite has no
data-modifying CTEs, so there the same statements run one after another in the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Row,
    Table,
    and_,
    bindparam,
    exists,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from claims.budget_models import FundingCaseEntry
from claims.budget_repository import ROUTE_LOOKUP_COLUMNS, route_lookup_joins
from claims.models import (
    BenefitAccumulator,
    FeeLine,
    Person,
    PersonYearAccumulator,
    PolicyVersion,
    Settlement,
    Visit,
)
from engine.audit import AuditEntry
from engine.db import Base
from engine.outbox import OutboxEvent

#: A row of the statements below, read by column name.
ClaimRow = Row[*tuple[Any, ...]]


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


_visit, _person, _fee = _table(Visit), _table(Person), _table(FeeLine)
_settlement, _policy_version = _table(Settlement), _table(PolicyVersion)
_benefit, _per_year = _table(BenefitAccumulator), _table(PersonYearAccumulator)
_funding, _audit, _outbox = _table(FundingCaseEntry), _table(AuditEntry), _table(OutboxEvent)

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


async def claim(session: AsyncSession, mdtrt_id: str, *, lock: bool) -> ClaimRow | None:
    """The visit's columns with its person's (``person_admdvs``, ``retired``, ``asst_type``,
    ``acct_balc``) and the region's ``policy_token``; ``lock`` takes the person's row lock (FOR
    UPDATE OF person on PostgreSQL), the lock that guards every limit of a settlement."""
    await session.flush()  # a caller may have added the visit in this transaction (dispensing)
    statement = _CLAIM_LOCKED if lock else _CLAIM
    return (await session.execute(statement, {"mdtrt_id": mdtrt_id})).first()


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
        route_lookup_joins(
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
    )
    .order_by(_fee.c.id)
)


async def claim_state(session: AsyncSession, params: dict[str, Any]) -> Sequence[ClaimRow]:
    """One row per fee line (one row with null line columns when there is none), each carrying
    ``live`` (the visit has a live settlement), the accumulators of (``psn_no``, ``acc_year``,
    ``category``) (null before the first settlement of the year) and the route lookups
    (``claims.budget_repository.route_params``).

    Called after :func:`claim` took the person lock, as its own statement: under READ COMMITTED a
    new statement sees what a settlement that held the lock before us committed, which a subquery
    of the locking statement itself would not.
    """
    return (await session.execute(_CLAIM_STATE, params)).all()


def _bound(table: Table, prefix: str, columns: Sequence[str] | None = None) -> dict[str, Any]:
    names = columns or [c.key for c in table.c]
    return {name: bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in names}


def _accumulator_upsert(
    dialect: Any, table: Table, key: tuple[str, ...], amounts: tuple[str, ...]
) -> Executable:
    """``INSERT ... ON CONFLICT DO UPDATE SET col = col + excluded.col``: creates the row at the
    delta on first use, adds the delta after."""
    stmt = dialect.insert(table).values(_bound(table, "acc_", key + amounts))
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + stmt.excluded[name] for name in amounts},
    )


def _write_statements(dialect: Any, case_entries: int) -> list[Executable]:
    return [
        insert(_settlement).values(_bound(_settlement, "s_")),
        _accumulator_upsert(
            dialect,
            _benefit,
            ("psn_no", "year", "category"),
            ("deductible_used", "hifp_paid"),
        ),
        _accumulator_upsert(
            dialect,
            _per_year,
            ("psn_no", "year"),
            ("inscp_psn_cum", "critical_paid", "assistance_paid"),
        ),
        update(_person)
        .where(_person.c.psn_no == bindparam("acc_psn_no"))
        .values(acct_balc=_person.c.acct_balc - bindparam("acct_pay")),
        *(
            insert(_funding).values(_bound(_funding, f"f{i}_", _FUNDING_COLUMNS))
            for i in range(case_entries)
        ),
        insert(_audit).values(_bound(_audit, "a_", _AUDIT_COLUMNS)),
        insert(_outbox).values(_bound(_outbox, "e_")),
    ]


_FUNDING_COLUMNS = tuple(c.key for c in _funding.c if c.key != "id")
_AUDIT_COLUMNS = tuple(c.key for c in _audit.c if c.key != "id")


@functools.cache
def _postgresql_write(case_entries: int) -> Executable:
    """Every write of a settlement as CTEs of one ``SELECT``; one per number of case entries."""
    writes = _write_statements(postgresql, case_entries)
    return select(literal(1)).add_cte(
        *(w.returning(literal(1)).cte(f"w{i}") for i, w in enumerate(writes))  # type: ignore[attr-defined]
    )


@functools.cache
def _sqlite_writes(case_entries: int) -> list[Executable]:
    return _write_statements(sqlite, case_entries)


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{name}": value for name, value in values.items()}


async def write(
    session: AsyncSession,
    *,
    settlement: dict[str, Any],
    accumulators: dict[str, Any],
    case_entries: Sequence[dict[str, Any]],
    audit_entry: dict[str, Any],
    event: dict[str, Any],
) -> None:
    """Insert the settlement, add its delta to both accumulator rows (``accumulators``: psn_no,
    year, category and the five delta columns), debit the person's account by ``acct_pay``, and
    append the funding case entries, the audit entry and the outbox event: in one round trip on
    PostgreSQL. The caller holds the person lock, so the values it adjudicated on are the ones
    the delta is added to; the CHECK constraints refuse anything that does not add up."""
    params = {
        **_prefixed("s_", settlement),
        **_prefixed("acc_", accumulators),
        "acct_pay": settlement["acct_pay"],
        **{k: v for i, e in enumerate(case_entries) for k, v in _prefixed(f"f{i}_", e).items()},
        **_prefixed("a_", audit_entry),
        **_prefixed("e_", event),
    }
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_postgresql_write(len(case_entries)), params)
    else:
        for statement in _sqlite_writes(len(case_entries)):
            await session.execute(statement, params)
