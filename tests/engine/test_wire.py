"""The wire types of engine.wire, on their own: what each accepts, refuses and renders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError
from stdnum.cn import ric

from engine.wire import (
    Admdvs,
    CalendarDate,
    EventTime,
    EventTimeText,
    PastDate,
    Quantity,
    QuantityText,
    RangeTime,
    Ratio,
    ResidentId,
    SignedYuan,
    UnitPrice,
    WireModel,
    Yuan,
    control_character,
)

YUAN = TypeAdapter(Yuan)
SIGNED = TypeAdapter(SignedYuan)
PRICE = TypeAdapter(UnitPrice)
QUANTITY = TypeAdapter(Quantity)
QUANTITY_TEXT = TypeAdapter(QuantityText)
RATIO = TypeAdapter(Ratio)
EVENT = TypeAdapter(EventTime)
EVENT_TEXT = TypeAdapter(EventTimeText)
RANGE = TypeAdapter(RangeTime)
DAY = TypeAdapter(CalendarDate)
PAST = TypeAdapter(PastDate)
CERTNO = TypeAdapter(ResidentId)
ADMDVS = TypeAdapter(Admdvs)


def refused(adapter: TypeAdapter[Any], value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    return str(caught.value.errors()[0]["msg"])


def certno(area: str, birth: str, sequence: str = "123") -> str:
    body = f"{area}{birth}{sequence}"
    return body + ric.calc_check_digit(body + "0")


# --- decimals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "0.00"), ("1", "1.00"), ("1.5", "1.50"), ("25.50", "25.50"), (3, "3.00")],
)
def test_yuan_reads_strings_and_integers_and_renders_two_decimals(
    value: object, expected: str
) -> None:
    assert YUAN.dump_json(YUAN.validate_python(value)).decode() == f'"{expected}"'


@pytest.mark.parametrize(
    "value",
    [25.5, 1.0, "1e2", "1E+2", "１", "١", " 1", "1 ", "+1", "01", "1.", ".5", "1.001", "-1", True,
     "NaN", "Infinity", "", None, "1_000", "0x10", "1,5", str(10**12)],
)  # fmt: skip
def test_yuan_refuses_every_other_spelling(value: object) -> None:
    refused(YUAN, value)


def test_the_float_refusal_says_why() -> None:
    assert "not a float" in refused(YUAN, 25.5)
    assert "at most 2 decimal places" in refused(YUAN, "1.001")


@given(st.integers(min_value=0, max_value=10**14 - 1))
def test_every_whole_fen_amount_round_trips_as_text(fen: int) -> None:
    text = f"{Decimal(fen).scaleb(-2):.2f}"
    amount = YUAN.validate_python(text)
    assert amount == Decimal(fen) / 100
    assert YUAN.dump_json(amount).decode() == f'"{text}"'


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_signed_amounts_round_trip(amount: Decimal) -> None:
    shown = SIGNED.dump_python(SIGNED.validate_python(f"{amount:f}"), mode="json")
    assert Decimal(shown) == amount
    assert shown == f"{amount + 0:.2f}" and not shown.startswith("-0.00")


def test_negative_zero_renders_as_zero() -> None:
    assert SIGNED.dump_python(Decimal("-0.00"), mode="json") == "0.00"


def test_unit_prices_keep_four_decimals_where_needed() -> None:
    assert PRICE.dump_python(PRICE.validate_python("7"), mode="json") == "7.00"
    assert PRICE.dump_python(PRICE.validate_python("1.2345"), mode="json") == "1.2345"
    assert PRICE.dump_python(PRICE.validate_python("1.234"), mode="json") == "1.2340"
    assert "at most 4 decimal places" in refused(PRICE, "1.23456")


@pytest.mark.parametrize("value", ["0", "0.0000", "-1", 0, "0.00001"])
def test_quantities_are_above_zero(value: object) -> None:
    refused(QUANTITY, value)
    if isinstance(value, str):
        refused(QUANTITY_TEXT, value)


def test_quantity_text_is_kept_as_sent() -> None:
    assert QUANTITY_TEXT.validate_python("3.50") == "3.50"
    assert QUANTITY.validate_python("3.5") == Decimal("3.5")


@pytest.mark.parametrize("value", ["0", "1", "0.0325"])
def test_ratios_lie_between_0_and_1(value: str) -> None:
    assert RATIO.validate_python(value) == Decimal(value)


@pytest.mark.parametrize("value", ["1.0001", "-0.1", 0.5, "0.00001"])
def test_ratios_outside_0_to_1_or_too_fine_are_refused(value: object) -> None:
    refused(RATIO, value)


# --- text ----------------------------------------------------------------------------------------


class Body(WireModel):
    name: str
    tags: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\x00"},
        {"name": "a\x7f"},
        {"name": "a\x85"},
        {"name": "\ud800"},
        {"name": "ok", "tags": ["x", "y\nz"]},
        {"name": "ok", "extra": {"deep": [{"k\x00": 1}]}},
    ],
)
def test_wire_models_refuse_control_characters_anywhere(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="control character"):
        Body.model_validate(body)


def test_wire_models_refuse_unknown_members() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Body.model_validate({"name": "ok", "surprise": 1})


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"))))
def test_text_without_controls_is_accepted_as_is(text: str) -> None:
    assert control_character(text) is None
    assert Body.model_validate({"name": text}).name == text


# --- times and dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-06-15T09:30:00",  # no offset
        "2026-06-15",
        "0001-01-01T00:00:00+08:00",
        "1900-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-08:00",
        "2999-01-01T00:00:00Z",
        "2026-02-30T00:00:00+08:00",
        "2026-06-15T09:30:00+15:00",
        "２０２６-06-15T09:30:00+08:00",
        1781000000,
        1781000000.5,
    ],
)
def test_event_times_refuse_naive_implausible_or_unreal_times(value: object) -> None:
    refused(EVENT, value)
    if isinstance(value, str):
        refused(EVENT_TEXT, value)


def test_a_naive_time_is_told_to_carry_its_offset() -> None:
    assert "UTC offset" in refused(EVENT, "2026-06-15T09:30:00")


def test_event_times_must_have_happened() -> None:
    now = datetime.now(UTC)
    assert EVENT.validate_python((now - timedelta(hours=1)).isoformat()) < now
    assert EVENT.validate_python((now + timedelta(hours=12)).isoformat()) > now  # clock skew
    refused(EVENT, (now + timedelta(days=2)).isoformat())


def test_range_times_may_lie_ahead_but_within_the_century() -> None:
    ahead = RANGE.validate_python("2099-12-31T23:59:59+08:00")
    assert ahead.utcoffset() == timedelta(hours=8)
    assert RANGE.validate_python("2100-01-01T00:00:00Z").year == 2100  # an exclusive end
    refused(RANGE, "2100-01-01T00:00:01Z")
    refused(RANGE, "1999-12-31T23:59:59Z")


def test_times_keep_their_offset_and_the_text_form_its_text() -> None:
    text = "2026-03-02T09:30:00+08:00"
    assert EVENT.validate_python(text).utcoffset() == timedelta(hours=8)
    assert EVENT.validate_python("2026-03-02T01:30:00Z").utcoffset() == timedelta(0)
    assert EVENT_TEXT.validate_python(text) == text


@pytest.mark.parametrize("value", ["2026-06-01T00:00:00", "20260601", "2026-6-1", "1999-12-31",
                                   "2100-01-01", "2026-02-29", 20260601])  # fmt: skip
def test_calendar_dates_are_plain_real_dates_of_the_century(value: object) -> None:
    refused(DAY, value)


def test_past_dates_lie_between_1900_and_today() -> None:
    assert PAST.validate_python("1935-05-01") == date(1935, 5, 1)
    refused(PAST, "1899-12-31")
    refused(PAST, (datetime.now(UTC).date() + timedelta(days=2)).isoformat())


# --- resident IDs and regions --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["11010519491231002X", "11010519491231002x", certno("230102", "19400101")]
)
def test_real_resident_ids_are_accepted_with_a_capital_x(value: str) -> None:
    assert CERTNO.validate_python(value) == value.upper()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002Y", "17 digits"),
        ("110105194912310021", "check character"),
        (certno("230102", "19901301"), "birth date"),
        (certno("230102", "19900230"), "birth date"),
        (certno("230102", "00000101"), "birth date"),
        (certno("230102", "29990101"), "past date"),
        (certno("230102", "18800101"), "past date"),
        (certno("000000", "19900101"), "area code"),
        (certno("999999", "19900101"), "area code"),
        (" 11010519491231002X"[:18], "17 digits"),
        ("１１０１０５１９４９１２３１００２X", "17 digits"),
    ],
)
def test_impossible_resident_ids_are_refused(value: str, reason: str) -> None:
    assert reason in refused(CERTNO, value)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)), st.integers(0, 999))
def test_any_real_birth_date_with_its_check_character_is_accepted(born: date, seq: int) -> None:
    value = certno("110105", born.strftime("%Y%m%d"), f"{seq:03d}")
    assert CERTNO.validate_python(value) == value


@pytest.mark.parametrize("value", ["000000", "２３０１００", "23010", "2301000", 230100])
def test_region_codes_are_six_ascii_digits(value: object) -> None:
    refused(ADMDVS, value)


def test_the_json_schema_describes_the_decimal_grammar() -> None:
    schema = YUAN.json_schema()
    assert schema["type"] == "string" and schema["pattern"].startswith("^(0|[1-9]")
