"""The presentation guard through the HTTP API: presentations throttled per pharmacy and per trace
code (429 ``too_many_attempts`` with ``Retry-After``), a trace code locked by wrong certificates
until the hospital reissues it, every step audited, and no answer that tells an unknown trace
code from a wrong certificate, a locked code or a prescription of another region."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import AuditEntry
from engine.auth import Role
from engine.db import Database
from engine.settings import Settings
from prescriptions import tasks
from prescriptions.models import Prescription, PresentationThrottle
from prescriptions.upload import trace_code_hash
from tests.prescriptions.world import DAY0, RxWorld, build_rx_world
from tests.support.factories.orgs import make_key, make_org, unique_code

MAX_FAILURES = 3
PER_TRACE_CODE = 8
PER_PHARMACY = 10
WINDOW = 60

UNKNOWN = (
    b'{"type":"urn:sanyi:problem:unknown_prescription","title":"Not Found","status":404,'
    b'"detail":"no such prescription","code":"unknown_prescription",'
    b'"message":"no such prescription","field":"rx_trace_code"}'
)


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="postgresql+psycopg://unused", broker_url=None).model_copy(
        update={
            "rx_present_window_seconds": WINDOW,
            "rx_present_per_pharmacy": PER_PHARMACY,
            "rx_present_per_trace_code": PER_TRACE_CODE,
            "rx_trace_code_max_failures": MAX_FAILURES,
        }
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session, pharmacies=3)


async def actions(session: AsyncSession, stream: str) -> list[tuple[str, dict[str, object]]]:
    entries = await session.scalars(
        select(AuditEntry).where(AuditEntry.stream == stream).order_by(AuditEntry.seq)
    )
    return [(e.action, e.payload) for e in entries]


async def guard_state(session: AsyncSession, hi_rxno: str) -> tuple[int, bool]:
    row = await session.scalar(
        select(Prescription)
        .where(Prescription.hi_rxno == hi_rxno)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row.trace_code_failures, row.trace_code_locked_at is not None


def refused(response: httpx.Response) -> bytes:
    """The body of the one answer to a presentation that opens nothing."""
    assert response.status_code == 404, response.text
    assert response.content == UNKNOWN
    return response.content


async def test_wrong_certificates_lock_the_trace_code_until_the_hospital_reissues_it(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, hi_rxno, trace = await world.issue()
    stranger = await world.patient()
    hospital = world.hospital[1]
    # Pharmacy 1 was presented the prescription before anyone tried a wrong ID.
    assert (await world.present(1, trace, patient.certno)).status_code == 200

    for attempt in range(1, MAX_FAILURES + 1):
        refused(await world.present(0, trace, stranger.certno))
        assert await guard_state(session, hi_rxno) == (attempt, attempt == MAX_FAILURES)
    # Locked: the right certificate opens nothing either, and nothing more is counted.
    refused(await world.present(0, trace, patient.certno))
    refused(await world.present(2, trace, stranger.certno))
    assert await guard_state(session, hi_rxno) == (MAX_FAILURES, True)

    # The hospital sees the lock on its own read; pharmacies never see the trace code's state.
    assert (await world.get(hi_rxno, hospital)).json()["rx_trace_code_locked"] is True
    seen_by_pharmacy = (await world.get(hi_rxno, world.pharmacy(1)[1])).json()
    assert seen_by_pharmacy["rx_trace_code_locked"] is None

    reissued = await world.client.post(f"/v1/prescriptions/{hi_rxno}/trace-code", headers=hospital)
    assert reissued.status_code == 200, reissued.text
    fresh = reissued.json()["rx_trace_code"]
    assert reissued.json()["hi_rxno"] == hi_rxno and fresh != trace
    assert await guard_state(session, hi_rxno) == (0, False)
    refused(await world.present(0, trace, patient.certno))  # the old code is dead
    opened = await world.present(0, fresh, patient.certno)
    assert opened.status_code == 200, opened.text
    assert opened.json()["hi_rxno"] == hi_rxno
    assert (await world.get(hi_rxno, hospital)).json()["rx_trace_code_locked"] is False

    audited = await actions(session, f"prescription:{hi_rxno}")
    guard = [(a, p) for a, p in audited if "trace_code" in a]
    code = world.pharmacy(0)[0]
    assert guard == [
        *(
            (
                "prescription.trace_code_rejected",
                {
                    "status": "circulating",
                    "rx_stas_codg": "1",
                    "dspe_cnt": 0,
                    "by": code,
                    "trace_code_failures": n,
                },
            )
            for n in range(1, MAX_FAILURES + 1)
        ),
        (
            "prescription.trace_code_locked",
            {
                "status": "circulating",
                "rx_stas_codg": "1",
                "dspe_cnt": 0,
                "by": code,
                "trace_code_failures": MAX_FAILURES,
            },
        ),
        (
            "prescription.trace_code_reissued",
            {
                "status": "circulating",
                "rx_stas_codg": "1",
                "dspe_cnt": 0,
                "trace_code_failures": MAX_FAILURES,
                "was_locked": True,
            },
        ),
    ]
    assert audited[-1][0] == "prescription.presented"


async def test_only_the_issuing_hospital_reissues_a_live_prescriptions_trace_code(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, hi_rxno, trace = await world.issue()
    missing = "R" + "0" * 20
    other_hospital = await make_org(session, role=Role.hospital, admdvs=world.claims.admdvs)
    other_region = await make_org(session, role=Role.hospital, admdvs="110100")
    for org in (other_hospital, other_region):
        headers = await make_key(session, org)
        for number in (hi_rxno, missing):
            answer = await world.client.post(
                f"/v1/prescriptions/{number}/trace-code", headers=headers
            )
            assert answer.status_code == 404
            assert answer.json() == {
                "type": "urn:sanyi:problem:unknown_prescription",
                "title": "Not Found",
                "status": 404,
                "detail": "no such prescription",
                "code": "unknown_prescription",
                "message": "no such prescription",
                "field": "hi_rxno",
            }
    by_pharmacy = await world.client.post(
        f"/v1/prescriptions/{hi_rxno}/trace-code", headers=world.pharmacy(0)[1]
    )
    assert by_pharmacy.status_code == 403
    # Nothing changed: the code still opens the prescription.
    assert (await world.present(0, trace, patient.certno)).status_code == 200

    world.at(DAY0 + timedelta(days=1))  # past its validity, undispensed: expired
    late = await world.client.post(
        f"/v1/prescriptions/{hi_rxno}/trace-code", headers=world.hospital[1]
    )
    assert (late.status_code, late.json()["code"]) == (409, "prescription_expired")


async def test_unknown_wrong_locked_and_foreign_presentations_answer_alike(
    world: RxWorld, session: AsyncSession
) -> None:
    """Byte for byte the same 404: an unknown code, a real code with a wrong certificate, a
    locked code with the right one, a code nominated to another pharmacy, and a right code and
    certificate presented in another region."""
    patient, _, trace = await world.issue()
    stranger = await world.patient()
    locked_patient, _, locked_trace = await world.issue()
    for _ in range(MAX_FAILURES):
        await world.present(1, locked_trace, stranger.certno)
    nominated_patient, _, nominated_trace = await world.issue(nominate=world.pharmacy(2)[0])

    insurer = await make_org(session, role=Role.insurer, admdvs="110100")
    pharmacy = await make_org(session, role=Role.pharmacy, admdvs="110100")
    insurer_key, pharmacy_key = await make_key(session, insurer), await make_key(session, pharmacy)
    await session.commit()
    created = await world.client.post(
        "/v1/registry/regions", headers=insurer_key, json={"admdvs": "110100", "name": "other"}
    )
    assert created.status_code in (201, 409), created.text
    registered = await world.client.post(
        "/v1/registry/institutions",
        headers=insurer_key,
        json={
            "fixmedins_code": pharmacy.institution_code,
            "fixmedins_name": "Elsewhere pharmacy",
            "admdvs": "110100",
            "kind": "pharmacy",
        },
    )
    assert registered.status_code == 201, registered.text

    async def foreign(code: str, certno: str) -> httpx.Response:
        return await world.client.post(
            "/v1/prescriptions/presentations",
            json={"rx_trace_code": code, "mdtrt_cert_type": "02", "mdtrt_cert_no": certno},
            headers=pharmacy_key,
        )

    answers = [
        await world.present(0, unique_code("F") + "0" * 14, patient.certno),
        await world.present(0, trace, stranger.certno),
        await world.present(0, locked_trace, locked_patient.certno),
        await world.present(0, nominated_trace, nominated_patient.certno),
        await foreign(trace, patient.certno),
    ]
    assert {refused(answer) for answer in answers} == {UNKNOWN}
    # Every header alike but the request's own id (each request gets one, engine/access.py).
    headers = {tuple(sorted(a.headers.items())) for a in answers}
    assert len({tuple(h for h in hs if h[0] != "x-request-id") for hs in headers}) == 1


async def test_presentations_of_one_trace_code_are_throttled_whether_or_not_it_exists(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, hi_rxno, trace = await world.issue()
    unknown_code = "E" * 24
    # Spread over the pharmacies, so only the per-trace-code count runs out.
    for attempt in range(PER_TRACE_CODE):
        refused(await world.present(attempt % 3, unknown_code, patient.certno))
        opened = await world.present(attempt % 3, trace, patient.certno)
        assert opened.status_code == 200, opened.text

    world.at(DAY0 + timedelta(seconds=20))
    answers = [
        await world.present(0, unknown_code, patient.certno),
        await world.present(1, trace, patient.certno),
        await world.present(2, trace, patient.certno),
    ]
    for answer in answers:
        assert answer.status_code == 429, answer.text
        assert answer.headers["Retry-After"] == str(WINDOW - 20)
    assert {a.content for a in answers} == {
        b'{"type":"urn:sanyi:problem:too_many_attempts","title":"Too Many Requests","status":429,'
        b'"detail":"too many presentations; try again later","code":"too_many_attempts",'
        b'"message":"too many presentations; try again later","field":"rx_trace_code"}'
    }
    # A throttled presentation is not a wrong certificate: nothing is counted on the prescription.
    assert await guard_state(session, hi_rxno) == (0, False)

    world.at(DAY0 + timedelta(seconds=WINDOW))  # a new window
    assert (await world.present(0, trace, patient.certno)).status_code == 200
    refused(await world.present(0, unknown_code, patient.certno))

    # The first refusal of a window is audited, once per key, naming no trace code.
    for code in (unknown_code, trace):
        stream = f"presentation_throttle:trace:{trace_code_hash(code)}"
        assert await actions(session, stream) == [
            (
                "presentation.throttled",
                {
                    "window_start": DAY0.astimezone(UTC).isoformat(),
                    "window_seconds": WINDOW,
                    "attempts_allowed": PER_TRACE_CODE,
                },
            )
        ]


async def test_presentations_by_one_pharmacy_are_throttled(
    world: RxWorld, session: AsyncSession
) -> None:
    patient, _, trace = await world.issue()
    code, _ = world.pharmacy(0)
    for _ in range(PER_PHARMACY):
        refused(await world.present(0, unique_code("F") + "0" * 14, patient.certno))
    throttled = await world.present(0, trace, patient.certno)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == str(WINDOW)
    assert (throttled.json()["code"], throttled.json()["field"]) == ("too_many_attempts", None)
    # Another pharmacy is not held back by this one's count.
    assert (await world.present(1, trace, patient.certno)).status_code == 200
    audited = await actions(session, f"presentation_throttle:pharmacy:{code}")
    assert [a for a, _ in audited] == ["presentation.throttled"]


async def test_the_periodic_job_forgets_counts_of_ended_windows(
    world: RxWorld, session: AsyncSession, tx_database: Database
) -> None:
    patient, _, trace = await world.issue()
    assert (await world.present(0, trace, patient.certno)).status_code == 200
    keys = [f"pharmacy:{world.pharmacy(0)[0]}", f"trace:{trace_code_hash(trace)}"]

    async def counted() -> list[str]:
        found = await session.scalars(
            select(PresentationThrottle.throttle_key).where(
                PresentationThrottle.throttle_key.in_(keys)
            )
        )
        return sorted(found)

    window = timedelta(seconds=WINDOW)
    await tasks.forget_ended_windows(tx_database, DAY0 + window, window)  # not ended yet
    assert await counted() == sorted(keys)
    assert await tasks.forget_ended_windows(tx_database, DAY0 + 2 * window, window) >= 2
    assert await counted() == []


def test_the_openapi_documents_the_throttle_and_the_reissue(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    present = paths["/v1/prescriptions/presentations"]["post"]["responses"]
    assert {"200", "403", "404", "429"} <= set(present)
    assert "too_many_attempts" in present["429"]["description"]
    assert "Retry-After" in present["429"]["headers"]
    reissue = paths["/v1/prescriptions/{hi_rxno}/trace-code"]["post"]["responses"]
    assert {"200", "404", "409"} <= set(reissue)
