"""Prescription rules (docs/domain.md section 6), as pure functions over plain values.

Sources: 处方管理办法 (2007) arts. 18-19 (validity, quantity by days),
长期处方管理规范（试行）(2021) (long-term prescriptions, excluded drugs, dispensing in portions),
互联网诊疗管理办法（试行）(2018) (follow-up visits only, no specially controlled drugs, a registered
physician signs) and
医师执业注册 rules (the practitioner's registered institution). The caller (the prescription
service) resolves everything these rules need, the catalogue's :class:`DrugFacts` per line, the
visit's channel, the practitioner's registry entry and the dates of earlier dispenses, and gets back
every :class:`Violation`, each with a stable reason code (:class:`Reason`) and the wire field it
concerns. No database, no clock: the same inputs always give the same answer.

Calendar days are China Standard Time (UTC+8) whatever offset a timestamp was written with: a
prescription "valid on the day issued" is valid on that day in China.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from engine.clock import local_date
from engine.errors import InvalidRequest

__all__ = [
    "CONTROLLED_RX_TYPE_CODES",
    "INTERNET_VISIT",
    "ControlledClass",
    "DrugFacts",
    "PrescriberFacts",
    "PrescriptionRefused",
    "Reason",
    "RxDocument",
    "RxLine",
    "Violation",
    "check_prescriber",
    "check_prescription",
    "may_dispense",
    "refuse_if_any",
]

#: ``biz_type_code`` of an internet-hospital visit (docs/domain.md section 2).
INTERNET_VISIT: Final = "02"

#: ``rx_type_code`` values of narcotic and psychotropic prescriptions (docs/domain.md section 2).
CONTROLLED_RX_TYPE_CODES: Final = frozenset({"7", "8"})

# 处方管理办法 art. 18: valid on the day issued, extended by the doctor to at most 3 days.
MAX_VALIDITY_DAYS: Final = 3
# 处方管理办法 art. 19: generally at most 7 days, emergency at most 3; longer for chronic diseases
# with the doctor's reason. Sanyi bounds that "longer" by the long-term limit: beyond 4 weeks only
# a long-term prescription for a stable patient may go.
MAX_DAYS: Final = 7
MAX_EMERGENCY_DAYS: Final = 3
MAX_EXTENDED_DAYS: Final = 28
# 长期处方管理规范（试行）: generally within 4 weeks, at most 12 weeks for a stable patient.
LONG_TERM_MAX_DAYS: Final = 28
LONG_TERM_STABLE_MAX_DAYS: Final = 84
# 互联网诊疗管理办法（试行）: internet practice needs 3 years of independent practice.
INTERNET_PRACTICE_MIN_YEARS: Final = 3


class ControlledClass(enum.StrEnum):
    """特殊管理药品: the catalogue's controlled class of a drug (none is ``None``)."""

    narcotic = "narcotic"
    psychotropic_1 = "psychotropic_1"
    psychotropic_2 = "psychotropic_2"
    toxic = "toxic"
    radioactive = "radioactive"


class Reason(enum.StrEnum):
    """Stable reason codes of refused prescriptions and dispenses (docs/prescriptions.md)."""

    no_drug_lines = "no_drug_lines"
    validity_days_invalid = "validity_days_invalid"
    validity_too_long = "validity_too_long"
    validity_end_inconsistent = "validity_end_inconsistent"
    controlled_drug_internet = "controlled_drug_internet"
    medc_days_invalid = "medc_days_invalid"
    emergency_days_exceeded = "emergency_days_exceeded"
    quantity_days_exceeded = "quantity_days_exceeded"
    extended_days_reason_required = "extended_days_reason_required"
    long_term_not_chronic = "long_term_not_chronic"
    long_term_days_exceeded = "long_term_days_exceeded"
    long_term_excluded_drug = "long_term_excluded_drug"
    repeat_count_invalid = "repeat_count_invalid"
    repeat_interval_invalid = "repeat_interval_invalid"
    repeat_schedule_exceeds_course = "repeat_schedule_exceeds_course"
    repeat_fields_without_flag = "repeat_fields_without_flag"
    prescriber_unlicensed = "prescriber_unlicensed"
    prescriber_not_registered = "prescriber_not_registered"
    prescriber_no_internet_practice = "prescriber_no_internet_practice"
    prescriber_experience_insufficient = "prescriber_experience_insufficient"
    dispense_limit_reached = "dispense_limit_reached"
    repeat_interval_not_met = "repeat_interval_not_met"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the reason code, the wire field it concerns and a human explanation."""

    code: Reason
    field: str
    message: str


class PrescriptionRefused(InvalidRequest):
    """A prescription (or a dispense) breaks one or more rules. The error carries the first
    violation's code and field (the one error shape) and the message lists every violation."""

    default_code = "prescription_refused"

    def __init__(self, violations: Sequence[Violation]) -> None:
        if not violations:
            raise ValueError("PrescriptionRefused needs at least one violation")
        first = violations[0]
        super().__init__(
            "; ".join(v.message for v in violations), code=first.code.value, field=first.field
        )
        self.violations = tuple(violations)


