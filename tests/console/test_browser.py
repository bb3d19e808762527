"""The console in a real browser: Debian's Chromium, driven by Playwright, against a real server
on a scratch database holding a demo region (seeded through the API by the demo's own steps).

Signs in, visits every page, compares the numbers shown with the API's JSON, approves a batch,
downloads its CSV, is refused a form without its CSRF token, checks that a second region's
insurer sees nothing of the first, and that no page asks anything of the network but the app.
Screenshots go to ``var/screenshots/``. Skipped when no Chromium is installed (``make browser``
installs it; CI does).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright
from rich.progress import Progress

from console.pages.calendar import today
from demo.client import Client
from demo.prescriptions import PrescriptionReport
from demo.run import REGION, bootstrap_admin, organisation_key, populate
from engine import migrate
from engine.app import create_app
from engine.clock import CST
from engine.db import Database
from engine.settings import Settings, to_async_url
from engine.terminal import money
from tests.scratch import scratch_database_url
from tests.support.factories.clearing import backdate, detail_file, file_row
from tests.support.server import serving

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("var/screenshots")
HOSPITAL = "H23010000001"
OTHER_REGION = "230200"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM}: `make browser` installs it (apt-get install chromium)",
)


@dataclass
class Seeded:
    """The demo region behind the server, and what the tests need of it."""

    base_url: str
    insurer: Client
    insurer_key: str
    other_key: str
    batch_id: str
    prescriptions: PrescriptionReport
    blocked: list[str] = field(default_factory=list)


async def _backdate(database_url: str, setl_ids: list[str], when: datetime) -> None:
    db = Database.connect(to_async_url(database_url), null_pool=True)
    try:
        async with db.sessionmaker() as session:
            for setl_id in setl_ids:
                await backdate(session, setl_id, when)
    finally:
        await db.dispose()


def _last_month_batch(database_url: str, insurer: Client, hospital: Client) -> str:
    """Move a few of the hospital's settlements into last month, apply for its clearing, and
    reconcile the month against a file of the hospital's with one amount changed."""
    now = datetime.now(CST)
    page = insurer.get(
        "/v1/settlements",
        params={
            "begin": (now - timedelta(days=60)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
            "fixmedins_code": HOSPITAL,
            "status": "settled",
            "limit": 8,
        },
    )
    first_of_month = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    last_month = first_of_month - timedelta(days=10)
    moved = page["items"]
    asyncio.run(_backdate(database_url, [s["setl_id"] for s in moved], last_month))
    batch = hospital.post(
        "/v1/clearing/batches",
        json={"setlym": last_month.strftime("%Y%m"), "clr_type": "11"},
        idempotent=True,
        expect=201,
    )
    rows = [file_row(s) for s in moved]
    rows[0]["medfee_sumamt"] = str(Decimal(rows[0]["medfee_sumamt"]) + 1)
    hospital.post(
        "/v1/reconciliation/details",
        params={
            "stmt_begndate": last_month.date().replace(day=1).isoformat(),
            "stmt_enddate": (first_of_month - timedelta(days=1)).date().isoformat(),
        },
        content=detail_file(rows),
        headers={"Content-Type": "text/csv"},
        expect=201,
    )
    return str(batch["clr_appy_evt_id"])


def _seed(database_url: str, base_url: str) -> Seeded:
    """The demo's steps through the API (run in a thread: they are blocking calls and start
    event loops of their own), a batch to approve and a second region's insurer."""
    admin_token = bootstrap_admin(Settings(database_url=database_url, broker_url=None))
    with httpx.Client(base_url=base_url, timeout=60) as http:
        month = populate(
            http,
            admin_token,
            Progress(disable=True),
            today=today(),
            days=10,
            people=40,
            rng=random.Random(7),
        )
        region = month.region
        batch_id = _last_month_batch(database_url, region.insurer, region.hospitals[HOSPITAL])
        other_key = organisation_key(
            region.admin, name="Qiqihar Insurance Bureau", role="insurer", admdvs=OTHER_REGION
        )
    insurer = Client(httpx.Client(base_url=base_url, timeout=60), region.insurer_key)
    return Seeded(base_url, insurer, region.insurer_key, other_key, batch_id, month.prescriptions)


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[Seeded]:
    with scratch_database_url() as url:
        await asyncio.to_thread(migrate.upgrade, url)
        with serving(create_app(Settings(database_url=url, broker_url=None))) as port:
            region = await asyncio.to_thread(_seed, url, f"http://127.0.0.1:{port}")
            yield region
            region.insurer.http.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        await chromium.close()


async def _context(browser: Browser, seeded: Seeded, **viewport: int) -> BrowserContext:
    """A fresh browser profile whose requests to anything but the app are aborted (and noted)."""
    context = await browser.new_context(
        viewport={"width": viewport.get("width", 1280), "height": viewport.get("height", 900)},
        accept_downloads=True,
    )

    async def guard(route: Route) -> None:
        if route.request.url.startswith(seeded.base_url):
            await route.continue_()
        else:
            seeded.blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", guard)
    return context


async def _sign_in(context: BrowserContext, seeded: Seeded, key: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{seeded.base_url}/console")
    assert page.url.endswith("/console/sign-in")  # signed out: sent to sign in
    await page.fill("#api_key", key)
    await page.click("button[type=submit]")
    assert page.url == f"{seeded.base_url}/console"
    return page


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def _cell(page: Page, row: str, column: str) -> str:
    return await page.locator(f"{row} [data-field={column}]").inner_text()


@pytest.fixture(scope="module")
async def insurer_page(browser: Browser, seeded: Seeded) -> AsyncIterator[Page]:
    context = await _context(browser, seeded)
    yield await _sign_in(context, seeded, seeded.insurer_key)
    await context.close()


async def test_sign_in_keeps_only_a_session_cookie(insurer_page: Page, seeded: Seeded) -> None:
    (cookie,) = await insurer_page.context.cookies()
    assert cookie.get("name") == "sanyi_console"
    assert cookie.get("httpOnly") is True
    assert cookie.get("sameSite") == "Strict"
    assert seeded.insurer_key not in cookie.get("value", "")
    stored = await insurer_page.evaluate("() => [localStorage.length, sessionStorage.length]")
    assert stored == [0, 0]
    assert seeded.insurer_key not in await insurer_page.content()


async def test_overview_shows_the_api_figures(insurer_page: Page, seeded: Seeded) -> None:
    summary = seeded.insurer.get(f"/v1/funding/regions/{REGION}/{today().year}/summary")
    await insurer_page.goto(f"{seeded.base_url}/console")
    assert summary["budgets"]
    for line in summary["budgets"]:
        row = f"#budgets tr:has(a:text-is('{line['fixmedins_code']}'))"
        shown = await _cell(insurer_page, row, "fund_share")
        assert shown == money(Decimal(line["fund_share"]))
    await _shot(insurer_page, "overview")


async def test_provider_page_shows_the_ledger_totals(insurer_page: Page, seeded: Seeded) -> None:
    ledger = seeded.insurer.get(f"/v1/funding/providers/{HOSPITAL}/{today().year}/ledger")
    await insurer_page.click(f"#budgets a:text-is('{HOSPITAL}')")
    assert insurer_page.url.endswith(f"/console/providers/{HOSPITAL}")
    paid_out = await insurer_page.locator("#ledger [data-field=paid_out]").inner_text()
    assert paid_out == money(Decimal(ledger["totals"]["paid_out"]))
    assert await insurer_page.locator("svg.chart").count() == 1
    await _shot(insurer_page, "provider")


async def test_dip_and_bundles_pages(insurer_page: Page, seeded: Seeded) -> None:
    await insurer_page.click("nav >> text=DIP")
    assert (await insurer_page.locator("h1").inner_text()).startswith("DIP")
    await _shot(insurer_page, "dip")
    await insurer_page.click("nav >> text=Bundles")
    summary = seeded.insurer.get(f"/v1/funding/regions/{REGION}/{today().year}/summary")
    assert summary["bundles"]
    for line in summary["bundles"]:
        row = f"#bundles tr:has(a:text-is('{line['fixmedins_code']}'))"
        shown = await _cell(insurer_page, row, "bundle_balance")
        assert shown == money(Decimal(line["bundle_balance"]))
    await _shot(insurer_page, "bundles")


async def test_reconciliation_shows_the_mismatch(insurer_page: Page, seeded: Seeded) -> None:
    await insurer_page.click("nav >> text=Reconciliation")
    assert await insurer_page.locator("section.recon").count() == 1
    assert await _cell(insurer_page, "section.recon", "amount_differs") == "1"
    assert await insurer_page.locator("table.mismatches tbody tr").count() == 1
    await _shot(insurer_page, "reconciliation")


async def test_circulation_funnel(insurer_page: Page, seeded: Seeded) -> None:
    await insurer_page.click("nav >> text=Prescriptions")
    uploaded = await _cell(insurer_page, "#funnel", "uploaded")
    assert int(uploaded) == seeded.prescriptions.uploaded > 0
    assert int(await _cell(insurer_page, "#ended", "expired")) == seeded.prescriptions.expired
    assert int(await _cell(insurer_page, "#ended", "revoked")) == seeded.prescriptions.revoked
    await _shot(insurer_page, "prescriptions")


async def test_a_form_without_its_csrf_token_is_refused(insurer_page: Page, seeded: Seeded) -> None:
    approval = f"{seeded.base_url}/console/clearing/{seeded.batch_id}/approval"
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf_token": "forged"}]
    for form in forms:
        response = await insurer_page.request.post(approval, form=form)
        assert response.status == 403
        assert "csrf_refused" in await response.text()
    batch = seeded.insurer.get(f"/v1/clearing/batches/{seeded.batch_id}")
    assert batch["clr_stas"] == "applied"  # nothing changed


async def test_approve_a_batch_and_download_its_csv(insurer_page: Page, seeded: Seeded) -> None:
    await insurer_page.click("nav >> text=Clearing")
    await _shot(insurer_page, "clearing-waiting")
    await insurer_page.click(f"#applied tr[data-batch={seeded.batch_id}] button:text-is('Approve')")
    assert "Batch approved." in await insurer_page.locator(".notice").inner_text()
    batch = seeded.insurer.get(f"/v1/clearing/batches/{seeded.batch_id}")
    assert batch["clr_stas"] == "approved"
    approved = f"#approved tr[data-batch={seeded.batch_id}]"
    payable = await _cell(insurer_page, approved, "payable_sumamt")
    assert payable == money(Decimal(batch["payable_sumamt"]))
    await _shot(insurer_page, "clearing-approved")

    async with insurer_page.expect_download() as download:
        await insurer_page.click(f"{approved} a:text-is('CSV')")
    shown = Path(await (await download.value).path()).read_text()
    api = seeded.insurer.http.get(
        f"/v1/clearing/batches/{seeded.batch_id}/lines.csv", headers=seeded.insurer.headers
    )
    assert shown.splitlines() == api.text.splitlines()
    assert len(shown.splitlines()) > 1


async def test_approving_twice_changes_nothing(insurer_page: Page, seeded: Seeded) -> None:
    token = await insurer_page.locator("form.signout input[name=csrf_token]").input_value()
    approval = f"{seeded.base_url}/console/clearing/{seeded.batch_id}/approval"
    response = await insurer_page.request.post(approval, form={"csrf_token": token})
    assert response.ok
    assert "already approved" in await response.text()


async def test_another_regions_insurer_sees_nothing_of_the_first(
    browser: Browser, seeded: Seeded
) -> None:
    context = await _context(browser, seeded)
    page = await _sign_in(context, seeded, seeded.other_key)
    for path in ("", "/dip", "/bundles", "/clearing", "/reconciliation", "/prescriptions"):
        await page.goto(f"{seeded.base_url}/console{path}")
        text = await page.content()
        assert "H230100" not in text and seeded.batch_id not in text
    await _shot(page, "other-region-overview")
    for path in (f"/providers/{HOSPITAL}", f"/clearing/{seeded.batch_id}/lines.csv"):
        response = await page.request.get(f"{seeded.base_url}/console{path}")
        assert response.status == 404
    await context.close()


async def test_tablet_width_and_sign_out(browser: Browser, seeded: Seeded) -> None:
    context = await _context(browser, seeded, width=768, height=1024)
    page = await _sign_in(context, seeded, seeded.insurer_key)
    await _shot(page, "overview-tablet")
    await page.click("form.signout button")
    assert page.url.endswith("/console/sign-in")
    await page.goto(f"{seeded.base_url}/console/clearing")
    assert page.url.endswith("/console/sign-in")  # the session is over on the server too
    await context.close()


async def test_no_page_needed_the_network(seeded: Seeded) -> None:
    """Every request of the tests above went to the app: nothing was blocked."""
    assert seeded.blocked == []
