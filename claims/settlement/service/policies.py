"""Benefit policies as data (domain.md section 4): loading versions and resolving the policy that
applies to a claim.

Policies are read on every settlement and change a few times a year, so each API process keeps a
region's rows in memory keyed by the region's version token; a load changes the token, so the next
request anywhere re-reads them. The token lookup is the only query a warm settlement pays here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import AssistancePolicyRow, BasicPolicyRow, CriticalIllnessPolicyRow
from claims.settlement.schemas import BandIn, PolicyLoad, PolicyLoadResult
from claims.settlement.service.benefits import (
    AccountPolicy,
    AssistancePolicy,
    BasicPolicy,
    CriticalIllnessPolicy,
    PoolBand,
)
from engine import audit
from engine.auth import Principal
from engine.errors import Conflict, InvalidRequest
from engine.money import cny, from_fen, to_fen

PolicyRow = BasicPolicyRow | CriticalIllnessPolicyRow | AssistancePolicyRow


class NoBenefitPolicy(InvalidRequest):
    """No policy covers the claim: insurance cannot pay (a self-pay visit is still possible)."""

    default_code = "no_benefit_policy"


@dataclass(frozen=True, slots=True)
class ResolvedPolicy:
    """Everything adjudication needs for one claim, plus where it came from."""

    basic: BasicPolicy
    critical_illness: CriticalIllnessPolicy | None
    assistance: AssistancePolicy | None
    account: AccountPolicy
    category: str
    followup_lookback_days: int
    token: str


@dataclass(frozen=True, slots=True)
class _RegionPolicies:
    """A region's policy rows under one version token, and the policies resolved from them so far
    (a settlement resolves the same few combinations over and over)."""

    basic: Sequence[BasicPolicyRow]
    critical_illness: Sequence[CriticalIllnessPolicyRow]
    assistance: Sequence[AssistancePolicyRow]
    resolved: dict[_ClaimKey, ResolvedPolicy] = dataclasses.field(default_factory=dict)


_cache: dict[tuple[str, str], _RegionPolicies] = {}


def _bands_json(bands: Sequence[BandIn]) -> list[dict[str, Any]]:
    return [
        {"upto": None if b.upto is None else to_fen(cny(b.upto)), "ratio": str(b.ratio)}
        for b in bands
    ]


def _bands(raw: Sequence[dict[str, Any]]) -> tuple[PoolBand, ...]:
    return tuple(
        PoolBand(
            upto=None if b["upto"] is None else from_fen(int(b["upto"])),
            ratio=Decimal(str(b["ratio"])),
        )
        for b in raw
    )


def _in_force(row: PolicyRow, on: date) -> bool:
    return row.valid_from <= on and (row.valid_to is None or row.valid_to >= on)


def _add_version(existing: Sequence[PolicyRow], new: PolicyRow, field: str) -> None:
    """Versions of one key never overlap; an open-ended latest version is closed the day before
    the new one starts (history is never rewritten, only ended)."""
    for row in existing:
        if row.valid_from >= new.valid_from:
            raise Conflict(
                f"a version starting {row.valid_from} already exists for this policy",
                code="overlapping_version",
                field=field,
            )
        if row.valid_to is None:
            row.valid_to = new.valid_from - timedelta(days=1)
        elif row.valid_to >= new.valid_from:
            raise Conflict(
                f"overlaps the version valid until {row.valid_to}",
                code="overlapping_version",
                field=field,
            )


async def load(
    session: AsyncSession, principal: Principal, admdvs: str, body: PolicyLoad
) -> PolicyLoadResult:
    """Add the rows of ``body`` as new versions, all or none: each row coherent on its own
    (:func:`_check_validity`, :func:`_check_bands`) and starting after every version of its key,
    stored or earlier in the same load."""
    principal.require_region(admdvs)
    rows = len(body.basic) + len(body.critical_illness) + len(body.assistance)
    if rows > MAX_LOAD_ROWS:
        raise InvalidRequest(
            f"{rows} policy rows in one load; at most {MAX_LOAD_ROWS}",
            code="too_many_rows",
        )
    stored_basic, stored_critical, stored_assistance = await repository.region_policies(
        session, admdvs
    )
    basic_rows, critical_rows = list(stored_basic), list(stored_critical)
    assistance_rows = list(stored_assistance)
    for i, b in enumerate(body.basic):
        _check_validity(b.valid_from, b.valid_to, f"basic.{i}")
        _check_bands(b.pool_bands, f"basic.{i}.pool_bands")
        if b.retiree_pool_bands:
            _check_bands(b.retiree_pool_bands, f"basic.{i}.retiree_pool_bands")
        same = [
            r
            for r in basic_rows
            if (r.insutype, r.med_type, r.hosp_lv) == (b.insutype, b.med_type, b.hosp_lv)
        ]
        row = BasicPolicyRow(
            admdvs=admdvs,
            insutype=b.insutype,
            med_type=b.med_type,
            hosp_lv=b.hosp_lv,
            valid_from=b.valid_from,
            valid_to=b.valid_to,
            fund_pay_type=b.fund_pay_type,
            deductible=to_fen(cny(b.deductible)),
            pool_bands=_bands_json(b.pool_bands),
            retiree_pool_bands=(
                _bands_json(b.retiree_pool_bands) if b.retiree_pool_bands else None
            ),
            annual_cap=to_fen(cny(b.annual_cap)),
            account_enabled=b.account_enabled,
            followup_lookback_days=b.followup_lookback_days,
            acc_category=b.acc_category or f"{b.insutype}-{b.med_type}",
        )
        _add_version(same, row, f"basic.{i}.valid_from")
        _check_one_accumulator(basic_rows, row, f"basic.{i}.acc_category")
        basic_rows.append(row)
        session.add(row)
    for i, c in enumerate(body.critical_illness):
        _check_validity(c.valid_from, c.valid_to, f"critical_illness.{i}")
        _check_bands(c.bands, f"critical_illness.{i}.bands")
        row_c = CriticalIllnessPolicyRow(
            admdvs=admdvs,
            insutype=c.insutype,
            valid_from=c.valid_from,
            valid_to=c.valid_to,
            fund_pay_type=c.fund_pay_type,
            threshold=to_fen(cny(c.threshold)),
            bands=_bands_json(c.bands),
            annual_cap=to_fen(cny(c.annual_cap)),
        )
        _add_version(
            [r for r in critical_rows if r.insutype == c.insutype],
            row_c,
            f"critical_illness.{i}.valid_from",
        )
        critical_rows.append(row_c)
        session.add(row_c)
    for i, a in enumerate(body.assistance):
        _check_validity(a.valid_from, a.valid_to, f"assistance.{i}")
        row_a = AssistancePolicyRow(
            admdvs=admdvs,
            category=a.category,
            valid_from=a.valid_from,
            valid_to=a.valid_to,
            fund_pay_type=a.fund_pay_type,
            ratio=a.ratio,
            annual_cap=to_fen(cny(a.annual_cap)),
        )
        _add_version(
            [r for r in assistance_rows if r.category == a.category],
            row_a,
            f"assistance.{i}.valid_from",
        )
        assistance_rows.append(row_a)
        session.add(row_a)
    await session.flush()
    await repository.bump_policy_token(session, admdvs)
    await audit.record(
        session,
        actor=principal,
        action="policy.loaded",
        object_type="policy",
        object_id=admdvs,
        payload=body.model_dump(mode="json"),
    )
    return PolicyLoadResult(
        admdvs=admdvs,
        basic=len(body.basic),
        critical_illness=len(body.critical_illness),
        assistance=len(body.assistance),
    )


#: The most rows one load may carry: a region's whole table is a few dozen, and each row is checked
#: against the versions of its key, so the bound keeps a load's work small.
MAX_LOAD_ROWS = 1_000

#: The dates a policy version may name: the national insurance era, and dates whose day before
#: still exists (closing a version computes it).
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def _check_validity(valid_from: date, valid_to: date | None, field: str) -> None:
    """A version starts within :data:`FIRST_DATE`..:data:`LAST_DATE` and ends no earlier than it
    starts."""
    for name, day in (("valid_from", valid_from), ("valid_to", valid_to)):
        if day is not None and not FIRST_DATE <= day <= LAST_DATE:
            raise InvalidRequest(
                f"{name} is outside {FIRST_DATE}..{LAST_DATE}",
                code="invalid_validity",
                field=f"{field}.{name}",
            )
    if valid_to is not None and valid_to < valid_from:
        raise InvalidRequest(
            "valid_to is before valid_from", code="invalid_validity", field=f"{field}.valid_to"
        )


def _check_one_accumulator(rows: Sequence[BasicPolicyRow], new: BasicPolicyRow, field: str) -> None:
    """While in force, every level's version of one (insutype, med_type) counts in the same
    accumulator: otherwise its deductible and annual cap would apply once per level."""
    for row in rows:
        if (
            (row.insutype, row.med_type) == (new.insutype, new.med_type)
            and row.acc_category != new.acc_category
            and (row.valid_to is None or row.valid_to >= new.valid_from)
            and (new.valid_to is None or new.valid_to >= row.valid_from)
        ):
            raise Conflict(
                f"versions in force at the same time count in {row.acc_category}",
                code="split_accumulator",
                field=field,
            )


def _check_bands(bands: Sequence[BandIn], field: str) -> None:
    uptos = [b.upto for b in bands]
    if uptos[-1] is not None or any(u is None for u in uptos[:-1]):
        raise InvalidRequest("only the last band is open-ended", code="invalid_bands", field=field)
    bounded = [u for u in uptos if u is not None]
    if bounded != sorted(set(bounded)):
        raise InvalidRequest("band limits must rise", code="invalid_bands", field=field)


async def _region(
    session: AsyncSession, admdvs: str, token: str | None
) -> tuple[str, _RegionPolicies]:
    if token is None:
        raise NoBenefitPolicy(f"no benefit policy is loaded for region {admdvs}")
    return token, await _rows(session, admdvs, token)


async def _rows(session: AsyncSession, admdvs: str, token: str) -> _RegionPolicies:
    """The region's rows under ``token``, from the cache or read once."""
    cached = _cache.get((admdvs, token))
    if cached is None:
        basic, critical, assistance = await repository.region_policies(session, admdvs)
        for row in (*basic, *critical, *assistance):
            session.expunge(row)
        cached = _RegionPolicies(basic, critical, assistance)
        if len(_cache) > 256:
            _cache.clear()
        _cache[(admdvs, token)] = cached
    return cached


