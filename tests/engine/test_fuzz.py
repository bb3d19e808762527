"""Schemathesis against the app's own OpenAPI document, as every role: no 5xx, ever, and no
answer the document does not describe.

A real server (uvicorn on loopback) runs on a committed database holding a small demo region
built through the API by the demo's own steps, so path parameters can name real objects as well
as random ones. Each operation is called with generated requests (valid by the contract, then
invalid) under the key of every role, and the responses are checked by schemathesis:

- ``not_a_server_error``: no 5xx for anything a client can send;
- ``status_code_conformance``: every status an operation answers is one its documentation lists
  (for every role: the contract holds for each caller, not only the one it was written for);
- ``content_type_conformance`` and ``response_schema_conformance``: a response with a documented
  status carries the documented media type and shape (a refusal: the problem body).

The budget is small so ``make test`` stays fast; ``make fuzz`` raises it (``SANYI_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from demo.claims import enrol_population, load_policy, run_claims
from demo.client import Client
from demo.reference import load_reference_data
from demo.run import REGION, bootstrap_admin, setup_region
from demo.server import running_server
from engine import migrate
from engine.app import create_app
from engine.settings import Settings, get_settings
from tests.scratch import scratch_database_url

EXAMPLES = int(os.environ.get("SANYI_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: Path parameters a generated request may take from the seeded world, by name; the query that
#: finds one (the first row is enough: the point is to reach real objects, not all of them).
_REAL_IDS = {
    "admdvs": f"SELECT '{REGION}'",
    "fixmedins_code": "SELECT fixmedins_code FROM visit ORDER BY begntime LIMIT 1",
    "psn_no": "SELECT psn_no FROM visit ORDER BY begntime LIMIT 1",
    "mdtrt_id": "SELECT mdtrt_id FROM visit ORDER BY begntime LIMIT 1",
    "setl_id": "SELECT setl_id FROM settlement ORDER BY setl_time LIMIT 1",
    "dr_code": "SELECT dr_code FROM visit WHERE dr_code IS NOT NULL LIMIT 1",
    "med_list_codg": "SELECT med_list_codg FROM fee_line LIMIT 1",
    "year": "SELECT CAST(2026 AS INTEGER)",
    "month": "SELECT CAST(6 AS INTEGER)",
}


@dataclass(frozen=True)
class FuzzWorld:
    base_url: str
    keys: dict[str, str | None]
    real_ids: dict[str, Any]


def _schema() -> Any:
    app = create_app(Settings(database_url="postgresql+psycopg://unused", broker_url=None))
    return schemathesis.openapi.from_dict(app.openapi())


OPERATIONS = [result.ok() for result in _schema().get_all_operations()]


@pytest.fixture(scope="module")
def fuzz_world() -> Iterator[FuzzWorld]:
    """A committed demo region behind a real server, and a key of every role. The server checks
    keys with the process settings' secret, so one is pinned for the module."""
    with pytest.MonkeyPatch.context() as patch, scratch_database_url() as url:
        patch.setenv("SANYI_SECRET_KEY", secrets.token_hex(32))
        get_settings.cache_clear()
        migrate.upgrade(url)
        app_settings = Settings(database_url=url, broker_url=None)
        admin_token = bootstrap_admin(app_settings)
        with (
            running_server(app_settings) as base_url,
            httpx.Client(base_url=base_url, timeout=60) as http,
        ):
            region = setup_region(http, admin_token)
            reference = load_reference_data(region.insurer, region.hospitals, region.pharmacies)
            load_policy(region.insurer, REGION)
            rng = random.Random(14)
            population = enrol_population(region.insurer, REGION, rng, 6, enrolled=_quiet)
            start = datetime.now(UTC).date() - timedelta(days=3)
            run_claims(
                region.insurer,
                region.hospitals,
                reference,
                population,
                start=start,
                days=2,
                rng=rng,
                day_done=_quiet,
            )
            keys = {
                "anonymous": None,
                "admin": admin_token,
                "insurer": _token(region.insurer),
                "hospital": _token(next(iter(region.hospitals.values()))),
                "pharmacy": _token(next(iter(region.pharmacies.values()))),
            }
            yield FuzzWorld(base_url, keys, _real_ids(url))
    get_settings.cache_clear()


def _quiet() -> None:
    """The demo steps report progress; the fuzz world needs none."""


def _token(client: Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def _real_ids(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = {name: conn.scalar(sa.text(sql)) for name, sql in _REAL_IDS.items()}
    finally:
        engine.dispose()
    return {name: value for name, value in found.items() if value is not None}


pytestmark = pytest.mark.postgres_only


@pytest.mark.parametrize("role", ["anonymous", "admin", "insurer", "hospital", "pharmacy"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_request_gets_a_server_error(fuzz_world: FuzzWorld, operation: Any, role: str) -> None:
    token = fuzz_world.keys[role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    real = {
        name: value
        for name, value in fuzz_world.real_ids.items()
        if any(p.name == name for p in operation.path_parameters)
    }
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if real:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real))
    for strategy in strategies:
        _run(strategy, fuzz_world.base_url, headers)
    try:
        _run(operation.as_strategy(GenerationMode.NEGATIVE), fuzz_world.base_url, headers)
    except Unsatisfiable:
        pass  # nothing in the operation can be made invalid (no parameters, no body)


def _run(strategy: Any, base_url: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    call()
