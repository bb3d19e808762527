"""The catalogue CSV: a price bureau's sheet, one row per catalogue version (docs/tariffs.md).

Parsing never stops at the first problem: it returns every valid row and every problem (line,
column, reason), so an import can refuse the whole file and still tell the bureau everything to
fix at once (domain.md section 3: "a validation report that names each bad row and loads nothing
from a bad file"). Headers may be the national field names or the usual Chinese ones; lines whose
first cell starts with ``#`` are comments; a UTF-8 byte-order mark is ignored; a bare carriage
return ends a line, as in files saved by old spreadsheet programs. Numbers are parsed as text into
``Decimal``, never through float.

Whatever the text, parsing answers rows and problems and never raises: a row that cannot be read
(an unterminated quote, a NUL byte, a cell past the reader's size limit) is reported at its line and
ends the parse there, since what follows it cannot be split into rows reliably.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.errors import InvalidRequest
from tariffs.codes import CLASS_B, SELF_PAID, ControlledClass, DrTitle, ItemKind
from tariffs.versions import CatalogueRow, decimal_text

#: The charsets a sheet may come in: UTF-8, and the GB family spreadsheets on Chinese systems
#: export. Any other codec could decode to text no database column holds (lone surrogates).
CHARSETS = frozenset({"utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312"})
#: The dates a version may name: a catalogue of the national insurance era, and dates whose day
#: before and after still exist (closing a version computes them).
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)


class _Bad(ValueError):
    """One cell's problem; the message is the reason shown in the report."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one row (``line`` is the file's line number, the header being line 1 in a
    file without comments)."""

    line: int
    column: str | None
    reason: str
    med_list_codg: str | None = None


@dataclass(slots=True)
class ParsedFile:
    rows: list[tuple[int, CatalogueRow]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


# --- cell parsers --------------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,10}(\.[0-9]{1,4})?")
_CODE = re.compile(r"[A-Za-z0-9._\-]{1,50}")


def _shown(cell: str) -> str:
    """A cell quoted in a problem's reason, cut short: the report must not echo a huge cell."""
    return repr(cell if len(cell) <= 40 else cell[:40] + "…")


def _text(limit: int) -> Callable[[str], str | None]:
    def parse(cell: str) -> str | None:
        if not cell:
            return None
        if len(cell) > limit:
            raise _Bad(f"longer than {limit} characters")
        return cell

    return parse


def _code(cell: str) -> str:
    if not _CODE.fullmatch(cell):
        raise _Bad("must be 1-50 letters, digits, '.', '_' or '-'")
    return cell


def _decimal(cell: str) -> Decimal | None:
    if not cell:
        return None
    if not _DECIMAL.fullmatch(cell):
        raise _Bad(f"{_shown(cell)} is not a non-negative number with at most four decimals")
    return Decimal(cell)


def _ratio(cell: str) -> Decimal | None:
    """A share in [0, 1], written 0.10 or 10%."""
    percent = cell.endswith("%")
    value = _decimal(cell.removesuffix("%").strip() if percent else cell)
    if value is None:
        return None
    if percent:
        value = value / 100
    if value > 1 or value != value.quantize(Decimal("0.0001")):
        raise _Bad(f"{_shown(cell)} is not a share between 0 and 1 with at most four decimals")
    return value


def _choice(values: dict[str, Any], *, empty: Any = None) -> Callable[[str], Any]:
    def parse(cell: str) -> Any:
        if not cell:
            return empty
        try:
            return values[cell.lower()]
        except KeyError:
            raise _Bad(f"{_shown(cell)} is not one of {', '.join(_listed(values))}") from None

    return parse


def _listed(values: dict[str, Any]) -> list[str]:
    return sorted({str(v) for v in values.values()})


def _date(cell: str) -> date | None:
    if not cell:
        return None
    try:
        day = date.fromisoformat(cell) if _DATE.fullmatch(cell) else None
    except ValueError:
        day = None
    if day is None:
        raise _Bad(f"{_shown(cell)} is not a date YYYY-MM-DD")
    if not FIRST_DATE <= day <= LAST_DATE:
        raise _Bad(f"{cell} is outside {FIRST_DATE}..{LAST_DATE}")
    return day


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


