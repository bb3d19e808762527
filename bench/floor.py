"""The stack's floor: what a settle-shaped endpoint with no domain logic reaches on this machine.

Issue 4 asks for 2,000 settled claims/s on a 2-core machine. Whether a change to settle moves it
toward that depends on how far the stack itself goes here, with nothing of Sanyi in it. This
serves, with the same server settings as ``bench/settle.py`` (uvicorn, uvloop, httptools,
``--workers 2``) and the same load client at the same concurrency:

- ``POST /v1/visits/{mdtrt_id}/settlement`` as FastAPI route with settle's body model
  (``SettleIn``), its ``Idempotency-Key`` header and a small response model;
- a psycopg 3 async connection pool in autocommit, each request running ``--statements`` prepared
  ``INSERT ... RETURNING`` statements, one round trip each (settle sends two when uncontended);
- no policy, adjudication, audit, outbox or idempotency record.

Then pgbench TPC-B on the same database, as ``bench/settle.py`` runs it. Prints requests/s and
latency per statement count, the ratio to pgbench and the machine's speed. Asserts nothing.
Usage: ``.venv/bin/python bench/floor.py [--statements 1 2 3] [--duration 10]``
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import settle as bench  # bench/settle.py: database, load client, pgbench, machine speed
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from claims.settlement.schemas import SettleIn
from engine.idempotency import IdempotencyKey

_DSN_VARIABLE, _STATEMENTS_VARIABLE = "SANYI_FLOOR_DSN", "SANYI_FLOOR_STATEMENTS"
_HERE = Path(__file__).parent
_WRITE = "INSERT INTO floor_write (idem_key, body) VALUES (%s, %s) RETURNING id"


class _Settled(BaseModel):
    setl_id: str
    mdtrt_id: str


def create_app() -> FastAPI:
    """The bare endpoint (uvicorn's factory): its pool and statement count from the environment."""
    pool = AsyncConnectionPool(
        os.environ[_DSN_VARIABLE], min_size=8, max_size=8, open=False, kwargs={"autocommit": True}
    )
    statements = int(os.environ[_STATEMENTS_VARIABLE])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with pool:
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/visits/{mdtrt_id}/settlement", status_code=201)
    async def settle(mdtrt_id: str, body: SettleIn, idempotency_key: IdempotencyKey) -> _Settled:
        async with pool.connection() as connection:
            for n in range(statements):
                cursor = await connection.execute(
                    _WRITE, (f"{idempotency_key}:{n}", body.model_dump_json()), prepare=True
                )
                row = await cursor.fetchone()
        assert row is not None
        return _Settled(setl_id=str(row[0]), mdtrt_id=mdtrt_id)

    return app


def _serve(dsn: str, port: int, workers: int, statements: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, **{_DSN_VARIABLE: dsn, _STATEMENTS_VARIABLE: str(statements)})
    command = [sys.executable, "-m", "uvicorn", "floor:create_app", "--factory", "--port"]
    command += [str(port), "--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    command += ["--no-access-log", "--log-level", "warning", "--app-dir", str(_HERE)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def create_table(dsn: str) -> None:
    """The table the bare endpoint writes to."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS floor_write "
            "(id bigserial PRIMARY KEY, idem_key text UNIQUE, body jsonb)"
        )


def run(
    dsn: str, database: str, statements: int, concurrency: int, args: argparse.Namespace
) -> bench.Phase:
    """One server at ``statements`` per request under ``concurrency`` clients."""
    port = 8900 + secrets.randbelow(100)
    server = _serve(dsn, port, args.workers, statements)
    try:
        bench.wait_healthy(f"http://127.0.0.1:{port}", server)
        mdtrt_ids = [f"M{statements}{n:09d}" for n in range(400_000)]
        return bench.measure(
            f"floor, {statements} statement(s)",
            server.pid,
            database,
            functools.partial(bench.settle_load, port, {}, mdtrt_ids, concurrency, args.duration),
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--database", default="sanyi_bench_floor")
    args = parser.parse_args()

    dsn = bench.recreate_database(args.database).replace("+psycopg", "")
    create_table(dsn)
    speed = bench.machine_speed()
    phases = {n: run(dsn, args.database, n, args.concurrency, args) for n in args.statements}
    tps = bench.pgbench(args.database, args.concurrency, 10)
    print(f"pgbench TPC-B:       {tps:,.0f} tps (-c {args.concurrency} -j 2, same database)")
    two = phases.get(2)
    bench.report(list(phases.values()), tps, two.rate if two else None)
    print(
        f"machine speed:       {speed:.1f} ms for sum(range(10**6)) before the load (lower: faster)"
    )


if __name__ == "__main__":
    main()
