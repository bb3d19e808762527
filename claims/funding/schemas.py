"""The wire contract of global budgets, DIP and bundles (pydantic v2).

Amounts go out as strings with two decimals, as everywhere in the claims domain; ledger and
clearing amounts are signed (a final clearing is negative when the provider owes money back).
Every policy parameter is a field: nothing of docs/domain.md's demo policy is a default here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from engine.wire import (
    Admdvs,
    CalendarDate,
    Code,
    Identifier,
    MedType,
    Ratio,
    SignedYuan,
    Text,
    WireDecimal,
    WireModel,
    Yuan,
)

Score = Annotated[Decimal, WireDecimal(places=2, digits=3, maximum=Decimal(100), example="92.5")]
Year = Annotated[StrictInt, Field(ge=2000, le=2099)]
Month = Annotated[StrictInt, Field(ge=1, le=12)]
InstitutionCode = Code
PsnNo = Code
Points = Annotated[Decimal, WireDecimal(places=4, digits=8, example="120.5")]
#: DIP's point value and the budget's overspend corridor: multipliers with four decimals.
PointValue = Annotated[Decimal, WireDecimal(places=4, digits=10, example="18.25")]
CorridorRatio = Annotated[
    Decimal, WireDecimal(places=4, digits=2, minimum=Decimal(1), maximum=Decimal(10), example="1.1")
]
SchemeKind = Literal["global_budget", "dip", "bundle"]
LedgerKind = Literal["prepaid", "withheld", "released", "forfeited", "clearing"]


class QualityTermsIn(WireModel):
    """Quality withholding and its release (docs/domain.md section 7: demo 5%, 90 and 60)."""

    withhold_ratio: Ratio
    quality_full_score: Score = Field(description="at or above: the withheld pool is released")
    quality_zero_score: Score = Field(description="below: nothing is released; linear between")


class QualityTermsOut(WireModel):
    withhold_ratio: Decimal
    quality_full_score: Decimal
    quality_zero_score: Decimal


# --- set-up --------------------------------------------------------------------------------------


class BudgetIn(QualityTermsIn):
    """A provider's global budget for a year (总额预算) and its year-end terms."""

    admdvs: Admdvs
    fixmedins_code: InstitutionCode
    year: Year
    budget_amt: Yuan
    surplus_retention_ratio: Ratio = Field(description="share of B − A retained (结余留用)")
    surplus_retention_cap_ratio: Ratio = Field(description="retained surplus at most this × B")
    overspend_share_ratio: Ratio = Field(description="fund's share of A − B (超支分担)")
    overspend_corridor_ratio: CorridorRatio = Field(description="beyond B × this: not paid")


class DipGroupIn(WireModel):
    dise_grp_code: Code
    dise_grp_name: Annotated[Text, Field(max_length=200)]
    points: Points
    icd_prefixes: list[Annotated[Identifier, Field(max_length=20)]] = Field(
        default_factory=list, description="ICD-10 code prefixes of the group"
    )
    icd_codes: list[Annotated[Identifier, Field(max_length=20)]] = Field(
        default_factory=list, description="exact ICD-10 codes"
    )


class DipSchemeIn(QualityTermsIn):
    """A region's DIP year (按病种分值付费); ``withhold_ratio`` is the monthly quality deposit."""

    admdvs: Admdvs
    year: Year
    regional_budget: Yuan
    adjustment_reserve: Yuan
    provisional_point_value: PointValue
    med_types: list[MedType] = Field(min_length=1)
    groups: list[DipGroupIn] = Field(min_length=1)


class BundleIn(QualityTermsIn):
    """A per-capita bundle (按人头打包付费) held by a primary institution for a year."""

    admdvs: Admdvs
    fixmedins_code: InstitutionCode
    year: Year
    rate_per_member_month: Yuan
    surplus_retention_ratio: Ratio = Field(description="share of a surplus retained at q ≥ full")


class MemberIn(WireModel):
    psn_no: PsnNo
    sign_date: CalendarDate
    end_date: CalendarDate | None = None


class MembersIn(WireModel):
    members: list[MemberIn] = Field(min_length=1, max_length=10_000)


class MembersOut(WireModel):
    fixmedins_code: str
    year: int
    signed: int
    updated: int


# --- runs ----------------------------------------------------------------------------------------


class PrepaymentOut(WireModel):
    """One provider's prepayment for a month under one scheme: ``prepaid`` is what the scheme pays
    for the month (for a global budget, through the month's clearing batches), ``withheld`` held
    back until the year-end quality score; ``basis`` explains the amount (for a global budget,
    with each clr_type's part: ``fund_share_11``, ``gross_11``, ``prepaid_11``, ``withheld_11``
    ...)."""

    scheme: SchemeKind
    scheme_id: str
    fixmedins_code: str
    year: int
    month: int
    gross: SignedYuan
    prepaid: SignedYuan
    withheld: SignedYuan
    basis: dict[str, str]


class MonthRunOut(WireModel):
    admdvs: str
    year: int
    month: int
    prepayments: list[PrepaymentOut]


class QualityScoreIn(WireModel):
    fixmedins_code: InstitutionCode
    quality_score: Score


class YearEndIn(WireModel):
    """Quality scores of every provider with a budget, DIP points or a bundle in the region."""

    quality_scores: list[QualityScoreIn] = Field(min_length=1)


class BudgetFigures(WireModel):
    budget_amt: SignedYuan
    fund_share: SignedYuan = Field(description="A: the year's basic pooled-fund share")
    band: Literal["surplus", "overspend_shared", "overspend_beyond_corridor"]
    retained_surplus: SignedYuan
    shared_overspend: SignedYuan
    unpaid_overspend: SignedYuan


