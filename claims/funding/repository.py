"""Every query of global budgets, DIP and bundles (tables in ``claims.funding.models``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    Numeric,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from claims.funding.models import (
    ICD_CODE_LENGTH,
    Bundle,
    BundleMember,
    DipGroup,
    DipGroupCode,
    DipScheme,
    FundingCaseEntry,
    FundingLedgerEntry,
    GlobalBudget,
)
from claims.settlement.door.reads import SETTLEMENTS
from engine.db import insert_or_ignore, table_of

ZERO_POINTS = Decimal(0)


# --- schemes -------------------------------------------------------------------------------------


async def budget(
    session: AsyncSession, fixmedins_code: str, year: int, *, lock: bool = False
) -> GlobalBudget | None:
    stmt = select(GlobalBudget).where(
        GlobalBudget.fixmedins_code == fixmedins_code, GlobalBudget.year == year
    )
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def budgets_in_region(
    session: AsyncSession, admdvs: str, year: int, *, lock: bool = False
) -> Sequence[GlobalBudget]:
    """In institution-code order, so two runs lock them in the same order (no deadlock)."""
    stmt = (
        select(GlobalBudget)
        .where(GlobalBudget.admdvs == admdvs, GlobalBudget.year == year)
        .order_by(GlobalBudget.fixmedins_code)
    )
    return (await session.scalars(stmt.with_for_update() if lock else stmt)).all()


async def bundle(
    session: AsyncSession, fixmedins_code: str, year: int, *, lock: bool = False
) -> Bundle | None:
    stmt = select(Bundle).where(Bundle.fixmedins_code == fixmedins_code, Bundle.year == year)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def bundles_in_region(
    session: AsyncSession, admdvs: str, year: int, *, lock: bool = False
) -> Sequence[Bundle]:
    stmt = (
        select(Bundle)
        .where(Bundle.admdvs == admdvs, Bundle.year == year)
        .order_by(Bundle.fixmedins_code)
    )
    return (await session.scalars(stmt.with_for_update() if lock else stmt)).all()


async def dip_scheme(
    session: AsyncSession, admdvs: str, year: int, *, lock: bool = False
) -> DipScheme | None:
    stmt = select(DipScheme).where(DipScheme.admdvs == admdvs, DipScheme.year == year)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def dip_groups(session: AsyncSession, scheme_id: uuid.UUID) -> Sequence[DipGroup]:
    return (
        await session.scalars(
            select(DipGroup).where(DipGroup.scheme_id == scheme_id).order_by(DipGroup.dise_grp_code)
        )
    ).all()


async def dip_group_codes(session: AsyncSession, scheme_id: uuid.UUID) -> Sequence[DipGroupCode]:
    return (
        await session.scalars(
            select(DipGroupCode)
            .where(DipGroupCode.scheme_id == scheme_id)
            .order_by(DipGroupCode.match, DipGroupCode.icd_code)
        )
    ).all()


async def regions_with_open_schemes(session: AsyncSession, year: int) -> list[str]:
    """Pooling regions with a budget, DIP scheme or bundle for the year not cleared yet."""
    union = (
        select(GlobalBudget.admdvs)
        .where(GlobalBudget.year == year, GlobalBudget.cleared_at.is_(None))
        .union(
            select(DipScheme.admdvs).where(DipScheme.year == year, DipScheme.cleared_at.is_(None)),
            select(Bundle.admdvs).where(Bundle.year == year, Bundle.cleared_at.is_(None)),
        )
    )
    return sorted(await session.scalars(union))


# --- bundle members ------------------------------------------------------------------------------


def _covers(start: date, end: date) -> Any:
    """Signings in force on at least one day of [start, end]."""
    return and_(
        BundleMember.sign_date <= end,
        or_(BundleMember.end_date.is_(None), BundleMember.end_date >= start),
    )


_bundle, _member = table_of(Bundle), table_of(BundleMember)
_scheme, _group, _group_code = table_of(DipScheme), table_of(DipGroup), table_of(DipGroupCode)


def route_lookup_columns(psn_no: Any, admdvs: Any, icd_code: Any) -> tuple[Any, ...]:
    """The :class:`RouteLookup` columns for a claim of person ``psn_no`` in region ``admdvs`` with
    diagnosis ``icd_code`` (SQL expressions: the settle path passes its visit's columns, so the
    claim's read carries its route), on the day and year :func:`route_params` binds.

    Scalar subqueries rather than joins: each is planned on its own, where outer joins would add
    to the join search of the statement that carries them."""
    holder = (  # the bundle the person is signed to that day
        select(_bundle.c.fixmedins_code)
        .join(_member, _member.c.bundle_id == _bundle.c.id)
        .where(
            _member.c.psn_no == psn_no,
            _bundle.c.admdvs == admdvs,
            _bundle.c.year == bindparam("year"),
            _member.c.sign_date <= bindparam("on"),
            or_(_member.c.end_date.is_(None), _member.c.end_date >= bindparam("on")),
        )
        .limit(1)
        .scalar_subquery()
    )
    code = func.upper(icd_code)
    # Every leading substring of the code, up to the longest a scheme can map: an indexed IN
    # over them beats a LIKE scan, and computed in the statement they leave its text the same
    # for every code (so it is prepared once).
    prefixes = [func.substr(code, 1, n) for n in range(1, ICD_CODE_LENGTH + 1)]
    # The group under the region's scheme for the year: the exact mapping, then the longest prefix.
    group_id = (
        select(_group_code.c.group_id)
        .join(_scheme, _scheme.c.id == _group_code.c.scheme_id)
        .where(
            _scheme.c.admdvs == admdvs,
            _scheme.c.year == bindparam("year"),
            or_(
                and_(_group_code.c.match == "exact", _group_code.c.icd_code == code),
                and_(_group_code.c.match == "prefix", _group_code.c.icd_code.in_(prefixes)),
            ),
        )
        .order_by(
            case((_group_code.c.match == "exact", 0), else_=1),
            func.length(_group_code.c.icd_code).desc(),
        )
        .limit(1)
        .correlate_except(_group_code, _scheme)  # to the claim's visit, two levels up
        .scalar_subquery()
    )

    def of_group(column: Any) -> Any:
        return (
            select(column)
            .select_from(_group.join(_scheme, _scheme.c.id == _group.c.scheme_id))
            .where(_group.c.id == group_id)
            .scalar_subquery()
        )

    return (
        holder.label("bundle_holder"),
        of_group(_scheme.c.med_types).label("dip_med_types"),
        of_group(_group.c.points).label("dip_points"),
        of_group(_group.c.dise_grp_code).label("dise_grp_code"),
    )


class RouteLookup(Protocol):
    """What a settlement's funding route depends on, as a row carrying
    :func:`route_lookup_columns` has it: the holder of the bundle the person is signed to that
    day, and the DIP group of the diagnosis with its scheme's med_types."""

    @property
    def bundle_holder(self) -> str | None: ...
    @property
    def dip_med_types(self) -> list[str] | None: ...
    @property
    def dip_points(self) -> Decimal | None: ...
    @property
    def dise_grp_code(self) -> str | None: ...


def route_params(on: date) -> dict[str, Any]:
    """The day (in the pooling region) a route is looked up for, as :func:`route_lookup_columns`
    binds it."""
    return {"year": on.year, "on": on}


async def signing(
    session: AsyncSession, bundle_id: uuid.UUID, psn_no: str, sign_date: date
) -> BundleMember | None:
    return await session.scalar(
        select(BundleMember).where(
            BundleMember.bundle_id == bundle_id,
            BundleMember.psn_no == psn_no,
            BundleMember.sign_date == sign_date,
        )
    )


async def overlapping_signing(
    session: AsyncSession,
    *,
    psn_no: str,
    admdvs: str,
    year: int,
    start: date,
    end: date,
    other_than: int | None,
) -> BundleMember | None:
    """Another signing of the person, in the region's bundles of the year, overlapping
    [start, end]."""
    stmt = (
        select(BundleMember)
        .join(Bundle, Bundle.id == BundleMember.bundle_id)
        .where(
            BundleMember.psn_no == psn_no,
            Bundle.admdvs == admdvs,
            Bundle.year == year,
            _covers(start, end),
        )
    )
    if other_than is not None:
        stmt = stmt.where(BundleMember.id != other_than)
    return await session.scalar(stmt.limit(1))


async def member_count(session: AsyncSession, bundle_id: uuid.UUID, start: date, end: date) -> int:
    """Distinct people signed to the bundle on at least one day of [start, end]."""
    count = await session.scalar(
        select(func.count(func.distinct(BundleMember.psn_no))).where(
            BundleMember.bundle_id == bundle_id, _covers(start, end)
        )
    )
    return int(count or 0)


# --- case entries (written by the settlement hooks) ----------------------------------------------


async def unreversed_case_entries(
    session: AsyncSession, setl_id: str
) -> Sequence[FundingCaseEntry]:
    """The settlement's original entries that no revocation has reversed yet."""
    reversal = aliased(FundingCaseEntry)
    return (
        await session.scalars(
            select(FundingCaseEntry)
            .where(
                FundingCaseEntry.setl_id == setl_id,
                FundingCaseEntry.reverses_id.is_(None),
                ~select(reversal.id).where(reversal.reverses_id == FundingCaseEntry.id).exists(),
            )
            .order_by(FundingCaseEntry.id)
        )
    ).all()


@dataclass(frozen=True, slots=True)
class CaseTotals:
    amount: int = 0
    points: Decimal = ZERO_POINTS
    at_holder: int = 0


def _totals_columns() -> tuple[Any, ...]:
    return (
        func.coalesce(func.sum(FundingCaseEntry.amount), 0),
        # Typed, so SQLite's float sum comes back as a Decimal at the column's 4 places.
        type_coerce(func.coalesce(func.sum(FundingCaseEntry.points), 0), Numeric(18, 4)),
        func.coalesce(
            func.sum(
                case(
                    (
                        FundingCaseEntry.treated_by == FundingCaseEntry.fixmedins_code,
                        FundingCaseEntry.amount,
                    ),
                    else_=0,
                )
            ),
            0,
        ),
    )


def _case_totals(row: Any) -> CaseTotals:
    return CaseTotals(amount=int(row[0]), points=Decimal(row[1]), at_holder=int(row[2]))


async def case_totals(
    session: AsyncSession, kind: str, fixmedins_code: str, year: int, month: int | None = None
) -> CaseTotals:
    """A provider's sums of one kind of case entry for a year, or one month of it.

    ``at_holder`` is the part treated by the account's own provider (bundle care at the holder).
    """
    stmt = select(*_totals_columns()).where(
        FundingCaseEntry.kind == kind,
        FundingCaseEntry.fixmedins_code == fixmedins_code,
        FundingCaseEntry.year == year,
    )
    if month is not None:
        stmt = stmt.where(FundingCaseEntry.month == month)
    return _case_totals((await session.execute(stmt)).one())


async def case_totals_by_month(
    session: AsyncSession, kind: str, fixmedins_code: str, year: int
) -> dict[int, CaseTotals]:
    rows = await session.execute(
        select(FundingCaseEntry.month, *_totals_columns())
        .where(
            FundingCaseEntry.kind == kind,
            FundingCaseEntry.fixmedins_code == fixmedins_code,
            FundingCaseEntry.year == year,
        )
        .group_by(FundingCaseEntry.month)
    )
    return {int(row[0]): _case_totals(row[1:]) for row in rows}


def hifp_route(setl_id: Any, fixmedins_code: Any) -> Any:
    """How funding routed the settlement's pooled-fund share: item by item when it wrote a
    fund share for this institution, else by DIP points, else by the holder's bundle. A
    settlement with no funding entry at all is paid item by item."""
    e = FundingCaseEntry

    def entry(kind: str, *extra: ColumnElement[bool]) -> Any:
        return exists().where(e.setl_id == setl_id, e.kind == kind, e.reverses_id.is_(None), *extra)

    return case(
        (entry("fund_share", e.fixmedins_code == fixmedins_code), "item"),
        (entry("dip_points"), "points"),
        (entry("bundle_care"), "bundle"),
        else_="item",
    )


async def fund_share_by_clr_type(
    session: AsyncSession, fixmedins_code: str, year: int, month: int
) -> dict[str, int]:
    """A provider's fund share of one month per ``clr_type`` of the settlements behind it (a
    revocation's entry counts under its settlement's clr_type), so the month's budget prepayment
    can say which clearing batch (3203) pays which part of it."""
    e, s = FundingCaseEntry, SETTLEMENTS.c
    rows = await session.execute(
        select(s.clr_type, func.sum(e.amount))
        .join(SETTLEMENTS, s.setl_id == e.setl_id)
        .where(
            e.kind == "fund_share",
            e.fixmedins_code == fixmedins_code,
            e.year == year,
            e.month == month,
        )
        .group_by(s.clr_type)
    )
    return {clr_type: int(total) for clr_type, total in rows}


async def case_totals_by_provider(
    session: AsyncSession, kind: str, admdvs: str, year: int, month: int | None = None
) -> dict[str, CaseTotals]:
    """A region's sums of one kind of case entry per provider, for a year or one month."""
    stmt = (
        select(FundingCaseEntry.fixmedins_code, *_totals_columns())
        .where(
            FundingCaseEntry.kind == kind,
            FundingCaseEntry.admdvs == admdvs,
            FundingCaseEntry.year == year,
        )
        .group_by(FundingCaseEntry.fixmedins_code)
        .order_by(FundingCaseEntry.fixmedins_code)
    )
    if month is not None:
        stmt = stmt.where(FundingCaseEntry.month == month)
    return {row[0]: _case_totals(row[1:]) for row in await session.execute(stmt)}


# --- ledger (written by the runs) ----------------------------------------------------------------


async def insert_ledger_entry(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert unless (scheme, provider, period, kind) is already there; True if this call did.

    On PostgreSQL a concurrent run's uncommitted entry makes this wait for it, so the loser of a
    race sees the winner's committed entry and pays nothing.
    """
    return await insert_or_ignore(session, FundingLedgerEntry, values)


async def ledger_entries(
    session: AsyncSession,
    scheme_id: uuid.UUID,
    *,
    fixmedins_code: str | None = None,
    period: int | None = None,
) -> Sequence[FundingLedgerEntry]:
    stmt = select(FundingLedgerEntry).where(FundingLedgerEntry.scheme_id == scheme_id)
    if fixmedins_code is not None:
        stmt = stmt.where(FundingLedgerEntry.fixmedins_code == fixmedins_code)
    if period is not None:
        stmt = stmt.where(FundingLedgerEntry.period == period)
    order = (FundingLedgerEntry.fixmedins_code, FundingLedgerEntry.period, FundingLedgerEntry.id)
    stmt = stmt.order_by(*order).execution_options(populate_existing=True)
    return (await session.scalars(stmt)).all()


async def ledger_sums(
    session: AsyncSession, scheme_id: uuid.UUID, fixmedins_code: str
) -> dict[str, int]:
    """Sum of each kind of entry of one provider under one scheme."""
    rows = await session.execute(
        select(FundingLedgerEntry.kind, func.sum(FundingLedgerEntry.amount))
        .where(
            FundingLedgerEntry.scheme_id == scheme_id,
            FundingLedgerEntry.fixmedins_code == fixmedins_code,
        )
        .group_by(FundingLedgerEntry.kind)
    )
    return {kind: int(total) for kind, total in rows}


async def ledger_providers(session: AsyncSession, scheme_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(FundingLedgerEntry.fixmedins_code)
        .where(FundingLedgerEntry.scheme_id == scheme_id)
        .distinct()
    )
    return sorted(rows)


async def provider_ledger(
    session: AsyncSession, fixmedins_code: str, year: int
) -> Sequence[FundingLedgerEntry]:
    return (
        await session.scalars(
            select(FundingLedgerEntry)
            .where(
                FundingLedgerEntry.fixmedins_code == fixmedins_code,
                FundingLedgerEntry.year == year,
            )
            .order_by(FundingLedgerEntry.scheme, FundingLedgerEntry.period, FundingLedgerEntry.id)
        )
    ).all()


async def region_ledger_sums(
    session: AsyncSession, admdvs: str, year: int
) -> dict[tuple[str, str], dict[str, int]]:
    """Per (scheme, provider): the sum of each kind of ledger entry in the region's year."""
    rows = await session.execute(
        select(
            FundingLedgerEntry.scheme,
            FundingLedgerEntry.fixmedins_code,
            FundingLedgerEntry.kind,
            func.sum(FundingLedgerEntry.amount),
        )
        .where(FundingLedgerEntry.admdvs == admdvs, FundingLedgerEntry.year == year)
        .group_by(
            FundingLedgerEntry.scheme, FundingLedgerEntry.fixmedins_code, FundingLedgerEntry.kind
        )
    )
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for scheme, code, kind, total in rows:
        sums.setdefault((scheme, code), {})[kind] = int(total)
    return sums
