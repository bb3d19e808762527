"""Tables of the claims domain. Amount columns hold integer fen under their national names.

Identities of domain.md section 5 are also CHECK constraints on ``settlement``, so no code path can
store a settlement that does not add up.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigIntPK, UuidPrimaryKey, utcnow


class BasicPolicyRow(UuidPrimaryKey, Base):
    """Basic pooled-fund benefit for (region, insutype, med_type, level) from a date (section 4)."""

    __tablename__ = "benefit_policy"
    __table_args__ = (
        UniqueConstraint("admdvs", "insutype", "med_type", "hosp_lv", "valid_from"),
        CheckConstraint("deductible >= 0 AND annual_cap >= 0", name="amounts"),
    )

    admdvs: Mapped[str] = mapped_column(String(6))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(3))
    hosp_lv: Mapped[int | None] = mapped_column(Integer)  # NULL: any level
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    fund_pay_type: Mapped[str] = mapped_column(String(6))
    deductible: Mapped[int] = mapped_column(BigInteger)
    # [{"upto": fen | null, "ratio": "0.50"}], for active and for retired people.
    pool_bands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    retiree_pool_bands: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    annual_cap: Mapped[int] = mapped_column(BigInteger)
    account_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    followup_lookback_days: Mapped[int] = mapped_column(Integer, default=365)
    # The accumulator bucket (deductible, annual cap) this benefit counts against; pharmacy
    # purchases (41) usually share the general-outpatient bucket (11).
    acc_category: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CriticalIllnessPolicyRow(UuidPrimaryKey, Base):
    """Critical-illness insurance for an insutype in a region from a date (section 4)."""

    __tablename__ = "critical_illness_policy"
    __table_args__ = (UniqueConstraint("admdvs", "insutype", "valid_from"),)

    admdvs: Mapped[str] = mapped_column(String(6))
    insutype: Mapped[str] = mapped_column(String(3))  # the basic insutype it tops up (390, 310)
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    fund_pay_type: Mapped[str] = mapped_column(String(6))
    threshold: Mapped[int] = mapped_column(BigInteger)
    bands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    annual_cap: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssistancePolicyRow(UuidPrimaryKey, Base):
    """Medical assistance for one category (低保, 特困 ...) in a region from a date (section 4)."""

    __tablename__ = "assistance_policy"
    __table_args__ = (UniqueConstraint("admdvs", "category", "valid_from"),)

    admdvs: Mapped[str] = mapped_column(String(6))
    category: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    fund_pay_type: Mapped[str] = mapped_column(String(6))
    ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    annual_cap: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyVersion(Base):
    """One row per region whose token changes on every policy load: the cache key of the
    in-process policy cache, so every API replica sees a new policy on its next request."""

    __tablename__ = "policy_version"

    admdvs: Mapped[str] = mapped_column(String(6), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


class Person(Base):
    """An insured person. The resident ID is kept only masked plus a keyed hash for lookups.

    ``ledger_version`` guards the account balance and the person's accumulators: every change to
    them moves it on, and a settlement's write applies only if it is still the version the
    settlement was adjudicated on (``claims.settlement.store``). Under contention settlements
    queue on this row's lock instead.
    """

    __tablename__ = "person"
    __table_args__ = (CheckConstraint("acct_balc >= 0", name="acct_balc_non_negative"),)

    psn_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    admdvs: Mapped[str] = mapped_column(String(6), index=True)
    psn_name: Mapped[str] = mapped_column(String(50))
    certno_masked: Mapped[str] = mapped_column(String(18))
    certno_hash: Mapped[str] = mapped_column(String(64), unique=True)
    insutype: Mapped[str] = mapped_column(String(3))
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    asst_type: Mapped[str | None] = mapped_column(String(20))
    opsp_dise_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    acct_balc: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BenefitAccumulator(Base):
    """Per person, year and benefit category: deductible used and pooled fund paid."""

    __tablename__ = "benefit_accumulator"
    __table_args__ = (
        CheckConstraint("deductible_used >= 0 AND hifp_paid >= 0", name="non_negative"),
    )

    psn_no: Mapped[str] = mapped_column(ForeignKey("person.psn_no"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)  # "<insutype>-<med_type>"
    deductible_used: Mapped[int] = mapped_column(BigInteger, default=0)
    hifp_paid: Mapped[int] = mapped_column(BigInteger, default=0)


class PersonYearAccumulator(Base):
    """Per person and year: the cumulative in-scope personal share and what critical-illness
    insurance and medical assistance paid (they apply across benefit categories)."""

    __tablename__ = "person_year_accumulator"
    __table_args__ = (
        CheckConstraint(
            "inscp_psn_cum >= 0 AND critical_paid >= 0 AND assistance_paid >= 0",
            name="non_negative",
        ),
    )

    psn_no: Mapped[str] = mapped_column(ForeignKey("person.psn_no"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    inscp_psn_cum: Mapped[int] = mapped_column(BigInteger, default=0)
    critical_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    assistance_paid: Mapped[int] = mapped_column(BigInteger, default=0)


class Visit(Base):
    """A registered visit (2201): ``mdtrt_id`` is random, never sequential."""

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_psn_begntime", "psn_no", "begntime"),
        UniqueConstraint("fixmedins_code", "ipt_otp_no"),
    )

    mdtrt_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("person.psn_no"))
    fixmedins_code: Mapped[str] = mapped_column(String(30), index=True)
    admdvs: Mapped[str] = mapped_column(String(6))
    hosp_lv: Mapped[int] = mapped_column(Integer)
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(3))
    biz_type_code: Mapped[str] = mapped_column(String(2))
    dr_code: Mapped[str | None] = mapped_column(String(30))
    dr_title: Mapped[str | None] = mapped_column(String(20))
    begntime: Mapped[datetime]
    # [{"diag_code": "I10.x00", "diag_name": "...", "maindiag_flag": "1"}]
    diseinfo: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    main_diag_code: Mapped[str | None] = mapped_column(String(20))
    insurance_payable: Mapped[bool] = mapped_column(Boolean)
    refusal_code: Mapped[str | None] = mapped_column(String(60))
    # The institution's own outpatient or inpatient number (门诊号/住院号), when it sends one: one
    # visit per number, so a retried registration finds the visit it made.
    ipt_otp_no: Mapped[str | None] = mapped_column(String(30))
    # Fingerprint of the registration request, to tell a retry from another registration under
    # the same ipt_otp_no.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeeLine(Base):
    """A priced fee line (2204), with the tariff version it was priced at."""

    __tablename__ = "fee_line"
    __table_args__ = (UniqueConstraint("mdtrt_id", "feedetl_sn"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    mdtrt_id: Mapped[str] = mapped_column(ForeignKey("visit.mdtrt_id"), index=True)
    feedetl_sn: Mapped[str] = mapped_column(String(30))
    med_list_codg: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    pric: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    cnt: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    det_item_fee_sumamt: Mapped[int] = mapped_column(BigInteger)
    chrgitm_lv: Mapped[int] = mapped_column(Integer)
    pric_uplmt_amt: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    selfpay_prop: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    non_medical: Mapped[bool] = mapped_column(Boolean)
    tariff_version: Mapped[str] = mapped_column(String(64))
    fee_ocur_time: Mapped[datetime]
    #: The HIS's charge batch the line came in (2204), which 2205 cancels and 2206/2207 name.
    chrg_bchno: Mapped[str | None] = mapped_column(String(30))


SETTLEMENT_AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "cvlserv_pay",
    "hifes_pay",
    "hifmi_pay",
    "hifob_pay",
    "maf_pay",
    "oth_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
)


class Settlement(Base):
    """A settlement (2207) and, once revoked (2208), its reversal.

    ``d_*`` columns are the accumulator delta the settlement applied, stored so a revoke reverses
    exactly those numbers and not a recomputation.
    """

    __tablename__ = "settlement"
    __table_args__ = (
        CheckConstraint(" AND ".join(f"{a} >= 0" for a in SETTLEMENT_AMOUNTS), name="non_negative"),
        CheckConstraint(
            "medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt",
            name="medfee_split",
        ),
        CheckConstraint("medfee_sumamt = fund_pay_sumamt + psn_part_amt", name="fund_psn_split"),
        CheckConstraint("psn_part_amt = acct_pay + psn_cash_pay", name="psn_split"),
        CheckConstraint("status IN ('settled', 'revoked')", name="status"),
        # At most one live settlement per visit: "nothing is settled twice".
        Index(
            "uq_settlement_live_visit",
            "mdtrt_id",
            unique=True,
            postgresql_where=text("status = 'settled'"),
            sqlite_where=text("status = 'settled'"),
        ),
        Index("ix_settlement_institution_time", "fixmedins_code", "setl_time"),
    )

    setl_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    mdtrt_id: Mapped[str] = mapped_column(ForeignKey("visit.mdtrt_id"))
    psn_no: Mapped[str] = mapped_column(ForeignKey("person.psn_no"), index=True)
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    admdvs: Mapped[str] = mapped_column(String(6))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(3))
    clr_type: Mapped[str] = mapped_column(String(3))
    clr_way: Mapped[str] = mapped_column(String(3))
    setl_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="settled")
    revoked_at: Mapped[datetime | None]
    acct_used_flag: Mapped[bool] = mapped_column(Boolean)
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))

    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    fulamt_ownpay_amt: Mapped[int] = mapped_column(BigInteger)
    overlmt_selfpay: Mapped[int] = mapped_column(BigInteger)
    preselfpay_amt: Mapped[int] = mapped_column(BigInteger)
    inscp_scp_amt: Mapped[int] = mapped_column(BigInteger)
    act_pay_dedc: Mapped[int] = mapped_column(BigInteger)
    hifp_pay: Mapped[int] = mapped_column(BigInteger)
    cvlserv_pay: Mapped[int] = mapped_column(BigInteger)
    hifes_pay: Mapped[int] = mapped_column(BigInteger)
    hifmi_pay: Mapped[int] = mapped_column(BigInteger)
    hifob_pay: Mapped[int] = mapped_column(BigInteger)
    maf_pay: Mapped[int] = mapped_column(BigInteger)
    oth_pay: Mapped[int] = mapped_column(BigInteger)
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    psn_part_amt: Mapped[int] = mapped_column(BigInteger)
    acct_pay: Mapped[int] = mapped_column(BigInteger)
    psn_cash_pay: Mapped[int] = mapped_column(BigInteger)
    balc: Mapped[int] = mapped_column(BigInteger)

    d_deductible_used: Mapped[int] = mapped_column(BigInteger)
    d_hifp_paid: Mapped[int] = mapped_column(BigInteger)
    d_inscp_psn_cum: Mapped[int] = mapped_column(BigInteger)
    d_critical_paid: Mapped[int] = mapped_column(BigInteger)
    d_assistance_paid: Mapped[int] = mapped_column(BigInteger)

    # setldetail rows and the per-line / per-fund explanation, as returned to the client.
    setldetail: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID]