async def _current_rows(session: AsyncSession, admdvs: str) -> _RegionPolicies:
    """The region's rows as loaded now; none when no policy was ever loaded."""
    token = await repository.policy_token(session, admdvs)
    return _RegionPolicies((), (), ()) if token is None else await _rows(session, admdvs, token)


async def assistance_categories(session: AsyncSession, admdvs: str) -> frozenset[str]:
    """The medical-assistance categories (低保, 特困 ...) the region has a policy for: the code
    list a person's ``asst_type`` is checked against."""
    return frozenset(row.category for row in (await _current_rows(session, admdvs)).assistance)


class BasicCaps(NamedTuple):
    """What the basic policy of one (insutype, med_type) allows in a year, in fen, and the
    accumulator categories its versions count in."""

    deductible: int
    annual_cap: int
    acc_categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class YearCaps:
    """The largest figures, in fen, a person's accumulators can reach in a year under the region's
    policy versions in force on some day of it (where a version changes mid-year, the larger:
    figures carried over may have been reached under either). A key that is missing has no
    policy in force that year."""

    #: (insutype, med_type) -> its caps over every level
    basic: Mapping[tuple[str, str], BasicCaps]
    #: the basic insutype the critical-illness insurance tops up -> its annual cap
    critical_illness: Mapping[str, int]
    #: assistance category -> its annual cap
    assistance: Mapping[str, int]