def refuse_if_any(violations: Sequence[Violation]) -> None:
    """Raise :class:`PrescriptionRefused` if there is any violation."""
    if violations:
        raise PrescriptionRefused(violations)


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DrugFacts:
    """What the catalogue says about a drug (provided by the tariffs domain)."""

    controlled_class: ControlledClass | None = None
    long_term_excluded: bool = False
    antimicrobial: bool = False

    def long_term_exclusion(self) -> str | None:
        """Why the drug may not be on a long-term prescription, or ``None``.

        长期处方管理规范（试行）: never narcotics, psychotropics I/II, toxic or radioactive drugs,
        nor antimicrobials; the catalogue's own flag adds the drugs it excludes for other reasons.
        """
        if self.controlled_class is not None:
            return f"a {self.controlled_class.value} drug"
        if self.antimicrobial:
            return "an antimicrobial"
        if self.long_term_excluded:
            return "excluded from long-term prescriptions by the catalogue"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RxLine:
    """One drug line (``rxdrugdetail``) with its catalogue facts."""

    med_list_codg: str
    medc_days: int
    drug: DrugFacts


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class RxDocument:
    """The parts of an uploaded prescription the rules read (national names, flags as bool).

    ``emer_flag``, ``chro_dise_flag``, ``stab_cond_flag`` and ``extd_days_rsn`` are the doctor's
    statements (emergency prescription, chronic disease, stable condition, reason for a quantity
    over 7 days); they are signed with the rest (prescriptions.signing).
    """

    prsc_time: datetime
    vali_days: int
    vali_end_time: datetime
    rx_type_code: str
    rxdrugdetail: tuple[RxLine, ...]
    long_rx_flag: bool = False
    rept_flag: bool = False
    max_rept_cnt: int | None = None
    min_inrv_days: int | None = None
    emer_flag: bool = False
    chro_dise_flag: bool = False
    stab_cond_flag: bool = False
    extd_days_rsn: str | None = None

    def __post_init__(self) -> None:
        _require_aware("prsc_time", self.prsc_time)
        _require_aware("vali_end_time", self.vali_end_time)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrescriberFacts:
    """What the practitioner registry says about the doctor who signs (tariffs domain):
    practising licence in force, registered institution, internet-practice registration and the
    start of independent practice."""

    dr_code: str
    licensed: bool
    fixmedins_code: str
    internet_practice: bool
    indep_prac_start: date | None


# --- the prescription ----------------------------------------------------------------------------


def check_prescription(rx: RxDocument, *, biz_type_code: str) -> list[Violation]:
    """Every rule of docs/domain.md section 6 the prescription breaks, in a stable order.

    ``biz_type_code`` is the channel of the visit the prescription comes from (the visit record,
    not the hospital's say-so). Identical violations (one missing reason for several lines) are
    reported once.
    """
    found = [
        *_drug_lines(rx),
        *_validity(rx),
        *_controlled_drugs(rx, biz_type_code),
        *_quantity_days(rx),
        *_repeats(rx),
    ]
    return list(dict.fromkeys(found))


def _drug_lines(rx: RxDocument) -> Iterator[Violation]:
    if not rx.rxdrugdetail:
        yield Violation(Reason.no_drug_lines, "rxdrugdetail", "a prescription needs a drug line")


