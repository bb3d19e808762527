"""The cross-tenant matrix: every operation of the app × every caller that may not see tenant A.

Two pooling regions, each with a hospital, a pharmacy and an insurer, and an operator key. Tenant
A (region 230100) has a person with a settled visit, a budget and a bundle, a reconciliation run
and job, a clearing batch and an approved prescription. Every operation listed by
``app.openapi()`` is called by every foreign caller twice: with tenant A's ids and with ids that
exist nowhere. A foreign caller never gets a 2xx, and the two answers are the same status, code,
field and message (the ids themselves aside): "not yours" and "does not exist" are one response.
Operations that name no object of A's (listings, own applications) are checked for not showing
any of A's ids instead.

An operation without a case in :data:`CASES` fails :func:`test_every_operation_has_a_case`, so
a route added later is covered as soon as it exists.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.cli import read_policy_file
from engine.auth import Role
from engine.clock import CST
from prescriptions.signing import sign
from tests.prescriptions.world import RxWorld, build_rx_world
from tests.support.factories.clearing import backdate, detail_file, file_row
from tests.support.factories.funding import budget_body
from tests.support.factories.orgs import make_key, make_org, unique_code
from tests.support.factories.world import CLASS_A_ITEM, POLICY_FILE, make_certno

REGION_A, REGION_B = "230100", "230200"
#: Where tenant A's person is filed for cross-region care: neither tenant's region.
TREATMENT_REGION = "510100"
YEAR = 2026
SETLYM = "202609"
SETTLED_AT = datetime(2026, 9, 15, 10, 0, tzinfo=CST)
POLICY = read_policy_file(Path(POLICY_FILE)).model_dump(mode="json")


@dataclass(frozen=True)
class Ids:
    """The identifiers a request names: tenant A's, or ones that exist nowhere."""

    admdvs: str
    fixmedins_code: str
    psn_no: str
    certno: str
    mdtrt_id: str
    setl_id: str
    dr_code: str
    recon_id: str
    job_id: str
    clr_appy_evt_id: str
    hi_rxno: str
    rx_trace_code: str
    org_id: str
    key_id: str
    trt_dcla_detl_sn: str
    claim_id: str
    voucher_key_id: str
    prescription: dict[str, Any] = field(default_factory=dict)


def nowhere() -> Ids:
    """Ids shaped like real ones that no tenant holds."""
    return Ids(
        admdvs="999999",
        fixmedins_code="H" + "0" * 10,
        psn_no="P" + "0" * 16,
        certno=make_certno(),
        mdtrt_id="M" + "0" * 20,
        setl_id="S" + "0" * 20,
        dr_code="D" + "0" * 10,
        recon_id=str(uuid.uuid4()),
        job_id=str(uuid.uuid4()),
        clr_appy_evt_id="C" + "0" * 20,
        hi_rxno="R" + "0" * 20,
        rx_trace_code="T" + "0" * 20,
        org_id=str(uuid.uuid4()),
        key_id="0" * 12,
        trt_dcla_detl_sn="F" + "0" * 20,
        claim_id="X" + "0" * 20,
        voucher_key_id="0" * 16,
    )


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    role: Role
    admdvs: str | None
    institution_code: str | None


@dataclass(frozen=True)
class Call:
    """One request: the path's parameters, and what else it sends."""

    path: dict[str, str | int] = field(default_factory=dict)
    params: dict[str, str | int] | None = None
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None


Build = Callable[[Ids, Caller], Call]


@dataclass(frozen=True)
class Case:
    """How to call an operation with a tenant's ids.

    ``names_ids``: False for an operation that names nothing of another tenant's (a listing of the
    caller's own, an application for itself); those are checked for not leaking A's ids.
    ``institution_owned``: the object belongs to A's hospital, so A's own pharmacy is a stranger
    to it too. ``operator_only``: an operator route, foreign to every other role.
    """

    build: Build
    names_ids: bool = True
    institution_owned: bool = False
    operator_only: bool = False


def _own_or(ids: Ids, caller: Caller) -> str:
    """The caller's institution code if it has one (a cross-tenant write names its own), else
    the tenant's."""
    return caller.institution_code or ids.fixmedins_code


QUALITY_TERMS = {"withhold_ratio": "0.05", "quality_full_score": "90", "quality_zero_score": "60"}


