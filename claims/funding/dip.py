"""DIP: payment by disease-group points (按病种分值付费, docs/domain.md section 7).

A region's points table for the year maps diagnoses (ICD-10, by prefix or exact code) to disease
groups, each worth a number of points. Every settled case of a ``med_type`` the scheme covers earns
its group's points for the treating provider. Each month a provider is prepaid its month's points
at the provisional point value, less the quality deposit (``withhold_ratio``, demo 5%). At year end

    point value = (regional budget − adjustment reserve) ÷ all providers' points,

computed in Decimal and rounded *down* to 10 decimal places (:data:`POINT_VALUE_PLACES`), so the
value's rounding never distributes more than the budget; each provider's entitlement is its points
× that value, half-up to the fen, and its balance due is the final clearing (entitlement − forfeited
deposit − prepayments). The providers' entitlements therefore differ from the distributable budget
by at most half a fen each plus all points × 10⁻¹⁰ yuan, under one fen per provider for any
realistic region. The same inputs always give the same value: no float, no clock, no ordering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, localcontext

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import repository as repo
from claims.funding.budgets import (
    Account,
    QualityRule,
    balance_of,
    check_quality_terms,
    post_month,
    post_year_end,
    require_visible,
    stored_clearing,
    yuan,
)
from claims.funding.models import ICD_CODE_LENGTH, DipGroup, DipGroupCode, DipScheme
from claims.funding.schemas import (
    ClearingOut,
    DipFigures,
    DipGroupIn,
    DipGroupOut,
    DipProviderOut,
    DipSchemeIn,
    DipSchemeOut,
    PrepaymentOut,
)
from engine import audit
from engine.auth import Principal
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import ZERO, Money, cny, from_fen, scale, to_fen

POINT_VALUE_PLACES = Decimal("1E-10")


def point_value(distributable: Money, total_points: Decimal) -> Decimal:
    """Yuan per point: the distributable budget over all points, rounded down at 10 places.

    The quotient is taken at 60 significant digits first, far beyond what any region's figures
    need, so the result depends only on the inputs.
    """
    if total_points <= 0:
        raise InvalidRequest("the region's providers have earned no points", code="no_points")
    with localcontext() as ctx:
        ctx.prec = 60
        return (distributable.amount / total_points).quantize(POINT_VALUE_PLACES, ROUND_DOWN)


def entitlement(points: Decimal, value: Decimal) -> Money:
    """A provider's year: its points × the point value, half-up to the fen."""
    return scale(value, points)


def dip_account(scheme: DipScheme, fixmedins_code: str) -> Account:
    return Account("dip", scheme.id, fixmedins_code, scheme.admdvs, scheme.year)


def _codes(group: DipGroupIn) -> list[tuple[str, str]]:
    return [(code.upper(), "prefix") for code in group.icd_prefixes] + [
        (code.upper(), "exact") for code in group.icd_codes
    ]


#: A diagnosis code or prefix as the points table maps it: ICD-10, a letter and digits, with the
#: national extension's dot and letters, upper-cased.
_ICD = re.compile(rf"[A-Z][0-9A-Z.]{{0,{ICD_CODE_LENGTH - 1}}}")


def _check_icd_codes(group: DipGroupIn, field: str) -> None:
    for name, codes in (("icd_prefixes", group.icd_prefixes), ("icd_codes", group.icd_codes)):
        for j, code in enumerate(codes):
            if not _ICD.fullmatch(code.upper()):
                raise InvalidRequest(
                    f"{code[:ICD_CODE_LENGTH]!r} is not an ICD-10 code or prefix",
                    code="invalid_icd_code",
                    field=f"{field}.{name}.{j}",
                )


async def create_scheme(
    session: AsyncSession, principal: Principal, body: DipSchemeIn
) -> DipScheme:
    """Load a region's DIP year with its points table; it is not edited afterwards, so every
    case of the year is scored by the same table."""
    principal.require_region(body.admdvs)
    check_quality_terms(body)
    if body.adjustment_reserve > body.regional_budget:
        raise InvalidRequest(
            "the adjustment reserve exceeds the regional budget", field="adjustment_reserve"
        )
    if await repo.dip_scheme(session, body.admdvs, body.year) is not None:
        raise Conflict(
            f"{body.admdvs} already has a DIP scheme for {body.year}",
            code="dip_scheme_exists",
            field="year",
        )
    seen_groups: set[str] = set()
    seen_codes: set[tuple[str, str]] = set()
    for i, group in enumerate(body.groups):
        if group.dise_grp_code in seen_groups:
            raise InvalidRequest(
                f"disease group {group.dise_grp_code} is listed twice",
                code="duplicate_group",
                field=f"groups.{i}.dise_grp_code",
            )
        seen_groups.add(group.dise_grp_code)
        codes = _codes(group)
        _check_icd_codes(group, f"groups.{i}")
        if not codes:
            raise InvalidRequest(
                f"disease group {group.dise_grp_code} maps no diagnosis",
                code="group_unmapped",
                field=f"groups.{i}.icd_prefixes",
            )
        for code in codes:
            if code in seen_codes:
                raise InvalidRequest(
                    f"{code[1]} code {code[0]} is mapped to two groups",
                    code="icd_mapped_twice",
                    field=f"groups.{i}",
                )
            seen_codes.add(code)
    scheme = DipScheme(
        **body.model_dump(
            include={
                "admdvs",
                "year",
                "provisional_point_value",
                "med_types",
                "withhold_ratio",
                "quality_full_score",
                "quality_zero_score",
            }
        ),
        regional_budget=to_fen(cny(body.regional_budget)),
        adjustment_reserve=to_fen(cny(body.adjustment_reserve)),
    )
    session.add(scheme)
    await session.flush()
    for group in body.groups:
        row = DipGroup(
            scheme_id=scheme.id,
            dise_grp_code=group.dise_grp_code,
            dise_grp_name=group.dise_grp_name,
            points=group.points,
        )
        session.add(row)
        await session.flush()
        session.add_all(
            DipGroupCode(scheme_id=scheme.id, group_id=row.id, icd_code=code, match=match)
            for code, match in _codes(group)
        )
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="dip_scheme.created",
        object_type="dip",
        object_id=str(scheme.id),
        payload=body.model_dump(mode="json"),
        new_stream=True,
    )
    return scheme