_BOOLEANS = {"1": True, "0": False, "true": True, "false": False, "y": True, "n": False}
_BOOLEANS |= {"yes": True, "no": False, "是": True, "否": False}


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its canonical header, the other headers it is known by, whether the header
    must be present, how a cell is read, and what it means (rendered into docs/tariffs.md)."""

    name: str
    aliases: tuple[str, ...]
    required: bool
    parse: Callable[[str], Any]
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column(
        "med_list_codg",
        ("医保目录编码", "项目编码", "药品编码", "hilist_code"),
        True,
        _code,
        "national code of the service item, drug or consumable",
    ),
    Column(
        "name",
        ("项目名称", "药品名称", "通用名", "hilist_name"),
        True,
        _text(200),
        "item name (generic name for drugs)",
    ),
    Column(
        "kind",
        ("目录类别", "项目类别"),
        True,
        _choice(
            {k.value: k.value for k in ItemKind}
            | {"医疗服务": "service", "药品": "drug", "医用耗材": "consumable"}
        ),
        "`service` (医疗服务), `drug` (药品) or `consumable` (医用耗材)",
    ),
    Column("spec", ("规格",), False, _text(200), "specification, e.g. 5mg×28片"),
    Column("unit", ("计价单位", "单位"), False, _text(20), "pricing unit (次, 盒)"),
    Column(
        "chrgitm_lv",
        ("收费项目等级", "甲乙类"),
        True,
        _choice(
            {"1": 1, "2": 2, "3": 3, "甲": 1, "乙": 2, "丙": 3, "甲类": 1, "乙类": 2, "丙类": 3}
        ),
        "1 class A (甲), 2 class B (乙), 3 self-paid (丙)",
    ),
    Column(
        "selfpay_prop",
        ("先行自付比例", "自付比例"),
        False,
        _ratio,
        "class B self-pay share, 0.10 or 10%; required for class 2, empty or 0 otherwise",
    ),
    Column(
        "pric_uplmt_amt",
        ("支付标准", "最高限价", "hilist_pric_uplmt_amt"),
        False,
        _decimal,
        "payment standard / price cap per unit (up to 4 decimals); empty = none",
    ),
    Column(
        "hosp_lv",
        ("医院等级", "机构等级"),
        False,
        _choice({"1": 1, "2": 2, "3": 3, "一级": 1, "二级": 2, "三级": 3}),
        "institution level 1-3 (一级/二级/三级) the price is for; empty = every level",
    ),
    Column(
        "hosp_grade",
        ("医院等次", "等次"),
        False,
        _choice({"a": "A", "b": "B", "甲": "A", "乙": "B", "甲等": "A", "乙等": "B"}),
        "grade A (甲) or B (乙) within the level; empty = every grade (needs hosp_lv)",
    ),
    Column(
        "dr_title",
        ("医师职称", "职称"),
        False,
        _choice(
            {t.value: t.value for t in DrTitle}
            | {
                "主任医师": "chief",
                "副主任医师": "associate_chief",
                "主治医师": "attending",
                "医师": "physician",
            }
        ),
        "doctor title the price is for (chief, associate_chief, attending, physician); "
        "empty = every title",
    ),
    Column(
        "pric",
        ("价格", "单价", "收费标准"),
        False,
        _decimal,
        "tariff unit price (up to 4 decimals): required for service items; for non-medical "
        "items the default charge; empty for drugs and consumables (sold at the institution's "
        "own price)",
    ),
    Column(
        "valid_from",
        ("开始日期", "生效日期", "begndate"),
        True,
        _date,
        "first day in force, YYYY-MM-DD",
    ),
    Column(
        "valid_to",
        ("结束日期", "失效日期", "enddate"),
        False,
        _date,
        "last day in force (inclusive), YYYY-MM-DD; empty = open-ended",
    ),
    Column(
        "controlled_class",
        ("特殊管理类别", "管制类别"),
        False,
        _choice(
            {c.value: c.value for c in ControlledClass}
            | {
                "麻醉药品": "narcotic",
                "第一类精神药品": "psychotropic_1",
                "第二类精神药品": "psychotropic_2",
                "医疗用毒性药品": "toxic",
                "放射性药品": "radioactive",
            },
            empty=ControlledClass.none.value,
        ),
        "none (empty), narcotic, psychotropic_1, psychotropic_2, toxic, radioactive (drugs only)",
    ),
    Column(
        "long_term_excluded",
        ("不得长期处方",),
        False,
        _choice(_BOOLEANS, empty=False),
        "1 if never allowed on a long-term prescription (required for controlled drugs)",
    ),
    Column(
        "antimicrobial",
        ("抗菌药物",),
        False,
        _choice(_BOOLEANS, empty=False),
        "1 for an antimicrobial (drugs only)",
    ),
    Column(
        "rx_only",
        ("处方药",),
        False,
        _choice(_BOOLEANS, empty=False),
        "1 for a prescription-only drug",
    ),
    Column(
        "essential",
        ("基本药物",),
        False,
        _choice(_BOOLEANS, empty=False),
        "1 for a national essential drug",
    ),
    Column(
        "non_medical",
        ("非医疗费用",),
        False,
        _choice(_BOOLEANS, empty=False),
        "1 for a non-medical service such as a delivery fee (class 3, never paid by insurance)",
    ),
)

_BY_HEADER: dict[str, Column] = {
    header.lower(): column for column in COLUMNS for header in (column.name, *column.aliases)
}


def charset_of(content_type: str) -> str:
    """The charset a Content-Type header names, UTF-8 when it names none."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def decode(body: bytes, charset: str) -> str:
    """The CSV text of a file's bytes in ``charset`` (GB18030 is common for spreadsheets exported
    on Chinese systems); 400 ``invalid_encoding`` for a charset outside :data:`CHARSETS` or bytes
    that are not text in it."""
    try:
        if codecs.lookup(charset).name in CHARSETS:
            return body.decode(charset)
    except (LookupError, UnicodeDecodeError):
        pass
    raise InvalidRequest(
        f"the body is not valid {_shown(charset)} text; send UTF-8 or GB18030",
        code="invalid_encoding",
        field="body",
    )