def _bundle_body(admdvs: str, fixmedins_code: str) -> dict[str, Any]:
    return {
        "admdvs": admdvs,
        "fixmedins_code": fixmedins_code,
        "year": YEAR,
        "rate_per_member_month": "10.00",
        "surplus_retention_ratio": "0.50",
    } | QUALITY_TERMS


def _dip_body(admdvs: str) -> dict[str, Any]:
    return {
        "admdvs": admdvs,
        "year": YEAR,
        "regional_budget": "1000000.00",
        "adjustment_reserve": "100000.00",
        "provisional_point_value": "250.0000",
        "med_types": ["21"],
        "groups": [
            {"dise_grp_code": "G-I10", "dise_grp_name": "高血压", "points": "100",
             "icd_prefixes": ["I10"]},
        ],
    } | QUALITY_TERMS  # fmt: skip


def _visit_body(ids: Ids, caller: Caller) -> dict[str, Any]:
    """A registration naming the person by psn_no with a resident ID that is not theirs: with
    their own, an institution of another region registers cross-region care, as it should."""
    return {
        "psn_no": ids.psn_no,
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": make_certno(),
        "fixmedins_code": _own_or(ids, caller),
        "med_type": "11",
        "biz_type_code": "01",
        "begntime": "2026-03-02T09:30:00+08:00",
        "diseinfo": [{"diag_code": "I10.x00", "diag_name": "诊断", "maindiag_flag": "1"}],
    }


def _practitioner_body(ids: Ids) -> dict[str, Any]:
    return {
        "dr_code": unique_code("D"),
        "dr_name": "Dr X",
        "prac_cert_no": unique_code("L"),
        "dr_title": "chief",
        "fixmedins_code": ids.fixmedins_code,
        "indep_prac_start": "2005-07-01",
        "internet_practice": False,
        "public_key": base64.b64encode(bytes(32)).decode(),
    }


CATALOGUE_CSV = (
    b"med_list_codg,name,kind,chrgitm_lv,selfpay_prop,pric_uplmt_amt,pric,valid_from,non_medical\n"
    b"XMATRIX0000001,matrix item,service,1,,,7.00,2027-01-01,0\n"
)
DETAIL_QUERY: dict[str, str | int] = {"stmt_begndate": "2026-09-01", "stmt_enddate": "2026-09-30"}
PRICE_QUERY: dict[str, str | int] = {
    "med_list_codg": CLASS_A_ITEM,
    "on": "2026-03-02",
    "hosp_lv": 3,
}


def _call(**kwargs: Any) -> Build:
    """A call whose path parameters come from the ids (``path``: parameter → :class:`Ids`
    attribute) or are ``fixed``; the other :class:`Call` fields are as given."""
    path_fields: dict[str, str] = kwargs.pop("path", {})
    fixed: dict[str, str | int] = kwargs.pop("fixed", {})

    def build(ids: Ids, caller: Caller) -> Call:
        path = {name: getattr(ids, attr) for name, attr in path_fields.items()} | fixed
        return Call(path=path, **kwargs)

    return build


def _envelope(*, in_path: bool) -> Build:
    """A national 2208 envelope revoking the ids' settlement, sent as the caller's own
    institution. The envelope answers every refusal with HTTP 200 (``infcode`` -1), so the
    matrix checks it for leaks only; tests/nhsa compares a foreign id's refusal with an unknown
    one's."""

    def build(ids: Ids, caller: Caller) -> Call:
        envelope = {
            "infno": "2208",
            "msgid": "MSG" + uuid.uuid4().hex,
            "mdtrtarea_admvs": caller.admdvs or ids.admdvs,
            "opter_type": "1",
            "opter": "1",
            "opter_name": "x",
            "inf_time": "2026-09-15 10:00:00",
            "fixmedins_code": _own_or(ids, caller),
            "fixmedins_name": "x",
            "input": {
                "data": {"setl_id": ids.setl_id, "mdtrt_id": ids.mdtrt_id, "psn_no": ids.psn_no}
            },
        }
        return Call(path={"infno": "2208"} if in_path else {}, json=envelope)

    return build


