"""The ``application/fhir+json`` response: FHIR decimals as exact JSON numbers.

FHIR's ``decimal`` is a JSON number whose digits are significant ("12.30" stays 12.30). The
values arrive as :class:`~decimal.Decimal` and are written digit for digit (no exponent), never
through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import orjson
from fastapi.responses import Response

from fhir_export.terms import Resource

MEDIA_TYPE: Final = "application/fhir+json"


def _decimal(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"{type(value).__name__} is not a FHIR JSON value")


class FhirResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Resource) -> bytes:
        return orjson.dumps(content, default=_decimal)