async def year_caps(session: AsyncSession, admdvs: str, year: int) -> YearCaps:
    """The region's :class:`YearCaps` for ``year``, from the cached policy rows."""
    region = await _current_rows(session, admdvs)
    first, last = date(year, 1, 1), date(year, 12, 31)

    def in_year(row: PolicyRow) -> bool:
        return row.valid_from <= last and (row.valid_to is None or row.valid_to >= first)

    basic: dict[tuple[str, str], BasicCaps] = {}
    for row in filter(in_year, region.basic):
        seen = basic.get((row.insutype, row.med_type), BasicCaps(0, 0, frozenset()))
        basic[row.insutype, row.med_type] = BasicCaps(
            max(seen.deductible, row.deductible),
            max(seen.annual_cap, row.annual_cap),
            seen.acc_categories | {row.acc_category},
        )
    critical: dict[str, int] = {}
    for c in filter(in_year, region.critical_illness):
        critical[c.insutype] = max(critical.get(c.insutype, 0), c.annual_cap)
    assistance: dict[str, int] = {}
    for a in filter(in_year, region.assistance):
        assistance[a.category] = max(assistance.get(a.category, 0), a.annual_cap)
    return YearCaps(basic, critical, assistance)


class BenefitTerms(NamedTuple):
    """One basic benefit of an insutype in force on a day, in fen: its deductible and annual cap
    at an institution level (None: any level), and the accumulator category it counts in."""

    med_type: str
    hosp_lv: int | None
    acc_category: str
    deductible: int
    annual_cap: int


