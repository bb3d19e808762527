"""Claims endpoints: policies and persons (insurer), visits, fee lines and settlement (hospital),
settlement reads (the institution its own, the insurer its region's).

Transaction names follow the national platform: 2201 register, 2204 fee upload, 2206 pre-settle,
2207 settle, 2208 revoke.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import refusals
from claims.settlement.examples import EXAMPLE_A
from claims.settlement.schemas import (
    FeeUpload,
    FeeUploadOut,
    FilingEndIn,
    FilingIn,
    FilingOut,
    FilingPage,
    OpeningBalancesIn,
    PersonIn,
    PersonOut,
    PersonRead,
    PolicyLoad,
    PolicyLoadResult,
    SettleIn,
    SettlementOut,
    SettlementPage,
    VisitIn,
    VisitOut,
)
from claims.settlement.service import filings, persons, policies, visits
from claims.settlement.service import settle as settlement
from claims.settlement.service.settle import Commit
from engine import idempotency
from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session, utcnow
from engine.idempotency import (
    IdempotencyKey,
    OptionalIdempotencyKey,
    fingerprint,
    run_idempotent,
)
from engine.openapi import documented, request_example, response_example
from engine.wire import Code, ParameterInt, RangeTime
from tariffs import refusals as tariffs_refusals
from vouchers import door as vouchers

#: Untagged: the funding and reconciliation routers it includes carry their own tags, and each
#: operation here is tagged "claims" itself, so an operation has one tag (a generated client's
#: module).
router = APIRouter(route_class=UnitOfWorkRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Insurer = Annotated[Principal, require_role(Role.insurer)]
Hospital = Annotated[Principal, require_role(Role.hospital, Role.pharmacy)]
Reader = Annotated[Principal, require_role(Role.hospital, Role.pharmacy, Role.insurer)]


@router.post(
    "/policies/{admdvs}",
    status_code=201,
    operation_id="load_policies",
    responses=documented(
        refusals.INVALID_BANDS,
        refusals.INVALID_VALIDITY,
        refusals.TOO_MANY_ROWS,
        refusals.OVERLAPPING_VERSION,
        refusals.SPLIT_ACCUMULATOR,
    ),
    tags=["claims"],
    summary="Load benefit policies",
)
async def load_policies(
    admdvs: str, body: PolicyLoad, principal: Insurer, session: Session
) -> PolicyLoadResult:
    """Load benefit policy versions for a region (each row applies from its valid_from)."""
    return await policies.load(session, principal, admdvs, body)


@router.post(
    "/persons",
    status_code=201,
    operation_id="enrol_person",
    responses=documented(
        refusals.DUPLICATE_PERSON, refusals.DUPLICATE_CERTNO, refusals.UNKNOWN_ASST_TYPE
    ),
    tags=["claims"],
    summary="Enrol an insured person",
)
async def enrol_person(body: PersonIn, principal: Insurer, session: Session) -> PersonOut:
    """Enrol an insured person in the insurer's region (insutype, certificate, personal account
    balance)."""
    return persons.person_out(await persons.enrol(session, principal, body))


@router.get(
    "/persons/{psn_no}",
    operation_id="get_person",
    tags=["claims"],
    summary="Get an insured person",
    responses=documented(refusals.UNKNOWN_PERSON),
)
async def get_person(
    psn_no: str,
    principal: Insurer,
    session: Session,
    year: Annotated[
        ParameterInt | None,
        Query(ge=2000, le=2099, description="the accumulators' year (China time); default now"),
    ] = None,
) -> PersonRead:
    """The person, with the year's accumulators against each deductible and cap in force."""
    return await persons.read(session, principal, psn_no, year, utcnow())


