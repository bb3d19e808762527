"""An approved clearing batch (3203) as a FHIR R4 PaymentReconciliation: the month cleared
(``setlym``) as its period, what the funds pay the institution (``payable_sumamt``) as its
payment amount, and one detail per fund (its payable, by the fund's settlement column).

A batch that is only applied has no figures yet (approval freezes them), so it has no
PaymentReconciliation: it is refused with 409 ``batch_not_approved``.
"""

from __future__ import annotations

from datetime import timedelta

from claims.clearing.batches import month_of
from claims.clearing.schemas import ClearingBatchOut
from engine.clock import month_bounds
from engine.errors import Conflict
from fhir_export.terms import (
    Resource,
    china_date,
    identifier,
    instant,
    money,
    national,
    reference,
)


class BatchNotApproved(Conflict):
    """The batch has no frozen figures to reconcile yet."""

    def __init__(self) -> None:
        super().__init__(
            "the clearing batch is not approved yet: it has no figures to reconcile",
            code="batch_not_approved",
            field="clr_appy_evt_id",
        )


def _period(setlym: str) -> Resource:
    """The calendar month ``YYYYMM`` as a FHIR Period of dates (its end day included)."""
    begin, end = month_bounds(*month_of(setlym))
    return {"start": begin.date().isoformat(), "end": (end - timedelta(days=1)).date().isoformat()}


def payment_reconciliation(batch: ClearingBatchOut) -> Resource:
    """The PaymentReconciliation of a batch read through ``claims.clearing.visible_batch``."""
    if batch.clr_stas != "approved" or batch.approved_at is None:
        raise BatchNotApproved()
    assert batch.payable_sumamt is not None, "an approved batch has its figures"
    return {
        "resourceType": "PaymentReconciliation",
        "id": batch.clr_appy_evt_id,
        "identifier": [identifier("clr_appy_evt_id", batch.clr_appy_evt_id)],
        "status": "active",
        "period": _period(batch.setlym),
        "created": instant(batch.approved_at),
        "paymentIssuer": reference("Organization", "admdvs", batch.admdvs),
        "requestor": reference("Organization", "fixmedins_code", batch.fixmedins_code),
        "outcome": "complete",
        "paymentDate": china_date(batch.approved_at),
        "paymentAmount": money(batch.payable_sumamt),
        "detail": [
            {
                "type": national("fund", line.fund),
                "date": china_date(batch.approved_at),
                "amount": money(line.payable),
            }
            for line in batch.funds
        ],
    }
