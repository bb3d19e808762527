"""Who may sign (domain.md section 6): a licensed physician registered at the institution; from an
internet visit also registered for internet practice with 3 years of independent practice."""

from __future__ import annotations

from datetime import date

import pytest

from prescriptions.rules import PrescriberFacts, Reason, check_prescriber
from tests.prescriptions.factories import HOSPITAL, prescriber

ON = date(2026, 3, 2)


def codes(
    facts: PrescriberFacts, channel: str = "02", on: date = ON, hospital: str = HOSPITAL
) -> list[Reason]:
    found = check_prescriber(facts, fixmedins_code=hospital, biz_type_code=channel, on=on)
    assert all(v.field == "dr_code" for v in found)
    return [v.code for v in found]


@pytest.mark.parametrize("channel", ["01", "02"])
def test_a_registered_experienced_internet_doctor_may_sign(channel: str) -> None:
    assert codes(prescriber(), channel) == []


def test_an_unlicensed_doctor_may_not_sign() -> None:
    assert codes(prescriber(licensed=False), "01") == [Reason.prescriber_unlicensed]


def test_a_doctor_registered_elsewhere_may_not_sign_here() -> None:
    assert codes(prescriber(), "01", hospital="H23010000002") == [Reason.prescriber_not_registered]


def test_internet_visits_need_internet_practice() -> None:
    offline_only = prescriber(internet_practice=False)
    assert codes(offline_only, "02") == [Reason.prescriber_no_internet_practice]
    assert codes(offline_only, "01") == []


def test_internet_practice_needs_three_full_years() -> None:
    since = date(2023, 3, 2)
    assert codes(prescriber(indep_prac_start=since), on=date(2026, 3, 2)) == []
    assert codes(prescriber(indep_prac_start=since), on=date(2026, 3, 1)) == [
        Reason.prescriber_experience_insufficient
    ]
    assert codes(prescriber(indep_prac_start=None)) == [Reason.prescriber_experience_insufficient]
    assert codes(prescriber(indep_prac_start=date(2025, 1, 1)), "01") == []


def test_three_years_from_29_february_end_on_1_march() -> None:
    leap = prescriber(indep_prac_start=date(2020, 2, 29))
    assert codes(leap, on=date(2023, 2, 28)) == [Reason.prescriber_experience_insufficient]
    assert codes(leap, on=date(2023, 3, 1)) == []


def test_every_failing_condition_is_reported() -> None:
    nobody = prescriber(
        licensed=False,
        fixmedins_code="H999",
        internet_practice=False,
        indep_prac_start=None,
    )
    assert codes(nobody) == [
        Reason.prescriber_unlicensed,
        Reason.prescriber_not_registered,
        Reason.prescriber_no_internet_practice,
        Reason.prescriber_experience_insufficient,
    ]