@router.post(
    "/persons/{psn_no}/opening-balances",
    operation_id="load_opening_balances",
    responses=documented(
        refusals.UNKNOWN_PERSON,
        refusals.DUPLICATE_CATEGORY,
        refusals.SHARED_ACCUMULATOR,
        refusals.OPENING_AFTER_SETTLEMENT,
        refusals.OPENING_ABOVE_CAP,
        refusals.OPENING_WITHOUT_POLICY,
    ),
    tags=["claims"],
    summary="Load opening balances",
)
async def load_opening_balances(
    psn_no: str, body: OpeningBalancesIn, principal: Insurer, session: Session
) -> PersonOut:
    """Load what a person used this year before the engine (deductible, fund payments, caps),
    once, before any settlement."""
    person = await persons.load_opening_balances(session, principal, psn_no, body)
    return persons.person_out(person)


@router.post(
    "/visits",
    status_code=201,
    operation_id="register_visit_2201",
    responses=documented(
        refusals.TIME_IN_FUTURE,
        refusals.TIME_WITHOUT_OFFSET,
        refusals.DR_CODE_REQUIRED,
        *refusals.INSURANCE_REFUSALS,
        *vouchers.REDEEM_REFUSALS,
        refusals.VISIT_NUMBER_REUSED,
        refusals.UNKNOWN_PERSON,
        refusals.UNKNOWN_INSTITUTION,
        refusals.UNKNOWN_PRACTITIONER,
    )
    | {201: response_example(EXAMPLE_A["register_visit"]["response"])},
    openapi_extra=request_example(EXAMPLE_A["register_visit"]["request"]),
    tags=["claims"],
    summary="2201 Register a visit",
)
async def register_visit(
    body: VisitIn,
    principal: Hospital,
    session: Session,
    idempotency_key: OptionalIdempotencyKey = None,
) -> VisitOut:
    """2201 register a visit (internet visits are checked for follow-up compliance); idempotent
    under ``Idempotency-Key`` when given, and under the institution's ``ipt_otp_no``."""

    async def register() -> VisitOut:
        return visits.visit_out(await visits.register(session, principal, body))

    return await run_idempotent(
        session, principal, idempotency_key, visits.registration_hash(body), register, VisitOut
    )


