"""DIP and bundle pages: points and point values per provider; capitation against care per
bundle holder."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import bundles, dip, ledger
from claims.funding.schemas import BundleOut, DipSchemeOut
from console.pages.calendar import today
from engine.auth import Principal
from engine.errors import InvalidRequest, NotFound
from engine.money import cny


@dataclass(frozen=True, slots=True)
class DipProvider:
    fixmedins_code: str
    points: Decimal
    provisional_entitlement: Decimal
    projected_entitlement: Decimal | None


@dataclass(frozen=True, slots=True)
class DipPage:
    year: int
    scheme: DipSchemeOut | None
    projected_point_value: Decimal | None
    providers: list[DipProvider]


async def dip_page(session: AsyncSession, principal: Principal, admdvs: str) -> DipPage:
    """The projected point value is the year-end rule applied to the points so far: what is
    distributable (regional budget less the adjustment reserve) over all points."""
    year = today().year
    try:
        scheme = await dip.scheme_view(session, principal, admdvs, year)
    except NotFound:
        return DipPage(year, None, None, [])
    distributable = cny(scheme.regional_budget - scheme.adjustment_reserve)
    try:
        projected: Decimal | None = dip.point_value(distributable, scheme.total_points)
    except InvalidRequest:  # no points yet: nothing to project
        projected = None
    providers = [
        DipProvider(
            fixmedins_code=line.fixmedins_code,
            points=line.points,
            provisional_entitlement=dip.entitlement(
                line.points, scheme.provisional_point_value
            ).amount,
            projected_entitlement=(
                dip.entitlement(line.points, projected).amount if projected else None
            ),
        )
        for line in scheme.providers
    ]
    return DipPage(year, scheme, projected, providers)


async def bundles_page(session: AsyncSession, principal: Principal, admdvs: str) -> list[BundleOut]:
    """Every bundle of the region's year, through the funding summary's list of holders."""
    year = today().year
    summary = await ledger.region_summary(session, principal, admdvs, year)
    return [
        await bundles.bundle_view(session, principal, line.fixmedins_code, year)
        for line in summary.bundles
    ]
