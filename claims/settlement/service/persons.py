"""Insured persons: enrolment, resident-ID handling and opening balances at go-live.

Resident IDs are personal data: the engine keeps only a masked form for display and an HMAC for
lookups (keyed by ``SANYI_SECRET_KEY``), never the number itself, and never logs it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import Person
from claims.settlement.schemas import (
    BenefitStanding,
    CategoryOpening,
    CriticalIllnessStanding,
    OpeningBalancesIn,
    PersonIn,
    PersonOut,
    PersonRead,
)
from claims.settlement.service import policies
from engine import audit
from engine.auth import Principal
from engine.clock import local_date
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import cny, to_fen, yuan
from engine.settings import get_settings


def mask_resident_id(certno: str) -> str:
    """Keep the region prefix and the last four characters: 230102********123X."""
    return certno[:6] + "*" * 8 + certno[-4:].upper()


def resident_id_hash(certno: str) -> str:
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, certno.upper().encode(), hashlib.sha256).hexdigest()


def person_out(person: Person) -> PersonOut:
    return PersonOut(
        psn_no=person.psn_no,
        psn_name=person.psn_name,
        certno_masked=person.certno_masked,
        admdvs=person.admdvs,
        insutype=person.insutype,
        retired=person.retired,
        asst_type=person.asst_type,
        opsp_dise_codes=list(person.opsp_dise_codes),
        acct_balc=yuan(person.acct_balc),
    )


async def enrol(session: AsyncSession, principal: Principal, body: PersonIn) -> Person:
    principal.require_region(body.admdvs)
    if body.asst_type is not None and body.asst_type not in (
        await policies.assistance_categories(session, body.admdvs)
    ):
        raise InvalidRequest(
            "the region has no medical-assistance policy for this category",
            code="unknown_asst_type",
            field="asst_type",
        )
    if await repository.person(session, body.psn_no) is not None:
        raise Conflict("psn_no is already enrolled", code="duplicate_person", field="psn_no")
    certno_hash = resident_id_hash(body.certno)
    if await repository.person_by_cert_hash(session, certno_hash) is not None:
        raise Conflict(
            "this resident ID is already enrolled", code="duplicate_certno", field="certno"
        )
    person = Person(
        psn_no=body.psn_no,
        admdvs=body.admdvs,
        psn_name=body.psn_name,
        certno_masked=mask_resident_id(body.certno),
        certno_hash=certno_hash,
        insutype=body.insutype,
        retired=body.retired,
        asst_type=body.asst_type,
        opsp_dise_codes=list(body.opsp_dise_codes),
        acct_balc=to_fen(cny(body.acct_balc)),
    )
    session.add(person)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="person.enrolled",
        object_type="person",
        object_id=person.psn_no,
        payload=person_out(person).model_dump(mode="json"),
        new_stream=True,
    )
    return person


async def certificate_matches(session: AsyncSession, psn_no: str, certno: str) -> bool:
    """Whether ``certno`` (resident ID from an ID card or social security card) is this person's,
    compared by keyed hash; an unknown person matches nothing."""
    person = await repository.person(session, psn_no)
    return person is not None and hmac.compare_digest(person.certno_hash, resident_id_hash(certno))


async def get_visible(session: AsyncSession, principal: Principal, psn_no: str) -> Person:
    """A person the caller may see; other regions' people are indistinguishable from unknown."""
    person = await repository.person(session, psn_no)
    if person is None or not principal.in_region(person.admdvs):
        raise NotFound("no such person", code="unknown_person", field="psn_no")
    return person


def _standing_day(year: int, today: date) -> date:
    """The day whose policy a year's accumulators are measured against: today in the current
    year, the last day of a past year, the first of a future one."""
    return min(max(today, date(year, 1, 1)), date(year, 12, 31))


def _left(limit: int, used: int) -> Decimal:
    """What remains of a limit, in yuan, never below zero."""
    return yuan(max(limit - used, 0))


async def read(
    session: AsyncSession, principal: Principal, psn_no: str, year: int | None, now: datetime
) -> PersonRead:
    """The person, scoped as :func:`get_visible`, with the year's accumulators (China time,
    default the current year) against each deductible and cap in force: what a HIS tells a
    patient is left before a pre-settlement."""
    person = await get_visible(session, principal, psn_no)
    today = local_date(now)
    year = today.year if year is None else year
    basic, critical = await policies.terms_in_force(
        session, person.admdvs, person.insutype, _standing_day(year, today)
    )
    categories, year_row = await repository.year_accumulators(session, psn_no, year)
    inscp_psn_cum = year_row.inscp_psn_cum if year_row else 0
    critical_paid = year_row.critical_paid if year_row else 0
    benefits = []
    for terms in basic:
        counted = categories.get(terms.acc_category)
        used = counted.deductible_used if counted else 0
        paid = counted.hifp_paid if counted else 0
        benefits.append(
            BenefitStanding(
                med_type=terms.med_type,
                hosp_lv=terms.hosp_lv,
                acc_category=terms.acc_category,
                deductible=yuan(terms.deductible),
                deductible_used=yuan(used),
                deductible_remaining=_left(terms.deductible, used),
                annual_cap=yuan(terms.annual_cap),
                hifp_paid=yuan(paid),
                cap_remaining=_left(terms.annual_cap, paid),
            )
        )
    return PersonRead(
        **person_out(person).model_dump(),
        year=year,
        benefits=benefits,
        critical_illness=(
            CriticalIllnessStanding(
                threshold=yuan(critical.threshold),
                inscp_psn_cum=yuan(inscp_psn_cum),
                threshold_remaining=_left(critical.threshold, inscp_psn_cum),
                annual_cap=yuan(critical.annual_cap),
                critical_paid=yuan(critical_paid),
                cap_remaining=_left(critical.annual_cap, critical_paid),
            )
            if critical
            else None
        ),
        assistance_paid=yuan(year_row.assistance_paid if year_row else 0),
    )


