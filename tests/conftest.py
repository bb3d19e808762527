"""Test fixtures (after polar's ``tests/fixtures/database.py``).

The backend is chosen by ``SANYI_TEST_BACKEND`` (``postgresql``, the default, or ``sqlite``):
``make test`` runs the suite once per backend. The database is built by ``alembic upgrade head``,
never ``create_all``; each test runs inside an outer transaction that is rolled back, and the
code under test commits only to a savepoint (``join_transaction_mode="create_savepoint"``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import dramatiq
import httpx
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import workers
from engine import migrate
from engine.app import create_app
from engine.db import Database
from engine.settings import Settings, get_settings, to_async_url
from tests.support.committed import committed
from tests.support.contract import Recorder
from tests.support.factories.world import World, build_world

BACKEND = os.environ.get("SANYI_TEST_BACKEND", "postgresql")
PG_SERVER = os.environ.get("SANYI_TEST_PG_SERVER", "postgres@127.0.0.1:5432")
BROKER_URL = os.environ.get("SANYI_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
# Outside the embedded default the engine refuses the demo secret key: the apps the tests build on
# PostgreSQL settings, and the CLI processes they start, use this one.
os.environ.setdefault("SANYI_SECRET_KEY", "sanyi-tests-only-secret-key-0123456789")
# Importing the workers above already read (and cached) the settings, before this secret was
# set: without this, keys made before the first test that clears the cache would hash with the
# demo secret, and a test run alone would find its own keys unknown.
get_settings.cache_clear()


def pytest_report_header() -> str:
    return f"sanyi backend: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def _admin_conninfo() -> str:
    return f"postgresql://{PG_SERVER}/postgres"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this run, built by the migrations."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sanyi_test.db'}"
        migrate.upgrade(url)
        yield url
        return
    name = f"sanyi_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://{PG_SERVER}/{name}"
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    """The real engine; committed work through it is visible to every connection."""
    db = Database.connect(to_async_url(database_url), pool_size=40)
    yield db
    await db.dispose()


@pytest.fixture
async def tx_database(database: Database) -> AsyncIterator[Database]:
    """A Database whose sessions all live in one outer transaction, rolled back after the test."""
    async with database.engine.connect() as conn:
        outer = await conn.begin()
        sessionmaker = async_sessionmaker(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        yield Database(database.engine, sessionmaker)
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
async def session(tx_database: Database) -> AsyncIterator[AsyncSession]:
    async with tx_database.sessionmaker() as s:
        yield s


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    """Settings read from the environment (by the CLI in process, by the actors) point at the
    test database, with no broker."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("BROKER_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def stub_broker(configured: None) -> Iterator[StubBroker]:
    """The in-process broker the actors are bound to (tests run without ``BROKER_URL``), with a
    worker consuming it and the actors pointed at the test database."""
    broker = workers.broker
    assert isinstance(broker, StubBroker), "tests run without BROKER_URL"
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    yield broker
    worker.stop()
    broker.flush_all()


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="postgresql+psycopg://unused", broker_url=None)


@pytest.fixture
def app(tx_database: Database, settings: Settings) -> FastAPI:
    return create_app(settings, db=tx_database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as c:
        yield c


@pytest.fixture
async def committed_world(database: Database) -> AsyncIterator[World]:
    """The claims world (tests/support/factories/world.py), committed for real."""

    async def build(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, admdvs: str
    ) -> World:
        return await build_world(client, session, admdvs=admdvs, hospital_levels=(3, 3))

    async with committed(database, build) as world:
        yield world


_recorder = Recorder()
_restore_app_call = pytest.StashKey[Callable[[], None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Record every refusal of the run (``tests/support/contract.py``)."""
    config.stash[_restore_app_call] = _recorder.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the app answered a refusal its OpenAPI does not document."""
    session.config.stash[_restore_app_call]()
    published = create_app(Settings(database_url="postgresql+psycopg://unused", broker_url=None))
    missing = _recorder.undocumented(published.openapi())
    if not missing:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(missing)} refusal(s) answered but not in the OpenAPI:"]
    lines += [f"  {answer}" for answer in missing]
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
