"""Insured persons: enrolment, resident-ID handling and opening balances at go-live.

Resident IDs are personal data: the engine keeps only a masked form for display and an HMAC for
lookups (keyed by ``SANYI_SECRET_KEY``), never the number itself, and never logs it.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims import repository
from claims.models import Person
from claims.schemas import OpeningBalancesIn, PersonIn, PersonOut
from engine import audit
from engine.auth import Principal
from engine.errors import Conflict, NotFound
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


async def load_opening_balances(
    session: AsyncSession, principal: Principal, psn_no: str, body: OpeningBalancesIn
) -> Person:
    """Set year-to-date accumulators for someone enrolled mid-year (go-live from a legacy system).

    Refused once the person has a settlement in that year: from then on the accumulators are the
    engine's own record, and overwriting them would silently rewrite what settlements applied.
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
    for category in body.categories:
        row = await repository.benefit_accumulator(
            session, psn_no, body.year, f"{category.insutype}-{category.med_type}"
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
