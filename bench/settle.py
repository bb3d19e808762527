"""Settlement throughput through the real HTTP API on PostgreSQL, beside the stack's floor and
pgbench, in one run on one database (``make bench``).

1. A fresh database, migrated; ``sanyi serve`` started as its own process (uvloop, httptools).
2. The demo region set up through the API (organisations, registry, catalogue, policy). One
   realistic 5-line internet follow-up (follow-up visit, three drugs, delivery) is registered and
   priced through the API; persons, visits and fee lines for the timed phases are then
   bulk-copied from it, so the timed phases measure settlement alone.
3. For each ``--concurrency`` (16 and 64), that many clients call 2207 settle (with
   Idempotency-Key, personal account used) for ``--duration`` seconds, each claim a different
   visit of one of ``--persons`` people. The batches settle's batcher formed are read from the
   server's ``/metrics`` before and after.
4. The stack's floor (``bench/floor.py``) at ``--floor-statements`` (1 and 2) statements a
   request, on the same database at the first concurrency.
5. pgbench TPC-B on the same database.

Prints, per phase, requests/s, errors, the ratios to pgbench and to the two-statement floor,
p50/p95/p99, the CPU per request of the server processes, of PostgreSQL's backends and of the
load client (from ``/proc``), then the batch sizes and the machine's speed around the run (a
fixed pure-Python loop). Asserts nothing.
Usage: ``.venv/bin/python bench/settle.py [--duration 15] [--concurrency 16 64] [--workers 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

from demo.claims import load_policy
from demo.client import Client
from demo.reference import load_reference_data
from demo.run import REGION, bootstrap_admin, setup_region
from engine import migrate
from engine.settings import Settings, get_settings

PG_SERVER = os.environ.get("SANYI_BENCH_PG", "postgres@127.0.0.1:5432")
# As in production, the API runs with RabbitMQ configured, so the outbox relay and periodic jobs
# belong to `sanyi worker` processes (not started here: the events wait in the outbox) rather
# than to threads inside the API processes.
BROKER = os.environ.get("SANYI_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672/%2F")


def recreate_database(name: str) -> str:
    with psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{PG_SERVER}/{name}"


def use_a_bench_secret_key() -> None:
    """Give this process and the servers it starts a secret key of their own (unless one is
    set): on PostgreSQL the engine refuses the embedded demo key."""
    os.environ.setdefault("SANYI_SECRET_KEY", secrets.token_urlsafe(48))
    get_settings.cache_clear()


def start_server(
    url: str, port: int, workers: int, metrics_dir: str | None = None, concurrency: int = 16
) -> subprocess.Popen[bytes]:
    """``sanyi serve``; with ``metrics_dir``, its processes' metrics are summed in ``/metrics``
    (the batches formed by every process). Each process's pool holds a connection for each of
    its share of ``concurrency`` clients: a connection opened beyond the pool and closed again
    takes its backend's CPU time out of ``/proc`` before it is read."""
    pool_size = max(20, -(-concurrency // workers))
    env = dict(os.environ, DATABASE_URL=url, SANYI_DB_POOL_SIZE=str(pool_size), BROKER_URL=BROKER)
    if metrics_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the API server did not come up")


def template_claim(http: httpx.Client, admin_token: str) -> tuple[Client, str, dict[str, Any]]:
    """Set up the region and settle-ready one visit through the API; returns the hospital
    client, its code and the priced template visit id."""
    region = setup_region(http, admin_token)
    reference = load_reference_data(region.insurer, region.hospitals, region.pharmacies)
    load_policy(region.insurer, REGION)
    code, hospital = next(iter(region.hospitals.items()))
    doctor = next(
        d
        for d in reference.practitioners.values()
        if d.fixmedins_code == code and d.internet_practice and d.indep_prac_start.year < 2020
    )
    certno = "11010519491231002X"
    region.insurer.post(
        "/v1/persons",
        expect=201,
        json={
            "psn_no": "TEMPLATE",
            "psn_name": "模板",
            "certno": certno,
            "admdvs": REGION,
            "insutype": "310",
            "acct_balc": "100.00",
            "opsp_dise_codes": ["I10"],
        },
    )
    visit = {
        "psn_no": "TEMPLATE",
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": certno,
        "fixmedins_code": code,
        "med_type": "11",
        "dr_code": doctor.dr_code,
        "diseinfo": [{"diag_code": "I10.x00", "diag_name": "高血压", "maindiag_flag": "1"}],
    }
    hospital.post(
        "/v1/visits",
        expect=201,
        json=visit | {"biz_type_code": "01", "begntime": "2026-01-05T09:00:00+08:00"},
    )
    template = hospital.post(
        "/v1/visits",
        expect=201,
        json=visit | {"biz_type_code": "02", "begntime": datetime.now(UTC).isoformat()},
    )
    drugs = list(reference.drug_codes[:3])
    lines = [{"feedetl_sn": "1", "med_list_codg": reference.follow_up_code, "cnt": "1"}]
    lines += [
        {"feedetl_sn": str(i + 2), "med_list_codg": c, "cnt": "2", "pric": "31.50"}
        for i, c in enumerate(drugs)
    ]
    lines.append(
        {"feedetl_sn": "5", "med_list_codg": reference.delivery_code, "cnt": "1", "pric": "10.00"}
    )
    hospital.post(
        f"/v1/visits/{template['mdtrt_id']}/fee-lines", json={"feedetail": lines}, expect=201
    )
    return hospital, code, template


def bulk_copy(url: str, template_id: str, persons: int, claims: int) -> list[str]:
    """Persons, visits and fee lines cloned from the template with plain multi-row inserts."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    person, visit, fee = (
        sa.Table(n, meta, autoload_with=engine) for n in ("person", "visit", "fee_line")
    )
    with engine.begin() as conn:
        tpl_person = dict(
            conn.execute(sa.select(person).where(person.c.psn_no == "TEMPLATE")).mappings().one()
        )
        tpl_visit = dict(
            conn.execute(sa.select(visit).where(visit.c.mdtrt_id == template_id)).mappings().one()
        )
        tpl_lines = [
            dict(r)
            for r in conn.execute(sa.select(fee).where(fee.c.mdtrt_id == template_id)).mappings()
        ]
        psn_nos = [f"B{i:09d}" for i in range(persons)]
        conn.execute(
            person.insert(),
            [
                tpl_person
                | {"psn_no": p, "certno_hash": secrets.token_hex(32), "acct_balc": 1_000_000}
                for p in psn_nos
            ],
        )
        mdtrt_ids = [f"MB{uuid.uuid4().hex[:18].upper()}" for _ in range(claims)]
        conn.execute(
            visit.insert(),
            [
                tpl_visit | {"mdtrt_id": m, "psn_no": psn_nos[i % persons]}
                for i, m in enumerate(mdtrt_ids)
            ],
        )
        rows = [
            {k: v for k, v in line.items() if k != "id"} | {"mdtrt_id": m}
            for m in mdtrt_ids
            for line in tpl_lines
        ]
        for start in range(0, len(rows), 20_000):
            conn.execute(fee.insert(), rows[start : start + 20_000])
    engine.dispose()
    return mdtrt_ids


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just what the load needs. httpx costs the
    load generator about as much CPU per request as the API spends settling, and on a two-core
    machine shared by client, API and PostgreSQL that would be measured as the API's slowness."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        head = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def settle_load(
    port: int, headers: dict[str, str], mdtrt_ids: list[str], concurrency: int, duration: float
) -> tuple[list[float], int, float]:
    queue = iter(mdtrt_ids)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    body = b'{"acct_used_flag": true}'

    async def worker() -> None:
        nonlocal errors
        connection = await _Connection.open("127.0.0.1", port)
        try:
            for mdtrt_id in queue:
                if time.perf_counter() > deadline:
                    return
                began = time.perf_counter()
                status = await connection.post(
                    f"/v1/visits/{mdtrt_id}/settlement",
                    headers | {"Idempotency-Key": uuid.uuid4().hex},
                    body,
                )
                if status == 201:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def _cpu_seconds(server_pid: int, database: str) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the API server with its worker processes, and
    by PostgreSQL's backends for ``database`` (Linux /proc; zeros elsewhere). Read before and
    after the load, they say where a settle's CPU goes."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    api = postgres = 0.0
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks
        if cmdline.startswith("postgres: ") and f" postgres {database} " in cmdline:
            postgres += cpu[pid]
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (server_pid, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == server_pid:
            api += seconds
    return api, postgres


def machine_speed() -> float:
    """Milliseconds for a fixed pure-Python loop: on a shared machine the CPU's speed varies from
    minute to minute, and this says how fast it was around the run."""
    return 1000 * min(timeit.repeat("sum(range(1_000_000))", number=5, repeat=5)) / 5


def pgbench(dbname: str, concurrency: int, seconds: int) -> float:
    host, _, port = PG_SERVER.split("@")[1].partition(":")
    base = ["-h", host, "-p", port or "5432", "-U", "postgres"]
    subprocess.run(
        ["pgbench", "-i", "-q", "-s", "10", *base, dbname], check=True, capture_output=True
    )
    out = subprocess.run(
        ["pgbench", "-c", str(concurrency), "-j", "2", "-T", str(seconds), *base, dbname],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed load: its latencies of successful requests, its errors, and the CPU seconds the
    server processes, PostgreSQL's backends and the load client spent on it."""

    name: str
    latencies: list[float]
    errors: int
    elapsed: float
    api_cpu: float
    postgres_cpu: float
    client_cpu: float
    batches: BatchSizes | None = None

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentiles(self) -> tuple[float, float, float]:
        """p50, p95 and p99 in milliseconds."""
        if len(self.latencies) < 2:
            return 0.0, 0.0, 0.0
        q = statistics.quantiles(self.latencies, n=100)
        return 1000 * q[49], 1000 * q[94], 1000 * q[98]

    def cpu_ms(self) -> tuple[float, float, float]:
        """API, PostgreSQL and load-client CPU milliseconds per successful request."""
        done = max(len(self.latencies), 1)
        per = 1000 / done
        return self.api_cpu * per, self.postgres_cpu * per, self.client_cpu * per


@dataclass(frozen=True, slots=True)
class BatchSizes:
    """What settle's batcher formed during a phase (``sanyi_settle_batch_size`` from
    ``/metrics``, summed over the server's processes): batches, the settles in them, and how
    many batches held at most each bucket's bound."""

    batches: float
    settles: float
    buckets: dict[str, float]

    def minus(self, before: BatchSizes) -> BatchSizes:
        return BatchSizes(
            self.batches - before.batches,
            self.settles - before.settles,
            {k: v - before.buckets.get(k, 0.0) for k, v in self.buckets.items()},
        )

    def describe(self) -> str:
        if not self.batches:
            return "no batch formed"
        previous, shares = 0.0, []
        for bound, cumulative in self.buckets.items():
            if cumulative > previous:
                shares.append(f"<={bound}: {100 * (cumulative - previous) / self.batches:.0f}%")
            previous = cumulative
        return (
            f"{self.batches:,.0f} batches, mean {self.settles / self.batches:.1f} settles "
            f"({', '.join(shares)})"
        )


_BATCH_METRIC = "sanyi_settle_batch_size"


def batch_sizes(base: str) -> BatchSizes | None:
    """The batcher's histogram as ``/metrics`` reads now; None when the server has none."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    batches = settles = None
    buckets: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(_BATCH_METRIC):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith(f"{_BATCH_METRIC}_count"):
            batches = float(value)
        elif name.startswith(f"{_BATCH_METRIC}_sum"):
            settles = float(value)
        elif match := re.search(r'le="([^"]+)"', name):
            bound = match.group(1).removesuffix(".0")
            buckets[bound] = buckets.get(bound, 0.0) + float(value)
    if batches is None or settles is None:
        return None
    return BatchSizes(batches, settles, buckets)


def measure(
    name: str,
    server_pid: int,
    database: str,
    load: Callable[[], Coroutine[Any, Any, tuple[list[float], int, float]]],
    base: str | None = None,
) -> Phase:
    """Run ``load`` with the CPU of each side, and the batches formed when ``base`` names a
    Sanyi server, read before and after it."""
    batches_before = batch_sizes(base) if base else None
    cpu_before, client_before = _cpu_seconds(server_pid, database), time.process_time()
    latencies, errors, elapsed = asyncio.run(load())
    cpu_after = _cpu_seconds(server_pid, database)
    client_cpu = time.process_time() - client_before
    batches_after = batch_sizes(base) if base else None
    batches = (
        batches_after.minus(batches_before) if batches_after and batches_before else batches_after
    )
    return Phase(
        name,
        latencies,
        errors,
        elapsed,
        cpu_after[0] - cpu_before[0],
        cpu_after[1] - cpu_before[1],
        client_cpu,
        batches,
    )


def settle_phases(
    url: str, database: str, concurrencies: list[int], args: argparse.Namespace
) -> list[Phase]:
    """Settle through a real API server at each concurrency in turn, each on fresh claims."""
    use_a_bench_secret_key()
    admin_token = bootstrap_admin(Settings(database_url=url))
    port = 8700 + secrets.randbelow(200)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as metrics_dir:
        server = start_server(url, port, args.workers, metrics_dir, max(concurrencies))
        try:
            wait_healthy(base, server)
            with httpx.Client(base_url=base, timeout=60) as http:
                hospital, code, template = template_claim(http, admin_token)
            mdtrt_ids = bulk_copy(url, template["mdtrt_id"], args.persons, args.claims)
            print(f"prepared {len(mdtrt_ids)} five-line claims for {args.persons} people at {code}")
            share = len(mdtrt_ids) // len(concurrencies)
            phases = []
            for n, concurrency in enumerate(concurrencies):
                load = functools.partial(
                    settle_load,
                    port,
                    hospital.headers,
                    mdtrt_ids[n * share : (n + 1) * share],
                    concurrency,
                    args.duration,
                )
                name = f"settle, concurrency {concurrency}"
                phases.append(measure(name, server.pid, database, load, base))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return phases


def report(phases: list[Phase], tps: float, floor_rate: float | None) -> None:
    """One line per phase: throughput, ratios, latency, CPU per request, batches."""
    header = (
        f"{'':32} {'req/s':>7} {'err':>4} {'/pgbench':>8} {'/floor2':>7} "
        f"{'p50':>6} {'p95':>6} {'p99':>6}  {'API CPU':>7} {'PG CPU':>6} {'client':>6}"
    )
    print(header)
    print(f"{'':32} {'':>7} {'':>4} {'':>8} {'':>7} {'ms':>6} {'ms':>6} {'ms':>6}  {'ms/req':>7}")
    for phase in phases:
        p50, p95, p99 = phase.percentiles()
        api, postgres, client = phase.cpu_ms()
        to_pgbench = f"{phase.rate / tps:.2f}" if tps else "n/a"
        to_floor = f"{phase.rate / floor_rate:.2f}" if floor_rate else "n/a"
        print(
            f"{phase.name:32} {phase.rate:7,.0f} {phase.errors:4} {to_pgbench:>8} {to_floor:>7} "
            f"{p50:6.1f} {p95:6.1f} {p99:6.1f}  {api:7.2f} {postgres:6.2f} {client:6.2f}"
        )
    for phase in phases:
        if phase.name.startswith("settle"):
            batches = phase.batches.describe() if phase.batches else "no batcher in this server"
            print(f"batches, {phase.name}: {batches}")


def main() -> None:
    import floor  # bench/floor.py, which imports this module for the load client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[16, 64], help="settle phases"
    )
    parser.add_argument("--floor-statements", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--claims", type=int, default=40000, help="visits prepared")
    parser.add_argument("--database", default="sanyi_bench")
    args = parser.parse_args()

    url = recreate_database(args.database)
    migrate.upgrade(url)
    speed = machine_speed()
    phases = settle_phases(url, args.database, args.concurrency, args)
    dsn = url.replace("+psycopg", "")
    floor.create_table(dsn)
    floor_phases = {
        n: floor.run(dsn, args.database, n, args.concurrency[0], args)
        for n in args.floor_statements
    }
    tps = pgbench(args.database, args.concurrency[0], 10)
    floor2 = floor_phases.get(2)
    print(f"pgbench TPC-B:       {tps:,.0f} tps (-c {args.concurrency[0]} -j 2, same database)")
    print(f"API processes:       {args.workers} (settle and floor alike)")
    report([*phases, *floor_phases.values()], tps, floor2.rate if floor2 else None)
    print(
        f"machine speed:       {speed:.1f} ms for sum(range(10**6)) before the load (lower: faster)"
    )


if __name__ == "__main__":
    main()
