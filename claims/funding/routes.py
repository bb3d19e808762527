"""Insurer endpoints for global budgets, DIP and bundles (docs/domain.md sections 7 and 8).

Role insurer, in its own pooling region (the operator's keys do no insurer work): set up schemes
and members, run a month's prepayment or the year-end clearing (both idempotent), read a
provider's ledger or a region's summary.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import bundles, dip, ledger, refusals
from claims.funding.budgets import budget_view, create_budget
from claims.funding.schemas import (
    BudgetIn,
    BudgetOut,
    BundleIn,
    BundleOut,
    DipSchemeIn,
    DipSchemeOut,
    InstitutionCode,
    MembersIn,
    MembersOut,
    MonthRunOut,
    ProviderLedgerOut,
    RegionSummaryOut,
    YearEndIn,
    YearEndOut,
)
from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session
from engine.openapi import documented
from engine.wire import Admdvs, ParameterInt

router = APIRouter(prefix="/funding", tags=["funding"], route_class=UnitOfWorkRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Insurer = Annotated[Principal, require_role(Role.insurer)]
AdmdvsPath = Annotated[Admdvs, Path()]
CodePath = Annotated[InstitutionCode, Path()]
YearPath = Annotated[ParameterInt, Path(ge=2000, le=2099)]
MonthPath = Annotated[ParameterInt, Path(ge=1, le=12)]


@router.post(
    "/budgets",
    status_code=201,
    operation_id="create_budget",
    responses=documented(
        refusals.INVALID_QUALITY_SCORES,
        refusals.INSTITUTION_NOT_REGISTERED,
        refusals.BUDGET_EXISTS,
        refusals.YEAR_CLEARED,
    ),
    summary="Set a provider's global budget",
)
async def create_budget_endpoint(body: BudgetIn, principal: Insurer, session: Session) -> BudgetOut:
    """Set a provider's annual global budget of the pooled fund (monthly prepayment share,
    withholding, quality terms)."""
    row = await create_budget(session, principal, body)
    return await budget_view(session, principal, row.fixmedins_code, row.year)


@router.get(
    "/budgets/{fixmedins_code}/{year}",
    operation_id="get_budget",
    responses=documented(refusals.NOT_FOUND),
    summary="Get a provider's global budget",
)
async def budget_endpoint(
    fixmedins_code: CodePath, year: YearPath, principal: Insurer, session: Session
) -> BudgetOut:
    """A provider's global budget for a year, with what was prepaid and withheld so far."""
    return await budget_view(session, principal, fixmedins_code, year)


@router.post(
    "/dip-schemes",
    status_code=201,
    operation_id="create_dip_scheme",
    responses=documented(
        refusals.INVALID_SCHEME,
        refusals.INVALID_QUALITY_SCORES,
        refusals.INVALID_ICD_CODE,
        refusals.DUPLICATE_GROUP,
        refusals.GROUP_UNMAPPED,
        refusals.ICD_MAPPED_TWICE,
        refusals.DIP_SCHEME_EXISTS,
        refusals.YEAR_CLEARED,
    ),
    summary="Load a DIP point scheme",
)
async def create_dip_scheme_endpoint(
    body: DipSchemeIn, principal: Insurer, session: Session
) -> DipSchemeOut:
    """Load a region's DIP points table for a year: groups, points and the ICD codes they
    cover."""
    scheme = await dip.create_scheme(session, principal, body)
    return await dip.scheme_view(session, principal, scheme.admdvs, scheme.year)


@router.get(
    "/dip-schemes/{admdvs}/{year}",
    operation_id="get_dip_scheme",
    summary="Get a DIP point scheme",
    responses=documented(refusals.NOT_FOUND),
)
async def dip_scheme_endpoint(
    admdvs: AdmdvsPath, year: YearPath, principal: Insurer, session: Session
) -> DipSchemeOut:
    """A region's DIP points table for a year."""
    return await dip.scheme_view(session, principal, admdvs, year)


