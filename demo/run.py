"""``make demo``: a simulated region, end to end through the real HTTP API, with a report.

It runs on whatever database the settings name; with none configured it uses a fresh embedded
SQLite file under ``var/demo/`` so every run starts from the same state.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from demo.claims import enrol_population, load_policy, run_claims
from demo.client import Client
from demo.funding import report_funding, setup_funding
from demo.prescriptions import run_prescriptions
from demo.reference import load_reference_data
from demo.server import running_server
from engine import migrate
from engine.auth import Role, create_api_key, create_organisation
from engine.db import Database, unit_of_work
from engine.settings import Settings, get_settings
from engine.terminal import console, progress

REGION = "230100"
PRESCRIPTIONS = 16


@dataclass
class DemoRegion:
    """The organisations of the demo region and a client acting as each."""

    admin: Client
    insurer: Client
    hospitals: dict[str, Client] = field(default_factory=dict)
    pharmacies: dict[str, Client] = field(default_factory=dict)


def _demo_settings() -> Settings:
    """On the embedded default, a fresh database under ``var/demo``, set in the environment so
    that the in-process background jobs (which read the process settings) use it too."""
    settings = get_settings()
    if settings.embedded:
        data_dir = settings.data_dir / "demo"
        shutil.rmtree(data_dir, ignore_errors=True)
        os.environ["SANYI_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
        settings = get_settings()
    return settings


def bootstrap_admin(settings: Settings) -> str:
    """The operator's first key, made as `sanyi org create` + `sanyi key create` would."""

    async def work(session: AsyncSession) -> str:
        org = await create_organisation(session, name="Demo operator", role=Role.admin)
        return await create_api_key(session, org, label="demo")

    async def main() -> str:
        db = Database.connect(settings.async_database_url, null_pool=True)
        try:
            async with unit_of_work(db.sessionmaker) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _organisation(admin: Client, **body: str) -> Client:
    org = admin.post("/v1/admin/organisations", json=body, expect=201)
    key = admin.post(f"/v1/admin/organisations/{org['id']}/keys", json={}, expect=201)
    return admin.as_org(key["api_key"])


def setup_region(http: httpx.Client, admin_token: str) -> DemoRegion:
    admin = Client(http, admin_token)
    region = DemoRegion(
        admin=admin,
        insurer=_organisation(
            admin, name="Harbin Medical Insurance Bureau", role="insurer", admdvs=REGION
        ),
    )
    hospitals = {
        "H23010000001": "Harbin First Hospital (tier 3)",
        "H23010000002": "Daoli District Hospital (tier 2)",
    }
    for code, name in hospitals.items():
        region.hospitals[code] = _organisation(
            admin, name=name, role="hospital", institution_code=code, admdvs=REGION
        )
    for code, name in {
        "P23010000001": "Longtai Pharmacy",
        "P23010000002": "Renmin Pharmacy",
    }.items():
        region.pharmacies[code] = _organisation(
            admin, name=name, role="pharmacy", institution_code=code, admdvs=REGION
        )
    return region


@contextmanager
def _phase(bar: Progress, description: str, total: int = 1) -> Iterator[Callable[[], None]]:
    """A line of the demo's progress: yields the callback that advances it by one."""
    task = bar.add_task(description, total=total)
    yield lambda: bar.advance(task)
    bar.update(task, completed=total)


def run_demo(*, days: int = 30, people: int = 120, seed: int = 2026) -> None:
    """Simulate the region with its progress on stderr, then print the report on stdout."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days)
    with progress() as bar, ExitStack() as stack:
        with _phase(bar, "preparing the database and starting the API"):
            settings = _demo_settings()
            migrate.upgrade(settings.sync_database_url)
            admin_token = bootstrap_admin(settings)
            base_url = stack.enter_context(running_server(settings))
            http = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
        with _phase(bar, "organisations, reference data and benefit policy"):
            health = http.get("/health").json()
            region = setup_region(http, admin_token)
            reference = load_reference_data(region.insurer, region.hospitals, region.pharmacies)
            load_policy(region.insurer, REGION)
        with _phase(bar, "enrolling the insured", people) as enrolled:
            population = enrol_population(region.insurer, REGION, rng, people, enrolled=enrolled)
        with _phase(bar, "budgets and bundles"):
            residents = [p.psn_no for p in population if p.insutype == "390"]
            setup_funding(
                region.insurer,
                admdvs=REGION,
                year=today.year,
                bundle_members=residents[: len(residents) // 3],
                sign_date=start,
            )
        with _phase(bar, "days of visits, settled", days) as day_done:
            claims = run_claims(
                region.insurer,
                region.hospitals,
                reference,
                population,
                start=start,
                days=days,
                rng=rng,
                day_done=day_done,
            )
        with _phase(bar, "e-prescriptions, then their expiry", PRESCRIPTIONS) as prescribed:
            prescriptions = run_prescriptions(
                region.hospitals,
                region.pharmacies,
                reference,
                claims,
                rng=rng,
                prescribed=prescribed,
                count=PRESCRIPTIONS,
            )
        with _phase(bar, "the month's prepayment"):
            funding = report_funding(
                region.insurer, admdvs=REGION, year=today.year, month=today.month
            )
    overview = Table(title=f"Sanyi demo region {REGION}", show_header=False)
    overview.add_row("API", base_url)
    overview.add_row("database", f"{health['database']['kind']} (ok={health['database']['ok']})")
    overview.add_row("broker", f"{health['broker']['kind']} (ok={health['broker']['ok']})")
    overview.add_row("hospitals", ", ".join(region.hospitals))
    overview.add_row("pharmacies", ", ".join(region.pharmacies))
    overview.add_row("period", f"{start} .. {today - timedelta(days=1)} ({days} days)")
    for part in (overview, claims.table(), prescriptions.table(), funding):
        console.print(part)
