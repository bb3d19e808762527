"""Fixtures shared by the claims race tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from engine.app import create_app
from engine.db import Database
from engine.settings import Settings
from tests.claims.world import World, build_world


@pytest.fixture
async def committed_world(database: Database) -> AsyncIterator[World]:
    """A world committed for real (through the API on the real engine) in a region of its own,
    so concurrent requests on separate connections see it, and race tests see each other's data
    as little as production tenants do."""
    app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sanyi.test", timeout=60) as client,
        database.sessionmaker() as session,
    ):
        admdvs = f"9{secrets.randbelow(10**5):05d}"
        world = await build_world(client, session, admdvs=admdvs, hospital_levels=(3, 3))
        await session.commit()
        yield world