@router.post(
    "/bundles",
    status_code=201,
    operation_id="create_bundle",
    responses=documented(
        refusals.INVALID_SCHEME,
        refusals.INVALID_QUALITY_SCORES,
        refusals.INSTITUTION_NOT_REGISTERED,
        refusals.BUNDLE_EXISTS,
        refusals.YEAR_CLEARED,
    ),
    summary="Create a medical-community bundle",
)
async def create_bundle_endpoint(body: BundleIn, principal: Insurer, session: Session) -> BundleOut:
    """Create a medical-community bundle: a per-capita budget held by one provider for its
    signed members."""
    row = await bundles.create_bundle(session, principal, body)
    return await bundles.bundle_view(session, principal, row.fixmedins_code, row.year)


@router.post(
    "/bundles/{fixmedins_code}/{year}/members",
    operation_id="sign_bundle_members",
    responses=documented(
        refusals.INVALID_SCHEME,
        refusals.PERSON_NOT_ENROLLED,
        refusals.NOT_FOUND,
        refusals.ALREADY_SIGNED,
        refusals.YEAR_CLEARED,
    ),
    summary="Sign members to a bundle",
)
async def sign_members_endpoint(
    fixmedins_code: CodePath, year: YearPath, body: MembersIn, principal: Insurer, session: Session
) -> MembersOut:
    """Sign insured persons to a bundle for the year."""
    return await bundles.sign_members(session, principal, fixmedins_code, year, body)


@router.get(
    "/bundles/{fixmedins_code}/{year}",
    operation_id="get_bundle",
    responses=documented(refusals.NOT_FOUND),
    summary="Get a medical-community bundle",
)
async def bundle_endpoint(
    fixmedins_code: CodePath, year: YearPath, principal: Insurer, session: Session
) -> BundleOut:
    """A bundle with its members and what it has spent."""
    return await bundles.bundle_view(session, principal, fixmedins_code, year)


@router.post(
    "/regions/{admdvs}/{year}/months/{month}/prepayment",
    operation_id="prepay_month",
    responses=documented(refusals.PERIOD_NOT_STARTED, refusals.NO_POINTS, refusals.YEAR_CLEARED),
    summary="Prepay a month",
)
async def prepay_month_endpoint(
    admdvs: AdmdvsPath, year: YearPath, month: MonthPath, principal: Insurer, session: Session
) -> MonthRunOut:
    """Run a month's prepayment for every budget, DIP scheme and bundle of the region; a month
    is run once."""
    return await ledger.run_month(session, principal, admdvs, year, month)


@router.post(
    "/regions/{admdvs}/{year}/clearing",
    operation_id="clear_year",
    summary="Clear a region's year",
    responses=documented(
        refusals.YEAR_NOT_OVER,
        refusals.NO_FUNDING_SCHEME,
        refusals.QUALITY_SCORE_MISSING,
        refusals.NO_POINTS,
        refusals.ALREADY_CLEARED,
    ),
)
async def clear_year_endpoint(
    admdvs: AdmdvsPath, year: YearPath, body: YearEndIn, principal: Insurer, session: Session
) -> YearEndOut:
    """Run the year-end clearing of the region, once the year is over: withholding returned by
    quality scores, DIP point values fixed."""
    return await ledger.clear_year(session, principal, admdvs, year, body.quality_scores)


@router.get(
    "/regions/{admdvs}/{year}/summary",
    operation_id="get_region_summary",
    responses=documented(refusals.NOT_FOUND),
    summary="Get a region's funding summary",
)
async def region_summary_endpoint(
    admdvs: AdmdvsPath, year: YearPath, principal: Insurer, session: Session
) -> RegionSummaryOut:
    """The region's funding figures for a year, by scheme."""
    return await ledger.region_summary(session, principal, admdvs, year)


@router.get(
    "/providers/{fixmedins_code}/{year}/ledger",
    operation_id="get_provider_ledger",
    responses=documented(refusals.NOT_FOUND),
    summary="Get a provider's ledger",
)
async def provider_ledger_endpoint(
    fixmedins_code: CodePath, year: YearPath, principal: Insurer, session: Session
) -> ProviderLedgerOut:
    """A provider's funding ledger for a year: prepayments, case entries and clearing."""
    return await ledger.provider_ledger(session, principal, fixmedins_code, year)
