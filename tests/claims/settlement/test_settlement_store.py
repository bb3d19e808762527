"""Settle's statements as PostgreSQL runs them (``engine.db.DriverStatement``)."""

from __future__ import annotations

from datetime import date

import pytest
from psycopg import sql
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import store as settlement_store
from claims.settlement.models import Settlement
from claims.settlement.store import STATE_ON_POSTGRESQL, state_params
from engine.db import Database, DriverStatement, driver_connection, driver_cursor, table_of
from engine.settings import to_async_url


def test_a_driver_statement_keeps_its_constants_in_the_text() -> None:
    settlement = table_of(Settlement)
    statement = DriverStatement.of(
        select(settlement.c.setl_id)
        .where(settlement.c.mdtrt_id == bindparam("mdtrt_id"), settlement.c.status == "settled")
        .limit(1)
    )
    assert statement.names == ("mdtrt_id",)
    assert "settlement.status = 'settled'" in statement.sql
    assert "LIMIT 1" in statement.sql
    assert statement.arguments({"mdtrt_id": "M1", "unused": 1}) == ["M1"]
    with pytest.raises(KeyError):
        statement.arguments({})


@pytest.mark.postgres_only
async def test_the_claim_generic_plan_reads_the_live_settlement_by_its_index(
    session: AsyncSession,
) -> None:
    """A constant bound as a parameter made PostgreSQL re-plan the statement on every settle: a
    plan for all parameter values cannot use a partial index on ``status = 'settled'``."""
    connection = await driver_connection(session)
    params = state_params("M-PLAN", date(2026, 3, 1), None)
    arguments = STATE_ON_POSTGRESQL.arguments(params)
    cursor = connection.cursor()
    await cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    await cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table must not decide
    await driver_cursor(connection).execute(STATE_ON_POSTGRESQL.sql, arguments, prepare=True)
    await cursor.execute(
        "SELECT name FROM pg_prepared_statements WHERE statement = %s",
        [STATE_ON_POSTGRESQL.sql],
    )
    row = await cursor.fetchone()
    assert row is not None
    explain = sql.SQL("EXPLAIN EXECUTE {}({})").format(
        sql.Identifier(row[0]), sql.SQL(", ").join(sql.Literal(a) for a in arguments)
    )
    await cursor.execute(explain)
    plan = "\n".join(line for (line,) in await cursor.fetchall())
    assert "uq_settlement_live_visit" in plan
    assert "Seq Scan on settlement" not in plan


@pytest.mark.postgres_only
async def test_settle_opens_its_unit_of_work_in_autocommit_and_the_pool_gets_it_back_transactional(
    database_url: str,
) -> None:
    """A settle that commits alone opens its unit of work in autocommit and sends no BEGIN; the
    pool must not pass that mode on to the next unit of work, whose statements would then each
    commit alone. One that commits with its caller stays in the caller's transaction, and one
    asked to commit alone inside a transaction under way is refused rather than settled in it."""
    db = Database.connect(to_async_url(database_url), pool_size=1)  # one connection, reused
    try:
        async with db.sessionmaker() as session:
            store = await settlement_store.store(session, settlement_store.Commit.ALONE)
            assert store.optimistic_attempt() is not None
            settling = await driver_connection(session)
            assert settling.autocommit
        async with db.sessionmaker() as session, session.begin():
            await session.execute(select(1))  # a unit of work under way
            await settlement_store.store(session, settlement_store.Commit.WITH_CALLER)
            again = await driver_connection(session)
            assert again is settling
            assert not again.autocommit
            with pytest.raises(RuntimeError, match="must open its unit of work"):
                await settlement_store.store(session, settlement_store.Commit.ALONE)
    finally:
        await db.dispose()