CASES: dict[str, Case] = {
    # --- operator ---------------------------------------------------------------------------
    "POST /v1/admin/organisations": Case(
        lambda ids, c: Call(
            json={
                "name": "x",
                "role": "hospital",
                "institution_code": unique_code("H"),
                "admdvs": ids.admdvs,
            }
        ),
        names_ids=False,
        operator_only=True,
    ),
    "POST /v1/admin/organisations/{org_id}/keys": Case(
        _call(path={"org_id": "org_id"}, json={}), operator_only=True
    ),
    "GET /v1/admin/organisations": Case(_call(), names_ids=False, operator_only=True),
    "GET /v1/admin/organisations/{org_id}/keys": Case(
        _call(path={"org_id": "org_id"}), operator_only=True
    ),
    "POST /v1/admin/keys/{key_id}/revoke": Case(
        _call(path={"key_id": "key_id"}), operator_only=True
    ),
    # --- registry ---------------------------------------------------------------------------
    "GET /v1/registry/regions": Case(_call(), names_ids=False),
    "POST /v1/registry/regions": Case(
        lambda ids, c: Call(json={"admdvs": ids.admdvs, "name": "x"})
    ),
    "PATCH /v1/registry/regions/{admdvs}": Case(
        _call(path={"admdvs": "admdvs"}, json={"name": "x"})
    ),
    "POST /v1/registry/institutions": Case(
        lambda ids, c: Call(
            json={
                "fixmedins_code": unique_code("H"),
                "fixmedins_name": "x",
                "admdvs": ids.admdvs,
                "kind": "hospital",
                "hosp_lv": 2,
            }
        )
    ),
    "GET /v1/registry/institutions": Case(lambda ids, c: Call(params={"admdvs": ids.admdvs})),
    "PATCH /v1/registry/institutions/{fixmedins_code}": Case(
        _call(path={"fixmedins_code": "fixmedins_code"}, json={"fixmedins_name": "x"})
    ),
    "GET /v1/registry/institutions/{fixmedins_code}": Case(
        _call(path={"fixmedins_code": "fixmedins_code"}), institution_owned=True
    ),
    "POST /v1/registry/practitioners": Case(lambda ids, c: Call(json=_practitioner_body(ids))),
    "GET /v1/registry/practitioners": Case(
        lambda ids, c: Call(params={"fixmedins_code": ids.fixmedins_code}),
        institution_owned=True,
    ),
    "PATCH /v1/registry/practitioners/{dr_code}": Case(
        _call(path={"dr_code": "dr_code"}, json={"dr_name": "x"})
    ),
    "GET /v1/registry/practitioners/{dr_code}": Case(
        _call(path={"dr_code": "dr_code"}), institution_owned=True
    ),
    # --- tariffs ----------------------------------------------------------------------------
    "POST /v1/tariffs/{admdvs}/imports": Case(
        _call(path={"admdvs": "admdvs"}, content=CATALOGUE_CSV, content_type="text/csv")
    ),
    "GET /v1/tariffs/{admdvs}/catalogue": Case(
        _call(path={"admdvs": "admdvs"}, params={"on": "2026-03-02"})
    ),
    "GET /v1/tariffs/{admdvs}/items/{med_list_codg}/versions": Case(
        _call(path={"admdvs": "admdvs"}, fixed={"med_list_codg": CLASS_A_ITEM})
    ),
    "GET /v1/tariffs/{admdvs}/price": Case(_call(path={"admdvs": "admdvs"}, params=PRICE_QUERY)),
    # --- persons, visits, settlements -------------------------------------------------------
    "POST /v1/policies/{admdvs}": Case(_call(path={"admdvs": "admdvs"}, json=POLICY)),
    "POST /v1/persons": Case(
        lambda ids, c: Call(
            json={
                "psn_no": unique_code("P"),
                "psn_name": "x",
                "certno": make_certno(),
                "admdvs": ids.admdvs,
                "insutype": "310",
            }
        )
    ),
    "GET /v1/persons/{psn_no}": Case(_call(path={"psn_no": "psn_no"})),
    "POST /v1/persons/{psn_no}/opening-balances": Case(
        _call(path={"psn_no": "psn_no"}, json={"year": YEAR})
    ),
    "POST /v1/visits": Case(lambda ids, c: Call(json=_visit_body(ids, c))),
    "POST /v1/visits/{mdtrt_id}/fee-lines": Case(
        _call(
            path={"mdtrt_id": "mdtrt_id"},
            json={
                "feedetail": [
                    {"feedetl_sn": "99", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "1.00"}
                ]
            },
        ),
        institution_owned=True,
    ),
    "POST /v1/visits/{mdtrt_id}/pre-settlement": Case(
        _call(path={"mdtrt_id": "mdtrt_id"}, json={}), institution_owned=True
    ),
    "POST /v1/visits/{mdtrt_id}/settlement": Case(
        _call(path={"mdtrt_id": "mdtrt_id"}, json={}), institution_owned=True
    ),
    "POST /v1/settlements/{setl_id}/revocation": Case(
        _call(path={"setl_id": "setl_id"}), institution_owned=True
    ),
    "GET /v1/settlements/{setl_id}": Case(
        _call(path={"setl_id": "setl_id"}), institution_owned=True
    ),
    "GET /v1/settlements": Case(
        lambda ids, c: Call(
            params={
                "begin": "2026-01-01T00:00:00+08:00",
                "end": "2027-01-01T00:00:00+08:00",
                "fixmedins_code": ids.fixmedins_code,
            }
        ),
        institution_owned=True,
    ),
    # --- funding ----------------------------------------------------------------------------
    "POST /v1/funding/budgets": Case(
        lambda ids, c: Call(
            json=budget_body(ids.fixmedins_code, YEAR + 1, "1.00", admdvs=c.admdvs or ids.admdvs)
        )
    ),
    "GET /v1/funding/budgets/{fixmedins_code}/{year}": Case(
        _call(path={"fixmedins_code": "fixmedins_code"}, fixed={"year": YEAR})
    ),
    "POST /v1/funding/dip-schemes": Case(lambda ids, c: Call(json=_dip_body(ids.admdvs))),
    "GET /v1/funding/dip-schemes/{admdvs}/{year}": Case(
        _call(path={"admdvs": "admdvs"}, fixed={"year": YEAR})
    ),
    "POST /v1/funding/bundles": Case(
        lambda ids, c: Call(json=_bundle_body(c.admdvs or ids.admdvs, ids.fixmedins_code))
    ),
    "POST /v1/funding/bundles/{fixmedins_code}/{year}/members": Case(
        lambda ids, c: Call(
            path={"fixmedins_code": ids.fixmedins_code, "year": YEAR},
            json={"members": [{"psn_no": ids.psn_no, "sign_date": "2026-01-01"}]},
        )
    ),
    "GET /v1/funding/bundles/{fixmedins_code}/{year}": Case(
        _call(path={"fixmedins_code": "fixmedins_code"}, fixed={"year": YEAR})
    ),
    "POST /v1/funding/regions/{admdvs}/{year}/months/{month}/prepayment": Case(
        _call(path={"admdvs": "admdvs"}, fixed={"year": YEAR, "month": 1})
    ),
    "POST /v1/funding/regions/{admdvs}/{year}/clearing": Case(
        lambda ids, c: Call(
            path={"admdvs": ids.admdvs, "year": YEAR - 1},
            json={
                "quality_scores": [{"fixmedins_code": ids.fixmedins_code, "quality_score": "90"}]
            },
        )
    ),
    "GET /v1/funding/regions/{admdvs}/{year}/summary": Case(
        _call(path={"admdvs": "admdvs"}, fixed={"year": YEAR})
    ),
    "GET /v1/funding/providers/{fixmedins_code}/{year}/ledger": Case(
        _call(path={"fixmedins_code": "fixmedins_code"}, fixed={"year": YEAR})
    ),
    # --- reconciliation and clearing --------------------------------------------------------
    "POST /v1/reconciliation/totals": Case(
        lambda ids, c: Call(
            json={
                "fixmedins_code": ids.fixmedins_code,
                "insutype": "390",
                "clr_type": "11",
                "stmt_begndate": "2026-09-01",
                "stmt_enddate": "2026-09-30",
                "fixmedins_setl_cnt": 0,
                "medfee_sumamt": "0",
                "fund_pay_sumamt": "0",
                "acct_pay": "0",
            }
        ),
        institution_owned=True,
    ),
    "POST /v1/reconciliation/details": Case(
        lambda ids, c: Call(
            params=DETAIL_QUERY | {"fixmedins_code": ids.fixmedins_code},
            content=detail_file([]),
            content_type="text/csv",
        ),
        institution_owned=True,
    ),
    "POST /v1/reconciliation/detail-jobs": Case(
        lambda ids, c: Call(
            params=DETAIL_QUERY | {"fixmedins_code": ids.fixmedins_code},
            content=detail_file([]),
            content_type="text/csv",
        ),
        institution_owned=True,
    ),
    "GET /v1/reconciliation/detail-jobs/{recon_id}": Case(
        _call(path={"recon_id": "job_id"}), institution_owned=True
    ),
    "GET /v1/reconciliation/details/{recon_id}": Case(
        _call(path={"recon_id": "recon_id"}), institution_owned=True
    ),
    "GET /v1/reconciliation/details/{recon_id}/mismatches.csv": Case(
        _call(path={"recon_id": "recon_id"}), institution_owned=True
    ),
    "POST /v1/clearing/batches": Case(
        _call(json={"setlym": SETLYM, "clr_type": "11"}), names_ids=False
    ),
    "GET /v1/clearing/batches": Case(
        lambda ids, c: Call(params={"fixmedins_code": ids.fixmedins_code}),
        institution_owned=True,
    ),
    "GET /v1/clearing/batches/{clr_appy_evt_id}": Case(
        _call(path={"clr_appy_evt_id": "clr_appy_evt_id"}), institution_owned=True
    ),
    "POST /v1/clearing/batches/{clr_appy_evt_id}/approval": Case(
        _call(path={"clr_appy_evt_id": "clr_appy_evt_id"})
    ),
    "GET /v1/clearing/batches/{clr_appy_evt_id}/lines.csv": Case(
        _call(path={"clr_appy_evt_id": "clr_appy_evt_id"}), institution_owned=True
    ),
    # --- prescriptions ----------------------------------------------------------------------
    "POST /v1/prescriptions": Case(lambda ids, c: Call(json=ids.prescription)),
    "GET /v1/prescriptions": Case(_call(), names_ids=False),
    "POST /v1/prescriptions/presentations": Case(
        lambda ids, c: Call(
            json={
                "rx_trace_code": ids.rx_trace_code,
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": ids.certno,
            }
        )
    ),
    "GET /v1/prescriptions/{hi_rxno}": Case(_call(path={"hi_rxno": "hi_rxno"})),
    "POST /v1/prescriptions/{hi_rxno}/review": Case(
        _call(
            path={"hi_rxno": "hi_rxno"},
            json={"rvw_rslt": "approved", "phar_code": "PH001", "phar_name": "药师甲"},
        )
    ),
    "POST /v1/prescriptions/{hi_rxno}/revocation": Case(
        lambda ids, c: Call(
            path={"hi_rxno": ids.hi_rxno},
            json={"dr_code": ids.dr_code, "revoke_reason": "x"},
        )
    ),
    "POST /v1/prescriptions/{hi_rxno}/lock": Case(_call(path={"hi_rxno": "hi_rxno"}, json={})),
    "POST /v1/prescriptions/{hi_rxno}/return": Case(_call(path={"hi_rxno": "hi_rxno"})),
    "POST /v1/prescriptions/{hi_rxno}/trace-code": Case(_call(path={"hi_rxno": "hi_rxno"})),
    "POST /v1/prescriptions/{hi_rxno}/dispensations": Case(
        _call(
            path={"hi_rxno": "hi_rxno"},
            json={
                "dspe_lines": [
                    {
                        "med_list_codg": CLASS_A_ITEM,
                        "cnt": "1",
                        "pric": "1.00",
                        "manu_lotnum": "L1",
                        "drug_trac_codg": ["8" * 20],
                    }
                ]
            },
        )
    ),
    # --- cross-region ---------------------------------------------------------------------------
    "POST /v1/cross-region/filings": Case(
        lambda ids, c: Call(
            json={
                "psn_no": ids.psn_no,
                "filing_type": "referral",
                "mdtrtarea_admvs": TREATMENT_REGION,
                "begndate": "2027-01-01",
            }
        )
    ),
    "GET /v1/cross-region/filings": Case(_call(), names_ids=False),
    "GET /v1/cross-region/filings/{trt_dcla_detl_sn}": Case(
        _call(path={"trt_dcla_detl_sn": "trt_dcla_detl_sn"})
    ),
    "POST /v1/cross-region/filings/{trt_dcla_detl_sn}/end": Case(
        _call(path={"trt_dcla_detl_sn": "trt_dcla_detl_sn"}, json={"enddate": "2026-12-01"})
    ),
    "POST /v1/cross-region/filings/{trt_dcla_detl_sn}/revocation": Case(
        _call(path={"trt_dcla_detl_sn": "trt_dcla_detl_sn"})
    ),
    "POST /v1/cross-region/claims": Case(
        lambda ids, c: Call(json={"insuplc_admdvs": ids.admdvs, "setlym": SETLYM}),
        names_ids=False,
    ),
    "GET /v1/cross-region/claims": Case(_call(), names_ids=False),
    "GET /v1/cross-region/claims/{claim_id}": Case(_call(path={"claim_id": "claim_id"})),
    "GET /v1/cross-region/claims/{claim_id}/lines.csv": Case(_call(path={"claim_id": "claim_id"})),
    "POST /v1/cross-region/claims/{claim_id}/reconciliation": Case(
        _call(path={"claim_id": "claim_id"}, content=b"", content_type="text/csv")
    ),
    # --- FHIR -------------------------------------------------------------------------------
    "GET /v1/fhir/ClaimResponse/{setl_id}": Case(
        _call(path={"setl_id": "setl_id"}), institution_owned=True
    ),
    "GET /v1/fhir/MedicationRequest/{hi_rxno}": Case(_call(path={"hi_rxno": "hi_rxno"})),
    "GET /v1/fhir/MedicationDispense/{id}": Case(
        lambda ids, c: Call(path={"id": f"{ids.hi_rxno}-1"})
    ),
    "GET /v1/fhir/PaymentReconciliation/{clr_appy_evt_id}": Case(
        _call(path={"clr_appy_evt_id": "clr_appy_evt_id"}), institution_owned=True
    ),
    # --- the national envelope ---------------------------------------------------------------
    # --- vouchers ---------------------------------------------------------------------------
    "POST /v1/vouchers/keys": Case(
        lambda ids, c: Call(
            json={"key_scheme": "ed25519", "public_key": base64.b64encode(os.urandom(32)).decode()}
        ),
        names_ids=False,
    ),
    "GET /v1/vouchers/keys": Case(_call(), names_ids=False),
    "POST /v1/vouchers/keys/{key_id}/retirement": Case(_call(path={"key_id": "voucher_key_id"})),
    "POST /v1/vouchers/tokens": Case(
        lambda ids, c: Call(json={"psn_no": ids.psn_no, "key_id": "0" * 16})
    ),
    "POST /nhsa": Case(_envelope(in_path=False), names_ids=False),
    "POST /nhsa/{infno}": Case(_envelope(in_path=True), names_ids=False),
    # --- public -----------------------------------------------------------------------------
    "GET /health": Case(_call(), names_ids=False),
    "GET /livez": Case(_call(), names_ids=False),
    "GET /readyz": Case(_call(), names_ids=False),
    "GET /metrics": Case(_call(), names_ids=False),
}