async def providers(session: AsyncSession, scheme: DipScheme) -> list[str]:
    """Every provider with points or prepayments under the scheme: those the year-end clears."""
    points = await repo.case_totals_by_provider(session, "dip_points", scheme.admdvs, scheme.year)
    return sorted(set(points) | set(await repo.ledger_providers(session, scheme.id)))


async def prepay_month(
    session: AsyncSession, principal: Principal, scheme: DipScheme, month: int
) -> list[PrepaymentOut]:
    """Each provider's month of points at the provisional point value, less the deposit; the
    caller holds the scheme's row lock."""
    if scheme.cleared_at is not None and not await repo.ledger_entries(
        session, scheme.id, period=month
    ):
        raise Conflict(f"DIP {scheme.year} is cleared for {scheme.admdvs}", code="year_cleared")
    month_points = await repo.case_totals_by_provider(
        session, "dip_points", scheme.admdvs, scheme.year, month
    )
    rule = QualityRule.of(scheme)
    out = []
    for code, totals in month_points.items():
        gross = scale(scheme.provisional_point_value, totals.points) if totals.points > 0 else ZERO
        basis = {
            "points": str(totals.points),
            "provisional_point_value": str(scheme.provisional_point_value),
        }
        out.append(
            await post_month(
                session, principal, dip_account(scheme, code), month, gross, rule, basis
            )
        )
    return out


async def clear_year(
    session: AsyncSession,
    principal: Principal,
    scheme: DipScheme,
    quality_scores: Mapping[str, Decimal],
) -> list[ClearingOut]:
    """The year's point value and every provider's entitlement and balance due; the caller holds
    the scheme's row lock and has a quality score for each of :func:`providers`."""
    codes = await providers(session, scheme)
    if scheme.cleared_at is not None:
        return [
            await stored_clearing(session, dip_account(scheme, code), quality_scores[code])
            for code in codes
        ]
    points = await repo.case_totals_by_provider(session, "dip_points", scheme.admdvs, scheme.year)
    total = sum((t.points for t in points.values()), Decimal(0))
    distributable = from_fen(scheme.regional_budget - scheme.adjustment_reserve)
    value = point_value(distributable, total)
    rule = QualityRule.of(scheme)
    out = []
    for code in codes:
        earned = points[code].points if code in points else Decimal(0)
        figures = DipFigures(
            points=earned, point_value=value, total_points=total, distributable=distributable.amount
        )
        out.append(
            await post_year_end(
                session,
                principal,
                dip_account(scheme, code),
                rule,
                quality_scores[code],
                entitlement(earned, value),
                {"dip": figures.model_dump()},
            )
        )
    scheme.point_value, scheme.total_points, scheme.cleared_at = value, total, utcnow()
    await session.flush()
    return out


async def provider_lines(session: AsyncSession, scheme: DipScheme) -> list[DipProviderOut]:
    points = await repo.case_totals_by_provider(session, "dip_points", scheme.admdvs, scheme.year)
    lines = []
    for code in await providers(session, scheme):
        totals = points.get(code, repo.CaseTotals())
        lines.append(
            DipProviderOut(
                fixmedins_code=code,
                points=totals.points,
                fund_share=yuan(totals.amount),
                totals=balance_of(await repo.ledger_sums(session, scheme.id, code)),
            )
        )
    return lines


async def scheme_view(
    session: AsyncSession, principal: Principal, admdvs: str, year: int
) -> DipSchemeOut:
    missing = NotFound("no such DIP scheme", code="not_found")
    require_visible(principal, admdvs, missing)
    scheme = await repo.dip_scheme(session, admdvs, year)
    if scheme is None:
        raise missing
    codes = await repo.dip_group_codes(session, scheme.id)
    lines = await provider_lines(session, scheme)
    return DipSchemeOut(
        id=str(scheme.id),
        admdvs=scheme.admdvs,
        year=scheme.year,
        regional_budget=yuan(scheme.regional_budget),
        adjustment_reserve=yuan(scheme.adjustment_reserve),
        provisional_point_value=scheme.provisional_point_value,
        med_types=scheme.med_types,
        withhold_ratio=scheme.withhold_ratio,
        quality_full_score=scheme.quality_full_score,
        quality_zero_score=scheme.quality_zero_score,
        point_value=scheme.point_value,
        total_points=sum((line.points for line in lines), Decimal(0)),
        cleared_at=scheme.cleared_at,
        groups=[
            DipGroupOut(
                dise_grp_code=group.dise_grp_code,
                dise_grp_name=group.dise_grp_name,
                points=group.points,
                icd_prefixes=[
                    c.icd_code for c in codes if c.group_id == group.id and c.match == "prefix"
                ],
                icd_codes=[
                    c.icd_code for c in codes if c.group_id == group.id and c.match == "exact"
                ],
            )
            for group in await repo.dip_groups(session, scheme.id)
        ],
        providers=lines,
    )
