"""``make demo``: a simulated region, end to end through the real HTTP API, with a report.

It runs on whatever database the settings name; with none configured it uses a fresh embedded
SQLite file under ``var/demo/`` so every run starts from the same state.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from console import sessions as console_sessions
from demo.claims import ClaimsReport, enrol_population, load_policy, run_claims
from demo.client import Client
from demo.crossregion import CrossRegionReport, run_cross_region, setup_treatment_region
from demo.funding import report_funding, setup_funding
from demo.prescriptions import PrescriptionReport, run_prescriptions
from demo.reference import load_reference_data
from demo.server import running_server
from demo.vouchers import setup_vouchers
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
    #: The insurer's API key, for the console's sign-in link.
    insurer_key: str
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


def _in_database(settings: Settings, work: Callable[[AsyncSession], Awaitable[str]]) -> str:
    """Run ``work`` in one unit of work on the demo's database, as the CLI would."""

    async def main() -> str:
        db = Database.connect(settings.async_database_url, null_pool=True)
        try:
            async with unit_of_work(db.sessionmaker) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def bootstrap_admin(settings: Settings) -> str:
    """The operator's first key, made as `sanyi org create` + `sanyi key create` would."""

    async def work(session: AsyncSession) -> str:
        org = await create_organisation(session, name="Demo operator", role=Role.admin)
        return await create_api_key(session, org, label="demo")

    return _in_database(settings, work)


def console_link(settings: Settings, base_url: str, api_key: str) -> str:
    """A one-time sign-in link to the console for ``api_key`` (valid for a few minutes)."""

    async def work(session: AsyncSession) -> str:
        return await console_sessions.create_link(session, api_key)

    return f"{base_url}/console/link/{_in_database(settings, work)}"


def organisation_key(admin: Client, **body: str) -> str:
    """A new organisation, through the operator's API, and its first key."""
    org = admin.post("/v1/admin/organisations", json=body, expect=201)
    key: str = admin.post(f"/v1/admin/organisations/{org['id']}/keys", json={}, expect=201)[
        "api_key"
    ]
    return key


def _organisation(admin: Client, **body: str) -> Client:
    return admin.as_org(organisation_key(admin, **body))


def setup_region(http: httpx.Client, admin_token: str) -> DemoRegion:
    admin = Client(http, admin_token)
    insurer_key = organisation_key(
        admin, name="Harbin Medical Insurance Bureau", role="insurer", admdvs=REGION
    )
    region = DemoRegion(admin=admin, insurer=admin.as_org(insurer_key), insurer_key=insurer_key)
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


@dataclass
class DemoMonth:
    """A populated demo region and what each part of the simulation reported."""

    region: DemoRegion
    claims: ClaimsReport
    prescriptions: PrescriptionReport
    funding: Table


def populate(
    http: httpx.Client,
    admin_token: str,
    bar: Progress,
    *,
    today: date,
    days: int,
    people: int,
    rng: random.Random,
) -> DemoMonth:
    """Through the API: the region's organisations, reference data, insured, funding, ``days``
    days of settlements up to ``today``, prescriptions and the month's prepayment."""
    start = today - timedelta(days=days)
    with _phase(bar, "organisations, reference data and benefit policy"):
        region = setup_region(http, admin_token)
        reference = load_reference_data(region.insurer, region.hospitals, region.pharmacies)
        load_policy(region.insurer, REGION)
        vouchers = setup_vouchers(region.insurer)
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
            vouchers=vouchers,
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
            vouchers=vouchers,
        )
    with _phase(bar, "the month's prepayment"):
        funding = report_funding(region.insurer, admdvs=REGION, year=today.year, month=today.month)
    return DemoMonth(region, claims, prescriptions, funding)


def cross_region_month(
    settings: Settings, month: DemoMonth, bar: Progress, *, today: date
) -> CrossRegionReport:
    """Residents of the region (outside the bundles) treated in 510100, one per care type, and
    last month's inter-region claim, reconciled (demo.crossregion)."""
    with _phase(bar, "cross-region care in 510100 and the inter-region claim"):
        treatment = setup_treatment_region(month.region.admin, organisation_key)
        residents = [p for p in month.claims.people if p.insutype == "390"]
        return run_cross_region(
            month.region.insurer,
            treatment,
            [(p.psn_no, p.certno) for p in residents[-4:]],
            insured_region=REGION,
            in_database=lambda work: _in_database(settings, work),
            today=today,
        )


def _serve_until_interrupted() -> None:
    console.print("Serving until interrupted (Ctrl-C).")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopped.")


def run_demo(*, days: int = 30, people: int = 120, seed: int = 2026, serve: bool = False) -> None:
    """Simulate the region with its progress on stderr, then print the report on stdout, ending
    with the console's address and a one-time sign-in link; with ``serve``, keep serving until
    interrupted."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    with ExitStack() as stack:
        with progress() as bar:
            with _phase(bar, "preparing the database and starting the API"):
                settings = _demo_settings()
                migrate.upgrade(settings.sync_database_url)
                admin_token = bootstrap_admin(settings)
                base_url = stack.enter_context(running_server(settings))
                http = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
                health = http.get("/health").json()
            month = populate(http, admin_token, bar, today=today, days=days, people=people, rng=rng)
            cross_region = cross_region_month(settings, month, bar, today=today)
        database, broker = health["database"], health["broker"]
        overview = Table(title=f"Sanyi demo region {REGION}", show_header=False)
        overview.add_row("API", base_url)
        overview.add_row("database", f"{database['kind']} (ok={database['ok']})")
        overview.add_row("broker", f"{broker['kind']} (ok={broker['ok']})")
        overview.add_row("hospitals", ", ".join(month.region.hospitals))
        overview.add_row("pharmacies", ", ".join(month.region.pharmacies))
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        overview.add_row("period", f"{first} .. {last} ({days} days)")
        parts = (overview, month.claims.table(), month.prescriptions.table(), month.funding)
        for part in (*parts, cross_region.table()):
            console.print(part)
        console.print(f"Insurer console: {base_url}/console")
        link = console_link(settings, base_url, month.region.insurer_key)
        console.print(f"One-time sign-in link for the demo insurer (15 minutes): {link}")
        if serve:
            _serve_until_interrupted()
        else:
            console.print("The server stops now: `make demo SERVE=1` keeps it serving.")
