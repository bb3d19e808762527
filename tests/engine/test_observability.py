"""Logs without personal data, the request id, the access and job lines, and /metrics.

The log tests drive real requests (a settle, refusals, a dispense) with recognisable names and
resident IDs, capture what the redacting handler of engine/logs.py writes, and grep it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import orjson
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

import workers
from engine import logs, metrics
from engine.access import HEADER
from engine.app import create_app
from engine.broker import WorkerLogs
from engine.db import Database
from engine.relay import relay_pending
from engine.settings import Settings
from tests.engine.test_outbox_relay import FakePublisher, emit_committed
from tests.prescriptions.world import build_rx_world
from tests.support.factories.clearing import detail_file, file_row, settled, today
from tests.support.factories.orgs import unique_code
from tests.support.factories.world import World, build_world, make_certno

NAME = "欧阳砚秋"  # a name no fixture uses, so any occurrence in the log is a leak
JOB_QUEUE = "sanyi_test_observability"


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """What the production handler writes, for every logger, at INFO and above."""
    stream = io.StringIO()
    handler = logs.handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(stream) if line.get("logger") == "sanyi.access"]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- redaction ------------------------------------------------------------------------------------


def test_sensitive_keys_are_replaced_at_any_depth() -> None:
    event = {
        "event": "x",
        "body": {"psn_name": NAME, "items": [{"CertNo": "anything"}], "signature": {"v": "s"}},
        "authorization": "Bearer sk_abc",
        "count": 3,
    }
    redacted = logs.redact(None, "info", event)
    assert redacted["body"] == {
        "psn_name": logs.REDACTED,
        "items": [{"CertNo": logs.REDACTED}],
        "signature": logs.REDACTED,
    }
    assert redacted["authorization"] == logs.REDACTED
    assert redacted["count"] == 3


def test_resident_ids_detail_lines_and_parameters_are_cut_from_text() -> None:
    certno = make_certno()
    message = (
        f'duplicate key value violates unique constraint "uq"\n'
        f"DETAIL:  Key (psn_name, certno)=({NAME}, {certno}) already exists.\n"
        f"[SQL: INSERT INTO person VALUES (%s)]\n[parameters: ('{NAME}', '{certno}')]\n"
        f'invalid input syntax for type integer: "{NAME}"\n'
        f'CONTEXT:  COPY recon_upload, line 2: "{NAME},{certno},12.00"\n'
        f"looked up {certno} and {certno[:17]}x"
    )
    redacted = logs.redact_text(message)
    assert NAME not in redacted and certno not in redacted.upper()
    assert "DETAIL" not in redacted and "CONTEXT" not in redacted
    assert "[SQL: INSERT INTO person VALUES (%s)]" in redacted
    assert f"looked up {logs.RESIDENT_ID_MASK} and {logs.RESIDENT_ID_MASK}" in redacted
    # An 18-digit run inside a longer identifier is not a resident ID.
    assert logs.redact_text(f"order S2026{certno}") == f"order S2026{certno}"


@pytest.mark.postgres_only
async def test_an_unhandled_database_error_is_logged_without_its_values(
    session: AsyncSession, captured_log: io.StringIO
) -> None:
    certno = make_certno()
    await session.execute(text("CREATE TEMP TABLE leak_probe (who text UNIQUE)"))
    insert = text("INSERT INTO leak_probe VALUES (:who)")
    await session.execute(insert, {"who": f"{NAME} {certno}"})
    with pytest.raises(DBAPIError) as raised:
        await session.execute(insert, {"who": f"{NAME} {certno}"})
    assert NAME in str(raised.value.orig)  # PostgreSQL did put the row's value in DETAIL

    logging.getLogger("sanyi").error("unhandled error", exc_info=raised.value)

    written = captured_log.getvalue()
    assert "duplicate key value violates unique constraint" in written
    assert NAME not in written and certno not in written
    assert "hide_parameters=True" in written  # the engine never rendered the parameters


# --- requests ----------------------------------------------------------------------------------


async def test_settle_refusals_and_dispense_log_no_personal_data(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    captured_log: io.StringIO,
) -> None:
    world = await build_rx_world(app, client, session)
    claims = world.claims
    patient = await world.patient(psn_name=NAME)
    code, headers = claims.hospital(0)

    # A settle, with the caller's request id.
    visit = await claims.visit(patient.psn_no, patient.certno)
    await claims.example_a_lines(visit["mdtrt_id"])
    settled = await client.post(
        f"/v1/visits/{visit['mdtrt_id']}/settlement",
        json={"acct_used_flag": True},
        headers=headers | {HEADER: "demo-settle-1", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert settled.status_code == 201, settled.text
    assert settled.headers[HEADER] == "demo-settle-1"

    # Refusals carrying the name and resident ID: another person's certificate, a bad body.
    stranger = make_certno()
    refused = await client.post(
        "/v1/visits",
        json={
            "psn_no": patient.psn_no,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": stranger,
            "fixmedins_code": code,
            "med_type": "11",
            "biz_type_code": "01",
            "begntime": "2026-03-02T09:30:00+08:00",
            "dr_code": claims.doctors["chief"],
            "diseinfo": [{"diag_code": "I10.x00", "diag_name": NAME, "maindiag_flag": "1"}],
        },
        headers=headers | {HEADER: "demo-refused-1"},
    )
    assert refused.json()["code"] == "unknown_person", refused.text
    malformed = await client.post(
        "/v1/persons",
        content=f'{{"psn_name": "{NAME}", "certno": "{stranger}"'.encode(),
        headers=claims.insurer | {"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422

    # A dispense, after the patient presents the resident ID at the pharmacy.
    mdtrt_id = await world.visit(patient)
    uploaded = await world.upload(world.document(mdtrt_id, patient))
    await world.review(uploaded["hi_rxno"])
    presented = await world.present(0, uploaded["rx_trace_code"], patient.certno)
    assert presented.status_code == 200, presented.text
    assert (await world.lock(0, uploaded["hi_rxno"])).status_code == 200
    dispensed = await world.dispense(0, uploaded["hi_rxno"])
    assert dispensed.status_code == 201, dispensed.text

    written = captured_log.getvalue()
    for secret in (NAME, patient.certno, stranger, headers["Authorization"].split()[1]):
        assert secret not in written
    access = access_lines(captured_log)
    by_id = {line["request_id"]: line for line in access}
    assert by_id["demo-settle-1"] | {"latency_ms": 0} == {
        "event": "request",
        "logger": "sanyi.access",
        "level": "info",
        "timestamp": by_id["demo-settle-1"]["timestamp"],
        "request_id": "demo-settle-1",
        "method": "POST",
        "route": "/v1/visits/{mdtrt_id}/settlement",
        "status": 201,
        "code": None,
        "org": by_id["demo-settle-1"]["org"],
        "role": "hospital",
        "latency_ms": 0,
    }
    assert by_id["demo-settle-1"]["org"]
    assert (by_id["demo-refused-1"]["status"], by_id["demo-refused-1"]["code"]) == (
        404,
        "unknown_person",
    )
    assert any(line["route"] == "/v1/prescriptions/{hi_rxno}/dispensations" for line in access)
    # Requests without an id get one of their own, also returned to the caller.
    assert re.fullmatch(r"[0-9a-f]{32}", dispensed.headers[HEADER])
    assert dispensed.headers[HEADER] in by_id


async def test_a_request_id_that_could_forge_log_content_is_replaced(
    client: httpx.AsyncClient, captured_log: io.StringIO
) -> None:
    response = await client.get("/v1/settlements", headers={HEADER: 'x" , "role": "admin'})
    assert response.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[HEADER])
    (line,) = access_lines(captured_log)
    assert (line["request_id"], line["status"], line["code"], line["role"]) == (
        response.headers[HEADER],
        401,
        "unauthenticated",
        None,
    )


async def test_an_unhandled_error_is_logged_with_its_request_id_and_counted(
    app: FastAPI, client: httpx.AsyncClient, captured_log: io.StringIO
) -> None:
    async def boom() -> None:
        raise RuntimeError(f"lost {NAME}'s claim")

    app.add_api_route("/boom", boom)
    errors = sample("sanyi_refusals_total", code="internal_error")

    response = await client.get("/boom", headers={HEADER: "demo-fault-1"})

    assert (response.status_code, response.json()["code"]) == (500, "internal_error")
    assert sample("sanyi_refusals_total", code="internal_error") == errors + 1
    mine = [line for line in lines(captured_log) if line.get("request_id") == "demo-fault-1"]
    access = [line for line in mine if line["logger"] == "sanyi.access"]
    assert [(line["route"], line["status"], line["code"]) for line in access] == [
        ("/boom", 500, "internal_error")
    ]
    assert any("RuntimeError" in line.get("exception", "") for line in mine)


async def test_probes_and_scrapes_are_logged_only_when_they_fail(
    client: httpx.AsyncClient, captured_log: io.StringIO
) -> None:
    for path in ("/livez", "/readyz", "/health", "/metrics"):
        assert (await client.get(path)).status_code == 200
    assert (await client.get("/no-such-path")).status_code == 404
    assert [(line["route"], line["code"]) for line in access_lines(captured_log)] == [
        ("unmatched", "not_found")
    ]


def test_a_worker_process_logs_through_the_redacting_handler() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        WorkerLogs().after_process_boot(workers.broker)
        (only,) = root.handlers
        assert isinstance(only.formatter, logs.JsonFormatter)
        assert logging.getLogger("pika").level == logging.CRITICAL
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# --- metrics ------------------------------------------------------------------------------------


def scrape_values(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


async def test_metrics_count_settlements_refusals_and_the_outbox_backlog(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world: World = await build_world(client, session)
    psn_no, certno = await world.enrol(acct_balc="100.00")
    visit = await world.visit(psn_no, certno)
    await world.example_a_lines(visit["mdtrt_id"])

    before = await client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    settled = await world.settle(visit["mdtrt_id"])
    assert settled.status_code == 201, settled.text
    again = await world.settle(visit["mdtrt_id"])
    assert again.json()["code"] == "already_settled"
    after = await client.get("/metrics")

    old, new = scrape_values(before.text), scrape_values(after.text)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return new.get(key, 0.0) - old.get(key, 0.0)

    assert delta("sanyi_settlements_total", result="ok") == 1
    assert delta("sanyi_settlements_total", result="refused") == 1
    assert delta("sanyi_settle_seconds_count") == 2
    assert delta("sanyi_refusals_total", code="already_settled") == 1
    settle_route = {"handler": "/v1/visits/{mdtrt_id}/settlement", "method": "POST"}
    assert delta("http_requests_total", **settle_route, status="201") == 1
    assert delta("http_requests_total", **settle_route, status="409") == 1
    # The settlement's event waits in the outbox (this test's transaction is never committed).
    assert new[("sanyi_outbox_pending_events", frozenset())] >= 1
    assert new[("sanyi_outbox_oldest_pending_age_seconds", frozenset())] >= 0
    assert not any(name.startswith("http_") and "/metrics" in str(labels) for name, labels in new)


async def test_metrics_are_scraped_while_the_database_is_down() -> None:
    database = Database.connect("postgresql+psycopg://postgres@127.0.0.1:9/sanyi", null_pool=True)
    app = create_app(Settings(database_url="x"), db=database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
            response = await client.get("/metrics")
    finally:
        await database.dispose()
    assert response.status_code == 200
    assert "sanyi_outbox_pending_events" in response.text


async def test_prescription_transitions_are_counted(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await build_rx_world(app, client, session)
    transitions = ("uploaded", "approved", "routed", "locked", "dispensed")
    before = {t: sample("sanyi_prescription_transitions_total", transition=t) for t in transitions}
    _, hi_rxno, _ = await world.issue(nominate=world.pharmacy(0)[0])
    assert (await world.lock(0, hi_rxno)).status_code == 200
    assert (await world.dispense(0, hi_rxno)).status_code == 201
    after = {t: sample("sanyi_prescription_transitions_total", transition=t) for t in transitions}
    assert {t: after[t] - before[t] for t in transitions} == dict.fromkeys(transitions, 1)


async def test_reconciled_rows_are_counted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(client, session)
    rows = [file_row(await settled(world)), file_row(await settled(world, price="55.55"))]
    counted = sample("sanyi_reconciliation_rows_total")
    response = await client.post(
        "/v1/reconciliation/details",
        params={
            "stmt_begndate": (today() - timedelta(days=1)).isoformat(),
            "stmt_enddate": (today() + timedelta(days=1)).isoformat(),
        },
        content=detail_file(rows),
        headers=world.hospital(0)[1] | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    assert sample("sanyi_reconciliation_rows_total") == counted + 2
    assert sample("sanyi_reconciliation_rows_per_second") > 0


# --- jobs ---------------------------------------------------------------------------------------


@dramatiq.actor(broker=workers.broker, queue_name=JOB_QUEUE, max_retries=0, throws=(ValueError,))
def observed_job(fail: bool) -> None:
    if fail:
        raise ValueError(f"bad row for {NAME}")


@dramatiq.actor(broker=workers.broker, queue_name=JOB_QUEUE, max_retries=0, log_ok_runs=False)
def quiet_job() -> None:
    """A tick-like actor: measured, but logged only when it fails."""


async def test_each_job_run_is_logged_and_measured(
    stub_broker: StubBroker, captured_log: io.StringIO
) -> None:
    name = observed_job.actor_name
    runs, failures = (
        sample("sanyi_job_seconds_count", job=name),
        sample("sanyi_job_failures_total", job=name),
    )
    quiet_runs = sample("sanyi_job_seconds_count", job=quiet_job.actor_name)
    ok = observed_job.send(False)
    failed = observed_job.send(True)
    quiet = quiet_job.send()
    await asyncio.to_thread(stub_broker.join, JOB_QUEUE, fail_fast=False)

    assert sample("sanyi_job_seconds_count", job=name) == runs + 2
    assert sample("sanyi_job_seconds_count", job=quiet_job.actor_name) == quiet_runs + 1
    assert sample("sanyi_job_failures_total", job=name) == failures + 1
    jobs = {line["message_id"]: line for line in lines(captured_log) if line["event"] == "job"}
    assert (jobs[ok.message_id]["outcome"], jobs[ok.message_id]["error"]) == ("ok", None)
    assert (jobs[failed.message_id]["outcome"], jobs[failed.message_id]["error"]) == (
        "failed",
        "ValueError",
    )
    assert quiet.message_id not in jobs
    assert NAME not in captured_log.getvalue()


# --- the relay ----------------------------------------------------------------------------------


async def test_relay_publish_failures_are_counted(tx_database: Database) -> None:
    ids = await emit_committed(tx_database, unique_code("P"), 2)
    failures = sample("sanyi_relay_publish_failures_total")
    published = sample("sanyi_relay_published_events_total")
    await relay_pending(tx_database.sessionmaker, FakePublisher(refuse={ids[0]: "nacked"}))
    assert sample("sanyi_relay_publish_failures_total") == failures + 1
    assert sample("sanyi_relay_published_events_total") >= published + 1


def test_processes_sharing_a_multiprocess_dir_are_scraped_as_one(tmp_path: Path) -> None:
    """What ``sanyi serve --workers 2`` does with ``PROMETHEUS_MULTIPROC_DIR`` set: each process
    writes its own values and a scrape in any of them sums them."""
    environment = os.environ | {metrics.MULTIPROC_ENV: str(tmp_path)}

    def run(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", f"from engine import metrics\n{code}"],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    for _ in range(2):
        run('metrics.SETTLEMENTS.labels(result="ok").inc()')
    scraped = scrape_values(run("print(metrics.exposition().decode())"))
    assert scraped[("sanyi_settlements_total", frozenset({("result", "ok")}))] == 2
