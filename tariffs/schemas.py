"""Wire models of the tariffs domain (national field names). Prices, ratios and amounts are sent
as decimal strings ("7.00", "0.0325"), never JSON numbers, so no client parses them into floats.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, Field, model_validator

from engine import wire
from engine.openapi import Problem
from engine.wire import ChrgitmLv, Code, PastDate, Text, WireBool, WireModel
from tariffs.codes import ControlledClass, DrTitle, Grade, InstitutionKind, ItemKind, KeyScheme
from tariffs.pricing import PricedItem
from tariffs.versions import CatalogueVersion, decimal_text

Admdvs = Annotated[wire.Admdvs, Field(description="pooling region code (统筹区)")]
InstitutionCode = Code
DrCode = Code
HospLevel = wire.HospLv


class _Patch(WireModel):
    """A partial update: absent fields stay as they are; ``null`` only where a field may be
    empty."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set - self.nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


# --- registry ------------------------------------------------------------------------------------


class RegionIn(WireModel):
    admdvs: Admdvs
    name: Annotated[Text, Field(max_length=100)]


class RegionPatch(WireModel):
    name: Annotated[Text, Field(max_length=100)]


class RegionOut(BaseModel):
    admdvs: str
    name: str
    catalogue_version: str = Field(description="changes with every catalogue import")


class InstitutionIn(WireModel):
    fixmedins_code: InstitutionCode
    fixmedins_name: Annotated[Text, Field(max_length=200)]
    admdvs: Admdvs
    kind: InstitutionKind
    hosp_lv: HospLevel | None = Field(default=None, description="required for hospitals")
    hosp_grade: Grade | None = Field(default=None, description="A 甲, B 乙")
    internet_hospital: WireBool = Field(default=False, description="internet-hospital licence")


class InstitutionPatch(_Patch):
    nullable = frozenset({"hosp_grade"})

    fixmedins_name: Annotated[Text, Field(max_length=200)] | None = None
    hosp_lv: HospLevel | None = None
    hosp_grade: Grade | None = None
    internet_hospital: WireBool | None = None


class InstitutionOut(BaseModel):
    fixmedins_code: str
    fixmedins_name: str
    admdvs: str
    kind: InstitutionKind
    hosp_lv: int | None
    hosp_grade: Grade | None
    internet_hospital: bool
    org_id: uuid.UUID


class PractitionerIn(WireModel):
    dr_code: DrCode = Field(description="national doctor code")
    dr_name: Annotated[Text, Field(max_length=100)]
    prac_cert_no: Annotated[Text, Field(max_length=50)] = Field(description="licence number")
    dr_title: DrTitle
    fixmedins_code: InstitutionCode = Field(description="the hospital registered at")
    indep_prac_start: PastDate = Field(description="start of independent practice")
    internet_practice: WireBool = False
    licensed: WireBool = True
    public_key: Annotated[Text, Field(max_length=200)] = Field(description="raw Ed25519, base64")
    key_scheme: KeyScheme = KeyScheme.ed25519


class PractitionerPatch(_Patch):
    dr_name: Annotated[Text, Field(max_length=100)] | None = None
    prac_cert_no: Annotated[Text, Field(max_length=50)] | None = None
    dr_title: DrTitle | None = None
    fixmedins_code: InstitutionCode | None = None
    indep_prac_start: PastDate | None = None
    internet_practice: WireBool | None = None
    licensed: WireBool | None = None
    public_key: Annotated[Text, Field(max_length=200)] | None = None
    key_scheme: KeyScheme | None = None


class PractitionerOut(BaseModel):
    dr_code: str
    dr_name: str
    prac_cert_no: str
    dr_title: DrTitle
    fixmedins_code: str
    indep_prac_start: date
    internet_practice: bool
    licensed: bool
    public_key: str
    key_scheme: KeyScheme


# --- catalogue -----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else decimal_text(value)


