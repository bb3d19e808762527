"""Reading the FHIR answers back: the media type, exact decimals, and validation of every
resource by the R4 models of ``fhir.resources``.

``fhir.resources`` ships FHIR R5 as its default models and the R4 line as its ``R4B`` package
(FHIR 4.3.0), with no 4.0.1 models; R4B's changes to R4 are in resources this export does not
produce (medicinal product definitions, evidence, subscriptions).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class


def fhir_json(response: httpx.Response) -> dict[str, Any]:
    """The resource of a 200 answer, validated (a Bundle with every entry), its decimals read
    exactly as :class:`~decimal.Decimal` (a FHIR decimal is a JSON number, never a string)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    validate(json.loads(response.text))
    resource: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
    return resource


def validate(resource: dict[str, Any]) -> None:
    """Parse ``resource`` into its R4B model (raising on any invalid element), and each entry of
    a Bundle into its own resource model too."""
    model = get_fhir_model_class(resource["resourceType"])
    parsed = model.model_validate(resource)
    assert parsed.get_resource_type() == resource["resourceType"]
    for entry in resource.get("entry", []):
        validate(entry["resource"])


def entries(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    found = [entry["resource"] for entry in bundle["entry"]]
    assert {r["resourceType"] for r in found} == {resource_type}
    return found


def identifier_value(identifiers: list[dict[str, Any]], field: str) -> str:
    """The value of the national identifier ``field`` among ``identifiers``."""
    (value,) = [i["value"] for i in identifiers if i["system"].endswith(f"/NamingSystem/{field}")]
    return str(value)


def money(value: dict[str, Any]) -> Decimal:
    """The amount of a FHIR Money, which must be an exact decimal in yuan."""
    assert value["currency"] == "CNY"
    assert isinstance(value["value"], Decimal), value
    return value["value"]


def refusal(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """The status and the engine's own members of a problem body (the RFC 9457 members derive
    from them)."""
    body = response.json()
    return response.status_code, {name: body[name] for name in ("code", "message", "field")}