@router.post(
    "/visits/{mdtrt_id}/fee-lines",
    status_code=201,
    operation_id="upload_fee_lines_2204",
    responses=documented(
        refusals.FEE_BEFORE_VISIT,
        refusals.TIME_IN_FUTURE,
        refusals.TIME_WITHOUT_OFFSET,
        refusals.VISIT_AMOUNT_TOO_LARGE,
        *tariffs_refusals.PRICING,
        refusals.UNKNOWN_VISIT,
        refusals.DUPLICATE_LINE,
        refusals.VISIT_SETTLED,
    )
    | {201: response_example(EXAMPLE_A["upload_fee_lines"]["response"])},
    openapi_extra=request_example(EXAMPLE_A["upload_fee_lines"]["request"]),
    tags=["claims"],
    summary="2204 Upload fee lines",
)
async def upload_fee_lines(
    mdtrt_id: str,
    body: FeeUpload,
    principal: Hospital,
    session: Session,
    idempotency_key: OptionalIdempotencyKey = None,
) -> FeeUploadOut:
    """2204 upload fee lines; each is priced by the tariff in force on the visit date. Idempotent
    under ``Idempotency-Key`` when given; a retry of the same lines answers them either way."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"fee-lines:{mdtrt_id}", body.model_dump(mode="json")),
        lambda: visits.upload_fees(session, principal, mdtrt_id, body),
        FeeUploadOut,
    )


@router.post(
    "/visits/{mdtrt_id}/pre-settlement",
    operation_id="presettle_2206",
    responses=documented(
        refusals.NO_FEE_LINES,
        refusals.NO_BENEFIT_POLICY,
        refusals.CROSS_REGION_NOT_COVERED,
        refusals.UNKNOWN_PRESETTLE_TOKEN,
        refusals.UNKNOWN_VISIT,
        refusals.ALREADY_SETTLED,
    )
    | {200: response_example(EXAMPLE_A["presettle"]["response"])},
    openapi_extra=request_example(EXAMPLE_A["presettle"]["request"]),
    tags=["claims"],
    summary="2206 Pre-settle a visit",
)
async def presettle(
    mdtrt_id: str, body: SettleIn, principal: Hospital, session: Session
) -> SettlementOut:
    """2206 pre-settle: the split settle would make now; changes nothing."""
    return await settlement.presettle(session, principal, mdtrt_id, body, commit=Commit.ALONE)


@router.post(
    "/visits/{mdtrt_id}/settlement",
    status_code=201,
    operation_id="settle_2207",
    responses=documented(
        refusals.NO_FEE_LINES,
        refusals.NO_BENEFIT_POLICY,
        refusals.CROSS_REGION_NOT_COVERED,
        refusals.UNKNOWN_PRESETTLE_TOKEN,
        refusals.UNKNOWN_VISIT,
        refusals.ALREADY_SETTLED,
    )
    | {201: response_example(EXAMPLE_A["settle"]["response"])},
    openapi_extra=request_example(EXAMPLE_A["settle"]["request"]),
    tags=["claims"],
    summary="2207 Settle a visit",
    response_model=SettlementOut,
)
async def settle(
    mdtrt_id: str,
    body: SettleIn,
    principal: Hospital,
    session: Session,
    idempotency_key: IdempotencyKey,
) -> Response:
    """2207 settle, idempotent under ``Idempotency-Key`` (read with the visit's state, the
    response stored with the settlement's own write). Its settlement commits on its own, its
    statements shared with the settles running alongside it (``Commit.GROUPED``: this unit of
    work writes nothing else); the answer is sent as the very JSON stored for replays
    (``SettlementOut.as_json``)."""
    request_hash = fingerprint(f"settle:{mdtrt_id}", body.model_dump(mode="json"))
    reservation = idempotency.Reservation(principal, idempotency_key, request_hash)
    settled = await settlement.settle(
        session, principal, mdtrt_id, body, commit=Commit.GROUPED, reservation=reservation
    )
    return Response(settled.as_json(), status_code=201, media_type="application/json")


@router.post(
    "/settlements/{setl_id}/revocation",
    operation_id="revoke_settlement_2208",
    responses=documented(refusals.UNKNOWN_SETTLEMENT, refusals.ALREADY_REVOKED),
    tags=["claims"],
    summary="2208 Revoke a settlement",
)
async def revoke(
    setl_id: str, principal: Hospital, session: Session, idempotency_key: IdempotencyKey
) -> SettlementOut:
    """2208 revoke, idempotent under ``Idempotency-Key``."""
    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"revoke:{setl_id}", {}),
        lambda: settlement.revoke(session, principal, setl_id),
        SettlementOut,
    )


@router.get(
    "/settlements/{setl_id}",
    operation_id="get_settlement",
    responses=documented(refusals.UNKNOWN_SETTLEMENT),
    tags=["claims"],
    summary="Get a settlement",
)
async def get_settlement(setl_id: str, principal: Reader, session: Session) -> SettlementOut:
    """A settlement: an institution's own, an insurer's region's."""
    return await settlement.visible_settlement(session, principal, setl_id)


@router.get(
    "/settlements",
    operation_id="list_settlements",
    responses=documented(refusals.INVALID_CURSOR, refusals.UNKNOWN_INSTITUTION),
    tags=["claims"],
    summary="List settlements in a time range",
)
async def list_settlements(
    principal: Reader,
    session: Session,
    begin: Annotated[RangeTime, Query(description="setl_time from (inclusive)")],
    end: Annotated[RangeTime, Query(description="setl_time until (exclusive)")],
    fixmedins_code: Annotated[Code | None, Query(description="one institution only")] = None,
    status: Literal["settled", "revoked"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[ParameterInt, Query(ge=1, le=500)] = 100,
) -> SettlementPage:
    """Settlements in a time range, oldest first, keyset-paginated: a hospital's or pharmacy's
    own, an insurer's region's. An institution the caller may not see answers 404
    ``unknown_institution``, as an unregistered one does."""
    return await settlement.visible_settlements(
        session,
        principal,
        fixmedins_code=fixmedins_code,
        status=status,
        begin=begin,
        end=end,
        cursor=cursor,
        limit=limit,
    )


# --- cross-region filings (备案) ------------------------------------------------------------------


@router.post(
    "/cross-region/filings",
    status_code=201,
    operation_id="create_filing",
    responses=documented(
        refusals.UNKNOWN_PERSON,
        refusals.SAME_REGION,
        refusals.INVALID_PERIOD,
        refusals.OVERLAPPING_FILING,
    ),
    tags=["cross-region"],
    summary="File a person for cross-region care",
)
async def create_filing(
    body: FilingIn, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> FilingOut:
    """File a person of the insurer's region for care in another region (备案), idempotent under
    ``Idempotency-Key``."""

    async def create() -> FilingOut:
        return filings.filing_out(await filings.file(session, principal, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint("filing", body.model_dump(mode="json")),
        create,
        FilingOut,
    )


@router.get(
    "/cross-region/filings",
    operation_id="list_filings",
    tags=["cross-region"],
    summary="List filings of the insurer's insured or for its region",
)
async def list_filings(
    principal: Insurer,
    session: Session,
    psn_no: Annotated[Code | None, Query(description="one person only")] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[ParameterInt, Query(ge=1, le=500)] = 100,
) -> FilingPage:
    """Filings of the insurer's own insured, and filings naming its region as the treatment
    place (the filing only: nothing else of the person)."""
    return await filings.visible_filings(
        session, principal, psn_no=psn_no, cursor=cursor, limit=limit
    )


@router.get(
    "/cross-region/filings/{trt_dcla_detl_sn}",
    operation_id="get_filing",
    responses=documented(refusals.UNKNOWN_FILING),
    tags=["cross-region"],
    summary="Get a filing",
)
async def get_filing(trt_dcla_detl_sn: str, principal: Insurer, session: Session) -> FilingOut:
    """A filing, to the insurer of the insured place or of the treatment place."""
    return await filings.visible_filing(session, principal, trt_dcla_detl_sn)


@router.post(
    "/cross-region/filings/{trt_dcla_detl_sn}/end",
    operation_id="end_filing",
    responses=documented(refusals.UNKNOWN_FILING, refusals.FILING_REVOKED, refusals.INVALID_PERIOD),
    tags=["cross-region"],
    summary="End a filing",
)
async def end_filing(
    trt_dcla_detl_sn: str,
    body: FilingEndIn,
    principal: Insurer,
    session: Session,
    idempotency_key: IdempotencyKey,
) -> FilingOut:
    """End a filing of the insurer's insured on ``enddate``, idempotent under
    ``Idempotency-Key``."""

    async def end() -> FilingOut:
        return filings.filing_out(await filings.end(session, principal, trt_dcla_detl_sn, body))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"filing-end:{trt_dcla_detl_sn}", body.model_dump(mode="json")),
        end,
        FilingOut,
    )


@router.post(
    "/cross-region/filings/{trt_dcla_detl_sn}/revocation",
    operation_id="revoke_filing",
    responses=documented(refusals.UNKNOWN_FILING, refusals.FILING_REVOKED),
    tags=["cross-region"],
    summary="Revoke a filing",
)
async def revoke_filing(
    trt_dcla_detl_sn: str, principal: Insurer, session: Session, idempotency_key: IdempotencyKey
) -> FilingOut:
    """Revoke a filing made in error, idempotent under ``Idempotency-Key``."""

    async def revoke() -> FilingOut:
        return filings.filing_out(await filings.revoke(session, principal, trt_dcla_detl_sn))

    return await run_idempotent(
        session,
        principal,
        idempotency_key,
        fingerprint(f"filing-revoke:{trt_dcla_detl_sn}", {}),
        revoke,
        FilingOut,
    )
