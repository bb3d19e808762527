"""Tables of the tariffs domain: the registry and the versioned catalogue (domain.md sections 2, 3).

Catalogue versions are never updated in place: a new price is a new ``catalogue_entry`` row; the
only change an existing row ever sees is its open end being closed (``valid_to`` set) when a later
version of the same key is imported. Money-like columns are ``Numeric`` (4-decimal unit prices,
4-decimal ratios), never float.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow
from tariffs.codes import (
    CHRGITM_LEVELS,
    ControlledClass,
    DrTitle,
    Grade,
    InstitutionKind,
    ItemKind,
    KeyScheme,
    sql_in,
)

PRICE = Numeric(14, 4)
RATIO = Numeric(6, 4)


def new_catalogue_version() -> str:
    """A fresh, never-reused catalogue version token (see :mod:`tariffs.cache`)."""
    return uuid.uuid4().hex


class PoolingRegion(Base):
    """A pooling region (统筹区). ``catalogue_version`` changes on every catalogue import, so
    in-process caches of the region's catalogue know when they are stale; it is a random token
    rather than a counter so that a rolled-back import can never share a version with a later
    committed one."""

    __tablename__ = "pooling_region"

    admdvs: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    catalogue_version: Mapped[str] = mapped_column(String(32), default=new_catalogue_version)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Institution(Base):
    """A designated institution (定点医疗机构 or 定点零售药店), tied to the organisation whose key
    acts for it."""

    __tablename__ = "institution"
    __table_args__ = (
        CheckConstraint(sql_in("kind", InstitutionKind), name="kind"),
        CheckConstraint("hosp_lv IS NULL OR hosp_lv BETWEEN 1 AND 3", name="hosp_lv"),
        CheckConstraint(f"hosp_grade IS NULL OR {sql_in('hosp_grade', Grade)}", name="grade"),
        CheckConstraint("kind = 'pharmacy' OR hosp_lv IS NOT NULL", name="hospital_level"),
    )

    fixmedins_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    fixmedins_name: Mapped[str] = mapped_column(String(200))
    admdvs: Mapped[str] = mapped_column(ForeignKey("pooling_region.admdvs"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    hosp_lv: Mapped[int | None] = mapped_column(SmallInteger)
    hosp_grade: Mapped[str | None] = mapped_column(String(1))
    internet_hospital: Mapped[bool] = mapped_column(Boolean, default=False)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Practitioner(Base):
    """A licensed physician registered at a hospital, with the public key prescriptions are
    verified against (docs/domain.md sections 6 and 9)."""

    __tablename__ = "practitioner"
    __table_args__ = (
        CheckConstraint(sql_in("dr_title", DrTitle), name="dr_title"),
        CheckConstraint(sql_in("key_scheme", KeyScheme), name="key_scheme"),
    )

    dr_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    dr_name: Mapped[str] = mapped_column(String(100))
    prac_cert_no: Mapped[str] = mapped_column(String(50))
    dr_title: Mapped[str] = mapped_column(String(20))
    fixmedins_code: Mapped[str] = mapped_column(
        ForeignKey("institution.fixmedins_code"), index=True
    )
    indep_prac_start: Mapped[date]
    internet_practice: Mapped[bool] = mapped_column(Boolean, default=False)
    licensed: Mapped[bool] = mapped_column(Boolean, default=True)
    public_key: Mapped[str] = mapped_column(String(200))
    key_scheme: Mapped[str] = mapped_column(String(16), default=KeyScheme.ed25519.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CatalogueImport(UuidPrimaryKey, Base):
    """One accepted catalogue file: every version it created points here."""

    __tablename__ = "catalogue_import"

    admdvs: Mapped[str] = mapped_column(ForeignKey("pooling_region.admdvs"), index=True)
    source: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    closed_count: Mapped[int] = mapped_column(Integer)
    actor_org_id: Mapped[uuid.UUID | None]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogueEntry(UuidPrimaryKey, Base):
    """One version of one catalogue key: (region, item code, institution level, grade, doctor
    title), valid over inclusive dates [valid_from, valid_to] (``valid_to`` NULL = open).

    The price dimensions use 0 / '' for "any" rather than NULL so that the unique constraint below
    holds on every backend (NULLs are distinct in a unique index); :mod:`tariffs.repository`
    turns them into ``None`` for everything above it.
    """

    __tablename__ = "catalogue_entry"
    __table_args__ = (
        UniqueConstraint(
            "admdvs",
            "med_list_codg",
            "hosp_lv",
            "hosp_grade",
            "dr_title",
            "valid_from",
            name="uq_catalogue_entry_version",
        ),
        CheckConstraint(sql_in("kind", ItemKind), name="kind"),
        CheckConstraint("hosp_lv BETWEEN 0 AND 3", name="hosp_lv"),
        CheckConstraint(f"hosp_grade = '' OR {sql_in('hosp_grade', Grade)}", name="grade"),
        CheckConstraint("hosp_grade = '' OR hosp_lv > 0", name="grade_needs_level"),
        CheckConstraint(f"dr_title = '' OR {sql_in('dr_title', DrTitle)}", name="dr_title"),
        CheckConstraint(sql_in("chrgitm_lv", CHRGITM_LEVELS), name="chrgitm_lv"),
        CheckConstraint("selfpay_prop >= 0 AND selfpay_prop <= 1", name="selfpay_prop"),
        CheckConstraint("pric IS NULL OR pric >= 0", name="pric"),
        CheckConstraint("pric_uplmt_amt IS NULL OR pric_uplmt_amt >= 0", name="pric_uplmt_amt"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint(sql_in("controlled_class", ControlledClass), name="controlled_class"),
    )

    admdvs: Mapped[str] = mapped_column(ForeignKey("pooling_region.admdvs"))
    med_list_codg: Mapped[str] = mapped_column(String(50))
    hosp_lv: Mapped[int] = mapped_column(SmallInteger, default=0)
    hosp_grade: Mapped[str] = mapped_column(String(1), default="")
    dr_title: Mapped[str] = mapped_column(String(20), default="")
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(20))
    chrgitm_lv: Mapped[int] = mapped_column(SmallInteger)
    selfpay_prop: Mapped[Decimal] = mapped_column(RATIO)
    pric_uplmt_amt: Mapped[Decimal | None] = mapped_column(PRICE)
    pric: Mapped[Decimal | None] = mapped_column(PRICE)
    controlled_class: Mapped[str] = mapped_column(String(16), default=ControlledClass.none.value)
    long_term_excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    antimicrobial: Mapped[bool] = mapped_column(Boolean, default=False)
    rx_only: Mapped[bool] = mapped_column(Boolean, default=False)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    non_medical: Mapped[bool] = mapped_column(Boolean, default=False)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_import.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
