"""Catalogue import through the HTTP API: all-or-nothing with a report naming every bad row, and
the versioning rules (no overlaps; a later version closes the open-ended latest one)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import AuditEntry
from tariffs.models import CatalogueEntry, PoolingRegion
from tests.tariffs.factories import (
    FOLLOW_UP,
    catalogue_csv,
    demo_csv,
    drug_row,
    import_csv,
    insurer_headers,
    make_region,
    service_row,
)


async def _catalogue(client: httpx.AsyncClient, headers: dict[str, str], on: str) -> list[Any]:
    response = await client.get("/v1/tariffs/230100/catalogue", params={"on": on}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def _entries(session: AsyncSession) -> int:
    """Catalogue rows of region 230100 (race tests commit rows in regions of their own)."""
    query = (
        select(func.count()).select_from(CatalogueEntry).where(CatalogueEntry.admdvs == "230100")
    )
    return int(await session.scalar(query) or 0)


@pytest.fixture
async def headers(session: AsyncSession) -> dict[str, str]:
    await make_region(session, "230100")
    return await insurer_headers(session, "230100")


async def test_one_bad_row_among_many_loads_nothing_and_names_that_row(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    rows = [drug_row(f"XTEST{i:04d}", f"{i}.50") for i in range(120)]
    rows[73]["chrgitm_lv"] = "4"
    version_before = (await session.get_one(PoolingRegion, "230100")).catalogue_version

    refused = await import_csv(client, headers, "230100", catalogue_csv(rows))

    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["code"] == "invalid_rows"
    # the header is line 1, so rows[73] is on line 75
    assert [(e["line"], e["med_list_codg"], e["column"]) for e in body["errors"]] == [
        (75, "XTEST0073", "chrgitm_lv")
    ]
    assert "'4' is not one of 1, 2, 3" in body["errors"][0]["reason"]
    assert await _entries(session) == 0
    assert await _catalogue(client, headers, "2026-06-01") == []
    session.expire_all()
    region = await session.get_one(PoolingRegion, "230100")
    assert region.catalogue_version == version_before

    rows[73]["chrgitm_lv"] = "1"
    accepted = await import_csv(client, headers, "230100", catalogue_csv(rows))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["rows"] == 120
    assert len(await _catalogue(client, headers, "2026-06-01")) == 120


async def test_every_bad_row_is_reported_with_its_line_and_reason(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    text = "\n".join(
        [
            "# a comment line, counted but skipped",
            catalogue_csv(
                [
                    service_row("S1", "7.00"),
                    service_row("S2", ""),  # service without a tariff
                    drug_row("D1", "abc"),  # not a number
                    drug_row("D2", "1.00", chrgitm_lv="2"),  # class B without a share
                    drug_row("D3", "1.00", controlled_class="narcotic"),  # not long-term excluded
                    service_row("S3", "1.00", valid_to="2025-01-01"),  # ends before it starts
                    drug_row("D4", "1.00", pric="3.00"),  # a drug has no tariff price
                    service_row("S4", "5.00", non_medical="1"),  # non-medical must be class 3
                    service_row("S5", "5.00", hosp_grade="A"),  # a grade needs a level
                    drug_row("D5", "1.00", valid_from="2026-13-01"),
                ]
            ),
        ]
    )
    refused = await import_csv(client, headers, "230100", text)
    assert refused.status_code == 400
    found = [(e["line"], e["column"]) for e in refused.json()["errors"]]
    assert found == [
        (4, "pric"),
        (5, "pric_uplmt_amt"),
        (6, "selfpay_prop"),
        (7, "long_term_excluded"),
        (8, "valid_to"),
        (9, "pric"),
        (10, "chrgitm_lv"),
        (11, "hosp_grade"),
        (12, "valid_from"),
    ]


async def test_a_file_without_its_required_columns_is_refused_at_the_header(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    refused = await import_csv(client, headers, "230100", "med_list_codg,name\nX1,thing\n")
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert {(e["line"], e["column"]) for e in errors} == {
        (1, "kind"),
        (1, "chrgitm_lv"),
        (1, "valid_from"),
    }
    empty = await import_csv(client, headers, "230100", "")
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["reason"] == "the file has no header row"


async def test_a_bureau_sheet_with_chinese_headers_in_gb18030_imports(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    sheet = (
        "项目编码,项目名称,项目类别,计价单位,甲乙类,先行自付比例,医院等级,医院等次,价格,开始日期,说明\n"
        "120400001,肌肉注射,医疗服务,次,乙类,10%,三级,甲等,4.50,2026-01-01,备注\n"
    )
    imported = await import_csv(
        client,
        headers,
        "230100",
        sheet,
        content_type="text/csv; charset=gb18030",
        encoding="gb18030",
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["ignored_columns"] == ["说明"]
    (item,) = await _catalogue(client, headers, "2026-02-01")
    assert (item["chrgitm_lv"], item["selfpay_prop"], item["hosp_lv"], item["hosp_grade"]) == (
        2,
        "0.10",
        3,
        "A",
    )
    undecodable = await import_csv(
        client, headers, "230100", sheet, content_type="text/csv", encoding="gb18030"
    )
    assert undecodable.status_code == 400
    assert undecodable.json()["code"] == "invalid_encoding"


async def test_reimporting_the_same_file_overlaps(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (await import_csv(client, headers, "230100", demo_csv("drugs"))).status_code == 201
    again = await import_csv(client, headers, "230100", demo_csv("drugs"))
    assert again.status_code == 409
    body = again.json()
    assert body["code"] == "overlapping_version"
    assert len(body["errors"]) == 86
    assert all("overlaps version" in e["reason"] for e in body["errors"])


@pytest.mark.parametrize(
    ("second", "outcome"),
    [
        # starts inside a closed version
        ({"valid_from": "2026-06-01"}, 409),
        # backdated, reaching into the stored version
        ({"valid_from": "2025-06-01", "valid_to": "2026-01-15"}, 409),
        # backdated, ending the day before: fills history
        ({"valid_from": "2025-06-01", "valid_to": "2025-12-31"}, 201),
        # starts the day after the stored version ends
        ({"valid_from": "2026-07-01"}, 201),
        # another key of the same item (a level-specific price) never overlaps this one
        ({"valid_from": "2026-03-01", "hosp_lv": "3"}, 201),
    ],
)
async def test_versions_of_one_key_never_overlap(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: dict[str, str],
    second: dict[str, str],
    outcome: int,
) -> None:
    first = service_row("S1", "7.00", valid_from="2026-01-01", valid_to="2026-06-30")
    assert (await import_csv(client, headers, "230100", catalogue_csv([first]))).status_code == 201
    stored = await _entries(session)
    response = await import_csv(
        client, headers, "230100", catalogue_csv([service_row("S1", "8.00", **second)])
    )
    assert response.status_code == outcome, response.text
    if outcome == 409:
        assert response.json()["code"] == "overlapping_version"
        assert await _entries(session) == stored


async def test_the_open_ended_latest_version_is_closed_only_by_a_later_start(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    open_ended = service_row("S1", "7.00", valid_from="2026-01-01")
    assert (
        await import_csv(client, headers, "230100", catalogue_csv([open_ended]))
    ).status_code == 201
    same_day = await import_csv(
        client, headers, "230100", catalogue_csv([service_row("S1", "9.00")])
    )
    assert same_day.status_code == 409  # a price is never replaced in place
    later = await import_csv(
        client,
        headers,
        "230100",
        catalogue_csv(
            [
                service_row("S1", "8.00", valid_from="2026-05-01", valid_to="2026-08-31"),
                service_row("S1", "9.00", valid_from="2026-09-01"),
            ]
        ),
    )
    assert later.status_code == 201, later.text
    assert [c["valid_to"] for c in later.json()["closed"]] == ["2026-04-30"]
    prices = {
        day: (await _catalogue(client, headers, day))[0]["pric"]
        for day in ("2026-04-30", "2026-05-01", "2026-09-01")
    }
    assert prices == {"2026-04-30": "7.00", "2026-05-01": "8.00", "2026-09-01": "9.00"}


async def test_overlaps_inside_one_file_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    text = catalogue_csv(
        [
            service_row("S1", "7.00", valid_from="2026-01-01", valid_to="2026-06-30"),
            service_row("S2", "1.00"),
            service_row("S1", "8.00", valid_from="2026-06-30"),
        ]
    )
    refused = await import_csv(client, headers, "230100", text)
    assert refused.status_code == 409
    (error,) = refused.json()["errors"]
    assert error["line"] == 4
    assert "line 2" in error["reason"]


async def test_bad_cells_and_overlaps_are_reported_together(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (
        await import_csv(client, headers, "230100", catalogue_csv([service_row("S1", "7.00")]))
    ).status_code == 201
    text = catalogue_csv([service_row("S1", "8.00"), service_row("S2", "-1")])
    refused = await import_csv(client, headers, "230100", text)
    assert refused.status_code == 400
    assert [(e["line"], e["column"]) for e in refused.json()["errors"]] == [
        (2, "valid_from"),
        (3, "pric"),
    ]


async def test_an_item_keeps_its_kind(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (
        await import_csv(client, headers, "230100", catalogue_csv([drug_row("D1", "1.00")]))
    ).status_code == 201
    refused = await import_csv(
        client,
        headers,
        "230100",
        catalogue_csv([service_row("D1", "3.00", valid_from="2027-01-01")]),
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["column"] == "kind"


async def test_an_import_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    first = service_row(FOLLOW_UP, "7.00")
    await import_csv(client, headers, "230100", catalogue_csv([first]))
    second = await import_csv(
        client,
        headers,
        "230100",
        catalogue_csv([service_row(FOLLOW_UP, "8.00", valid_from="2026-07-01")]),
    )
    entry = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "catalogue.imported",
            AuditEntry.object_id == second.json()["import_id"],
        )
    )
    assert entry is not None
    assert entry.payload["rows"] == 1
    assert entry.payload["closed"][0]["valid_to"] == "2026-06-30"
    assert entry.payload["sha256"] == second.json()["sha256"]
