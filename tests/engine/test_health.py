import httpx
import pytest

from engine.app import create_app
from engine.db import Database
from engine.settings import Settings
from tests.conftest import BROKER_URL


async def _health(app_settings: Settings, db: Database) -> httpx.Response:
    app = create_app(app_settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client:
        return await client.get("/health")


async def test_health_embedded_broker(tx_database: Database) -> None:
    response = await _health(Settings(database_url="x", broker_url=None), tx_database)
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == {"ok": True, "kind": tx_database.dialect}
    assert body["broker"] == {"ok": True, "kind": "in-process"}


@pytest.mark.rabbitmq
async def test_health_with_real_rabbitmq(tx_database: Database) -> None:
    response = await _health(Settings(database_url="x", broker_url=BROKER_URL), tx_database)
    assert response.status_code == 200, response.text
    assert response.json()["broker"] == {"ok": True, "kind": "rabbitmq"}


async def test_health_reports_an_unreachable_broker_without_hanging(
    tx_database: Database,
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    settings = Settings(
        database_url="x", broker_url="amqp://guest:guest@127.0.0.1:9/%2F", SANYI_BROKER_TIMEOUT=1
    )
    response = await _health(settings, tx_database)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == {"ok": False, "kind": "rabbitmq"}
