"""Catalogue versions as plain values: what one version says, when it is in force, whom it covers.

A *key* is (item code, institution level, grade, doctor title), each dimension ``None`` for "any"
(docs/domain.md section 3: a service price may depend on the institution level and grade and, for
consultations, the doctor's title; drugs have one key per code). Versions of one key never overlap
in time, so on any date at most one version of a key is in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tariffs.codes import ControlledClass

#: (med_list_codg, hosp_lv, hosp_grade, dr_title)
VersionKey = tuple[str, int | None, str | None, str | None]

_CENT = Decimal("0.01")


def decimal_text(value: Decimal) -> str:
    """A price or ratio as text with two decimals, or four where it needs them ("7.00",
    "0.0325"): readable, and exact for every value the catalogue can hold."""
    shown = value.quantize(_CENT) if value == value.quantize(_CENT) else value.normalize()
    return f"{shown:f}"


def periods_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    """Inclusive date ranges, ``None`` = open-ended."""
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueRow:
    """The content of one catalogue version (one row of a price bureau's sheet)."""

    med_list_codg: str
    hosp_lv: int | None
    hosp_grade: str | None
    dr_title: str | None
    valid_from: date
    valid_to: date | None
    kind: str
    name: str
    spec: str | None
    unit: str | None
    chrgitm_lv: int
    selfpay_prop: Decimal
    pric_uplmt_amt: Decimal | None
    pric: Decimal | None
    controlled_class: str
    long_term_excluded: bool
    antimicrobial: bool
    rx_only: bool
    essential: bool
    non_medical: bool

    @property
    def key(self) -> VersionKey:
        return (self.med_list_codg, self.hosp_lv, self.hosp_grade, self.dr_title)

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def covers(self, hosp_lv: int, hosp_grade: str | None, dr_title: str | None) -> bool:
        """Whether this version applies to a visit at that level and grade by that doctor."""
        return (
            (self.hosp_lv is None or self.hosp_lv == hosp_lv)
            and (self.hosp_grade is None or self.hosp_grade == hosp_grade)
            and (self.dr_title is None or self.dr_title == dr_title)
        )

    @property
    def specificity(self) -> tuple[int, bool, bool, bool]:
        """Where several versions cover a visit, the one naming the most dimensions wins, then
        level before grade before title. Two covering versions with the same specificity would be
        the same key, and versions of one key never overlap, so the choice is unique."""
        named = (self.hosp_lv is not None, self.hosp_grade is not None, self.dr_title is not None)
        return (sum(named), *named)

    @property
    def controlled(self) -> str | None:
        """The controlled class, or ``None`` for an ordinary item."""
        return None if self.controlled_class == ControlledClass.none else self.controlled_class


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueVersion(CatalogueRow):
    """A stored version: the row plus its id, which priced lines cite."""

    version_id: str
