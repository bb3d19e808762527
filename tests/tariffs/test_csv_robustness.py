"""A catalogue CSV from a stranger: whatever the bytes, the answer is the row report or a 4xx,
never a 500, and a refused file loads nothing."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import InvalidRequest
from tariffs.catalogue import check_kinds, plan_versions
from tariffs.csv_format import COLUMNS, charset_of, decode, parse_catalogue
from tariffs.models import CatalogueEntry
from tests.tariffs.factories import (
    catalogue_csv,
    drug_row,
    import_csv,
    insurer_headers,
    make_region,
    service_row,
)

HEADER = ",".join(column.name for column in COLUMNS)


@pytest.fixture
async def headers(session: AsyncSession) -> dict[str, str]:
    await make_region(session, "230100")
    return await insurer_headers(session, "230100")


async def _entries(session: AsyncSession) -> int:
    query = (
        select(func.count()).select_from(CatalogueEntry).where(CatalogueEntry.admdvs == "230100")
    )
    return int(await session.scalar(query) or 0)


async def test_a_row_with_empty_required_cells_is_reported_cell_by_cell(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    bad = service_row("S0001", "7.00", kind="", chrgitm_lv="", valid_from="")
    refused = await import_csv(client, headers, "230100", catalogue_csv([bad]))

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_rows"
    assert [(e["line"], e["column"], e["reason"]) for e in refused.json()["errors"]] == [
        (2, "kind", "required"),
        (2, "chrgitm_lv", "required"),
        (2, "valid_from", "required"),
    ]
    assert await _entries(session) == 0


async def test_a_stray_carriage_return_splits_the_row_and_is_reported(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    good = catalogue_csv([service_row("S0001", "7.00")]).splitlines()[1]
    text = f"{HEADER}\n{good}\nS0002,second\r,service,,次,1,,,,,,7.00,2026-01-01\n"
    refused = await import_csv(client, headers, "230100", text)

    assert refused.status_code == 400, refused.text
    errors = refused.json()["errors"]
    assert {e["line"] for e in errors} == {3, 4}
    assert ("kind", "required") in {(e["column"], e["reason"]) for e in errors}
    assert await _entries(session) == 0


async def test_old_mac_line_endings_read_like_any_other(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    text = catalogue_csv([service_row("S0001", "7.00"), drug_row("D0001", "3.00")])
    accepted = await import_csv(client, headers, "230100", text.replace("\n", "\r"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["rows"] == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file has no header row"),
        ("\ufeff", "the file has no header row"),
        (HEADER + "\n", "the file has no catalogue rows"),
        (f'{HEADER}\nS0001,"unterminated\n', "unreadable row"),
        (f"{HEADER}\nS0001,{'x' * 200_000},service\n", "unreadable row"),
    ],
    ids=["empty", "bom-only", "header-only", "open-quote", "huge-cell"],
)
async def test_files_without_rows_are_reported_not_raised(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: dict[str, str],
    text: str,
    reason: str,
) -> None:
    refused = await import_csv(client, headers, "230100", text)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_rows"
    assert any(e["reason"].startswith(reason) for e in refused.json()["errors"]), refused.text
    assert len(refused.text) < 2_000  # the report does not echo the huge cell
    assert await _entries(session) == 0


async def test_missing_extra_and_controlled_cells_are_reported(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    text = (
        "med_list_codg,name,kind,chrgitm_lv,pric,valid_from\n"
        "S0001,one,service,1\n"
        "S0002,two,service,1,7.00,2026-01-01,surplus\n"
        "S0003,th\x1bree,service,1,7.00,2026-01-01\n"
        "S0004,four,service,1,\uff17.00,2026-01-01\n"
        "S0005,five,service,1,7.00,1900-01-01\n"
    )
    refused = await import_csv(client, headers, "230100", text)

    assert refused.status_code == 400, refused.text
    assert [(e["line"], e["column"]) for e in refused.json()["errors"]] == [
        (2, "valid_from"),
        (3, None),
        (4, "name"),
        (5, "pric"),
        (6, "valid_from"),
    ]
    assert await _entries(session) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe\x00bad", "text/csv"),
        (b"med_list_codg\n", "text/csv; charset=utf-16"),
        (b"\\ud800", "text/csv; charset=raw_unicode_escape"),
        (b"x", "text/csv; charset=no-such-codec"),
    ],
    ids=["not-utf8", "utf16", "escape-codec", "unknown-codec"],
)
async def test_bodies_that_are_not_text_in_an_accepted_charset_are_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: dict[str, str],
    body: bytes,
    content_type: str,
) -> None:
    refused = await client.post(
        "/v1/tariffs/230100/imports",
        content=body,
        headers=headers | {"Content-Type": content_type},
    )
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("invalid_encoding", "body")
    assert await _entries(session) == 0


_CSV_PIECES = st.sampled_from(
    [",", '"', "\r", "\n", "\r\n", "\x00", "\ufeff", "#", " ", "%", "-", ".", "甲", "是"]
    + [column.name for column in COLUMNS]
    + ["service", "drug", "1", "2", "0.10", "10%", "7.00", "2026-01-01", "2026-02-30", "S1"]
)


_FREE_TEXT = st.lists(_CSV_PIECES | st.text(max_size=8), max_size=60).map("".join)
# Rows under the canonical header, cells drawn from the pieces, so most examples reach the cell
# parsers and the rules across a row rather than stopping at the header.
_SHEETS = st.lists(
    st.lists(_CSV_PIECES | st.just(""), min_size=len(COLUMNS), max_size=len(COLUMNS)).map(",".join),
    max_size=6,
).map(lambda rows: "\n".join([HEADER, *rows]))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_FREE_TEXT | _SHEETS)
def test_any_text_yields_rows_or_a_report(text: str) -> None:
    """The import's in-memory steps (parse, kinds, versions) on any text: rows and problems,
    never an exception."""
    parsed = parse_catalogue(text)
    assert parsed.rows or parsed.errors
    _, overlaps = plan_versions([], parsed.rows)
    for error in [*parsed.errors, *check_kinds([], parsed.rows), *overlaps]:
        assert error.line >= 1 and error.reason


@given(
    st.binary(max_size=64),
    st.sampled_from(
        ["", "; charset=utf-8", "; charset=gb18030", "; charset=utf-16", "; charset=x"]
    ),
)
def test_any_body_decodes_to_text_or_is_refused(body: bytes, charset: str) -> None:
    try:
        text = decode(body, charset_of("text/csv" + charset))
    except InvalidRequest as refused:
        assert (refused.code, refused.field) == ("invalid_encoding", "body")
    else:
        text.encode()  # text any database column holds: no lone surrogates


async def test_a_key_repeated_throughout_a_file_is_reported_once_per_row(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str]
) -> None:
    rows = [service_row("S0001", "7.00") for _ in range(2_000)]
    rows[1_000] = service_row("S0001", "7.00", valid_from="2025-01-01", valid_to="2025-12-31")

    refused = await import_csv(client, headers, "230100", catalogue_csv(rows))

    assert refused.status_code == 409, refused.text[:500]
    errors = refused.json()["errors"]
    assert len(errors) == 1_998  # every row but the earliest of each period
    assert all(e["reason"].count("overlaps line") == 1 for e in errors)
    assert {e["line"] for e in errors} == set(range(3, 2_002)) - {1_002}
    assert await _entries(session) == 0
