"""``tariffs.pricing`` as claims and prescriptions call it: many lines at once, one cache lookup,
exact amounts, drug facts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Database
from engine.errors import InvalidRequest
from engine.money import cny
from tariffs import catalogue
from tariffs.models import PoolingRegion
from tariffs.pricing import (
    LineRequest,
    PricingContext,
    PricingError,
    get_drug,
    get_drugs,
    price_lines,
)
from tests.tariffs.factories import (
    DELIVERY,
    FOLLOW_UP,
    METFORMIN,
    catalogue_csv,
    load_demo,
    service_row,
)

TIER3_CHIEF = PricingContext(
    admdvs="230100", on=date(2026, 3, 1), hosp_lv=3, grade="A", dr_title="chief"
)


def line(code: str, cnt: str, pric: str | None = None) -> LineRequest:
    return LineRequest(
        med_list_codg=code, cnt=Decimal(cnt), pric=None if pric is None else Decimal(pric)
    )


@contextmanager
def counted_selects(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            statements.append(args[2])

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_worked_example_a_lines_price_to_211_40(session: AsyncSession) -> None:
    """docs/domain.md section 13, example A: follow-up 7.00; drug X 2 × 25.50 (cap 30.00); drug Y
    3 × 42.80 (cap 40.00, class 2, 10%); drug Z 1 × 15.00 (class 3); delivery 10.00."""
    await load_demo(session, "230100", "230100_services", "drugs")
    priced = await price_lines(
        session,
        TIER3_CHIEF,
        [
            line(FOLLOW_UP, "1"),
            line("XC08CA01D001", "2", "25.50"),
            line("XC10AA05D001", "3", "42.80"),
            line("XC01EB09D001", "1", "15.00"),
            line(DELIVERY, "1"),
        ],
    )
    facts = [
        (p.det_item_fee_sumamt, p.chrgitm_lv, p.pric_uplmt_amt, p.selfpay_prop, p.non_medical)
        for p in priced
    ]
    assert facts == [
        (cny("7.00"), 1, None, Decimal(0), False),
        (cny("51.00"), 1, Decimal("30.00"), Decimal(0), False),
        (cny("128.40"), 2, Decimal("40.00"), Decimal("0.10"), False),
        (cny("15.00"), 3, None, Decimal(0), False),
        (cny("10.00"), 3, None, Decimal(0), True),
    ]
    assert sum(p.det_item_fee_sumamt.amount for p in priced) == Decimal("211.40")
    assert len({p.version_id for p in priced}) == 5


async def test_many_lines_cost_one_query_and_a_warm_cache_only_the_version_check(
    session: AsyncSession, tx_database: Database
) -> None:
    await load_demo(session, "230100", "drugs")
    codes = ["XC08CA01D002", "XC09CA03D001", "XA10BA02D002", "XC10AA07D001", "XB01AC06D001"]
    lines = [line(code, "2", "3.00") for code in codes]
    with counted_selects(tx_database) as cold:
        first = await price_lines(session, TIER3_CHIEF, lines)
    with counted_selects(tx_database) as warm:
        second = await price_lines(session, TIER3_CHIEF, lines)
    assert len(cold) == 2, cold  # the catalogue version, then every line's versions at once
    assert len(warm) == 1, warm  # the catalogue version only
    assert first == second


async def test_an_import_invalidates_the_cache(session: AsyncSession) -> None:
    await load_demo(session, "230100", "230100_services")
    (before,) = await price_lines(session, TIER3_CHIEF, [line(FOLLOW_UP, "1")])
    await catalogue.import_catalogue(
        session,
        admdvs="230100",
        text=catalogue_csv([service_row(FOLLOW_UP, "8.00", valid_from="2026-02-01")]),
        source="test",
        actor=None,
    )
    (after,) = await price_lines(session, TIER3_CHIEF, [line(FOLLOW_UP, "1")])
    assert (before.pric, after.pric) == (Decimal("7.00"), Decimal("8.00"))


async def test_a_pricing_error_names_the_line(session: AsyncSession) -> None:
    await load_demo(session, "230100", "230100_services")
    with pytest.raises(PricingError) as refused:
        await price_lines(session, TIER3_CHIEF, [line(FOLLOW_UP, "1"), line("NOPE", "1")])
    assert (refused.value.code, refused.value.line) == ("unknown_item", 1)
    assert isinstance(refused.value, InvalidRequest)


async def test_floats_and_non_positive_counts_are_refused(session: AsyncSession) -> None:
    await load_demo(session, "230100", "230100_services")
    with pytest.raises(TypeError):
        await price_lines(
            session,
            TIER3_CHIEF,
            [LineRequest(med_list_codg=FOLLOW_UP, cnt=1.0, pric=None)],  # type: ignore[arg-type]
        )
    with pytest.raises(PricingError) as refused:
        await price_lines(session, TIER3_CHIEF, [line(FOLLOW_UP, "0")])
    assert refused.value.code == "invalid_cnt"


async def test_drug_facts_for_prescription_rules(session: AsyncSession) -> None:
    await load_demo(session, "230100", "230100_services", "drugs")
    on = date(2026, 3, 1)
    facts = await get_drugs(session, "230100", ["XN02AA01D001", "XJ01CA04D001", METFORMIN], on)
    morphine, amoxicillin, metformin = (
        facts["XN02AA01D001"],
        facts["XJ01CA04D001"],
        facts[METFORMIN],
    )
    assert (morphine.controlled_class, morphine.long_term_excluded) == ("narcotic", True)
    assert (amoxicillin.antimicrobial, amoxicillin.long_term_excluded) == (True, True)
    assert (metformin.controlled_class, metformin.long_term_excluded) == (None, False)
    assert (await get_drug(session, "230100", "XN05CD04D001", on)).controlled_class == (
        "psychotropic_2"
    )
    for code, expected in [(FOLLOW_UP, "not_a_drug"), ("NOPE", "unknown_item")]:
        with pytest.raises(PricingError) as refused:
            await get_drug(session, "230100", code, on)
        assert refused.value.code == expected
    with pytest.raises(PricingError) as early:
        await get_drug(session, "230100", METFORMIN, date(2024, 12, 31))
    assert early.value.code == "item_not_in_force"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pric=st.decimals(min_value=Decimal("0.0001"), max_value=10_000, places=4),
    cnt=st.decimals(min_value=Decimal("0.01"), max_value=1000, places=2),
)
async def test_amount_is_price_times_count_half_up_to_the_fen(
    session: AsyncSession, pric: Decimal, cnt: Decimal
) -> None:
    """Against integer arithmetic: price in 1/10000 yuan × count in 1/100 = 1/1000000 yuan."""
    if not await session.get(PoolingRegion, "230100"):
        await load_demo(session, "230100", "drugs")
    (priced,) = await price_lines(session, TIER3_CHIEF, [LineRequest(METFORMIN, cnt, pric)])
    micro = int(pric * 10_000) * int(cnt * 100)
    fen = (micro + 5_000) // 10_000  # half-up for non-negative amounts
    assert priced.det_item_fee_sumamt.amount == Decimal(fen) / 100
    assert priced.det_item_fee_sumamt.amount == (pric * cnt).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
