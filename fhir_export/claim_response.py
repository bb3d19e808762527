"""A settlement (2207, or revoked by 2208) as a FHIR R4 ClaimResponse.

- ``item``: one per fee line, in the settlement's order (``itemSequence`` 1, 2 ...; the line's
  national key ``feedetl_sn`` in the item's extension), adjudicated as submitted
  (``det_item_fee_sumamt``) and eligible (``inscp_scp_amt``), plus the national self-pay parts
  (``fulamt_ownpay_amt``, ``overlmt_amt``, ``preselfpay_amt``).
- ``total``: the claim's submitted, eligible, deductible (``act_pay_dedc``), benefit
  (``fund_pay_sumamt``) and copay (``psn_part_amt``), then one per fund of ``setldetail``
  (category = its ``fund_pay_type``).
- ``payment``: what the funds pay the institution (``fund_pay_sumamt``), dated the settlement's
  day in China.
- ``insurer``: the fund of the person's insurance type (``insutype``).

A revoked settlement is ``cancelled``; its figures stay as they were settled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from claims.settlement.schemas import LineSplitOut, SettlementOut
from fhir_export.terms import (
    ADJUDICATION,
    CLAIM_TYPE,
    PAYMENT_TYPE,
    Resource,
    china_date,
    code_system,
    concept,
    extension_url,
    identifier,
    instant,
    money,
    national,
    reference,
)

#: med_type -> HL7 claim type: outpatient care is professional, inpatient institutional.
CLAIM_TYPE_BY_MED_TYPE: Final = {
    "11": "professional",
    "14": "professional",
    "21": "institutional",
    "41": "pharmacy",
}
#: The national self-pay parts of a line, as adjudication categories of their own.
SELF_PAY_PARTS: Final = ("fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt")
FEEDETL_SN_EXTENSION: Final = extension_url("feedetl_sn")


def _adjudication(system: str, category: str, amount: Decimal) -> Resource:
    return {"category": concept(system, category), "amount": money(amount)}


def _item(sequence: int, line: LineSplitOut) -> Resource:
    return {
        "extension": [{"url": FEEDETL_SN_EXTENSION, "valueString": line.feedetl_sn}],
        "itemSequence": sequence,
        "adjudication": [
            _adjudication(ADJUDICATION, "submitted", line.det_item_fee_sumamt),
            _adjudication(ADJUDICATION, "eligible", line.inscp_scp_amt),
            *(
                _adjudication(code_system("adjudication"), part, getattr(line, part))
                for part in SELF_PAY_PARTS
            ),
        ],
    }


def _totals(out: SettlementOut) -> list[Resource]:
    return [
        _adjudication(ADJUDICATION, "submitted", out.medfee_sumamt),
        _adjudication(ADJUDICATION, "eligible", out.inscp_scp_amt),
        _adjudication(ADJUDICATION, "deductible", out.act_pay_dedc),
        _adjudication(ADJUDICATION, "benefit", out.fund_pay_sumamt),
        _adjudication(ADJUDICATION, "copay", out.psn_part_amt),
        *(
            _adjudication(code_system("fund_pay_type"), fund.fund_pay_type, fund.fund_payamt)
            for fund in out.setldetail
        ),
    ]


def claim_response(out: SettlementOut) -> Resource:
    """The ClaimResponse of a settlement read through ``claims.settlement.visible_settlement``."""
    assert out.setl_id is not None, "a stored settlement always has its setl_id"
    return {
        "resourceType": "ClaimResponse",
        "id": out.setl_id,
        "identifier": [identifier("setl_id", out.setl_id), identifier("mdtrt_id", out.mdtrt_id)],
        "status": "cancelled" if out.status == "revoked" else "active",
        "type": concept(CLAIM_TYPE, CLAIM_TYPE_BY_MED_TYPE[out.med_type]),
        "subType": national("med_type", out.med_type),
        "use": "claim",
        "patient": reference("Patient", "psn_no", out.psn_no),
        "created": instant(out.setl_time),
        "insurer": reference("Organization", "insutype", out.insutype),
        "requestor": reference("Organization", "fixmedins_code", out.fixmedins_code),
        "request": reference("Claim", "mdtrt_id", out.mdtrt_id),
        "outcome": "complete",
        "item": [_item(n, line) for n, line in enumerate(out.lines, start=1)],
        "total": _totals(out),
        "payment": {
            "type": concept(PAYMENT_TYPE, "complete"),
            "date": china_date(out.setl_time),
            "amount": money(out.fund_pay_sumamt),
        },
    }