def _validity(rx: RxDocument) -> Iterator[Violation]:
    """处方管理办法 art. 18: valid on the day issued (day 1); the doctor may extend it to at most
    3 days, and ``vali_end_time`` must fall on the last day ``vali_days`` gives."""
    if rx.vali_days < 1:
        yield Violation(Reason.validity_days_invalid, "vali_days", "vali_days must be at least 1")
    elif rx.vali_days > MAX_VALIDITY_DAYS:
        yield Violation(
            Reason.validity_too_long,
            "vali_days",
            f"a prescription is valid for at most {MAX_VALIDITY_DAYS} days, not {rx.vali_days}",
        )
    issued = local_date(rx.prsc_time)
    end_day = (local_date(rx.vali_end_time) - issued).days + 1
    if rx.vali_end_time <= rx.prsc_time:
        yield Violation(
            Reason.validity_end_inconsistent,
            "vali_end_time",
            "vali_end_time must be after prsc_time",
        )
    elif end_day > MAX_VALIDITY_DAYS:
        yield Violation(
            Reason.validity_too_long,
            "vali_end_time",
            f"vali_end_time falls on day {end_day} (the day of issue is day 1); at most"
            f" {MAX_VALIDITY_DAYS}",
        )
    elif 1 <= rx.vali_days <= MAX_VALIDITY_DAYS and end_day != rx.vali_days:
        yield Violation(
            Reason.validity_end_inconsistent,
            "vali_end_time",
            f"vali_end_time falls on day {end_day}, but vali_days is {rx.vali_days}",
        )


def _controlled_drugs(rx: RxDocument, biz_type_code: str) -> Iterator[Violation]:
    """互联网诊疗管理办法（试行） art. 19: no narcotic, psychotropic or other specially controlled
    drug may be prescribed from an internet visit."""
    if biz_type_code != INTERNET_VISIT:
        return
    if rx.rx_type_code in CONTROLLED_RX_TYPE_CODES:
        yield Violation(
            Reason.controlled_drug_internet,
            "rx_type_code",
            f"a type {rx.rx_type_code} (controlled) prescription cannot come from an internet"
            " visit",
        )
    for index, line in enumerate(rx.rxdrugdetail):
        if line.drug.controlled_class is not None:
            yield Violation(
                Reason.controlled_drug_internet,
                f"rxdrugdetail.{index}.med_list_codg",
                f"{line.med_list_codg} is a {line.drug.controlled_class.value} drug and cannot"
                " be prescribed from an internet visit",
            )


def _quantity_days(rx: RxDocument) -> Iterator[Violation]:
    """处方管理办法 art. 19 and 长期处方管理规范（试行）: the days of each line."""
    if rx.long_rx_flag and not rx.chro_dise_flag:
        yield Violation(
            Reason.long_term_not_chronic,
            "long_rx_flag",
            "a long-term prescription is only for a chronic disease (chro_dise_flag)",
        )
    for index, line in enumerate(rx.rxdrugdetail):
        yield from _line_days(rx, index, line)


def _line_days(rx: RxDocument, index: int, line: RxLine) -> Iterator[Violation]:
    field = f"rxdrugdetail.{index}.medc_days"
    days = line.medc_days
    if days < 1:
        yield Violation(Reason.medc_days_invalid, field, "medc_days must be at least 1")
        return
    if rx.emer_flag and days > MAX_EMERGENCY_DAYS:
        yield Violation(
            Reason.emergency_days_exceeded,
            field,
            f"an emergency prescription covers at most {MAX_EMERGENCY_DAYS} days, not {days}",
        )
    elif rx.long_rx_flag:
        exclusion = line.drug.long_term_exclusion()
        if exclusion is not None:
            yield Violation(
                Reason.long_term_excluded_drug,
                f"rxdrugdetail.{index}.med_list_codg",
                f"{line.med_list_codg} is {exclusion}: not on a long-term prescription",
            )
        limit = LONG_TERM_STABLE_MAX_DAYS if rx.stab_cond_flag else LONG_TERM_MAX_DAYS
        if days > limit:
            yield Violation(
                Reason.long_term_days_exceeded,
                field,
                f"a long-term prescription covers at most {LONG_TERM_MAX_DAYS} days"
                f" ({LONG_TERM_STABLE_MAX_DAYS} for a stable patient), not {days}",
            )
    elif days > MAX_DAYS:
        if not rx.chro_dise_flag or days > MAX_EXTENDED_DAYS:
            yield Violation(
                Reason.quantity_days_exceeded,
                field,
                f"a prescription covers at most {MAX_DAYS} days, up to {MAX_EXTENDED_DAYS} for"
                f" a chronic disease with a reason, beyond only as a long-term one; not {days}",
            )
        elif not (rx.extd_days_rsn and rx.extd_days_rsn.strip()):
            yield Violation(
                Reason.extended_days_reason_required,
                "extd_days_rsn",
                f"a quantity over {MAX_DAYS} days needs the doctor's reason",
            )


