"""Settlement's door, what prescriptions ask of settlement's services (docs/architecture.md).

* :func:`own_visit` — the caller's visit a prescription is written in, as :class:`VisitFacts`;
* :func:`certificate_matches` — whether a presented resident ID is the patient's;
* :func:`register_visit`, :func:`upload_fees` and :func:`settle` — a pharmacy purchase (med_type
  41) is registered, priced and settled as any visit is (2201, 2204, 2207), with the request
  types :class:`VisitIn`, :class:`DiagnosisIn`, :class:`FeeUpload`, :class:`FeeLineIn` and
  :class:`SettleIn`; a dispense settles with :attr:`Commit.WITH_CALLER`, inside its own
  transaction, and answers the :class:`SettlementOut`;
* :data:`IcdCode` — the wire type of a diagnosis, which a prescription carries too;
* :class:`InsuranceRefused` — the insured place's policy pays nothing for the care.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.schemas import (
    DiagnosisIn,
    FeeLineIn,
    FeeUpload,
    IcdCode,
    SettleIn,
    SettlementOut,
    VisitIn,
)
from claims.settlement.service import visits
from claims.settlement.service.persons import certificate_matches
from claims.settlement.service.settle import Commit, settle
from claims.settlement.service.visits import InsuranceRefused, upload_fees
from engine.auth import Principal

__all__ = [
    "Commit",
    "DiagnosisIn",
    "FeeLineIn",
    "FeeUpload",
    "IcdCode",
    "InsuranceRefused",
    "SettleIn",
    "SettlementOut",
    "VisitFacts",
    "VisitIn",
    "certificate_matches",
    "own_visit",
    "register_visit",
    "settle",
    "upload_fees",
]


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """A visit as another domain may read it: a copy, so nothing writes the visit through it."""

    mdtrt_id: str
    psn_no: str
    admdvs: str
    biz_type_code: str


async def own_visit(session: AsyncSession, principal: Principal, mdtrt_id: str) -> VisitFacts:
    """The caller's own visit; another institution's is refused as ``unknown_visit``, the same
    as one that does not exist."""
    visit = await visits.owned_visit(session, principal, mdtrt_id)
    return VisitFacts(visit.mdtrt_id, visit.psn_no, visit.admdvs, visit.biz_type_code)


async def register_visit(
    session: AsyncSession,
    principal: Principal,
    body: VisitIn,
    *,
    identified_by_prescription: bool = False,
) -> str:
    """2201 (:func:`claims.settlement.service.visits.register`): the registered visit's
    ``mdtrt_id``."""
    visit = await visits.register(
        session, principal, body, identified_by_prescription=identified_by_prescription
    )
    return visit.mdtrt_id
