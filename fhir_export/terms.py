"""The identifier systems and code systems of the export, and the FHIR datatypes built from them.

National identifiers and codes have no HL7-registered URIs, so each gets one under
:data:`BASE` (listed in ``docs/fhir.md``): ``NamingSystem/<field>`` for an identifier, and
``CodeSystem/<field>`` for a code and ``StructureDefinition/<field>`` for an extension, the
national field name being the last segment.
HL7's own systems are used where one exists (adjudication categories, claim types, UCUM).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final, TypeAlias

from engine.clock import local_date
from engine.money import cny

#: A JSON value of a FHIR resource; decimals stay :class:`~decimal.Decimal` until rendered.
Json: TypeAlias = str | int | bool | Decimal | Sequence["Json"] | Mapping[str, "Json"] | None
Resource: TypeAlias = dict[str, Json]

BASE: Final = "https://sanyi.example/fhir"
ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
PAYMENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
UCUM: Final = "http://unitsofmeasure.org"
CURRENCY: Final = "CNY"


def naming_system(field: str) -> str:
    """The URI of the national identifier ``field`` (``setl_id``, ``psn_no`` ...)."""
    return f"{BASE}/NamingSystem/{field}"


def code_system(field: str) -> str:
    """The URI of the national code ``field`` (``fund_pay_type``, ``med_list_codg`` ...)."""
    return f"{BASE}/CodeSystem/{field}"


def extension_url(field: str) -> str:
    """The URL of the extension carrying the national element ``field``."""
    return f"{BASE}/StructureDefinition/{field}"


def identifier(field: str, value: str) -> Resource:
    return {"system": naming_system(field), "value": value}


def reference(resource_type: str, field: str, value: str) -> Resource:
    """A logical reference: the target named by its national identifier, not by a URL."""
    return {"type": resource_type, "identifier": identifier(field, value)}


def coding(system: str, code: str, display: str | None = None) -> Resource:
    found: Resource = {"system": system, "code": code}
    if display is not None:
        found["display"] = display
    return found


def concept(system: str, code: str, display: str | None = None) -> Resource:
    """A CodeableConcept of one coding."""
    return {"coding": [coding(system, code, display)]}


def national(field: str, code: str, display: str | None = None) -> Resource:
    """A CodeableConcept of the national code ``field``."""
    return concept(code_system(field), code, display)


def money(amount: Decimal) -> Resource:
    """FHIR Money: the amount in yuan, exact to the fen and written with both decimals (a JSON
    number, never a float); :func:`engine.money.cny` refuses a sub-fen amount."""
    return {"value": cny(amount).amount, "currency": CURRENCY}


def quantity(value: Decimal, unit: str | None = None) -> Resource:
    found: Resource = {"value": value}
    if unit is not None:
        found["unit"] = unit
    return found


def days(count: int) -> Resource:
    """A duration of ``count`` days (UCUM ``d``)."""
    return {"value": count, "unit": "d", "system": UCUM, "code": "d"}


def instant(moment: datetime) -> str:
    """A FHIR dateTime/instant: ISO 8601 with the offset the engine keeps (always aware)."""
    return moment.isoformat()


def china_date(moment: datetime) -> str:
    """The FHIR date of ``moment``'s day in China Standard Time (national dates are local)."""
    return local_date(moment).isoformat()


def collection(bundle_id: str, resources: list[Resource]) -> Resource:
    """A Bundle of type ``collection``: how one national record that FHIR models as several
    resources (a prescription's drug lines, a dispensation's lines) is answered in one read."""
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "collection",
        "entry": [{"resource": resource} for resource in resources],
    }
