"""Concurrent imports of one region on real connections: they run one at a time, so two files
that overlap each other cannot both be accepted, whichever commits first."""

from __future__ import annotations

import asyncio

import pytest

from engine.db import Database, unit_of_work
from tariffs import catalogue, registry
from tariffs.catalogue import OverlappingVersions
from tests.tariffs.factories import catalogue_csv, service_row, unique_region


@pytest.mark.postgres_only
async def test_two_overlapping_imports_racing_one_wins(database: Database) -> None:
    admdvs = unique_region()
    async with unit_of_work(database.sessionmaker) as session:
        await registry.create_region(session, None, admdvs=admdvs, name="race")
    # Different start dates, so only the overlap check (not the unique key) can refuse one.
    files = [
        catalogue_csv([service_row("RACE1", "7.00", valid_from="2026-01-01")]),
        catalogue_csv(
            [service_row("RACE1", "8.00", valid_from="2025-06-01", valid_to="2026-06-30")]
        ),
    ]

    async def attempt(text: str) -> str:
        try:
            async with unit_of_work(database.sessionmaker) as session:
                await catalogue.import_catalogue(
                    session, admdvs=admdvs, text=text, source="race", actor=None
                )
                await asyncio.sleep(0.3)  # hold the region lock while the other one arrives
        except OverlappingVersions:
            return "refused"
        return "imported"

    assert sorted(await asyncio.gather(*(attempt(text) for text in files))) == [
        "imported",
        "refused",
    ]
    async with unit_of_work(database.sessionmaker) as session:
        versions = await catalogue.item_history(session, admdvs, "RACE1")
    assert len(versions) == 1
