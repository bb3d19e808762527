"""Dispensing in portions (docs/domain.md section 9): at most ``max_rept_cnt`` times, no sooner than
``min_inrv_days`` apart; the judged example of issue 6 (3 portions, 28 days: days 0, 28 and 56
pass, day 20 and a fourth are refused) and a property over any sequence of attempts."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prescriptions.rules import Reason, may_dispense

DAY0 = date(2026, 3, 2)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def test_three_portions_twenty_eight_days_apart() -> None:
    dispensed: list[date] = []
    for n in (0, 28, 56):
        assert may_dispense(dispensed, day(n), 3, 28) is None
        dispensed.append(day(n))
    fourth = may_dispense(dispensed, day(84), 3, 28)
    assert fourth is not None
    assert (fourth.code, fourth.field) == (Reason.dispense_limit_reached, "max_rept_cnt")


def test_a_portion_before_the_interval_is_refused() -> None:
    too_soon = may_dispense([day(0)], day(20), 3, 28)
    assert too_soon is not None
    assert (too_soon.code, too_soon.field) == (Reason.repeat_interval_not_met, "min_inrv_days")
    assert day(28).isoformat() in too_soon.message
    assert may_dispense([day(0)], day(27), 3, 28) is not None
    assert may_dispense([day(0)], day(28), 3, 28) is None


def test_an_ordinary_prescription_is_dispensed_once() -> None:
    assert may_dispense([], DAY0, 1, 0) is None
    again = may_dispense([DAY0], DAY0, 1, 0)
    assert again is not None and again.code is Reason.dispense_limit_reached


def test_the_interval_counts_from_the_latest_dispense_in_any_order() -> None:
    assert may_dispense([day(28), day(0)], day(40), 3, 28) is not None
    assert may_dispense([day(28), day(0)], day(56), 3, 28) is None


@pytest.mark.parametrize(("count", "interval"), [(0, 28), (3, -1)])
def test_nonsense_limits_are_a_programming_error(count: int, interval: int) -> None:
    with pytest.raises(ValueError):
        may_dispense([], DAY0, count, interval)


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=6),
    interval=st.integers(min_value=0, max_value=40),
    gaps=st.lists(st.integers(min_value=0, max_value=60), max_size=12),
)
def test_any_sequence_of_attempts(count: int, interval: int, gaps: list[int]) -> None:
    """Attempts at increasing days: exactly those that keep within the count and the interval
    are allowed, and every refusal names the rule that refused it."""
    dispensed: list[date] = []
    on = DAY0
    for gap in gaps:
        on += timedelta(days=gap)
        verdict = may_dispense(dispensed, on, count, interval)
        limit_reached = len(dispensed) >= count
        too_soon = bool(dispensed) and (on - dispensed[-1]).days < interval
        if limit_reached:
            assert verdict is not None and verdict.code is Reason.dispense_limit_reached
        elif too_soon:
            assert verdict is not None and verdict.code is Reason.repeat_interval_not_met
        else:
            assert verdict is None
            dispensed.append(on)
    assert len(dispensed) <= count
    assert all((b - a).days >= interval for a, b in pairwise(dispensed))
