"""The straight-line target and the server-drawn charts: numbers in text, not colour alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from console.charts import Band, Series, burn_bars, columns, lines
from console.pages.calendar import year_elapsed


def test_the_straight_line_target_counts_today_as_used() -> None:
    assert year_elapsed(date(2026, 1, 1)) == Decimal("0.0027")  # 1 / 365
    assert year_elapsed(date(2026, 7, 2)) == Decimal("0.5014")  # day 183 of 365
    assert year_elapsed(date(2028, 12, 31)) == Decimal("1.0000")  # leap year: 366 / 366


def test_burn_bars_label_each_ratio_and_mark_those_ahead_of_the_target() -> None:
    svg = burn_bars([("H1", Decimal("0.25")), ("H2", Decimal("0.75"))], Decimal("0.5"), "burn")
    assert "25.0%" in svg and "75.0%" in svg
    assert svg.count("▲ ahead of target") == 1
    assert "straight-line target 50.0%" in svg


def test_a_label_is_escaped() -> None:
    svg = columns([("<b>", 3)], "per day", "settlements")
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_line_series_differ_by_marker_and_dash_and_bands_are_labelled() -> None:
    svg = lines(
        ["01", "02"],
        [
            Series("fund share", [Decimal(1), Decimal(2)]),
            Series("prepaid", [Decimal(1), Decimal(1)]),
        ],
        [Band("budget B 10.00", Decimal(10))],
        "cumulative",
    )
    assert "<circle" in svg and 'stroke-dasharray="6 4"' in svg
    assert "budget B 10.00" in svg and "fund share" in svg and "prepaid" in svg
