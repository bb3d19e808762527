"""Strict wire types: every value a client sends is checked here, by its type.

Schemas declare their fields with these ``Annotated`` types, so a new field gets the rules by
choosing its type, and request models derive from :class:`WireModel`, which refuses control
characters in every string of the body, typed or not.

The JSON a client sends is validated as parsed, before pydantic's lax coercion could help it
along: a decimal is a string of one ASCII grammar (``"12.50"``) or a JSON integer, never a JSON
float (``25.5`` is not exact), an exponent (``"1E+2"``), full-width digits (``"１"``) or padding
(``" 1"``); a timestamp is ISO 8601 text with its UTC offset, inside a plausible window; a code
is one of its code list. Outgoing amounts are always strings with their fixed number of decimals
("0.00", never "0"), so every schema renders money alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from stdnum import numdb
from stdnum.cn import ric

__all__ = [
    "Admdvs",
    "BizTypeCode",
    "CalendarDate",
    "ChrgitmLv",
    "ClrType",
    "Code",
    "Count",
    "EventTime",
    "EventTimeText",
    "Flag",
    "HospLv",
    "Identifier",
    "Insutype",
    "MdtrtCertType",
    "MedType",
    "ParameterInt",
    "PastDate",
    "Quantity",
    "QuantityText",
    "RangeTime",
    "Ratio",
    "ResidentId",
    "RxTypeCode",
    "SignedYuan",
    "Text",
    "TimeText",
    "UnitPrice",
    "WireBool",
    "WireDecimal",
    "WireModel",
    "Yuan",
    "clean_text",
    "control_character",
    "render_plain",
    "render_price",
]


def _invalid(message: str) -> PydanticCustomError:
    """A refusal whose message is shown as is (pydantic prefixes ``ValueError``s)."""
    return PydanticCustomError("invalid_value", message)


# --- clean text ----------------------------------------------------------------------------------

#: C0 and C1 controls, DEL, and lone UTF-16 surrogates (which JSON escapes can smuggle in and no
#: database can store).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(value: str) -> str | None:
    """The first control character of ``value`` as ``U+XXXX``, or ``None`` when it is clean."""
    found = _CONTROL.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _refuse_control_characters(value: object) -> None:
    """Walk a parsed JSON value and refuse any string (or object key) with a control character."""
    if isinstance(value, str):
        bad = control_character(value)
        if bad is not None:
            raise _invalid(f"contains the control character {bad}")
    elif isinstance(value, list):
        for item in value:
            _refuse_control_characters(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_control_characters(key)
            _refuse_control_characters(item)


def clean_text(value: str) -> str:
    """A string without control characters (for types used outside a :class:`WireModel`)."""
    _refuse_control_characters(value)
    return value


class WireModel(BaseModel):
    """The base of every request model: unknown members are refused, and no string anywhere in
    the body (free text, codes, nested documents, object keys) may carry a control character."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="wrap")
    @classmethod
    def _no_control_characters(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        # The field's own validation first, so a nested model names the nested field; then the
        # raw value, which covers strings no type looks at (free-form members, object keys).
        validated = handler(value)
        _refuse_control_characters(value)
        return validated


#: Free text of at least one character without control characters; give it its maximum length
#: where it is used: ``Annotated[Text, Field(max_length=50)]``.
Text = Annotated[str, StringConstraints(strict=True, min_length=1), AfterValidator(clean_text)]

#: An identifier (institution, person, list, line or trace code): ASCII letters, digits, ``.``,
#: ``_`` and ``-``, so no code carries spaces, padding or look-alike characters. Give it its
#: maximum length where it is used, or use :data:`Code`.
Identifier = Annotated[
    str, StringConstraints(strict=True, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
]
#: The national codes of institutions, persons, doctors and visits: at most 30 characters.
Code = Annotated[Identifier, Field(max_length=30)]

# --- decimals ------------------------------------------------------------------------------------

# ``[0-9]``, never ``\d``: Python's ``Decimal`` reads full-width and other Unicode digits.
_DECIMAL_TEXT: Final = re.compile(r"(-)?(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def _as_given(value: Decimal) -> str:
    return f"{value:f}"


def render_plain(value: Decimal) -> str:
    """A quantity or ratio in its shortest exact form ("3", "0.5", "0.0325"), whatever scale it
    was stored or computed at, so the same value always reads the same."""
    return f"{value.normalize() + 0:f}"


def _two_places(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')) + 0:.2f}"


def render_price(value: Decimal) -> str:
    """Two decimals, or four where the price needs them ("7.00", "1.2345")."""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:.2f}" if cents == value else f"{value.quantize(Decimal('0.0001')):.4f}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WireDecimal:
    """``Annotated[Decimal, WireDecimal(...)]``: a decimal on the wire.

    In: a string of the grammar ``-?(0|[1-9][0-9]*)(.[0-9]{1,places})?`` or a JSON integer (a
    ``Decimal`` from Python code), with at most ``digits`` digits before the point, within
    ``[minimum, maximum]`` and ``> 0`` when ``positive``. Out (JSON): a string made by
    ``render``.
    """

    places: int
    digits: int = 12
    minimum: Decimal | None = Decimal(0)
    maximum: Decimal | None = None
    positive: bool = False
    render: Callable[[Decimal], str] = _as_given
    example: str = "12.50"

    def parse(self, value: object) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, str):
            match = _DECIMAL_TEXT.fullmatch(value)
            if match is None:
                raise _invalid(
                    'must be a decimal string of ASCII digits such as "12.50" '
                    "(no exponent, plus sign, padding or spaces)"
                )
            if len(match.group(3) or "") > self.places:
                raise _invalid(f"at most {self.places} decimal places")
            number = Decimal(value)
        else:
            kind = "a float" if isinstance(value, float) else type(value).__name__
            raise _invalid(f'must be a decimal string such as "12.50" or an integer, not {kind}')
        return self._check(number)

    def _check(self, number: Decimal) -> Decimal:
        if not number.is_finite():
            raise _invalid("must be a finite number")
        if number != number.quantize(Decimal(1).scaleb(-self.places)):
            raise _invalid(f"at most {self.places} decimal places")
        if abs(number) >= Decimal(10) ** self.digits:
            raise _invalid(f"at most {self.digits} digits before the decimal point")
        if self.positive and number <= 0:
            raise _invalid("must be greater than 0")
        if self.minimum is not None and number < self.minimum:
            raise _invalid(f"must be at least {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise _invalid(f"must be at most {self.maximum}")
        return number

    def pattern(self) -> str:
        sign = "-?" if self.minimum is None or self.minimum < 0 else ""
        return rf"^{sign}(0|[1-9][0-9]{{0,{self.digits - 1}}})(\.[0-9]{{1,{self.places}}})?$"

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                self.render, when_used="json", return_schema=core_schema.str_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode == "validation":
            return {"type": "string", "pattern": self.pattern(), "examples": [self.example]}
        return {"type": "string", "examples": [self.example]}


#: An amount in yuan, exact to the fen, not negative: "211.40".
Yuan = Annotated[Decimal, WireDecimal(places=2, render=_two_places)]
#: A signed amount in yuan (ledger entries, clearings, adjustments): "-12.00".
SignedYuan = Annotated[
    Decimal, WireDecimal(places=2, minimum=None, render=_two_places, example="-12.00")
]
#: A unit price, up to four decimals (drug prices): "7.00", "1.2345".
UnitPrice = Annotated[Decimal, WireDecimal(places=4, digits=10, render=render_price)]
#: A quantity, greater than 0, up to four decimals: "3", "0.5".
_QUANTITY: Final = WireDecimal(places=4, digits=8, positive=True, render=render_plain, example="3")
Quantity = Annotated[Decimal, _QUANTITY]
#: A proportion between 0 and 1, up to four decimals: "0.0325".
Ratio = Annotated[
    Decimal,
    WireDecimal(places=4, digits=1, maximum=Decimal(1), render=render_plain, example="0.9"),
]


def _quantity_text(value: str) -> str:
    _QUANTITY.parse(value)
    return value


#: A quantity kept as the text the client sent (a signed document must keep its signed form).
QuantityText = Annotated[
    str,
    StringConstraints(strict=True, max_length=13),
    AfterValidator(_quantity_text),
    WithJsonSchema({"type": "string", "pattern": _QUANTITY.pattern(), "examples": ["3"]}),
]

# --- integers and booleans -----------------------------------------------------------------------

#: Day counts and counters: JSON integers (not "3", not 3.0), bounded against absurd values.
Count = Annotated[StrictInt, Field(ge=0, le=100_000)]


def _parameter_integer(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(r"0|[1-9][0-9]{0,17}", value) is None:
        raise _invalid("must be a whole number in ASCII digits, without sign or padding")
    return value


#: An integer in a path or query parameter (which arrive as text): ASCII digits only, so " 2",
#: "+2", "2.0" and "2_0" are refused rather than read as 2 or 20.
ParameterInt = Annotated[int, BeforeValidator(_parameter_integer)]
#: ``true`` or ``false``, not "yes", 1 or "on".
WireBool = StrictBool

# --- code lists (national vocabulary) ------------------------------------------------------------

#: 险种: 310 employee basic, 320 civil-servant subsidy, 330 employee large-expense subsidy,
#: 390 urban-rural resident basic, 392 resident critical-illness insurance.
Insutype = Literal["310", "320", "330", "390", "392"]
#: 医疗类别: 11 general outpatient, 14 chronic/special-disease outpatient, 21 inpatient,
#: 41 designated-pharmacy purchase.
MedType = Literal["11", "14", "21", "41"]
#: 清算类别: 11 outpatient, 21 inpatient, 41 pharmacy.
ClrType = Literal["11", "21", "41"]
#: 就诊凭证: 01 electronic insurance voucher, 02 resident ID card, 03 social security card.
MdtrtCertType = Literal["01", "02", "03"]
#: 就诊凭证编号: the resident ID of certificates 02 and 03, the voucher token of 01 (longer: a
#: signed payload, docs/vouchers.md).
MdtrtCertNo = Annotated[Text, Field(max_length=512)]
#: Business channel: 01 in-person visit, 02 internet-hospital visit.
BizTypeCode = Literal["01", "02"]
#: 处方类别 of the national prescription interface; 7 and 8 are narcotic / psychotropic.
RxTypeCode = Literal["1", "2", "3", "4", "5", "6", "7", "8"]
#: 收费项目等级: 1 class A (甲), 2 class B (乙), 3 self-paid (丙).
ChrgitmLv = Literal[1, 2, 3]
#: Hospital level: 1 一级, 2 二级, 3 三级 (JSON integers).
HospLv = Annotated[StrictInt, Field(ge=1, le=3, description="1 一级, 2 二级, 3 三级")]
#: A yes/no flag of the national interface.
Flag = Literal["0", "1"]


def _some_region(value: str) -> str:
    if value == "000000":
        raise _invalid("000000 names no region")
    return value


#: 医保区划 (pooling region): six ASCII digits, never 000000.
Admdvs = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[0-9]{6}$"), AfterValidator(_some_region)
]

# --- times and dates -----------------------------------------------------------------------------

_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Nothing Sanyi records happened before 2000 or is scheduled after the start of 2100 (which
#: still closes a query range: ``end`` is exclusive).
_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
#: Clock skew allowed between a client and the engine for times that must have happened.
CLOCK_SKEW: Final = timedelta(days=1)


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        match = _TIMESTAMP.fullmatch(value)
        if match is None:
            raise _invalid(
                "must be an ISO 8601 date and time with its UTC offset, "
                "e.g. 2026-06-15T09:30:00+08:00"
            )
        if match.group("offset") is None:
            raise _invalid("needs its UTC offset, e.g. 2026-06-15T09:30:00+08:00")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _invalid(f"not a real date and time: {exc}") from None
    else:
        raise _invalid("must be an ISO 8601 string, e.g. 2026-06-15T09:30:00+08:00")
    offset = parsed.utcoffset()
    if offset is None:
        raise _invalid("needs its UTC offset, e.g. 2026-06-15T09:30:00+08:00")
    if abs(offset) > timedelta(hours=14):
        raise _invalid("the UTC offset is beyond ±14:00")
    # Years are checked on the local fields first: arithmetic on year 1 or 9999 would overflow.
    if not _EARLIEST.year - 1 <= parsed.year <= _LATEST.year:
        raise _invalid(f"year {parsed.year} is outside {_EARLIEST.year}–{_LATEST.year}")
    return parsed


def _in_window(value: object, *, happened: bool) -> datetime:
    parsed = _parse_timestamp(value)
    latest = datetime.now(UTC) + CLOCK_SKEW if happened else _LATEST
    if parsed < _EARLIEST or parsed > latest:
        bound = "now" if happened else f"{_LATEST.year}-01-01"
        raise _invalid(f"must be from {_EARLIEST.year} and not after {bound}")
    return parsed


def _event_time(value: object) -> datetime:
    return _in_window(value, happened=True)


def _range_time(value: object) -> datetime:
    return _in_window(value, happened=False)


_TIME_SCHEMA: Final = WithJsonSchema(
    {"type": "string", "format": "date-time", "examples": ["2026-06-15T09:30:00+08:00"]}
)

#: A time that has happened (visit start, fee time, prescription time): with its UTC offset,
#: from 2000 and at most a day of clock skew ahead of the engine's clock.
EventTime = Annotated[datetime, BeforeValidator(_event_time), _TIME_SCHEMA]
#: A time that may lie ahead (validity ends, query ranges): with its offset, within 2000–2100.
RangeTime = Annotated[datetime, BeforeValidator(_range_time), _TIME_SCHEMA]


def _event_time_text(value: str) -> str:
    _event_time(value)
    return value


def _range_time_text(value: str) -> str:
    _range_time(value)
    return value


#: :data:`EventTime` kept as the text sent (a signed document must keep its signed form).
EventTimeText = Annotated[
    str, StringConstraints(strict=True, max_length=40), AfterValidator(_event_time_text)
]
#: :data:`RangeTime` kept as the text sent.
TimeText = Annotated[
    str, StringConstraints(strict=True, max_length=40), AfterValidator(_range_time_text)
]


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise _invalid("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid("not a real calendar date") from None


def _calendar_date(value: object) -> date:
    parsed = _parse_date(value)
    if not _EARLIEST.year <= parsed.year < _LATEST.year:
        raise _invalid(f"must be from {_EARLIEST.year} and before {_LATEST.year}")
    return parsed


#: The earliest date of a living person's past (birth, start of practice) the engine takes.
EARLIEST_PAST: Final = date(1900, 1, 1)


def _past_date(value: object) -> date:
    parsed = _parse_date(value)
    if not EARLIEST_PAST <= parsed <= datetime.now(UTC).date():
        raise _invalid(f"must be a past date from {EARLIEST_PAST.year}")
    return parsed


_DATE_SCHEMA: Final = WithJsonSchema({"type": "string", "format": "date"})

#: A calendar date of the engine's business (validity, statement periods): 2000–2099.
CalendarDate = Annotated[date, BeforeValidator(_calendar_date), _DATE_SCHEMA]
#: A date in a living person's past (birth, start of practice): not after today, not before 1900.
PastDate = Annotated[date, BeforeValidator(_past_date), _DATE_SCHEMA]

# --- resident ID ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _known_area(area: str) -> bool:
    """Whether python-stdnum's list of administrative divisions has ``area`` as a county."""
    return any("county" in props for _, props in numdb.get("cn/loc").info(area))


def _resident_id(value: str) -> str:
    """GB 11643: six digits of area, the birth date, three of sequence and an ISO 7064
    MOD 11-2 check character. The area must be a county code the national list has ever had
    (a card keeps the code it was issued under, so its validity years are not held against it)."""
    if not re.fullmatch(r"[0-9]{17}[0-9Xx]", value):
        raise _invalid("must be 17 digits and a check character (0–9 or X)")
    number = value.upper()
    if ric.calc_check_digit(number) != number[-1]:
        raise _invalid("the check character is wrong")
    try:
        born = ric.get_birth_date(number)
    except ric.ValidationError:
        raise _invalid("the birth date is not a real date") from None
    _past_date(born)
    if not _known_area(number[:6]):
        raise _invalid("the area code is not a known county")
    return number


#: An 18-character resident ID (居民身份证号), fully checked, with a capital X.
ResidentId = Annotated[
    str,
    StringConstraints(strict=True, min_length=18, max_length=18),
    AfterValidator(_resident_id),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{17}[0-9X]$"}),
]
