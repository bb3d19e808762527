"""The probes: /livez without I/O, /readyz and /health on the database alone, within a bound,
with the broker reported but never deciding."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from engine.app import create_app
from engine.db import Database
from engine.settings import Settings
from tests.conftest import BROKER_URL

# Port 9 (discard) on loopback: nothing listens, a connection is refused at once.
UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:9/%2F"
UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/sanyi"


async def _get(app_settings: Settings, db: Database, path: str) -> httpx.Response:
    app = create_app(app_settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
        return await client.get(path)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a database that hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize("path", ["/readyz", "/health"])
async def test_ready_embedded_broker(tx_database: Database, path: str) -> None:
    response = await _get(Settings(database_url="x", broker_url=None), tx_database, path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": {"ok": True, "kind": tx_database.dialect},
        "broker": {"ok": True, "kind": "in-process"},
    }


@pytest.mark.rabbitmq
async def test_ready_with_real_rabbitmq(tx_database: Database) -> None:
    response = await _get(Settings(database_url="x", broker_url=BROKER_URL), tx_database, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["broker"] == {"ok": True, "kind": "rabbitmq"}


@pytest.mark.parametrize("path", ["/readyz", "/health"])
async def test_an_unreachable_broker_is_reported_and_the_api_stays_ready(
    tx_database: Database, path: str
) -> None:
    settings = Settings(database_url="x", broker_url=UNREACHABLE_BROKER, SANYI_BROKER_TIMEOUT=1)
    response = await _get(settings, tx_database, path)
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == {"ok": False, "kind": "rabbitmq"}


async def test_an_unreachable_database_makes_the_api_unready() -> None:
    database = Database.connect(UNREACHABLE_DATABASE, null_pool=True)
    try:
        response = await _get(Settings(database_url="x"), database, "/readyz")
    finally:
        await database.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == {"ok": False, "kind": "postgresql"}


async def test_a_hanging_database_is_unready_within_the_probe_timeout(silent_server: int) -> None:
    database = Database.connect(
        f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/sanyi", null_pool=True
    )
    settings = Settings(database_url="x", SANYI_PROBE_TIMEOUT=0.3)
    started = time.monotonic()
    try:
        response = await _get(settings, database, "/readyz")
    finally:
        await database.dispose()
    assert response.status_code == 503
    assert time.monotonic() - started < 2.0  # the bound is the feature


async def test_livez_answers_without_touching_the_database() -> None:
    database = Database.connect(UNREACHABLE_DATABASE, null_pool=True)
    try:
        response = await _get(Settings(database_url="x"), database, "/livez")
    finally:
        await database.dispose()
    assert (response.status_code, response.json()) == (200, {"status": "live"})
