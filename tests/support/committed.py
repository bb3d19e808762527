"""Worlds committed for real, for race tests: concurrent requests on separate connections must
see what was set up, so it cannot live in the rolled-back outer transaction of other tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from engine.app import create_app
from engine.db import Database
from engine.settings import Settings

W = TypeVar("W")

#: Builds a world through the API (and the session, for what only the database holds) in the
#: pooling region it is given.
Builder = Callable[[FastAPI, httpx.AsyncClient, AsyncSession, str], Awaitable[W]]


@asynccontextmanager
async def committed(
    database: Database, build: Builder[W], *, region_prefix: str = "9", timeout: float = 60
) -> AsyncIterator[W]:
    """The world ``build`` makes, committed, on the real engine and in a region of its own, so
    race tests see each other's data as little as production tenants do."""
    app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://sanyi.test", timeout=timeout
        ) as client,
        database.sessionmaker() as session,
    ):
        admdvs = f"{region_prefix}{secrets.randbelow(10**5):05d}"
        world = await build(app, client, session, admdvs)
        await session.commit()
        yield world
