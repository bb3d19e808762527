"""Identifying an insured person at the counter (1101) from the resident ID on their card.

The hospital or pharmacy reads the certificate and asks who it belongs to before registering a
visit. It learns only people insured in its own pooling region (where it may settle); anyone
else, and a resident ID nobody holds, get one answer, so no institution can probe who is
insured, or where.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import Person
from claims.settlement.service.persons import resident_id_hash
from engine.auth import Principal
from engine.errors import NotFound
from tariffs.registry import get_institution


async def identify(
    session: AsyncSession, principal: Principal, certno: str, *, field: str = "certno"
) -> Person:
    """The person whose resident ID is ``certno``, insured in the caller's region."""
    assert principal.institution_code is not None  # hospital and pharmacy keys name it
    institution = await get_institution(session, principal.institution_code)
    person = await repository.person_by_cert_hash(session, resident_id_hash(certno))
    if person is None or person.admdvs != institution.admdvs:
        raise NotFound("no such insured person", code="unknown_person", field=field)
    return person