# --- rows ----------------------------------------------------------------------------------------


def _row_rules(cells: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules across columns of one row (docs/domain.md section 3), as (column, reason) pairs."""
    problems: list[tuple[str, str]] = []
    kind, level = cells["kind"], cells["chrgitm_lv"]
    priced_per_key = cells["hosp_lv"] or cells["hosp_grade"] or cells["dr_title"]
    if cells["hosp_grade"] and not cells["hosp_lv"]:
        problems.append(("hosp_grade", "a grade needs hosp_lv"))
    if kind != ItemKind.service:
        if priced_per_key:
            problems.append(
                (
                    "hosp_lv",
                    "drugs and consumables have one version per code: leave hosp_lv, "
                    "hosp_grade and dr_title empty",
                )
            )
        if cells["pric"] is not None:
            problems.append(
                (
                    "pric",
                    "drugs and consumables are sold at the institution's own price: "
                    "leave pric empty",
                )
            )
        if cells["non_medical"]:
            problems.append(("non_medical", "only a service item can be non-medical"))
    elif cells["pric"] is None and not cells["non_medical"]:
        problems.append(("pric", "a service item needs its tariff price"))
    if kind != ItemKind.drug:
        for flag in ("antimicrobial", "rx_only", "essential"):
            if cells[flag]:
                problems.append((flag, f"only a drug can be {flag}"))
        if cells["controlled_class"] != ControlledClass.none:
            problems.append(("controlled_class", "only a drug can be controlled"))
    if cells["controlled_class"] != ControlledClass.none and not cells["long_term_excluded"]:
        problems.append(
            (
                "long_term_excluded",
                "a controlled drug is never on a long-term prescription (长期处方管理规范): set 1",
            )
        )
    if cells["non_medical"] and level != SELF_PAID:
        problems.append(("chrgitm_lv", "a non-medical item is self-paid: chrgitm_lv 3"))
    share = cells["selfpay_prop"]
    if level == CLASS_B and share is None:
        problems.append(("selfpay_prop", "class 2 (乙类) needs its self-pay share"))
    if level != CLASS_B and share:
        problems.append(("selfpay_prop", "only class 2 (乙类) has a self-pay share"))
    if cells["valid_to"] is not None and cells["valid_to"] < cells["valid_from"]:
        problems.append(("valid_to", "ends before it starts"))
    return problems


def _catalogue_row(cells: dict[str, Any]) -> CatalogueRow:
    """The columns are named after the row's fields; an empty self-pay share is zero."""
    return CatalogueRow(**(cells | {"selfpay_prop": cells["selfpay_prop"] or Decimal(0)}))


def _records(text: str, parsed: ParsedFile) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record that is not blank or a comment; a record the
    reader cannot split ends the records with a problem in ``parsed``."""
    # newline="" hands the reader each line with its ending, so it tells a line break inside a
    # quoted cell from the end of a record, and takes \r, \n and \r\n alike as line ends.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    line = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as unreadable:
            parsed.errors.append(RowError(line, None, f"unreadable row: {unreadable}"))
            return
        start, line = line, reader.line_num + 1
        cells = [cell.strip() for cell in record]
        if not any(cells) or cells[0].startswith("#"):
            continue
        yield start, cells


def _cell_problem(column: Column, cell: str) -> str | None:
    """Why a cell is unusable whatever its column reads, if it is."""
    if column.required and not cell:
        return "required"
    if any(unicodedata.category(char) == "Cc" for char in cell):
        return "contains a control character"
    return None


def _header(line: int, cells: Sequence[str], parsed: ParsedFile) -> list[Column | None]:
    columns: list[Column | None] = []
    seen: set[str] = set()
    for cell in cells:
        column = _BY_HEADER.get(cell.lower())
        if column is None:
            parsed.ignored_columns.append(cell)
        elif column.name in seen:
            parsed.errors.append(
                RowError(line, column.name, f"column given twice ({_shown(cell)})")
            )
        else:
            seen.add(column.name)
        columns.append(column)
    for column in COLUMNS:
        if column.required and column.name not in seen:
            parsed.errors.append(RowError(line, column.name, "required column missing"))
    return columns


def parse_catalogue(text: str) -> ParsedFile:
    """Read a catalogue CSV into rows and a list of every problem found."""
    parsed = ParsedFile()
    records = _records(text, parsed)
    first = next(records, None)
    if first is None:
        if not parsed.errors:
            parsed.errors.append(RowError(1, None, "the file has no header row"))
        return parsed
    columns = _header(*first, parsed)
    if parsed.errors:
        return parsed
    for line, cells in records:
        padded = [*cells, *[""] * len(columns)][: len(columns)]
        by_name = {c.name: cell for c, cell in zip(columns, padded, strict=True) if c is not None}
        listed = by_name.get("med_list_codg", "")
        code = listed if _CODE.fullmatch(listed) else None
        if any(cells[len(columns) :]):
            parsed.errors.append(
                RowError(line, None, f"{len(cells)} cells, the header has {len(columns)}", code)
            )
            continue
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for column in COLUMNS:
            cell = by_name.get(column.name, "")
            problem = _cell_problem(column, cell)
            if problem is None:
                try:
                    values[column.name] = column.parse(cell)
                    continue
                except _Bad as bad:
                    problem = str(bad)
            problems.append((column.name, problem))
        if not problems:
            problems = _row_rules(values)
        if problems:
            parsed.errors.extend(RowError(line, col, why, code) for col, why in problems)
        else:
            parsed.rows.append((line, _catalogue_row(values)))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(first[0], None, "the file has no catalogue rows"))
    return parsed


# --- writing -------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if value == ControlledClass.none:
        return ""
    return str(value)


def write_catalogue(rows: Iterable[CatalogueRow]) -> str:
    """Rows as CSV with the canonical headers; :func:`parse_catalogue` reads it back unchanged."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.name for column in COLUMNS])
    for row in rows:
        writer.writerow([_cell(getattr(row, column.name)) for column in COLUMNS])
    return out.getvalue()
