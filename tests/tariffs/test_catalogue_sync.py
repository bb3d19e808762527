"""Catalogue sync for POS systems: an ETag from the catalogue version, 304 on revalidation, gzip,
changed_since and keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tariffs.factories import (
    catalogue_csv,
    demo_csv,
    import_csv,
    insurer_headers,
    make_region,
    service_row,
)

URL = "/v1/tariffs/230100/catalogue"
ON = "2026-06-01"


@pytest.fixture
async def headers(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    await make_region(session, "230100")
    headers = await insurer_headers(session, "230100")
    for name in ("230100_services", "drugs"):
        assert (await import_csv(client, headers, "230100", demo_csv(name))).status_code == 201
    return headers


async def get(
    client: httpx.AsyncClient, headers: dict[str, str], *, encoding: str = "identity", **params: Any
) -> httpx.Response:
    return await client.get(
        URL, params={"on": ON} | params, headers=headers | {"Accept-Encoding": encoding}
    )


async def test_a_revalidation_with_the_etag_answers_304_until_an_import(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    first = await get(client, headers)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')  # strong
    again = await get(client, headers | {"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # Another question of the same catalogue is another answer.
    assert (await get(client, headers, kind="drug")).headers["etag"] != tag

    later = catalogue_csv([service_row("XNEW000000001", "3.00")])
    assert (await import_csv(client, headers, "230100", later)).status_code == 201
    changed = await get(client, headers | {"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert len(changed.json()["items"]) == len(first.json()["items"]) + 1


async def test_the_catalogue_is_gzipped_when_the_client_accepts_it(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    plain = await get(client, headers)
    zipped = await get(client, headers, encoding="gzip, deflate")
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()  # httpx decodes the body
    assert zipped.num_bytes_downloaded * 4 < len(zipped.content)
    for response in (plain, zipped):
        assert "accept-encoding" in response.headers["vary"].lower()
    # Each coding is its own representation, and either tag revalidates.
    assert zipped.headers["etag"] != plain.headers["etag"]
    revalidated = await get(
        client, headers | {"If-None-Match": plain.headers["etag"]}, encoding="gzip"
    )
    assert revalidated.status_code == 304
    refused = await get(client, headers, encoding="gzip;q=0")
    assert "content-encoding" not in refused.headers


async def test_pages_walk_the_whole_catalogue_once(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    whole = (await get(client, headers)).json()
    assert whole["next_cursor"] is None
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = (await get(client, headers, **params)).json()
        assert len(page["items"]) <= 10
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["items"]
    assert pages == -(-len(whole["items"]) // 10)


async def test_changed_since_answers_only_what_a_later_import_stored(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    synced_at = datetime.now(UTC)
    later = catalogue_csv(
        [service_row("XNEW000000001", "3.00"), service_row("XNEW000000002", "4.50")]
    )
    assert (await import_csv(client, headers, "230100", later)).status_code == 201
    changed = (await get(client, headers, changed_since=synced_at.isoformat())).json()
    assert [(i["med_list_codg"], i["pric"]) for i in changed["items"]] == [
        ("XNEW000000001", "3.00"),
        ("XNEW000000002", "4.50"),
    ]


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor", "cursor"),
        ({"cursor": "WzFd"}, 400, "invalid_cursor", "cursor"),  # base64 of [1]
        ({"limit": "0"}, 422, "validation_error", "limit"),
        ({"limit": "5001"}, 422, "validation_error", "limit"),
        ({"limit": "10", "format": "csv"}, 400, "csv_not_paged", "limit"),
        ({"changed_since": "yesterday"}, 422, "validation_error", "changed_since"),
    ],
)
async def test_bad_sync_parameters_are_refused(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    response = await get(client, headers, **params)
    assert response.status_code == status, response.text
    assert (response.json()["code"], response.json()["field"]) == (code, field)