class DipFigures(WireModel):
    points: Decimal
    point_value: Decimal
    total_points: Decimal
    distributable: SignedYuan


class BundleFigures(WireModel):
    capitation: SignedYuan = Field(description="member-months × rate over the year")
    member_months: int
    care_at_holder: SignedYuan
    care_elsewhere: SignedYuan
    surplus: SignedYuan = Field(description="capitation − care; negative is an overspend")
    retained_surplus: SignedYuan


class ClearingOut(WireModel):
    """A provider's year-end clearing under one scheme (docs/domain.md section 7):
    ``final_clearing = entitlement − forfeited − prepaid`` (may be negative), and
    ``paid_out = prepaid + final_clearing``."""

    scheme: SchemeKind
    scheme_id: str
    fixmedins_code: str
    year: int
    quality_score: Decimal
    entitlement: SignedYuan
    prepaid: SignedYuan
    withheld: SignedYuan
    released: SignedYuan
    forfeited: SignedYuan
    final_clearing: SignedYuan
    paid_out: SignedYuan
    budget: BudgetFigures | None = None
    dip: DipFigures | None = None
    bundle: BundleFigures | None = None


class YearEndOut(WireModel):
    admdvs: str
    year: int
    clearings: list[ClearingOut]


# --- reads ---------------------------------------------------------------------------------------


class LedgerEntryOut(WireModel):
    scheme: SchemeKind
    scheme_id: str
    fixmedins_code: str
    year: int
    period: int = Field(description="1–12: month; 13: year-end")
    kind: LedgerKind
    amount: SignedYuan
    occurred_at: datetime
    detail: dict[str, object]


class Balance(WireModel):
    """Sum of the ledger entries = ``paid_out`` + ``withheld_pending``."""

    balance: SignedYuan
    paid_out: SignedYuan
    withheld_pending: SignedYuan


class BudgetMonthOut(WireModel):
    month: int
    fund_share: SignedYuan
    prepaid: SignedYuan | None
    withheld: SignedYuan | None


class BudgetOut(QualityTermsOut):
    id: str
    admdvs: str
    fixmedins_code: str
    year: int
    budget_amt: SignedYuan
    surplus_retention_ratio: Decimal
    surplus_retention_cap_ratio: Decimal
    overspend_share_ratio: Decimal
    overspend_corridor_ratio: Decimal
    quality_score: Decimal | None
    cleared_at: datetime | None
    fund_share: SignedYuan = Field(description="the year's fund share so far")
    burn_ratio: Decimal = Field(description="fund share ÷ budget, 4 places")
    months: list[BudgetMonthOut]
    ledger: list[LedgerEntryOut]
    totals: Balance


class DipGroupOut(WireModel):
    dise_grp_code: str
    dise_grp_name: str
    points: Decimal
    icd_prefixes: list[str]
    icd_codes: list[str]


class DipProviderOut(WireModel):
    fixmedins_code: str
    points: Decimal
    fund_share: SignedYuan = Field(
        description="fee-for-item fund share of the cases, for reference"
    )
    totals: Balance


class DipSchemeOut(QualityTermsOut):
    id: str
    admdvs: str
    year: int
    regional_budget: SignedYuan
    adjustment_reserve: SignedYuan
    provisional_point_value: Decimal
    med_types: list[str]
    point_value: Decimal | None
    total_points: Decimal
    cleared_at: datetime | None
    groups: list[DipGroupOut]
    providers: list[DipProviderOut]


class BundleMonthOut(WireModel):
    month: int
    members: int
    capitation: SignedYuan
    care_at_holder: SignedYuan
    care_elsewhere: SignedYuan
    prepaid: SignedYuan | None
    withheld: SignedYuan | None


class BundleOut(QualityTermsOut):
    id: str
    admdvs: str
    fixmedins_code: str
    year: int
    rate_per_member_month: SignedYuan
    surplus_retention_ratio: Decimal
    quality_score: Decimal | None
    cleared_at: datetime | None
    capitation: SignedYuan = Field(description="member-months × rate, over the months so far")
    care_at_holder: SignedYuan
    care_elsewhere: SignedYuan
    bundle_balance: SignedYuan = Field(description="capitation − care so far")
    months: list[BundleMonthOut]
    ledger: list[LedgerEntryOut]
    totals: Balance


class ProviderLedgerOut(WireModel):
    fixmedins_code: str
    year: int
    entries: list[LedgerEntryOut]
    totals: Balance


class RegionBudgetLine(WireModel):
    fixmedins_code: str
    budget_amt: SignedYuan
    fund_share: SignedYuan
    burn_ratio: Decimal
    totals: Balance
    cleared: bool


class RegionBundleLine(WireModel):
    fixmedins_code: str
    capitation: SignedYuan
    care: SignedYuan
    bundle_balance: SignedYuan
    totals: Balance
    cleared: bool


class RegionDipLine(WireModel):
    total_points: Decimal
    point_value: Decimal | None
    providers: list[DipProviderOut]


class RegionSummaryOut(WireModel):
    admdvs: str
    year: int
    budgets: list[RegionBudgetLine]
    dip: RegionDipLine | None
    bundles: list[RegionBundleLine]
    totals: Balance


# --- set-up file (sanyi CLI) ---------------------------------------------------------------------


class BundleSetupIn(BundleIn):
    members: list[MemberIn] = Field(default_factory=list, max_length=10_000)


class FundingSetupIn(WireModel):
    """A region's funding set-up in one JSON document: ``sanyi funding setup FILE``."""

    budgets: list[BudgetIn] = Field(default_factory=list)
    dip_schemes: list[DipSchemeIn] = Field(default_factory=list)
    bundles: list[BundleSetupIn] = Field(default_factory=list)
