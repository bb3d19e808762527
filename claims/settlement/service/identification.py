"""Identifying an insured person at the counter (1101) from the certificate they show.

The hospital or pharmacy reads the certificate and asks who it belongs to before registering a
visit. It learns only people it may settle for: those insured in its own pooling region, and
those insured in the region the message names as the insured place (``insuplc_admdvs``, read off
the patient's card or voucher), whom it treats under cross-region direct settlement
(docs/cross-region.md). Anyone else, and a certificate nobody holds, get one answer, so no
institution can probe who is insured, or where.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import Person
from claims.settlement.service.persons import resident_id_hash
from engine.auth import Principal
from engine.errors import NotFound
from tariffs.registry import get_institution


def _unknown(field: str) -> NotFound:
    return NotFound("no such insured person", code="unknown_person", field=field)


async def treatable(
    session: AsyncSession,
    principal: Principal,
    person: Person | None,
    insuplc_admdvs: str | None,
    *,
    field: str,
) -> Person:
    """``person`` if the calling institution may settle for them: insured in the institution's
    region, or in ``insuplc_admdvs``, the insured place the caller names."""
    assert principal.institution_code is not None  # hospital and pharmacy keys name it
    institution = await get_institution(session, principal.institution_code)
    if person is None or person.admdvs not in (institution.admdvs, insuplc_admdvs):
        raise _unknown(field)
    return person


async def identify(
    session: AsyncSession,
    principal: Principal,
    certno: str,
    insuplc_admdvs: str | None,
    *,
    field: str = "certno",
) -> Person:
    """The person whose resident ID is ``certno``, if the caller may settle for them
    (:func:`treatable`)."""
    person = await repository.person_by_cert_hash(session, resident_id_hash(certno))
    return await treatable(session, principal, person, insuplc_admdvs, field=field)


async def by_psn_no(
    session: AsyncSession,
    principal: Principal,
    psn_no: str,
    insuplc_admdvs: str | None,
    *,
    field: str,
) -> Person:
    """The person ``psn_no`` (named by a redeemed voucher), if the caller may settle for them
    (:func:`treatable`)."""
    person = await repository.person(session, psn_no)
    return await treatable(session, principal, person, insuplc_admdvs, field=field)
