"""Reconciliation at scale: 3201 totals and 3202 details of 1,000,000 settlements, via the API.

    .venv/bin/python bench/reconcile.py [--rows 1000000] [--runs 3]

What it does, on PostgreSQL (``SANYI_BENCH_PG_SERVER``, default ``postgres@127.0.0.1:5432``, a
superuser):

1. creates a scratch database, migrates it, and registers one hospital and its API key;
2. seeds ``--rows`` settlements of that hospital in October 2026 with one ``INSERT ... SELECT``
   from ``generate_series`` (foreign-key triggers off for the seed: ``session_replication_role``;
   the settlements' visits and persons are not what is measured);
3. writes the hospital's detail file (``--rows`` CSV rows, about 60 MB) with five seeded
   mismatches of each kind: amount differs, revocation differs, missing there (rows left out),
   missing here (rows added);
4. starts ``sanyi serve`` (uvicorn, uvloop, httptools) as a separate process and sends ``--runs``
   times the 3201 totals request; then, in ``--runs`` rounds, the synchronous 3202 upload
   (streamed from disk in 1 MB chunks) and what PostgreSQL alone does with the same file (COPY
   into a temporary table keyed on setl_id, then a full join with the settlements counting the
   mismatches), the two going first in turn so that both see the same load and caches; then
   ``--job-runs`` times (default ``--runs``) the same upload submitted as a job
   (``POST /v1/reconciliation/detail-jobs``), polled every 50 ms until done. The server runs
   embedded (no ``BROKER_URL``): its scheduler dispatches the job within a second and its
   in-process worker diffs it;
5. prints each run's wall time, the steps the server logged, each round's ratio of the
   synchronous 3202 to PostgreSQL alone, the server's resident memory before the runs and at its
   peak (``VmHWM``), the client's peak, and whether the mismatch counts are the seeded ones;
6. drops the scratch database.

Target (issue 17): the synchronous 3202 within 1.1x of PostgreSQL's own COPY plus join, measured
in the same run, and the API under 200 MB. The figures are printed, not asserted: they depend on
the machine and on what else it runs, so read the range of the rounds, not one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from settle import use_a_bench_secret_key  # noqa: E402  (bench/settle.py)

from engine import migrate  # noqa: E402
from engine.auth import Role, create_api_key, create_organisation  # noqa: E402
from engine.db import Database, unit_of_work  # noqa: E402

PG_SERVER = os.environ.get("SANYI_BENCH_PG_SERVER", "postgres@127.0.0.1:5432")
HOSPITAL = "HBENCH00001"
REGION = "230100"
SEEDED = 5  # mismatches of each kind
CHUNK = 1024 * 1024
POLL = 0.05
PERIOD = {"stmt_begndate": "2026-10-01", "stmt_enddate": "2026-10-31"}

# Amounts vary with i so sums are not trivially equal; every identity of the settlement table
# holds (medfee = inscp = fund + psn_part, psn_part = cash).
SEED_SQL = """
INSERT INTO settlement (setl_id, mdtrt_id, psn_no, fixmedins_code, admdvs, insuplc_admdvs,
  insutype, med_type,
  clr_type, clr_way, setl_time, status, revoked_at, acct_used_flag, year, category,
  medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt, act_pay_dedc,
  hifp_pay, cvlserv_pay, hifes_pay, hifmi_pay, hifob_pay, maf_pay, oth_pay, fund_pay_sumamt,
  psn_part_amt, acct_pay, psn_cash_pay, balc, d_deductible_used, d_hifp_paid, d_inscp_psn_cum,
  d_critical_paid, d_assistance_paid, setldetail, lines, explanation, created_by)
SELECT 'S' || lpad(i::text, 12, '0'), 'M' || lpad(i::text, 12, '0'),
  'P' || lpad((i %% 100000)::text, 8, '0'), %(code)s, %(region)s, %(region)s, '390', '11', '11',
  '01',
  timestamptz '2026-10-01 00:00+08' + (i %% 2592000) * interval '1 second', 'settled', NULL,
  false, 2026, '390-11',
  m, 0, 0, 0, m, 0, m / 2, 0, 0, 0, 0, 0, 0, m / 2, m - m / 2, 0, m - m / 2, 0, 0, 0, 0, 0, 0,
  '[]', '[]', '{}', '00000000-0000-0000-0000-000000000000'
