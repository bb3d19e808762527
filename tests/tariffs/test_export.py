"""Export of the catalogue in force on a date: JSON and CSV, and the CSV imports back unchanged."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tariffs.factories import (
    FOLLOW_UP,
    catalogue_csv,
    demo_csv,
    import_csv,
    insurer_headers,
    make_region,
    service_row,
)


async def _export(
    client: httpx.AsyncClient, headers: dict[str, str], admdvs: str, on: str
) -> httpx.Response:
    return await client.get(
        f"/v1/tariffs/{admdvs}/catalogue", params={"on": on, "format": "csv"}, headers=headers
    )


async def test_an_exported_catalogue_imports_back_unchanged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    await make_region(session, "230200")
    headers = await insurer_headers(session, "230100")
    other = await insurer_headers(session, "230200")
    for name in ("230100_services", "drugs"):
        assert (await import_csv(client, headers, "230100", demo_csv(name))).status_code == 201
    later = catalogue_csv(
        [service_row(FOLLOW_UP, "9.00", name="互联网复诊费", valid_from="2026-04-01")]
    )
    assert (await import_csv(client, headers, "230100", later)).status_code == 201

    exported = await _export(client, headers, "230100", "2026-03-01")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "catalogue-230100-2026-03-01.csv" in exported.headers["content-disposition"]
    text = exported.text
    assert len(text.splitlines()) == 1 + 6 + 86
    assert f"{FOLLOW_UP},互联网复诊费,service,,次,1,0.00,,,,,7.00,2022-01-01,2026-03-31," in text

    assert (await import_csv(client, other, "230200", text)).status_code == 201
    assert (await _export(client, other, "230200", "2026-03-01")).text == text


async def test_the_json_catalogue_on_a_date(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    headers = await insurer_headers(session)
    for name in ("230100_services", "drugs"):
        assert (await import_csv(client, headers, "230100", demo_csv(name))).status_code == 201

    async def get(**params: str) -> dict[str, Any]:
        response = await client.get("/v1/tariffs/230100/catalogue", params=params, headers=headers)
        body: dict[str, Any] = response.json()
        return body

    services = await get(on="2024-06-01")
    assert services["on"] == "2024-06-01"
    assert {item["kind"] for item in services["items"]} == {"service"}  # drugs start in 2025
    drugs = await get(on="2026-06-01", kind="drug")
    assert len(drugs["items"]) == 86
    morphine = next(i for i in drugs["items"] if i["med_list_codg"] == "XN02AA01D001")
    assert (morphine["controlled_class"], morphine["long_term_excluded"]) == ("narcotic", True)
    assert (await get(on="2021-01-01"))["items"] == []
    by_accept = await client.get(
        "/v1/tariffs/230100/catalogue",
        params={"on": "2026-06-01"},
        headers={**headers, "Accept": "text/csv"},
    )
    assert by_accept.text.startswith("med_list_codg,name,kind")


async def test_an_unknown_region_has_no_catalogue(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session, "999999")
    missing = await _export(client, headers, "999999", "2026-01-01")
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_region"