class CatalogueVersionOut(BaseModel):
    version_id: str
    med_list_codg: str
    name: str
    kind: ItemKind
    spec: str | None
    unit: str | None
    chrgitm_lv: ChrgitmLv
    selfpay_prop: str
    pric_uplmt_amt: str | None
    hosp_lv: int | None
    hosp_grade: Grade | None
    dr_title: DrTitle | None
    pric: str | None
    valid_from: date
    valid_to: date | None
    controlled_class: ControlledClass
    long_term_excluded: bool
    antimicrobial: bool
    rx_only: bool
    essential: bool
    non_medical: bool

    @classmethod
    def of(cls, version: CatalogueVersion) -> CatalogueVersionOut:
        return cls(
            version_id=version.version_id,
            med_list_codg=version.med_list_codg,
            name=version.name,
            kind=ItemKind(version.kind),
            spec=version.spec,
            unit=version.unit,
            chrgitm_lv=version.chrgitm_lv,
            selfpay_prop=decimal_text(version.selfpay_prop),
            pric_uplmt_amt=_text(version.pric_uplmt_amt),
            hosp_lv=version.hosp_lv,
            hosp_grade=Grade(version.hosp_grade) if version.hosp_grade else None,
            dr_title=DrTitle(version.dr_title) if version.dr_title else None,
            pric=_text(version.pric),
            valid_from=version.valid_from,
            valid_to=version.valid_to,
            controlled_class=ControlledClass(version.controlled_class),
            long_term_excluded=version.long_term_excluded,
            antimicrobial=version.antimicrobial,
            rx_only=version.rx_only,
            essential=version.essential,
            non_medical=version.non_medical,
        )


class CatalogueOut(BaseModel):
    admdvs: str
    on: date
    items: list[CatalogueVersionOut]
    next_cursor: str | None = Field(
        default=None, description="paged requests: the cursor of the next page; null on the last"
    )


class ItemHistoryOut(BaseModel):
    admdvs: str
    med_list_codg: str
    versions: list[CatalogueVersionOut]


class ClosureOut(BaseModel):
    version_id: str
    med_list_codg: str
    valid_to: date


class ImportOut(BaseModel):
    import_id: str
    admdvs: str
    rows: int
    closed: list[ClosureOut] = Field(description="open-ended versions ended by this import")
    sha256: str
    ignored_columns: list[str]


class RowErrorOut(BaseModel):
    line: int
    column: str | None
    reason: str
    med_list_codg: str | None


class ImportRejectedOut(Problem):
    """A refused file: nothing was imported; ``errors`` names every bad row (empty for a
    refusal of the whole file, such as its encoding)."""

    errors: list[RowErrorOut] = Field(default_factory=list)


class PricedItemOut(BaseModel):
    med_list_codg: str
    name: str
    kind: ItemKind
    pric: str
    cnt: str
    det_item_fee_sumamt: str
    chrgitm_lv: ChrgitmLv
    pric_uplmt_amt: str | None
    selfpay_prop: str
    non_medical: bool
    controlled_class: ControlledClass | None
    long_term_excluded: bool
    antimicrobial: bool
    version_id: str

    @classmethod
    def of(cls, item: PricedItem) -> PricedItemOut:
        return cls(
            med_list_codg=item.med_list_codg,
            name=item.name,
            kind=ItemKind(item.kind),
            pric=decimal_text(item.pric),
            cnt=f"{item.cnt:f}",
            det_item_fee_sumamt=decimal_text(item.det_item_fee_sumamt.amount),
            chrgitm_lv=item.chrgitm_lv,
            pric_uplmt_amt=_text(item.pric_uplmt_amt),
            selfpay_prop=decimal_text(item.selfpay_prop),
            non_medical=item.non_medical,
            controlled_class=ControlledClass(item.controlled_class)
            if item.controlled_class
            else None,
            long_term_excluded=item.long_term_excluded,
            antimicrobial=item.antimicrobial,
            version_id=item.version_id,
        )
