"""Console pages against figures worked out by hand: the DIP page's projected point value and
entitlements, and another region's insurer answered as for things that do not exist."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from console.pages.calendar import today
from tests.claims.funding.test_dip import scheme_body
from tests.support.factories.funding import OTHER_REGION, facts, insurer_headers, provider, settle


async def _sign_in(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    form = await client.get("/console/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    response = await client.post(
        "/console/sign-in",
        data={"csrf_token": csrf.group(1), "api_key": headers["Authorization"].split()[1]},
    )
    assert response.status_code == 303, response.text


def _row(page: str, code: str) -> list[str]:
    row = re.search(rf"<tr><td>{code}</td>(.*?)</tr>", page, re.S)
    assert row is not None, code
    return re.findall(r'<td class="num">([^<]*)</td>', row.group(1))


async def test_dip_page_projects_the_point_value_and_entitlements(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    year = today().year
    headers = await insurer_headers(session)
    scheme = await client.post(
        "/v1/funding/dip-schemes", json=scheme_body(year=year), headers=headers
    )
    assert scheme.status_code == 201, scheme.text
    a, b = await provider(session), await provider(session)
    when = datetime(year, 1, 8, tzinfo=UTC)
    for code, diagnosis in ((a, "I10.x00"), (a, "I10.x00"), (b, "J18.000")):
        assert (
            await settle(session, facts(code, when, "1000.00", med_type="21", dise_codg=diagnosis))
            == "05"
        )

    await _sign_in(client, headers)
    page = (await client.get("/console/dip")).text
    # (1,000,000.00 − 100,000.00) ÷ (2 × 100 + 1,200) points, down at 10 places.
    assert "642.8571428571" in page
    # points, at the provisional 250.0000, at the projected value (half-up to the fen)
    assert _row(page, a) == ["200", "50,000.00", "128,571.43"]
    assert _row(page, b) == ["1,200", "300,000.00", "771,428.57"]

    client.cookies.clear()
    await _sign_in(client, await insurer_headers(session, OTHER_REGION))
    other = (await client.get("/console/dip")).text
    assert "No DIP scheme" in other and a not in other
    ledger = await client.get(f"/console/providers/{a}")
    assert ledger.status_code == 404 and "not_found" in ledger.text
