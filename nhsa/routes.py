"""``POST /nhsa/{infno}`` and ``POST /nhsa``: the national request envelope in, the national
response envelope out, answered by the same services as /v1.

The caller authenticates with its /v1 API key and may send only its own institution's messages
(``fixmedins_code``) from its own region (``mdtrtarea_admvs``). A transaction that writes runs
once per ``msgid``: it is the Idempotency-Key of the write, so a resent message is answered with
the first answer's envelope, and another message under the same msgid is refused.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role, require_role
from engine.db import get_session
from engine.errors import InvalidRequest
from engine.idempotency import fingerprint, run_idempotent
from nhsa.envelope import Call, EnvelopeRoute, answer, parse
from nhsa.schemas import Envelope, EnvelopeOut
from nhsa.transactions import TRANSACTIONS

router = APIRouter(prefix="/nhsa", tags=["national envelope"], route_class=EnvelopeRoute)
Session = Annotated[AsyncSession, Depends(get_session)]
Institution = Annotated[Principal, require_role(Role.hospital, Role.pharmacy)]

_ENVELOPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Envelope.model_json_schema()}},
    }
}
_ANSWERS = (
    "Always HTTP 200: `infcode` 0 with the transaction's `output`, or -1 with `err_msg`, "
    "`err_code` and `err_field`. Transactions: "
    + ", ".join(f"{t.infno} {t.name}" for t in TRANSACTIONS.values())
    + "."
)


@router.post("", operation_id="send_envelope", openapi_extra=_ENVELOPE_BODY, description=_ANSWERS)
async def envelope(request: Request, principal: Institution, session: Session) -> EnvelopeOut:
    """A national message, routed by its own ``infno``."""
    return await _serve(request, principal, session, None)


@router.post(
    "/{infno}",
    operation_id="send_envelope_transaction",
    openapi_extra=_ENVELOPE_BODY,
    description=_ANSWERS,
)
async def transaction(
    infno: str, request: Request, principal: Institution, session: Session
) -> EnvelopeOut:
    """A national message to the transaction ``infno``, which must be the envelope's."""
    return await _serve(request, principal, session, infno)


async def _serve(
    request: Request, principal: Principal, session: AsyncSession, infno: str | None
) -> EnvelopeOut:
    """Read the envelope, check it is the caller's to send, and answer it by its transaction:
    once per msgid when the transaction writes (the claim, the write and the stored answer in
    the request's one unit of work, so a refusal leaves the msgid unused)."""
    sent = parse(Envelope, await request.body())
    if infno is not None and infno != sent.infno:
        raise InvalidRequest(
            "the envelope's infno is not the transaction addressed",
            code="infno_mismatch",
            field="infno",
        )
    found = TRANSACTIONS.get(sent.infno)
    if found is None:
        raise InvalidRequest(
            "the engine does not serve this transaction", code="unknown_infno", field="infno"
        )
    principal.require_institution(sent.fixmedins_code)
    principal.require_region(sent.mdtrtarea_admvs, field="mdtrtarea_admvs")
    call = Call(session, principal, sent)

    async def answered() -> EnvelopeOut:
        return answer(request, sent.msgid, await found.run(call))

    if not found.writes:
        return await answered()
    return await run_idempotent(
        session,
        principal,
        sent.msgid,
        fingerprint(f"nhsa:{sent.infno}", sent.input),
        answered,
        EnvelopeOut,
    )