def operations(app: FastAPI) -> set[str]:
    """Every operation of the app, as ``METHOD /path``, from its OpenAPI document."""
    return {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_operation_has_a_case(app: FastAPI) -> None:
    """A new route fails here until its author says how to call it with a tenant's ids."""
    ops = operations(app)
    assert sorted(ops - CASES.keys()) == [], "operations without a cross-tenant case"
    assert sorted(CASES.keys() - ops) == [], "cases for operations that no longer exist"


# --- the two tenants -----------------------------------------------------------------------------


@dataclass
class Tenants:
    a: Ids
    absent: Ids
    a_callers: dict[str, Caller]
    b_callers: dict[str, Caller]
    operator: Caller


def _callers(world: RxWorld, tag: str) -> dict[str, Caller]:
    admdvs = world.claims.admdvs
    hospital, hospital_headers = world.hospital
    pharmacy, pharmacy_headers = world.pharmacy(0)
    return {
        f"hospital {tag}": Caller(
            f"hospital {tag}", hospital_headers, Role.hospital, admdvs, hospital
        ),
        f"pharmacy {tag}": Caller(
            f"pharmacy {tag}", pharmacy_headers, Role.pharmacy, admdvs, pharmacy
        ),
        f"insurer {tag}": Caller(
            f"insurer {tag}", world.claims.insurer, Role.insurer, admdvs, None
        ),
    }


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tenant_a(world: RxWorld, session: AsyncSession) -> Ids:
    """Tenant A's objects: a settled visit moved into September (so its month can be applied
    for), a reconciliation run and job, a clearing batch, the hospital's budget and bundle, an
    approved prescription and a prescription document ready to upload."""
    client, claims = world.client, world.claims
    hospital, hospital_headers = world.hospital
    patient, hi_rxno, trace = await world.issue()
    visit = await claims.visit(patient.psn_no, patient.certno, dr=None)
    await claims.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    settlement = _ok(await claims.settle(visit["mdtrt_id"]))
    await backdate(session, settlement["setl_id"], SETTLED_AT)
    idem = {"Idempotency-Key": uuid.uuid4().hex}
    run = _ok(
        await client.post(
            "/v1/reconciliation/details",
            params=DETAIL_QUERY,
            content=detail_file([file_row(settlement)]),
            headers=hospital_headers | {"Content-Type": "text/csv"},
        )
    )
    job = _ok(
        await client.post(
            "/v1/reconciliation/detail-jobs",
            params=DETAIL_QUERY,
            content=detail_file([file_row(settlement)]),
            headers=hospital_headers | idem | {"Content-Type": "text/csv"},
        ),
        202,
    )
    batch = _ok(
        await client.post(
            "/v1/clearing/batches",
            json={"setlym": SETLYM, "clr_type": "11"},
            headers=hospital_headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    _ok(
        await client.post(
            "/v1/funding/budgets",
            json=budget_body(hospital, YEAR, "1200000.00"),
            headers=claims.insurer,
        )
    )
    _ok(
        await client.post(
            "/v1/funding/bundles", json=_bundle_body(REGION_A, hospital), headers=claims.insurer
        )
    )
    mdtrt_id = await world.visit(patient)
    document = world.document(mdtrt_id, patient)
    signature = sign(document, world.doctors["chief"].key).model_dump(
        mode="json", exclude_none=True
    )
    filing = _ok(
        await client.post(
            "/v1/cross-region/filings",
            json={
                "psn_no": patient.psn_no,
                "filing_type": "temporary_travel",
                "mdtrtarea_admvs": TREATMENT_REGION,
                "begndate": "2026-01-01",
            },
            headers=claims.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    claim = _ok(
        await client.post(
            "/v1/cross-region/claims",
            json={"insuplc_admdvs": TREATMENT_REGION, "setlym": SETLYM},
            headers=claims.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    voucher_key = _ok(
        await client.post(
            "/v1/vouchers/keys",
            json={"key_scheme": "ed25519", "public_key": base64.b64encode(os.urandom(32)).decode()},
            headers=claims.insurer | {"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    org = await make_org(session, role=Role.insurer, admdvs=REGION_A)
    key = await make_key(session, org)
    return Ids(
        admdvs=REGION_A,
        fixmedins_code=hospital,
        psn_no=patient.psn_no,
        certno=patient.certno,
        mdtrt_id=visit["mdtrt_id"],
        setl_id=settlement["setl_id"],
        dr_code=world.doctors["chief"].dr_code,
        recon_id=run["recon_id"],
        job_id=job["recon_id"],
        clr_appy_evt_id=batch["clr_appy_evt_id"],
        hi_rxno=hi_rxno,
        rx_trace_code=trace,
        org_id=str(org.id),
        key_id=key["Authorization"].split("_")[1],
        trt_dcla_detl_sn=filing["trt_dcla_detl_sn"],
        claim_id=claim["claim_id"],
        voucher_key_id=voucher_key["key_id"],
        prescription=document | {"signature": signature},
    )


@pytest.fixture
async def tenants(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> Tenants:
    world_b = await build_rx_world(app, client, session, admdvs=REGION_B, pharmacies=1)
    world_a = await build_rx_world(app, client, session, admdvs=REGION_A, pharmacies=1)
    operator = Caller(
        "operator", await make_key(session, await make_org(session, role=Role.admin)),
        Role.admin, None, None,
    )  # fmt: skip
    a = await _tenant_a(world_a, session)
    absent = nowhere()
    document = a.prescription | {
        "fixmedins_code": absent.fixmedins_code,
        "mdtrt_id": absent.mdtrt_id,
        "psn_no": absent.psn_no,
    }
    return Tenants(
        a=a,
        absent=replace(absent, prescription=document),
        a_callers=_callers(world_a, "A"),
        b_callers=_callers(world_b, "B"),
        operator=operator,
    )


def _foreign(tenants: Tenants, case: Case) -> list[Caller]:
    """The callers that may not see tenant A's object of this case."""
    everyone = [*tenants.a_callers.values(), *tenants.b_callers.values()]
    if case.operator_only:
        return everyone
    strangers = [*tenants.b_callers.values(), tenants.operator]
    if case.institution_owned:
        strangers.append(tenants.a_callers["pharmacy A"])
    return strangers


async def _send(
    client: httpx.AsyncClient, operation: str, call: Call, caller: Caller
) -> httpx.Response:
    method, template = operation.split(" ", 1)
    headers = caller.headers | {"Idempotency-Key": uuid.uuid4().hex}
    if call.content_type:
        headers["Content-Type"] = call.content_type
    return await client.request(
        method,
        template.format(**call.path),
        params=call.params,
        json=call.json,
        content=call.content,
        headers=headers,
    )


def _answer(response: httpx.Response, ids: Ids) -> tuple[int, str | None, str | None, str]:
    """What a caller learns from a refusal, the ids themselves masked."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code, None, None, response.text
    if not isinstance(body, dict):
        return response.status_code, None, None, str(body)
    message = str(body.get("message"))
    for value in (str(v) for v in vars(ids).values() if isinstance(v, str)):
        message = message.replace(value, "<id>")
    return response.status_code, body.get("code"), body.get("field"), message


def _secrets(ids: Ids) -> list[str]:
    return [
        ids.fixmedins_code, ids.psn_no, ids.mdtrt_id, ids.setl_id, ids.dr_code, ids.recon_id,
        ids.job_id, ids.clr_appy_evt_id, ids.hi_rxno, ids.rx_trace_code, ids.trt_dcla_detl_sn,
        ids.claim_id,
    ]  # fmt: skip


async def _matrix(client: httpx.AsyncClient, tenants: Tenants, selected: list[str]) -> list[str]:
    """Every selected operation × every foreign caller; returns what went wrong."""
    problems: list[str] = []
    absent = tenants.absent
    for operation in selected:
        case = CASES[operation]
        for caller in _foreign(tenants, case):
            theirs = await _send(client, operation, case.build(tenants.a, caller), caller)
            where = f"{operation} as {caller.name}"
            if not case.names_ids:
                leaked = [s for s in _secrets(tenants.a) if s in theirs.text]
                if leaked:
                    problems.append(f"{where}: shows tenant A's {leaked}")
                continue
            unknown = await _send(client, operation, case.build(absent, caller), caller)
            if theirs.is_success:
                problems.append(f"{where}: {theirs.status_code} for tenant A's ids")
            if theirs.status_code == 422:
                problems.append(f"{where}: the case's request is malformed: {theirs.text}")
            if _answer(theirs, tenants.a) != _answer(unknown, absent):
                problems.append(
                    f"{where}: A's ids {_answer(theirs, tenants.a)} but unknown ids "
                    f"{_answer(unknown, absent)}"
                )
    return problems


async def test_no_foreign_caller_tells_theirs_from_nothing(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    """Registry, tariffs, claims, funding, reconciliation, clearing, operator and public routes."""
    selected = sorted(op for op in CASES if "/v1/prescriptions" not in op)
    assert await _matrix(client, tenants, selected) == []


async def test_prescriptions_across_tenants(client: httpx.AsyncClient, tenants: Tenants) -> None:
    """The prescriptions domain scopes its own routes; kept apart so a failure names its owner."""
    selected = sorted(op for op in CASES if "/v1/prescriptions" in op)
    assert await _matrix(client, tenants, selected) == []
