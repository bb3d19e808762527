"""The adjudication core against the worked examples of docs/domain.md section 13 and the edge cases
of section 5 (deductible, caps, account, payment standards, 4-decimal prices, bands)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from claims.settlement.service.adjudication import (
    AccountPolicy,
    AccumulatorDelta,
    Accumulators,
    Adjudication,
    AssistancePolicy,
    BasicPolicy,
    ClaimInput,
    CriticalIllnessPolicy,
    FundPayment,
    PoolBand,
    PricedLine,
    adjudicate,
)
from engine.money import ZERO, Money, cny, scale

# --- typed factories (demo policy of domain.md section 4, region 230100, 2026) ------------------


def make_line(
    feedetl_sn: str,
    *,
    chrgitm_lv: int = 1,
    pric: str,
    cnt: str = "1",
    cap: str | None = None,
    selfpay_prop: str = "0",
    non_medical: bool = False,
    med_list_codg: str = "XA01",
) -> PricedLine:
    return PricedLine(
        feedetl_sn=feedetl_sn,
        med_list_codg=med_list_codg,
        chrgitm_lv=chrgitm_lv,
        non_medical=non_medical,
        pric=Decimal(pric),
        cnt=Decimal(cnt),
        det_item_fee_sumamt=scale(Decimal(pric), Decimal(cnt)),
        pric_uplmt_amt=None if cap is None else Decimal(cap),
        selfpay_prop=Decimal(selfpay_prop),
    )


def one_band(ratio: str) -> tuple[PoolBand, ...]:
    return (PoolBand(upto=None, ratio=Decimal(ratio)),)


def employee_outpatient_tier3() -> BasicPolicy:
    """310 / 11 / level 3: deductible 200.00, 50%, cap 5,000.00."""
    return BasicPolicy(
        fund_pay_type="310100",
        deductible=cny("200.00"),
        pool_bands=one_band("0.50"),
        annual_cap=cny("5000.00"),
    )


def resident_chronic() -> BasicPolicy:
    """390 / 14: no deductible, 60%, cap 8,000.00."""
    return BasicPolicy(
        fund_pay_type="390100",
        deductible=ZERO,
        pool_bands=one_band("0.60"),
        annual_cap=cny("8000.00"),
    )


def resident_critical_illness() -> CriticalIllnessPolicy:
    """392: threshold 15,000.00; 60% up to 100,000.00 above it, 70% beyond; cap 300,000.00."""
    return CriticalIllnessPolicy(
        fund_pay_type="390200",
        threshold=cny("15000.00"),
        bands=(
            PoolBand(upto=cny("100000.00"), ratio=Decimal("0.60")),
            PoolBand(upto=None, ratio=Decimal("0.70")),
        ),
        annual_cap=cny("300000.00"),
    )


def dibao_assistance() -> AssistancePolicy:
    """低保: 70%, cap 20,000.00."""
    return AssistancePolicy(
        fund_pay_type="610100", category="低保", ratio=Decimal("0.70"), annual_cap=cny("20000.00")
    )


def make_claim(
    lines: tuple[PricedLine, ...],
    *,
    basic: BasicPolicy | None = None,
    critical_illness: CriticalIllnessPolicy | None = None,
    assistance: AssistancePolicy | None = None,
    account_enabled: bool = False,
    accumulators: Accumulators | None = None,
    acct_balance: Money = ZERO,
    acct_used_flag: bool = False,
) -> ClaimInput:
    return ClaimInput(
        lines=lines,
        basic=basic or employee_outpatient_tier3(),
        critical_illness=critical_illness,
        assistance=assistance,
        account=AccountPolicy(enabled=account_enabled),
        accumulators=accumulators or Accumulators(),
        acct_balance=acct_balance,
        acct_used_flag=acct_used_flag,
    )


def assert_fields(result: Adjudication, **expected: str) -> None:
    actual = {name: getattr(result, name) for name in expected}
    assert actual == {name: cny(value) for name, value in expected.items()}


def assert_identities(result: Adjudication) -> None:
    assert result.medfee_sumamt == (
        result.fulamt_ownpay_amt
        + result.overlmt_selfpay
        + result.preselfpay_amt
        + result.inscp_scp_amt
    )
    assert result.medfee_sumamt == result.fund_pay_sumamt + result.psn_part_amt
    assert result.psn_part_amt == result.acct_pay + result.psn_cash_pay
    detail_sum = sum((row.fund_payamt for row in result.setldetail), ZERO)
    assert detail_sum == result.fund_pay_sumamt


# --- domain.md section 13 -----------------------------------------------------------------------


def example_a() -> ClaimInput:
    return make_claim(
        (
            make_line("1", pric="7.00", med_list_codg="FOLLOWUP"),
            make_line("2", pric="25.50", cnt="2", cap="30.00", med_list_codg="DRUG-X"),
            make_line(
                "3",
                chrgitm_lv=2,
                pric="42.80",
                cnt="3",
                cap="40.00",
                selfpay_prop="0.10",
                med_list_codg="DRUG-Y",
            ),
            make_line("4", chrgitm_lv=3, pric="15.00", med_list_codg="DRUG-Z"),
            make_line("5", pric="10.00", non_medical=True, med_list_codg="DELIVERY"),
        ),
        account_enabled=True,
        accumulators=Accumulators(deductible_used=cny("150.00")),
        acct_balance=cny("100.00"),
        acct_used_flag=True,
    )


def test_example_a_employee_internet_follow_up() -> None:
    result = adjudicate(example_a())

    assert_fields(
        result,
        medfee_sumamt="211.40",
        fulamt_ownpay_amt="25.00",
        overlmt_selfpay="8.40",
        preselfpay_amt="12.00",
        inscp_scp_amt="166.00",
        act_pay_dedc="50.00",
        hifp_pay="58.00",
        fund_pay_sumamt="58.00",
        psn_part_amt="153.40",
        acct_pay="100.00",
        psn_cash_pay="53.40",
        balc="0.00",
        hifmi_pay="0.00",
        hifob_pay="0.00",
        maf_pay="0.00",
        cvlserv_pay="0.00",
        hifes_pay="0.00",
        oth_pay="0.00",
    )
    assert [
        (s.fulamt_ownpay_amt, s.overlmt_amt, s.preselfpay_amt, s.inscp_scp_amt)
        for s in result.lines
    ] == [
        (ZERO, ZERO, ZERO, cny("7.00")),
        (ZERO, ZERO, ZERO, cny("51.00")),
        (ZERO, cny("8.40"), cny("12.00"), cny("108.00")),
        (cny("15.00"), ZERO, ZERO, ZERO),
        (cny("10.00"), ZERO, ZERO, ZERO),
    ]
    assert result.setldetail == (
        FundPayment(
            fund_pay_type="310100",
            fund_payamt=cny("58.00"),
            inscp_scp_amt=cny("116.00"),
            crt_payb_lmt_amt=cny("5000.00"),
            setl_proc_info="basic pooled fund",
        ),
    )
    assert result.delta == AccumulatorDelta(
        deductible_used=cny("50.00"),
        hifp_paid=cny("58.00"),
        inscp_psn_cum=cny("108.00"),
        critical_paid=ZERO,
        assistance_paid=ZERO,
        acct_spent=cny("100.00"),
    )
    assert_identities(result)


def test_example_b_resident_dibao_chronic_outpatient() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="300.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
            assistance=dibao_assistance(),
        )
    )

    assert_fields(
        result,
        inscp_scp_amt="300.00",
        act_pay_dedc="0.00",
        hifp_pay="180.00",
        hifmi_pay="0.00",
        maf_pay="84.00",
        fund_pay_sumamt="264.00",
        psn_part_amt="36.00",
        acct_pay="0.00",
        psn_cash_pay="36.00",
    )
    assert [(row.fund_pay_type, row.fund_payamt) for row in result.setldetail] == [
        ("390100", cny("180.00")),
        ("610100", cny("84.00")),
    ]
    assert result.delta.inscp_psn_cum == cny("120.00")
    assert_identities(result)


def test_example_c_resident_crosses_critical_illness_threshold() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="2000.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
            accumulators=Accumulators(inscp_psn_cum=cny("14800.00")),
        )
    )

    assert_fields(
        result,
        inscp_scp_amt="2000.00",
        hifp_pay="1200.00",
        hifmi_pay="360.00",
        hifob_pay="0.00",
        fund_pay_sumamt="1560.00",
        psn_part_amt="440.00",
        psn_cash_pay="440.00",
    )
    critical = result.explanation.funds[1]
    assert critical.field == "hifmi_pay"
    assert critical.base == "600.00"
    assert [(m.name, m.before, m.after) for m in critical.accumulators] == [
        ("inscp_psn_cum", "14800.00", "15600.00"),
        ("critical_paid", "0.00", "360.00"),
    ]
    assert result.delta.inscp_psn_cum == cny("800.00")
    assert_identities(result)


def test_example_d_annual_cap_limits_the_pooled_fund() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="300.00"),),
            accumulators=Accumulators(deductible_used=cny("200.00"), hifp_paid=cny("4950.00")),
        )
    )

    assert_fields(
        result,
        inscp_scp_amt="300.00",
        act_pay_dedc="0.00",
        hifp_pay="50.00",
        fund_pay_sumamt="50.00",
        psn_part_amt="250.00",
    )
    pool = result.explanation.funds[0]
    assert (pool.computed, pool.cap_remaining, pool.limited_by_cap) == ("150.00", "50.00", True)
    assert_identities(result)


# --- edge cases ----------------------------------------------------------------------------------


def test_zero_deductible_pays_from_the_first_fen() -> None:
    basic = BasicPolicy(
        fund_pay_type="310100",
        deductible=ZERO,
        pool_bands=one_band("0.75"),
        annual_cap=cny("10000.00"),
    )
    result = adjudicate(make_claim((make_line("1", pric="100.01"),), basic=basic))

    assert_fields(result, act_pay_dedc="0.00", hifp_pay="75.01", psn_part_amt="25.00")
    assert result.delta.deductible_used == ZERO


def test_deductible_used_beyond_the_policy_takes_nothing() -> None:
    """A deductible lowered mid-year leaves nothing remaining, never a negative remainder."""
    result = adjudicate(
        make_claim(
            (make_line("1", pric="100.00"),),
            accumulators=Accumulators(deductible_used=cny("300.00")),
        )
    )

    assert_fields(result, act_pay_dedc="0.00", hifp_pay="50.00")


def test_deductible_larger_than_the_claim_takes_all_of_it() -> None:
    result = adjudicate(make_claim((make_line("1", pric="80.00"),)))

    assert_fields(result, act_pay_dedc="80.00", hifp_pay="0.00", psn_part_amt="80.00")
    assert result.setldetail == ()
    assert result.delta.deductible_used == cny("80.00")


@pytest.mark.parametrize("paid", ["5000.00", "6000.00"])
def test_cap_already_exhausted_pays_nothing(paid: str) -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="300.00"),),
            accumulators=Accumulators(deductible_used=cny("200.00"), hifp_paid=cny(paid)),
        )
    )

    assert_fields(result, hifp_pay="0.00", fund_pay_sumamt="0.00", psn_part_amt="300.00")
    assert result.setldetail == ()
    assert result.explanation.funds[0].cap_remaining == "0.00"
    assert result.delta.hifp_paid == ZERO


def test_account_flag_off_leaves_the_balance() -> None:
    claim = example_a()
    result = adjudicate(
        make_claim(
            claim.lines,
            account_enabled=True,
            accumulators=claim.accumulators,
            acct_balance=cny("100.00"),
            acct_used_flag=False,
        )
    )

    assert_fields(result, acct_pay="0.00", psn_cash_pay="153.40", balc="100.00")
    assert result.delta.acct_spent == ZERO


def test_account_not_enabled_for_the_person_pays_nothing_even_if_requested() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="50.00"),),
            account_enabled=False,
            acct_balance=cny("100.00"),
            acct_used_flag=True,
        )
    )

    assert_fields(result, acct_pay="0.00", psn_cash_pay="50.00", balc="100.00")


def test_account_balance_zero() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="50.00"),),
            account_enabled=True,
            acct_balance=ZERO,
            acct_used_flag=True,
        )
    )

    assert_fields(result, acct_pay="0.00", psn_cash_pay="50.00", balc="0.00")


def test_account_pays_whole_personal_part_of_medical_items_but_not_delivery() -> None:
    result = adjudicate(
        make_claim(
            (
                make_line("1", pric="50.00"),
                make_line("2", pric="8.00", non_medical=True),
            ),
            account_enabled=True,
            acct_balance=cny("500.00"),
            acct_used_flag=True,
        )
    )

    assert_fields(
        result, psn_part_amt="58.00", acct_pay="50.00", psn_cash_pay="8.00", balc="450.00"
    )
    assert result.explanation.account.non_medical_amt == "8.00"


def test_account_cannot_pay_a_delivery_only_claim() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="8.00", non_medical=True),),
            account_enabled=True,
            acct_balance=cny("500.00"),
            acct_used_flag=True,
        )
    )

    assert_fields(result, fulamt_ownpay_amt="8.00", acct_pay="0.00", psn_cash_pay="8.00")


def test_non_medical_line_is_fully_self_paid_whatever_its_class() -> None:
    result = adjudicate(make_claim((make_line("1", chrgitm_lv=1, pric="12.00", non_medical=True),)))

    assert result.explanation.lines[0].rule == "non_medical"
    assert_fields(result, fulamt_ownpay_amt="12.00", inscp_scp_amt="0.00")


def test_line_with_no_cap_is_all_in_scope() -> None:
    result = adjudicate(make_claim((make_line("1", pric="999.99", cnt="2", cap=None),)))

    assert_fields(result, overlmt_selfpay="0.00", inscp_scp_amt="1999.98")
    assert result.explanation.lines[0].pric_uplmt_amt is None


@pytest.mark.parametrize("cap", ["12.50", "13.00"])
def test_cap_at_or_above_price_takes_nothing(cap: str) -> None:
    result = adjudicate(make_claim((make_line("1", pric="12.50", cnt="3", cap=cap),)))

    assert_fields(result, overlmt_selfpay="0.00", inscp_scp_amt="37.50")


def test_four_decimal_price_line() -> None:
    """0.0325 × 90 = 2.925 → 2.93 half-up (docs/domain.md section 3)."""
    line = make_line("1", pric="0.0325", cnt="90")
    assert line.det_item_fee_sumamt == cny("2.93")

    result = adjudicate(make_claim((line,)))

    assert_fields(result, medfee_sumamt="2.93", inscp_scp_amt="2.93")


def test_four_decimal_price_and_cap() -> None:
    """capped = 0.0300 × 90 = 2.70; the 0.23 above the payment standard is overlmt."""
    result = adjudicate(make_claim((make_line("1", pric="0.0325", cnt="90", cap="0.0300"),)))

    assert_fields(result, medfee_sumamt="2.93", overlmt_selfpay="0.23", inscp_scp_amt="2.70")


def test_class_b_self_pay_share_rounds_half_up() -> None:
    """capped 0.05 × 10% = 0.005 → 0.01 (half-up, not banker's 0.00)."""
    result = adjudicate(
        make_claim((make_line("1", chrgitm_lv=2, pric="0.05", selfpay_prop="0.10"),))
    )

    assert_fields(result, preselfpay_amt="0.01", inscp_scp_amt="0.04")


def test_pool_ratio_rounds_half_up() -> None:
    """(inscp − deductible) × 50% = 0.005 → 0.01."""
    basic = BasicPolicy(
        fund_pay_type="310100", deductible=ZERO, pool_bands=one_band("0.50"), annual_cap=cny("1")
    )
    result = adjudicate(make_claim((make_line("1", pric="0.01"),), basic=basic))

    assert_fields(result, hifp_pay="0.01", psn_part_amt="0.00")


def test_basic_pool_bands() -> None:
    """50% on the first 1,000.00 above the deductible, 60% beyond: 1,500.00 → 500.00 + 300.00."""
    basic = BasicPolicy(
        fund_pay_type="310100",
        deductible=cny("200.00"),
        pool_bands=(
            PoolBand(upto=cny("1000.00"), ratio=Decimal("0.50")),
            PoolBand(upto=None, ratio=Decimal("0.60")),
        ),
        annual_cap=cny("5000.00"),
    )
    result = adjudicate(make_claim((make_line("1", pric="1700.00"),), basic=basic))

    assert_fields(result, act_pay_dedc="200.00", hifp_pay="800.00")
    bands = result.explanation.funds[0].bands
    assert [(b.lower, b.upper, b.ratio, b.portion) for b in bands] == [
        ("0.00", "1000.00", "0.5", "1000.00"),
        ("1000.00", None, "0.6", "500.00"),
    ]


def test_bands_round_once_on_the_sum() -> None:
    """Two half-fen band products (0.005 + 0.005) make 0.01, not 0.01 + 0.01."""
    basic = BasicPolicy(
        fund_pay_type="310100",
        deductible=ZERO,
        pool_bands=(
            PoolBand(upto=cny("0.01"), ratio=Decimal("0.50")),
            PoolBand(upto=None, ratio=Decimal("0.50")),
        ),
        annual_cap=cny("100.00"),
    )
    result = adjudicate(make_claim((make_line("1", pric="0.02"),), basic=basic))

    assert_fields(result, hifp_pay="0.01")
    assert [b.product for b in result.explanation.funds[0].bands] == ["0.005", "0.005"]


def test_critical_illness_crosses_a_band_boundary() -> None:
    """99,000.00 above the threshold before, 2,000.00 more: 1,000 × 60% + 1,000 × 70%."""
    result = adjudicate(
        make_claim(
            (make_line("1", pric="5000.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
            accumulators=Accumulators(inscp_psn_cum=cny("114000.00"), hifp_paid=cny("5000.00")),
        )
    )

    # hifp is limited to 3,000.00 by the cap, leaving a personal share of 2,000.00.
    assert_fields(result, hifp_pay="3000.00", hifmi_pay="1300.00", psn_part_amt="700.00")


def test_critical_illness_below_threshold_pays_nothing_but_accumulates() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="100.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
        )
    )

    assert_fields(result, hifmi_pay="0.00")
    assert result.delta.inscp_psn_cum == cny("40.00")
    assert [f.field for f in result.explanation.funds] == ["hifp_pay", "hifmi_pay"]
    assert [row.fund_pay_type for row in result.setldetail] == ["390100"]


def test_critical_illness_limited_by_its_cap() -> None:
    result = adjudicate(
        make_claim(
            (make_line("1", pric="1000.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
            accumulators=Accumulators(
                inscp_psn_cum=cny("500000.00"), critical_paid=cny("299900.00")
            ),
        )
    )

    assert_fields(result, hifp_pay="600.00", hifmi_pay="100.00", psn_part_amt="300.00")


def test_employee_large_expense_pays_as_hifob() -> None:
    critical = CriticalIllnessPolicy(
        fund_pay_type="330100",
        threshold=ZERO,
        bands=one_band("0.80"),
        annual_cap=cny("400000.00"),
    )
    basic = BasicPolicy(
        fund_pay_type="310100",
        deductible=ZERO,
        pool_bands=one_band("0.75"),
        annual_cap=cny("10000.00"),
    )
    result = adjudicate(
        make_claim((make_line("1", pric="100.00"),), basic=basic, critical_illness=critical)
    )

    assert_fields(result, hifp_pay="75.00", hifob_pay="20.00", hifmi_pay="0.00")
    assert [(r.fund_pay_type, r.fund_payamt) for r in result.setldetail] == [
        ("310100", cny("75.00")),
        ("330100", cny("20.00")),
    ]


def test_assistance_after_critical_illness_and_limited_by_its_cap() -> None:
    assistance = AssistancePolicy(
        fund_pay_type="610100", category="特困", ratio=Decimal("0.90"), annual_cap=cny("30000.00")
    )
    result = adjudicate(
        make_claim(
            (make_line("1", pric="2000.00"),),
            basic=resident_chronic(),
            critical_illness=resident_critical_illness(),
            assistance=assistance,
            accumulators=Accumulators(
                inscp_psn_cum=cny("14800.00"), assistance_paid=cny("29950.00")
            ),
        )
    )

    # 90% of (2,000 − 1,200 − 360) = 396.00, but only 50.00 of the cap is left.
    assert_fields(result, hifmi_pay="360.00", maf_pay="50.00", psn_part_amt="390.00")
    assert result.explanation.funds[2].computed == "396.00"


def test_empty_claim_is_all_zero() -> None:
    result = adjudicate(make_claim(()))

    assert_fields(result, medfee_sumamt="0.00", fund_pay_sumamt="0.00", psn_part_amt="0.00")
    assert result.setldetail == ()


def test_adjudicate_is_pure() -> None:
    claim = example_a()

    assert adjudicate(claim) == adjudicate(claim)


def test_explanation_serialises_to_json_with_string_amounts() -> None:
    result = adjudicate(example_a())

    document = json.loads(json.dumps(result.explanation.as_dict(), ensure_ascii=False))

    line = document["lines"][2]
    assert line["rule"] == "class_b"
    assert (line["capped_amt"], line["overlmt_amt"], line["preselfpay_amt"]) == (
        "120.00",
        "8.40",
        "12.00",
    )
    assert document["deductible"]["accumulator"] == {
        "name": "deductible_used",
        "before": "150.00",
        "after": "200.00",
    }
    pool = document["funds"][0]
    assert (pool["field"], pool["base"], pool["fund_payamt"]) == ("hifp_pay", "116.00", "58.00")
    assert document["account"]["balc"] == "0.00"


# --- accumulators --------------------------------------------------------------------------------


def test_apply_then_revert_restores_accumulators() -> None:
    before = Accumulators(deductible_used=cny("150.00"), hifp_paid=cny("12.34"))
    delta = adjudicate(example_a()).delta

    after = before.apply(delta)

    assert after == Accumulators(
        deductible_used=cny("200.00"), hifp_paid=cny("70.34"), inscp_psn_cum=cny("108.00")
    )
    assert after.revert(delta) == before


def test_revert_of_a_delta_never_applied_is_refused() -> None:
    delta = adjudicate(example_a()).delta

    with pytest.raises(ValueError, match="negative"):
        Accumulators().revert(delta)


# --- refusals ------------------------------------------------------------------------------------


def _line_kwargs() -> dict[str, object]:
    return {
        "feedetl_sn": "1",
        "med_list_codg": "X",
        "chrgitm_lv": 2,
        "non_medical": False,
        "pric": Decimal("10.00"),
        "cnt": Decimal("2"),
        "det_item_fee_sumamt": cny("20.00"),
        "pric_uplmt_amt": Decimal("9.00"),
        "selfpay_prop": Decimal("0.10"),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pric", 10.0),
        ("cnt", 2.0),
        ("pric_uplmt_amt", 9.0),
        ("selfpay_prop", 0.1),
        ("det_item_fee_sumamt", 20.0),
        ("pric", 10),
        ("chrgitm_lv", 2.0),
        ("chrgitm_lv", True),
    ],
)
def test_priced_line_refuses_floats(field: str, value: object) -> None:
    kwargs = _line_kwargs() | {field: value}

    with pytest.raises(TypeError):
        PricedLine(**kwargs)  # type: ignore[arg-type]


def test_policies_and_accumulators_refuse_floats() -> None:
    with pytest.raises(TypeError):
        PoolBand(upto=None, ratio=0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PoolBand(upto=1000.0, ratio=Decimal("0.5"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BasicPolicy(
            fund_pay_type="310100",
            deductible=200.0,  # type: ignore[arg-type]
            pool_bands=one_band("0.5"),
            annual_cap=cny("5000.00"),
        )
    with pytest.raises(TypeError):
        AssistancePolicy(
            fund_pay_type="610100",
            category="低保",
            ratio=0.7,  # type: ignore[arg-type]
            annual_cap=cny("20000.00"),
        )
    with pytest.raises(TypeError):
        Accumulators(hifp_paid=12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        make_claim((), acct_balance=100.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("det_item_fee_sumamt", cny("20.01"), "pric × cnt"),
        ("pric", Decimal("10.00001"), "four decimals"),
        ("pric_uplmt_amt", Decimal("-1"), "negative"),
        ("cnt", Decimal("0"), "positive"),
        ("selfpay_prop", Decimal("1.5"), "between 0 and 1"),
        ("chrgitm_lv", 4, "1, 2 or 3"),
    ],
)
def test_priced_line_refuses_malformed_values(field: str, value: object, message: str) -> None:
    kwargs = _line_kwargs() | {field: value}

    with pytest.raises(ValueError, match=message):
        PricedLine(**kwargs)  # type: ignore[arg-type]


def test_money_must_be_whole_fen() -> None:
    with pytest.raises(ValueError, match="fen"):
        Accumulators(hifp_paid=Money(Decimal("1.005"), "CNY"))


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (PoolBand(upto=cny("100.00"), ratio=Decimal("0.5")),),
        (PoolBand(upto=None, ratio=Decimal("0.5")), PoolBand(upto=None, ratio=Decimal("0.6"))),
        (
            PoolBand(upto=cny("100.00"), ratio=Decimal("0.5")),
            PoolBand(upto=cny("100.00"), ratio=Decimal("0.6")),
            PoolBand(upto=None, ratio=Decimal("0.7")),
        ),
    ],
)
def test_malformed_bands_are_refused(bands: tuple[PoolBand, ...]) -> None:
    with pytest.raises(ValueError):
        BasicPolicy(
            fund_pay_type="310100", deductible=ZERO, pool_bands=bands, annual_cap=cny("1.00")
        )


def test_unknown_critical_illness_fund_is_refused() -> None:
    with pytest.raises(ValueError, match="390200"):
        CriticalIllnessPolicy(
            fund_pay_type="310100", threshold=ZERO, bands=one_band("0.6"), annual_cap=ZERO
        )


def test_duplicate_line_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        make_claim((make_line("1", pric="1.00"), make_line("1", pric="2.00")))