def _repeats(rx: RxDocument) -> Iterator[Violation]:
    """Dispensing in portions (长期处方管理规范（试行）): ``max_rept_cnt`` ≥ 1 and
    ``min_inrv_days`` ≥ 1 when ``rept_flag``, the last portion starting within the course the
    prescription covers; neither without the flag."""
    count, interval = rx.max_rept_cnt, rx.min_inrv_days
    if not rx.rept_flag:
        if (count is not None and count > 1) or (interval is not None and interval > 0):
            yield Violation(
                Reason.repeat_fields_without_flag,
                "rept_flag",
                "max_rept_cnt / min_inrv_days are set but rept_flag is not",
            )
        return
    if count is None or count < 1:
        yield Violation(
            Reason.repeat_count_invalid,
            "max_rept_cnt",
            "a repeat prescription needs max_rept_cnt of at least 1",
        )
    if interval is None or interval < 1:
        yield Violation(
            Reason.repeat_interval_invalid,
            "min_inrv_days",
            "a repeat prescription needs min_inrv_days of at least 1",
        )
    if count is None or count < 1 or interval is None or interval < 1 or not rx.rxdrugdetail:
        return
    course = max(line.medc_days for line in rx.rxdrugdetail)
    last_start = (count - 1) * interval
    if last_start >= course:
        yield Violation(
            Reason.repeat_schedule_exceeds_course,
            "max_rept_cnt",
            f"portion {count} would start on day {last_start}, after the {course}-day course",
        )


# --- the prescriber ------------------------------------------------------------------------------


def _years_after(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February into a common year
        return date(start.year + years, 3, 1)


def check_prescriber(
    prescriber: PrescriberFacts, *, fixmedins_code: str, biz_type_code: str, on: date
) -> list[Violation]:
    """Whether the doctor may sign this prescription (docs/domain.md section 6).

    No prescribing by software alone: a licensed physician registered at the prescribing
    institution signs; from an internet visit the physician also needs the internet-practice
    registration and at least 3 years of independent practice on ``on``
    (互联网诊疗管理办法（试行）).
    """
    found: list[Violation] = []
    if not prescriber.licensed:
        found.append(
            Violation(
                Reason.prescriber_unlicensed, "dr_code", "the doctor has no practising licence"
            )
        )
    if prescriber.fixmedins_code != fixmedins_code:
        found.append(
            Violation(
                Reason.prescriber_not_registered,
                "dr_code",
                f"the doctor is not registered to practise at {fixmedins_code}",
            )
        )
    if biz_type_code == INTERNET_VISIT:
        if not prescriber.internet_practice:
            found.append(
                Violation(
                    Reason.prescriber_no_internet_practice,
                    "dr_code",
                    "the doctor is not registered for internet practice",
                )
            )
        since = prescriber.indep_prac_start
        if since is None or _years_after(since, INTERNET_PRACTICE_MIN_YEARS) > on:
            found.append(
                Violation(
                    Reason.prescriber_experience_insufficient,
                    "dr_code",
                    f"internet practice needs {INTERNET_PRACTICE_MIN_YEARS} years of independent"
                    " practice",
                )
            )
    return found


# --- dispensing ----------------------------------------------------------------------------------


def may_dispense(
    dispensed_at: Sequence[date], on: date, max_rept_cnt: int, min_inrv_days: int
) -> Violation | None:
    """Whether a prescription may be dispensed (again) on ``on`` (docs/domain.md section 9).

    ``dispensed_at`` are the days of the earlier dispenses. A prescription is dispensed at most
    ``max_rept_cnt`` times (1 for one that is not a repeat prescription), each no sooner than
    ``min_inrv_days`` after the one before: with 3 and 28, days 0, 28 and 56 pass and day 20 or a
    fourth dispense do not.
    """
    if max_rept_cnt < 1 or min_inrv_days < 0:
        raise ValueError("max_rept_cnt must be ≥ 1 and min_inrv_days ≥ 0")
    if len(dispensed_at) >= max_rept_cnt:
        return Violation(
            Reason.dispense_limit_reached,
            "max_rept_cnt",
            f"already dispensed {len(dispensed_at)} of {max_rept_cnt} times",
        )
    if dispensed_at:
        next_day = max(dispensed_at) + timedelta(days=min_inrv_days)
        if on < next_day:
            return Violation(
                Reason.repeat_interval_not_met,
                "min_inrv_days",
                f"the next portion may be dispensed from {next_day.isoformat()}",
            )
    return None