FROM generate_series(1, %(rows)s) AS i, LATERAL (SELECT 10000 + i %% 5000 AS m) AS amount
"""

# The institution's file: every settlement, with SEEDED rows of each kind of mismatch.
FILE_SQL = """
COPY (
  SELECT setl_id, mdtrt_id, psn_no,
    to_char((medfee_sumamt + CASE WHEN n %% {step} = 1 THEN 1 ELSE 0 END) / 100.0,
            'FM999999999990.00') AS medfee_sumamt,
    to_char(fund_pay_sumamt / 100.0, 'FM999999999990.00') AS fund_pay_sumamt,
    to_char(acct_pay / 100.0, 'FM999999999990.00') AS acct_pay,
    CASE WHEN n %% {step} = 2 THEN '1' ELSE '0' END AS refd_setl_flag
  FROM (SELECT *, substr(setl_id, 2)::bigint AS n FROM settlement) AS s
  WHERE n %% {step} <> 3
  UNION ALL
  SELECT 'SEXTRA' || g, 'MEXTRA' || g, 'PEXTRA', '1.00', '0.50', '0.00', '0'
  FROM generate_series(1, {seeded}) AS g
) TO STDOUT WITH (FORMAT csv, HEADER true)
"""


def conninfo(database: str) -> str:
    return f"postgresql://{PG_SERVER}/{database}"


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"sanyi_bench_recon_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def register_hospital(url: str) -> str:
    db = Database.connect(url, null_pool=True)
    try:
        async with unit_of_work(db.sessionmaker) as session:
            org = await create_organisation(
                session,
                name="bench hospital",
                role=Role.hospital,
                institution_code=HOSPITAL,
                admdvs=REGION,
            )
            return await create_api_key(session, org)
    finally:
        await db.dispose()


def seed(database: str, rows: int, path: Path) -> None:
    step = max(rows // SEEDED, 4)
    with psycopg.connect(conninfo(database)) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(SEED_SQL, {"code": HOSPITAL, "region": REGION, "rows": rows})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE settlement")
        with (
            path.open("wb") as out,
            conn.cursor().copy(
                FILE_SQL.format(step=step, seeded=SEEDED).replace("%%", "%")
            ) as copy,
        ):
            for data in copy:
                out.write(data)


def postgres_alone(database: str, path: Path) -> tuple[float, float]:
    """(COPY seconds, full-join seconds) of the same file with no API in between."""
    with psycopg.connect(conninfo(database)) as conn:
        conn.execute("SET LOCAL work_mem = '128MB'")
        conn.execute(
            "CREATE TEMP TABLE f (setl_id text PRIMARY KEY, mdtrt_id text, psn_no text, "
            "medfee_sumamt numeric, fund_pay_sumamt numeric, acct_pay numeric, "
            "refd_setl_flag text) ON COMMIT DROP"
        )
        start = time.perf_counter()
        with (
            conn.cursor().copy("COPY f FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as data,
        ):
            while chunk := data.read(CHUNK):
                copy.write(chunk)
        copied = time.perf_counter()
        conn.execute(
            "SELECT count(*) FROM f FULL JOIN (SELECT * FROM settlement WHERE fixmedins_code = "
            "%s) s ON f.setl_id = s.setl_id WHERE f.setl_id IS NULL OR s.setl_id IS NULL "
            "OR (f.medfee_sumamt * 100)::bigint <> s.medfee_sumamt",
            (HOSPITAL,),
        ).fetchone()
        return copied - start, time.perf_counter() - copied


# ``sanyi serve`` with INFO logging, so the steps claims.clearing.reconciliation logs reach the
# log file.
SERVE = (
    "import logging; logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s'); "
    "from engine.cli import app; app()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def api_server(database_url: str, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``sanyi serve`` in a process of its own; its log goes to ``log``."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": database_url, "SANYI_DB_POOL_SIZE": "4"}
    env.pop("BROKER_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the API did not start:\n{log.read_text()}")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            yield chunk


def checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    return dict(response.json())


async def run_job(client: httpx.AsyncClient, path: Path) -> tuple[float, float, dict[str, Any]]:
    """Submit the file as a job and poll it: (seconds to the 202, seconds to done, the job)."""
    start = time.perf_counter()
    response = await client.post(
        "/v1/reconciliation/detail-jobs",
        params=PERIOD,
        content=file_chunks(path),
        headers={"Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
    )
    accepted = time.perf_counter() - start
    job = checked(response)
    while job["status"] in ("queued", "running"):
        await asyncio.sleep(POLL)
        job = checked(await client.get(job["status_url"]))
    if job["status"] != "done":
        raise RuntimeError(f"the job failed: {job['error']}")
    return accepted, time.perf_counter() - start, job


@dataclass
class Measured:
    """What the runs measured: seconds per run, and the last answer of each kind."""

    totals_s: list[float] = field(default_factory=list)
    details_s: list[float] = field(default_factory=list)
    details_cpu_s: list[float] = field(default_factory=list)  # the API process's CPU
    postgres_s: list[tuple[float, float]] = field(default_factory=list)  # (COPY, join)
    job_s: list[tuple[float, float]] = field(default_factory=list)  # (to 202, to done)
    totals: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> list[float]:
        """Each synchronous 3202 over PostgreSQL alone in the same round."""
        return [api / (c + j) for api, (c, j) in zip(self.details_s, self.postgres_s, strict=True)]

    def best_ratio(self) -> float:
        """The fastest synchronous 3202 over the fastest PostgreSQL alone: on a loaded machine
        the least disturbed run of each is the closest to what each costs."""
        return min(self.details_s) / min(c + j for c, j in self.postgres_s)


async def run_requests(
    base: str, key: str, database: str, path: Path, runs: int, job_runs: int, api_pid: int
) -> Measured:
    """3201 ``runs`` times; then ``runs`` rounds of PostgreSQL alone and the synchronous 3202,
    which goes first alternating, so both see the same load and the same caches; then the job
    ``job_runs`` times."""
    headers = {"Authorization": f"Bearer {key}"}
    measured = Measured()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300) as client:
        for _ in range(runs):
            start = time.perf_counter()
            response = await client.post(
                "/v1/reconciliation/totals",
                json=PERIOD
                | {
                    "insutype": "390",
                    "clr_type": "11",
                    "fixmedins_setl_cnt": 0,
                    "medfee_sumamt": "0",
                    "fund_pay_sumamt": "0",
                    "acct_pay": "0",
                },
            )
            measured.totals_s.append(time.perf_counter() - start)
            measured.totals = checked(response)
        for round_ in range(runs):
            if round_ % 2 == 0:
                measured.postgres_s.append(postgres_alone(database, path))
            start, cpu = time.perf_counter(), cpu_seconds(api_pid)
            response = await client.post(
                "/v1/reconciliation/details",
                params=PERIOD,
                content=file_chunks(path),
                headers={"Content-Type": "text/csv"},
            )
            measured.details_s.append(time.perf_counter() - start)
            measured.details_cpu_s.append(cpu_seconds(api_pid) - cpu)
            measured.details = checked(response)
            if round_ % 2 == 1:
                measured.postgres_s.append(postgres_alone(database, path))
        for _ in range(job_runs):
            accepted, done, job = await run_job(client, path)
            measured.job_s.append((accepted, done))
            if job["result"]["counts"] != measured.details["counts"]:
                raise RuntimeError(f"the job's counts differ: {job['result']['counts']}")
    return measured


STEP = re.compile(r"(\w+) (\d+\.\d+) s")


def logged_steps(log: Path) -> dict[str, list[dict[str, float]]]:
    """The steps the server logged for each run (claims.clearing.reconciliation), by kind of
    line."""
    found: dict[str, list[dict[str, float]]] = {}
    for line in log.read_text().splitlines():
        kind = next(
            (k for k in ("reconciliation submitted", "reconciliation job") if k in line),
            "reconciliation" if "sanyi.reconciliation" in line else None,
        )
        if kind:
            steps = {name: float(s) for name, s in STEP.findall(line.split(": ", 1)[-1])}
            found.setdefault(kind, []).append(steps)
    return found


def step_figures(runs: list[dict[str, float]]) -> str:
    names = list(runs[0]) if runs else []
    return ", ".join(f"{n} {min(r[n] for r in runs):.2f}" for n in names) + " s (best of each)"


def figures(values: list[float], unit: str = "s") -> str:
    median = statistics.median(values)
    listed = ", ".join(f"{v:.2f}" for v in values)
    return f"{listed} {unit} (range {min(values):.2f}–{max(values):.2f}, median {median:.2f})"


RATIO_TARGET = 1.1
MEMORY_TARGET_MB = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--job-runs", type=int, default=None, help="default: --runs; 0 skips")
    args = parser.parse_args()
    job_runs = args.runs if args.job_runs is None else args.job_runs
    use_a_bench_secret_key()

    with scratch_database() as database, tempfile.TemporaryDirectory() as tmp:
        url = f"postgresql+psycopg://{PG_SERVER}/{database}"
        migrate.upgrade(url)
        key = asyncio.run(register_hospital(url))
        path = Path(tmp) / "detail.csv"
        start = time.perf_counter()
        seed(database, args.rows, path)
        print(
            f"seeded {args.rows:,} settlements and a {path.stat().st_size / 1e6:.0f} MB file "
            f"in {time.perf_counter() - start:.1f} s (not measured)"
        )
        with api_server(url, Path(tmp) / "api.log") as (base, process):
            rss_before = memory_mb(process.pid, "VmRSS")
            measured = asyncio.run(
                run_requests(base, key, database, path, args.runs, job_runs, process.pid)
            )
            server_peak = memory_mb(process.pid, "VmHWM")
        steps = logged_steps(Path(tmp) / "api.log")
        client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        expected = {
            "missing_here": SEEDED,
            "missing_there": SEEDED,
            "amount_differs": SEEDED,
            "revocation_differs": SEEDED,
            "identity_differs": 0,
        }

    totals, details = measured.totals, measured.details
    print(
        f"3201 totals ({totals['here']['fixmedins_setl_cnt']:,} settlements): "
        f"{figures(measured.totals_s)}"
    )
    print(
        f"3202 details ({details['file']['rows']:,} rows), through the API: "
        f"{figures(measured.details_s)}"
    )
    print(f"  steps: {step_figures(steps.get('reconciliation', []))}")
    print(f"  API process CPU: {figures(measured.details_cpu_s)}")
    print(
        f"  mismatches: {details['counts']} "
        f"({'as seeded' if details['counts'] == expected else 'NOT as seeded'})"
    )
    print(
        "PostgreSQL alone, same file, same rounds: COPY "
        f"{figures([c for c, _ in measured.postgres_s])}, full join "
        f"{figures([j for _, j in measured.postgres_s])}"
    )
    ratios = measured.ratios()
    print(f"ratio 3202 / (COPY + join), round by round: {figures(ratios, unit='x')}")
    print(f"ratio of the best 3202 to the best COPY + join: {measured.best_ratio():.2f}x")
    if measured.job_s:
        print(f"3202 as a job, submit to 202:  {figures([a for a, _ in measured.job_s])}")
        print(f"3202 as a job, submit to done: {figures([d for _, d in measured.job_s])}")
        print(f"  submit steps: {step_figures(steps.get('reconciliation submitted', []))}")
        print(f"  worker steps: {step_figures(steps.get('reconciliation job', []))}")
    print(
        f"API server memory (RSS): {rss_before:.0f} MB before the runs, {server_peak:.0f} MB peak"
    )
    print(f"bench client peak memory: {client_peak:.0f} MB")
    print(f"run id {uuid.UUID(details['recon_id'])}")
    memory = "met" if server_peak < MEMORY_TARGET_MB else "NOT met"
    verdicts = {
        name: "met" if ratio <= RATIO_TARGET else "NOT met"
        for name, ratio in (
            ("median of the rounds", statistics.median(ratios)),
            ("best of each", measured.best_ratio()),
        )
    }
    print(
        f"target 3202 within {RATIO_TARGET}x of COPY + join: "
        + ", ".join(f"{verdict} by the {name}" for name, verdict in verdicts.items())
        + f"; API under {MEMORY_TARGET_MB} MB: {memory}"
    )


if __name__ == "__main__":
    main()
