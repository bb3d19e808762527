"""The transaction table: each ``infno`` the envelope serves, the shape of its ``input``, the
/v1 service mapping that answers it, and whether it writes (a write runs once per ``msgid``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, JsonValue

from engine.wire import WireModel
from nhsa import outpatient, reconciliation, settlement
from nhsa.envelope import Call, parse
from nhsa.schemas import (
    CancelFeesIn,
    CancelVisitIn,
    ClearingIn,
    DetailIn,
    FeeUploadIn,
    PersonInfoIn,
    RegistrationIn,
    RevokeIn,
    SettleIn,
    TotalsIn,
)

In = TypeVar("In", bound=WireModel)


@dataclass(frozen=True, slots=True)
class Transaction(Generic[In]):
    infno: str
    name: str
    input_model: type[In]
    handle: Callable[[Call, In], Awaitable[BaseModel | None]]
    writes: bool

    async def run(self, call: Call) -> dict[str, JsonValue] | None:
        """The transaction's ``output`` for the call's ``input``."""
        body = parse(self.input_model, call.envelope.input, prefix="input")
        output = await self.handle(call, body)
        return None if output is None else output.model_dump(mode="json")


def _table(*transactions: Transaction[Any]) -> Mapping[str, Transaction[Any]]:
    return {t.infno: t for t in transactions}


TRANSACTIONS = _table(
    # 1101 writes: under a voucher (01) it uses the token up, so a retry must replay its answer.
    Transaction("1101", "person information", PersonInfoIn, outpatient.person_info, True),
    Transaction("2201", "register a visit", RegistrationIn, outpatient.register, True),
    Transaction("2202", "cancel a visit", CancelVisitIn, outpatient.cancel_visit, True),
    Transaction("2204", "upload fee lines", FeeUploadIn, outpatient.upload_fees, True),
    Transaction("2205", "cancel fee lines", CancelFeesIn, outpatient.cancel_fees, True),
    Transaction("2206", "pre-settle", SettleIn, settlement.presettle, False),
    Transaction("2207", "settle", SettleIn, settlement.settle, True),
    Transaction("2208", "revoke a settlement", RevokeIn, settlement.revoke, True),
    Transaction("3201", "reconcile totals", TotalsIn, reconciliation.totals, False),
    Transaction("3202", "reconcile details", DetailIn, reconciliation.details, True),
    Transaction("3203", "apply for clearing", ClearingIn, reconciliation.apply_for_clearing, True),
)
