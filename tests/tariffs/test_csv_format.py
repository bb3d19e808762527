"""The catalogue CSV on its own: documented, and whatever it writes it reads back unchanged."""

from __future__ import annotations

import string
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tariffs.codes import ControlledClass, DrTitle, ItemKind
from tariffs.csv_format import COLUMNS, parse_catalogue, write_catalogue
from tariffs.versions import CatalogueRow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tariffs.md"


def test_every_column_and_header_alias_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for column in COLUMNS:
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{column.name}` |"))
        assert all(alias in row for alias in column.aliases), column.name
        assert ("| yes |" in row) is column.required, column.name


prices = st.decimals(min_value=0, max_value=99_999, places=4)
CODE_ALPHABET = string.ascii_uppercase + string.digits


@st.composite
def catalogue_rows(draw: st.DrawFn) -> CatalogueRow:
    kind = draw(st.sampled_from(list(ItemKind)))
    service = kind is ItemKind.service
    drug = kind is ItemKind.drug
    non_medical = service and draw(st.booleans())
    level = 3 if non_medical else draw(st.sampled_from([1, 2, 3]))
    controlled = draw(st.sampled_from(list(ControlledClass))) if drug else ControlledClass.none
    hosp_lv = draw(st.none() | st.sampled_from([1, 2, 3])) if service else None
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))
    return CatalogueRow(
        # st.text rather than st.from_regex: building the regex strategy took over a second on a
        # loaded machine, failing Hypothesis's health check for slow input generation.
        med_list_codg=draw(st.text(alphabet=CODE_ALPHABET, min_size=1, max_size=20)),
        hosp_lv=hosp_lv,
        hosp_grade=draw(st.none() | st.sampled_from(["A", "B"])) if hosp_lv else None,
        dr_title=draw(st.none() | st.sampled_from(list(DrTitle))) if service else None,
        valid_from=start,
        valid_to=draw(st.none() | st.integers(0, 3000).map(lambda d: start + timedelta(d))),
        kind=kind.value,
        name=draw(st.text(alphabet='互联网复诊费药 ,"abc', min_size=1, max_size=20)).strip() or "x",
        spec=draw(st.none() | st.just("5mg×28片")),
        unit=draw(st.none() | st.just("盒")),
        chrgitm_lv=level,
        selfpay_prop=draw(st.decimals(0, 1, places=4)) if level == 2 else Decimal(0),
        pric_uplmt_amt=draw(st.none() | prices),
        pric=draw(prices) if service and not non_medical else None,
        controlled_class=controlled,
        long_term_excluded=controlled != ControlledClass.none or draw(st.booleans()),
        antimicrobial=drug and draw(st.booleans()),
        rx_only=drug and draw(st.booleans()),
        essential=drug and draw(st.booleans()),
        non_medical=non_medical,
    )


@given(st.lists(catalogue_rows(), max_size=8))
def test_whatever_is_written_reads_back_unchanged(rows: list[CatalogueRow]) -> None:
    parsed = parse_catalogue(write_catalogue(rows))
    assert parsed.errors == [] or not rows
    assert [row for _, row in parsed.rows] == rows


def test_comments_blank_lines_and_a_byte_order_mark_are_skipped() -> None:
    text = (
        "\ufeff# demo data\n\n"
        "med_list_codg,name,kind,chrgitm_lv,pric,valid_from\n"
        "# a comment between rows\n"
        "S1,one,service,1,7.00,2026-01-01\n"
        "S2,two,service,1,7.5,2026-01-01,,\n"
        "S3,three,service,1,8.00,2026-01-01,extra\n"
    )
    parsed = parse_catalogue(text)
    assert [(line, row.med_list_codg) for line, row in parsed.rows] == [(5, "S1"), (6, "S2")]
    assert [(e.line, e.reason) for e in parsed.errors] == [(7, "7 cells, the header has 6")]
