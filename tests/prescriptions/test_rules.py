"""The prescription rules of docs/domain.md section 6, one reason code at a time, and the judged
examples of issue 6 (a controlled drug on an internet prescription, a 5-day validity and a 13-week
long-term prescription are refused with their reason code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import CST
from engine.errors import InvalidRequest
from prescriptions.rules import (
    ControlledClass,
    DrugFacts,
    PrescriptionRefused,
    Reason,
    RxDocument,
    Violation,
    check_prescription,
    refuse_if_any,
)
from tests.prescriptions.factories import PRSC_TIME, drug, line, rx, valid_for

IN_PERSON = "01"
INTERNET = "02"


def codes(document: RxDocument, biz_type_code: str = INTERNET) -> list[tuple[Reason, str]]:
    return [(v.code, v.field) for v in check_prescription(document, biz_type_code=biz_type_code)]


def long_term(days: int, *, stable: bool = True, facts: DrugFacts | None = None) -> RxDocument:
    return rx(
        line(days, facts=facts), long_rx_flag=True, chro_dise_flag=True, stab_cond_flag=stable
    )


@pytest.mark.parametrize("channel", [IN_PERSON, INTERNET])
def test_an_ordinary_prescription_passes(channel: str) -> None:
    assert codes(rx(), channel) == []
    assert codes(valid_for(3), channel) == []


# --- judged examples -----------------------------------------------------------------------------


def test_a_controlled_drug_on_an_internet_prescription_is_refused() -> None:
    narcotic = drug(controlled_class=ControlledClass.narcotic)
    morphine = line(3, med_list_codg="XN02AAM001", facts=narcotic)
    assert codes(rx(line(), morphine)) == [
        (Reason.controlled_drug_internet, "rxdrugdetail.1.med_list_codg")
    ]


def test_a_five_day_validity_is_refused() -> None:
    assert codes(valid_for(5)) == [
        (Reason.validity_too_long, "vali_days"),
        (Reason.validity_too_long, "vali_end_time"),
    ]


def test_a_thirteen_week_long_term_prescription_is_refused() -> None:
    assert codes(long_term(13 * 7)) == [
        (Reason.long_term_days_exceeded, "rxdrugdetail.0.medc_days")
    ]


# --- controlled drugs and the internet channel ---------------------------------------------------


@pytest.mark.parametrize("rx_type_code", ["7", "8"])
def test_narcotic_and_psychotropic_prescription_types_are_refused_online(rx_type_code: str) -> None:
    assert codes(rx(rx_type_code=rx_type_code)) == [
        (Reason.controlled_drug_internet, "rx_type_code")
    ]
    assert codes(rx(rx_type_code=rx_type_code), IN_PERSON) == []


@pytest.mark.parametrize("controlled", list(ControlledClass))
def test_every_specially_controlled_class_is_refused_online_only(
    controlled: ControlledClass,
) -> None:
    document = rx(line(facts=drug(controlled_class=controlled)))
    assert codes(document) == [(Reason.controlled_drug_internet, "rxdrugdetail.0.med_list_codg")]
    assert codes(document, IN_PERSON) == []


def test_the_catalogue_spelling_of_a_controlled_class_is_accepted() -> None:
    """The tariffs catalogue stores the class as text; the enum reads it back."""
    assert ControlledClass("psychotropic_2") is ControlledClass.psychotropic_2


# --- validity ------------------------------------------------------------------------------------


def test_validity_of_at_least_one_day() -> None:
    assert (Reason.validity_days_invalid, "vali_days") in codes(rx(vali_days=0))


def test_validity_end_must_follow_issue() -> None:
    assert codes(rx(vali_end_time=PRSC_TIME)) == [
        (Reason.validity_end_inconsistent, "vali_end_time")
    ]


def test_validity_end_must_fall_on_the_last_valid_day() -> None:
    two_days = rx(vali_days=2)  # vali_end_time on day 1
    assert codes(two_days) == [(Reason.validity_end_inconsistent, "vali_end_time")]
    four_days_late = valid_for(4, vali_days=3)
    assert codes(four_days_late) == [(Reason.validity_too_long, "vali_end_time")]


def test_seventy_two_hours_is_past_the_third_day() -> None:
    """Day 1 is the day of issue, so 3 days end at midnight starting day 4, not 72 hours later."""
    assert codes(rx(vali_days=3, vali_end_time=PRSC_TIME + timedelta(hours=72))) == [
        (Reason.validity_too_long, "vali_end_time")
    ]


def test_calendar_days_are_china_days_whatever_the_offset() -> None:
    """01:00 on 3 March in Beijing is 17:00 on 2 March UTC; the prescription is issued on
    3 March, so a one-day validity ends on 3 March (Beijing) even though that is 4 March UTC
    only after 16:00 UTC."""
    issued = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    end_same_china_day = datetime(2026, 3, 3, 15, 59, 59, tzinfo=UTC)
    assert codes(rx(prsc_time=issued, vali_end_time=end_same_china_day)) == []
    end_next_china_day = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    assert codes(rx(prsc_time=issued, vali_end_time=end_next_china_day)) == [
        (Reason.validity_end_inconsistent, "vali_end_time")
    ]
    assert end_next_china_day.astimezone(CST).date().day == 4


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rx(prsc_time=datetime(2026, 3, 2, 9, 30))


# --- quantity by days ----------------------------------------------------------------------------


def test_seven_days_normally() -> None:
    assert codes(rx(line(7))) == []
    assert codes(rx(line(8))) == [(Reason.quantity_days_exceeded, "rxdrugdetail.0.medc_days")]


def test_a_chronic_disease_may_go_longer_with_a_reason() -> None:
    assert codes(rx(line(28), chro_dise_flag=True, extd_days_rsn="病情稳定")) == []
    assert codes(rx(line(29), chro_dise_flag=True, extd_days_rsn="病情稳定")) == [
        (Reason.quantity_days_exceeded, "rxdrugdetail.0.medc_days")
    ]


def test_a_missing_reason_is_reported_once_for_all_lines() -> None:
    for reason in (None, "  "):
        document = rx(line(14), line(21), chro_dise_flag=True, extd_days_rsn=reason)
        assert codes(document) == [(Reason.extended_days_reason_required, "extd_days_rsn")]


def test_emergency_prescriptions_cover_three_days() -> None:
    assert codes(rx(line(3), emer_flag=True)) == []
    assert codes(rx(line(4), emer_flag=True, chro_dise_flag=True, extd_days_rsn="x")) == [
        (Reason.emergency_days_exceeded, "rxdrugdetail.0.medc_days")
    ]


def test_days_must_be_positive() -> None:
    assert codes(rx(line(0))) == [(Reason.medc_days_invalid, "rxdrugdetail.0.medc_days")]


def test_a_prescription_needs_a_drug_line() -> None:
    assert codes(rx(rxdrugdetail=())) == [(Reason.no_drug_lines, "rxdrugdetail")]


# --- long-term prescriptions ---------------------------------------------------------------------


def test_long_term_four_weeks_or_twelve_for_a_stable_patient() -> None:
    assert codes(long_term(28, stable=False)) == []
    assert codes(long_term(29, stable=False)) == [
        (Reason.long_term_days_exceeded, "rxdrugdetail.0.medc_days")
    ]
    assert codes(long_term(84)) == []
    assert codes(long_term(85)) == [(Reason.long_term_days_exceeded, "rxdrugdetail.0.medc_days")]


def test_long_term_is_only_for_chronic_disease() -> None:
    document = rx(line(28), long_rx_flag=True)
    assert codes(document) == [(Reason.long_term_not_chronic, "long_rx_flag")]


@pytest.mark.parametrize(
    "facts",
    [
        *(drug(controlled_class=controlled) for controlled in ControlledClass),
        drug(antimicrobial=True),
        drug(long_term_excluded=True),
    ],
)
def test_excluded_drugs_never_go_on_a_long_term_prescription(facts: DrugFacts) -> None:
    assert codes(long_term(28, facts=facts), IN_PERSON) == [
        (Reason.long_term_excluded_drug, "rxdrugdetail.0.med_list_codg")
    ]


# --- repeat dispensing ---------------------------------------------------------------------------


def repeat(count: int | None, interval: int | None, days: int = 84) -> RxDocument:
    return rx(
        line(days),
        long_rx_flag=True,
        chro_dise_flag=True,
        stab_cond_flag=True,
        rept_flag=True,
        max_rept_cnt=count,
        min_inrv_days=interval,
    )


def test_three_portions_four_weeks_apart_fit_twelve_weeks() -> None:
    assert codes(repeat(3, 28)) == []


@pytest.mark.parametrize("count", [None, 0, -1])
def test_a_repeat_prescription_needs_a_count(count: int | None) -> None:
    assert codes(repeat(count, 28)) == [(Reason.repeat_count_invalid, "max_rept_cnt")]


@pytest.mark.parametrize("interval", [None, 0])
def test_a_repeat_prescription_needs_an_interval(interval: int | None) -> None:
    assert codes(repeat(3, interval)) == [(Reason.repeat_interval_invalid, "min_inrv_days")]


def test_the_last_portion_must_start_within_the_course() -> None:
    assert codes(repeat(4, 28)) == [(Reason.repeat_schedule_exceeds_course, "max_rept_cnt")]
    assert codes(repeat(3, 28, days=56)) == [
        (Reason.repeat_schedule_exceeds_course, "max_rept_cnt")
    ]
    assert codes(repeat(3, 28, days=57)) == []


@pytest.mark.parametrize(("count", "interval"), [(2, None), (None, 7), (3, 28)])
def test_repeat_fields_need_the_flag(count: int | None, interval: int | None) -> None:
    document = rx(max_rept_cnt=count, min_inrv_days=interval)
    assert codes(document) == [(Reason.repeat_fields_without_flag, "rept_flag")]


def test_a_single_dispense_count_without_the_flag_is_consistent() -> None:
    assert codes(rx(max_rept_cnt=1, min_inrv_days=0)) == []


# --- raising -------------------------------------------------------------------------------------


def test_refuse_if_any_raises_one_400_with_every_violation() -> None:
    violations = check_prescription(valid_for(5, rx_type_code="7"), biz_type_code=INTERNET)
    with pytest.raises(PrescriptionRefused) as exc:
        refuse_if_any(violations)
    error = exc.value
    assert isinstance(error, InvalidRequest) and error.status == 400
    assert (error.code, error.field) == ("validity_too_long", "vali_days")
    assert error.violations == tuple(violations)
    assert all(v.message in error.message for v in violations)
    refuse_if_any([])


def test_violations_are_plain_values() -> None:
    violation = check_prescription(valid_for(5), biz_type_code=IN_PERSON)[0]
    assert violation == Violation(violation.code, "vali_days", violation.message)
    assert violation.code == "validity_too_long"