class CriticalIllnessTerms(NamedTuple):
    """The critical-illness insurance topping up an insutype on a day, in fen."""

    threshold: int
    annual_cap: int


async def terms_in_force(
    session: AsyncSession, admdvs: str, insutype: str, on: date
) -> tuple[list[BenefitTerms], CriticalIllnessTerms | None]:
    """The region's basic benefits of ``insutype`` in force on ``on`` (by med_type, then level)
    and the critical-illness insurance topping it up: what a person's read measures their
    accumulators against."""
    region = await _current_rows(session, admdvs)
    basic = sorted(
        (
            BenefitTerms(r.med_type, r.hosp_lv, r.acc_category, r.deductible, r.annual_cap)
            for r in region.basic
            if r.insutype == insutype and _in_force(r, on)
        ),
        key=lambda t: (t.med_type, t.hosp_lv is None, t.hosp_lv or 0),
    )
    critical = next(
        (
            CriticalIllnessTerms(r.threshold, r.annual_cap)
            for r in region.critical_illness
            if r.insutype == insutype and _in_force(r, on)
        ),
        None,
    )
    return basic, critical


async def resolve(
    session: AsyncSession,
    *,
    token: str | None,
    admdvs: str,
    insutype: str,
    med_type: str,
    hosp_lv: int,
    on: date,
    retired: bool,
    asst_type: str | None,
) -> ResolvedPolicy:
    """The policy for one claim: the most specific basic row in force (this level before any
    level), the critical-illness insurance topping up this insutype, the person's assistance.

    ``token`` is the region's policy version token as the caller read it (None: no policy is
    loaded); a settlement reads it with its claim, so resolving costs no round trip while the
    region's policies are cached under that token."""
    token, region = await _region(session, admdvs, token)
    key = _ClaimKey(insutype, med_type, hosp_lv, on, retired, asst_type)
    policy = region.resolved.get(key)
    if policy is None:
        policy = region.resolved[key] = _resolve(region, token, key)
    return policy


class _ClaimKey(NamedTuple):
    """What of a claim decides its policy within a region's rows."""

    insutype: str
    med_type: str
    hosp_lv: int
    on: date
    retired: bool
    asst_type: str | None


def _resolve(region: _RegionPolicies, token: str, key: _ClaimKey) -> ResolvedPolicy:
    insutype, med_type, hosp_lv, on, retired, asst_type = key
    candidates = [
        r
        for r in region.basic
        if r.insutype == insutype
        and r.med_type == med_type
        and r.hosp_lv in (hosp_lv, None)
        and _in_force(r, on)
    ]
    if not candidates:
        raise NoBenefitPolicy(
            f"no benefit policy for insutype {insutype}, med_type {med_type}, level {hosp_lv} "
            f"on {on}",
            field="med_type",
        )
    row = min(candidates, key=lambda r: (r.hosp_lv is None, -r.valid_from.toordinal()))
    bands = row.retiree_pool_bands if retired and row.retiree_pool_bands else row.pool_bands
    critical = next(
        (r for r in region.critical_illness if r.insutype == insutype and _in_force(r, on)), None
    )
    assistance = (
        next((r for r in region.assistance if r.category == asst_type and _in_force(r, on)), None)
        if asst_type
        else None
    )
    return ResolvedPolicy(
        basic=BasicPolicy(
            fund_pay_type=row.fund_pay_type,
            deductible=from_fen(row.deductible),
            pool_bands=_bands(bands),
            annual_cap=from_fen(row.annual_cap),
        ),
        critical_illness=(
            CriticalIllnessPolicy(
                fund_pay_type=critical.fund_pay_type,
                threshold=from_fen(critical.threshold),
                bands=_bands(critical.bands),
                annual_cap=from_fen(critical.annual_cap),
            )
            if critical
            else None
        ),
        assistance=(
            AssistancePolicy(
                fund_pay_type=assistance.fund_pay_type,
                category=assistance.category,
                ratio=assistance.ratio,
                annual_cap=from_fen(assistance.annual_cap),
            )
            if assistance
            else None
        ),
        account=AccountPolicy(enabled=row.account_enabled),
        category=row.acc_category,
        followup_lookback_days=row.followup_lookback_days,
        token=token,
    )