async def load_opening_balances(
    session: AsyncSession, principal: Principal, psn_no: str, body: OpeningBalancesIn
) -> Person:
    """Set year-to-date accumulators for someone enrolled mid-year (go-live from a legacy system).

    Refused once the person has a settlement in that year: from then on the accumulators are the
    engine's own record, and overwriting them would silently rewrite what settlements applied.
    Each figure is bounded by the person's policy for that year (:func:`_check_caps`).
    """
    person = await repository.person(session, psn_no, lock=True)
    if person is None or person.admdvs != principal.admdvs:
        raise NotFound("no such person", code="unknown_person", field="psn_no")
    if await repository.has_settlement_in_year(session, psn_no, body.year):
        raise Conflict(
            "the person already has settlements this year",
            code="opening_after_settlement",
            field="year",
        )
    _check_caps(person, body, await policies.year_caps(session, person.admdvs, body.year))
    for category in body.categories:
        row = await repository.benefit_accumulator(
            session, psn_no, body.year, _accumulator_category(category)
        )
        row.deductible_used = _fen(category.deductible_used)
        row.hifp_paid = _fen(category.hifp_paid)
    year_row = await repository.person_year_accumulator(session, psn_no, body.year)
    year_row.inscp_psn_cum = _fen(body.inscp_psn_cum)
    year_row.critical_paid = _fen(body.critical_paid)
    year_row.assistance_paid = _fen(body.assistance_paid)
    if body.acct_balc is not None:
        person.acct_balc = _fen(body.acct_balc)
    person.ledger_version += 1
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="person.opening_balances_loaded",
        object_type="person",
        object_id=psn_no,
        payload=body.model_dump(mode="json"),
    )
    return person


def _fen(amount: Decimal) -> int:
    return to_fen(cny(amount))


class OpeningAboveCap(InvalidRequest):
    """An opening figure above what the person's policy lets that accumulator reach in the
    year: a legacy system's figure no settlement here could have produced."""

    default_code = "opening_above_cap"


class OpeningWithoutPolicy(InvalidRequest):
    """An opening figure for a benefit no policy of the region covers in that year."""

    default_code = "opening_without_policy"


def _check_caps(person: Person, body: OpeningBalancesIn, caps: policies.YearCaps) -> None:
    """Deductible used up to the deductible, pooled fund paid up to the annual cap of its
    category, critical illness and assistance paid up to their caps for the person's insutype
    and assistance category; a category named twice is refused (the second would overwrite the
    first)."""
    seen: set[tuple[str, str]] = set()
    for i, category in enumerate(body.categories):
        key = (category.insutype, category.med_type)
        if key in seen:
            raise InvalidRequest(
                "the category is given twice", code="duplicate_category", field=f"categories.{i}"
            )
        seen.add(key)
        _check_category(category, caps.basic.get(key), f"categories.{i}")
    _bound(body.critical_paid, caps.critical_illness.get(person.insutype), "critical_paid")
    assistance_cap = None if person.asst_type is None else caps.assistance.get(person.asst_type)
    _bound(body.assistance_paid, assistance_cap, "assistance_paid")


def _check_category(category: CategoryOpening, caps: policies.BasicCaps | None, field: str) -> None:
    """A category's figures within its caps, and only for a category that counts in its own
    accumulator: one whose policy counts it in another's (pharmacy purchases, 41, in outpatient,
    11) has its figures given there, where settlements read them."""
    if caps is None:
        raise OpeningWithoutPolicy(
            f"no policy for insutype {category.insutype}, med_type {category.med_type} is in "
            "force that year",
            field=field,
        )
    own = _accumulator_category(category)
    if caps.acc_categories != {own}:
        shared = ", ".join(sorted(caps.acc_categories - {own}))
        raise InvalidRequest(
            f"{own} counts in the accumulator of {shared}: give its figures there",
            code="shared_accumulator",
            field=field,
        )
    _bound(category.deductible_used, caps.deductible, f"{field}.deductible_used")
    _bound(category.hifp_paid, caps.annual_cap, f"{field}.hifp_paid")


def _accumulator_category(category: CategoryOpening) -> str:
    """The accumulator an opening category sets: ``<insutype>-<med_type>``."""
    return f"{category.insutype}-{category.med_type}"


def _bound(amount: Decimal, cap: int | None, field: str) -> None:
    """``amount`` may be at most ``cap`` fen; with no cap (no policy in force) only zero."""
    if cap is None:
        if amount:
            raise OpeningWithoutPolicy(f"no policy for {field} is in force that year", field=field)
    elif _fen(amount) > cap:
        raise OpeningAboveCap(f"{field} is above the policy's cap of {yuan(cap)}", field=field)
