"""The stored prescription document: reading it, and proving it is what the doctor signed.

docs/prescriptions.md section 5: the covered document is stored exactly as uploaded, next to the
envelope, and every typed column is derived from it. :func:`verify_stored` re-verifies the
signature with the doctor's registered key and checks the column copies against the document, so
a changed byte anywhere in what the doctor signed (the document or a copy of one of its values)
fails with ``invalid_signature`` (domain.md section 9: "a tampered or unsigned prescription never
circulates").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import InvalidRequest, NotFound
from prescriptions.models import Prescription
from prescriptions.rules import ControlledClass, DrugFacts, RxDocument, RxLine
from prescriptions.signing import Signature, SignatureRejected, verify
from tariffs.pricing import DrugInfo
from tariffs.registry import PractitionerInfo, get_practitioner


def parse_time(text: str) -> datetime:
    """A signed ISO 8601 time (the upload schema made sure it carries its offset)."""
    return datetime.fromisoformat(text)


def _flag(doc: Mapping[str, Any], name: str) -> bool:
    return doc.get(name) == "1"


@dataclass(frozen=True, slots=True)
class Columns:
    """The signed values the prescription row keeps copies of, for queries and locks."""

    hosp_rxno: str
    fixmedins_code: str
    mdtrt_id: str
    psn_no: str
    dr_code: str
    prsc_time: datetime
    vali_end_time: datetime
    max_rept_cnt: int
    min_inrv_days: int

    @classmethod
    def of_document(cls, doc: Mapping[str, Any]) -> Columns:
        """Without ``rept_flag`` a prescription is dispensed once, with no interval."""
        repeat = _flag(doc, "rept_flag")
        return cls(
            hosp_rxno=doc["hosp_rxno"],
            fixmedins_code=doc["fixmedins_code"],
            mdtrt_id=doc["mdtrt_id"],
            psn_no=doc["psn_no"],
            dr_code=doc["dr_code"],
            prsc_time=parse_time(doc["prsc_time"]),
            vali_end_time=parse_time(doc["vali_end_time"]),
            max_rept_cnt=int(doc.get("max_rept_cnt") or 1) if repeat else 1,
            min_inrv_days=int(doc.get("min_inrv_days") or 0) if repeat else 0,
        )

    @classmethod
    def of_row(cls, row: Prescription) -> Columns:
        return cls(
            hosp_rxno=row.hosp_rxno,
            fixmedins_code=row.fixmedins_code,
            mdtrt_id=row.mdtrt_id,
            psn_no=row.psn_no,
            dr_code=row.dr_code,
            prsc_time=row.prsc_time,
            vali_end_time=row.vali_end_time,
            max_rept_cnt=row.max_rept_cnt,
            min_inrv_days=row.min_inrv_days,
        )

    def values(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def drug_facts(info: DrugInfo) -> DrugFacts:
    """The catalogue's facts as the rules read them (the catalogue writes "none" for none)."""
    controlled = info.controlled_class
    return DrugFacts(
        controlled_class=None if controlled in (None, "none") else ControlledClass(controlled),
        long_term_excluded=info.long_term_excluded,
        antimicrobial=info.antimicrobial,
    )


def rx_document(doc: Mapping[str, Any], drugs: Mapping[str, DrugInfo]) -> RxDocument:
    """The rules' view of a signed document, each line with its drug's catalogue facts."""
    max_rept_cnt = doc.get("max_rept_cnt")
    min_inrv_days = doc.get("min_inrv_days")
    return RxDocument(
        prsc_time=parse_time(doc["prsc_time"]),
        vali_days=doc["vali_days"],
        vali_end_time=parse_time(doc["vali_end_time"]),
        rx_type_code=doc["rx_type_code"],
        rxdrugdetail=tuple(
            RxLine(
                med_list_codg=line["med_list_codg"],
                medc_days=line["medc_days"],
                drug=drug_facts(drugs[line["med_list_codg"]]),
            )
            for line in doc.get("rxdrugdetail", [])
        ),
        long_rx_flag=_flag(doc, "long_rx_flag"),
        rept_flag=_flag(doc, "rept_flag"),
        max_rept_cnt=max_rept_cnt,
        min_inrv_days=min_inrv_days,
        emer_flag=_flag(doc, "emer_flag"),
        chro_dise_flag=_flag(doc, "chro_dise_flag"),
        stab_cond_flag=_flag(doc, "stab_cond_flag"),
        extd_days_rsn=doc.get("extd_days_rsn"),
    )


def prescribed_quantities(doc: Mapping[str, Any]) -> dict[str, Decimal]:
    """``drug_cnt`` per drug over the whole prescription (a drug on two lines adds up)."""
    quantities: dict[str, Decimal] = {}
    for line in doc.get("rxdrugdetail", []):
        code = line["med_list_codg"]
        quantities[code] = quantities.get(code, Decimal(0)) + Decimal(line["drug_cnt"])
    return quantities


def verify_signed(
    doc: Mapping[str, Any], signature: Signature, practitioner: PractitionerInfo
) -> None:
    """The signature over ``doc`` by the doctor's registered key, or ``invalid_signature``."""
    verify(doc, signature, practitioner.public_key, practitioner.key_scheme)


async def verify_stored(session: AsyncSession, row: Prescription) -> None:
    """Re-verify a stored prescription: the signature over the stored document with the key
    registered for the doctor it names, and every column copy against the document.

    Anything that does not hold, including a document or envelope edited into something that
    cannot even be read, is ``invalid_signature``: the prescription is not what the doctor signed.
    """
    doc = row.document
    try:
        signature = Signature.model_validate(row.signature)
        practitioner = await get_practitioner(session, str(doc["dr_code"]))
        verify_signed(doc, signature, practitioner)
        signed = Columns.of_document(doc)
    except SignatureRejected:
        raise
    except (ValidationError, NotFound, InvalidRequest, KeyError, TypeError, ValueError) as exc:
        raise SignatureRejected(
            "the stored prescription cannot be verified", field="signature"
        ) from exc
    if signed != Columns.of_row(row):
        raise SignatureRejected(
            "the stored prescription differs from what the doctor signed", field="signature"
        )
