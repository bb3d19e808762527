"""FHIR R4 reads under /v1/fhir, answering ``application/fhir+json``.

Each read calls the same scoped read as its /v1 GET route and maps the answer, so the roles, the
scope and every refusal are those of /v1: a caller who may not see a record gets the 404 a
record that does not exist gets, in the engine's one error shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import batches
from claims.clearing import refusals as clearing_refusals
from claims.settlement import refusals as settlement_refusals
from claims.settlement.service import settle
from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session
from engine.errors import NotFound
from engine.openapi import Refusal, documented
from fhir_export.claim_response import claim_response
from fhir_export.medication_dispense import medication_dispenses
from fhir_export.medication_request import medication_requests
from fhir_export.payment_reconciliation import payment_reconciliation
from fhir_export.rendering import MEDIA_TYPE, FhirResponse
from fhir_export.terms import collection
from prescriptions import circulation
from prescriptions import refusals as rx_refusals
from prescriptions.routes import Now  # the request clock /v1 reads prescriptions at

router = APIRouter(
    prefix="/fhir", tags=["fhir"], route_class=UnitOfWorkRoute, default_response_class=FhirResponse
)
Session = Annotated[AsyncSession, Depends(get_session)]
ClaimsReader = Annotated[Principal, require_role(Role.hospital, Role.pharmacy, Role.insurer)]
RxReader = Annotated[Principal, require_role(Role.hospital, Role.pharmacy)]


#: The OpenAPI schema of an answer: any FHIR resource (the FHIR specification defines the rest).
RESOURCE: Final = {
    "type": "object",
    "properties": {"resourceType": {"type": "string"}},
    "required": ["resourceType"],
}

UNKNOWN_DISPENSATION: Final = Refusal(
    404, "unknown_dispensation", "the prescription has no dispensation of that number"
)
BATCH_NOT_APPROVED: Final = Refusal(
    409, "batch_not_approved", "the batch is only applied: its figures are not frozen yet"
)


def _documented(resource: str, *refusals: Refusal) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a read: the FHIR JSON it answers and the refusals it raises."""
    return documented(*refusals) | {
        200: {"description": f"a FHIR R4 {resource}", "content": {MEDIA_TYPE: {"schema": RESOURCE}}}
    }


@router.get(
    "/ClaimResponse/{setl_id}",
    operation_id="read_claim_response",
    summary="A settlement as a FHIR ClaimResponse",
    responses=_documented("ClaimResponse", settlement_refusals.UNKNOWN_SETTLEMENT),
)
async def read_claim_response(
    setl_id: str, principal: ClaimsReader, session: Session
) -> FhirResponse:
    """A settlement as a ClaimResponse: an item per fee line, a total per fund, the payment."""
    out = await settle.visible_settlement(session, principal, setl_id)
    return FhirResponse(claim_response(out))


@router.get(
    "/MedicationRequest/{hi_rxno}",
    operation_id="read_medication_request",
    summary="A prescription as FHIR MedicationRequests",
    responses=_documented("Bundle of MedicationRequests", rx_refusals.UNKNOWN_PRESCRIPTION),
)
async def read_medication_request(
    hi_rxno: str, principal: RxReader, session: Session, now: Now
) -> FhirResponse:
    """A prescription as a Bundle of MedicationRequests, one per drug line, sharing the
    ``groupIdentifier`` ``hi_rxno``."""
    rx = await circulation.download(session, principal, hi_rxno, now)
    return FhirResponse(collection(rx.hi_rxno, medication_requests(rx)))


@router.get(
    "/MedicationDispense/{id}",
    operation_id="read_medication_dispense",
    summary="A dispensation as FHIR MedicationDispenses",
    responses=_documented(
        "Bundle of MedicationDispenses", rx_refusals.UNKNOWN_PRESCRIPTION, UNKNOWN_DISPENSATION
    ),
)
async def read_medication_dispense(
    id: str, principal: RxReader, session: Session, now: Now
) -> FhirResponse:
    """One dispensation, read as ``<hi_rxno>-<dspe_seq>``, as a Bundle of MedicationDispenses,
    one per dispensed line."""
    hi_rxno, _, dspe_seq = id.rpartition("-")
    rx = await circulation.download(session, principal, hi_rxno, now)
    for record in rx.dispenses:
        if str(record.dspe_seq) == dspe_seq:
            return FhirResponse(collection(id, medication_dispenses(rx, record)))
    raise NotFound("no such dispensation", code=UNKNOWN_DISPENSATION.code, field="id")


@router.get(
    "/PaymentReconciliation/{clr_appy_evt_id}",
    operation_id="read_payment_reconciliation",
    summary="An approved clearing batch as a FHIR PaymentReconciliation",
    responses=_documented(
        "PaymentReconciliation", clearing_refusals.UNKNOWN_BATCH, BATCH_NOT_APPROVED
    ),
)
async def read_payment_reconciliation(
    clr_appy_evt_id: str, principal: ClaimsReader, session: Session
) -> FhirResponse:
    """An approved clearing batch as a PaymentReconciliation: a detail per fund."""
    batch = await batches.visible_batch(session, principal, clr_appy_evt_id)
    return FhirResponse(payment_reconciliation(batch))
