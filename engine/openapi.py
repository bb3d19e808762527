"""The published contract: the error model, each operation's refusals, the security scheme.

Every refusal is one body, :class:`Problem` (RFC 9457 problem details, plus Sanyi's stable
``code`` and ``field``). An operation documents each status it can answer and, in the response's
``x-sanyi-codes``, the stable codes behind it. Routes declare the refusals of their own rules with
:func:`documented`; :func:`publish` adds those every operation of a kind shares (a key is
needed, a role is required, a path names an object, an ``Idempotency-Key`` is taken, the database
may be away), read from the route's dependencies so a new route inherits them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, Field

from engine.auth import current_principal, require_role
from engine.db import UnitOfWorkRoute
from engine.errors import PROBLEM_TYPE_PREFIX
from engine.idempotency import IdempotencyKey

#: The response-object extension listing the stable ``code`` s a status carries.
CODES_EXTENSION = "x-sanyi-codes"
SECURITY_SCHEME = "bearerAuth"
PROBLEM_SCHEMA = "Problem"
_PROBLEM_REF = f"#/components/schemas/{PROBLEM_SCHEMA}"
#: The header an idempotent operation takes, as :data:`engine.idempotency.IdempotencyKey` names it.
_IDEMPOTENCY_HEADER: str = get_args(IdempotencyKey)[1].alias
DESCRIPTION = """\
One-stop settlement, e-prescription circulation and insurer clearing for a pooling region.

Hospitals register visits (2201), upload fee lines (2204), pre-settle (2206), settle (2207) and
revoke (2208); pharmacies open, lock and dispense signed e-prescriptions; insurers load the
registry, tariffs and policies, run budgets and approve clearing batches; everyone reconciles
(3201, 3202) and applies for clearing (3203). Field names are the national platform's.

**Keys.** Every `/v1` call carries the organisation's API key as `Authorization: Bearer <key>`;
the key's role (admin, insurer, hospital, pharmacy) decides what it may call, and its
institution and region what it may see. A thing the caller may not see is answered exactly as
a thing that does not exist.

**Money** is an exact decimal string in yuan with at most two places (`"211.40"`), never a
number.

**Refusals** are `application/json` problem details (RFC 9457: `type`, `title`, `status`,
`detail`) with Sanyi's stable `code` and the offending `field`; a refused request changed
nothing. Each operation lists every status it can answer and, under `x-sanyi-codes`, the codes
behind it. Write operations that take an `Idempotency-Key` apply once however often they are
sent; 429 and 503 carry `Retry-After`.
"""

TAGS: list[dict[str, Any]] = [
    {
        "name": "claims",
        "description": "Benefit policies, insured persons, visits (2201), "
        "fee lines (2204), pre-settlement (2206), settlement (2207) and its revocation (2208).",
    },
    {
        "name": "funding",
        "description": "The insurer's side of the fund: global budgets, DIP "
        "point schemes, medical-community bundles, monthly prepayment and year-end clearing.",
    },
    {
        "name": "reconciliation",
        "description": "Totals (3201) and detail (3202) reconciliation "
        "of an institution's settlements against the engine's, and monthly clearing batches "
        "(3203) applied for by institutions and approved by the insurer; the monthly "
        "inter-region claims (跨区清算) of cross-region settlements between fund agencies.",
    },
    {
        "name": "cross-region",
        "description": "Cross-region direct settlement (异地就医直接结算): the insured place's "
        "filings (备案) of its people for care in another region.",
    },
    {
        "name": "registry",
        "description": "Pooling regions, designated institutions and "
        "practitioners, kept by the insurer of the region.",
    },
    {
        "name": "tariffs",
        "description": "The medical-service and drug catalogue of a region: "
        "CSV imports in effective-dated versions, the catalogue on a date, and item pricing.",
    },
    {
        "name": "prescriptions",
        "description": "Signed e-prescriptions: the hospital uploads "
        "and reviews them, a pharmacy opens one the patient presents, locks and dispenses it.",
    },
    {
        "name": "vouchers",
        "description": "Electronic insurance vouchers (`mdtrt_cert_type` 01): each insurer's "
        "signing keys and the tokens it issues for the people it insures.",
    },
    {
        "name": "fhir",
        "description": "Read-only FHIR R4 views of settlements, prescriptions, dispensations and "
        "clearing batches (`application/fhir+json`), scoped exactly like their /v1 reads.",
    },
    {
        "name": "national envelope",
        "description": "The national medical-insurance platform's own message envelope "
        "(`infno`, `msgid`, `input` → `infcode`, `output`) over the same services as /v1; "
        "refusals answer HTTP 200 with `infcode` -1.",
    },
    {"name": "admin", "description": "The operator's keys: organisations and their API keys."},
    {"name": "ops", "description": "Probes and metrics for the operators; no key needed."},
]

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before sending the request again",
        "schema": {"type": "integer"},
    }
}


class Problem(BaseModel):
    """A refusal: nothing was changed. RFC 9457 problem details; ``code`` is the stable
    machine-readable reason (listed per operation and status), ``field`` the offending input
    (a body field, a query or path parameter, a header) where there is one."""

    type: str = Field(
        description=f"`{PROBLEM_TYPE_PREFIX}` followed by `code`",
        examples=["urn:sanyi:problem:already_settled"],
    )
    title: str = Field(description="the HTTP status phrase", examples=["Conflict"])
    status: int = Field(description="the HTTP status code", examples=[409])
    detail: str = Field(description="what was refused and why, for a person")
    code: str = Field(description="the stable reason, for a program", examples=["already_settled"])
    message: str = Field(description="the same text as `detail`")
    field: str | None = Field(description="the offending input, if one is to blame")


@dataclass(frozen=True)
class Refusal:
    """One documented refusal: the status, its stable code and when it is answered."""

    status: int
    code: str
    meaning: str


INVALID_CHARACTER = Refusal(
    400, "invalid_character", "a control character in the path, the query or a header"
)
UNAUTHENTICATED = Refusal(
    401, "unauthenticated", "no bearer API key, or one that is unknown or revoked"
)
FORBIDDEN = Refusal(403, "forbidden", "the key's role may not call this operation")
NOT_FOUND = Refusal(404, "not_found", "the path names no operation (an empty path parameter)")
IDEMPOTENCY_KEY_REUSED = Refusal(
    409, "idempotency_key_reused", "the `Idempotency-Key` was used before with another request"
)
IDEMPOTENCY_IN_PROGRESS = Refusal(
    409, "idempotency_in_progress", "the first request under this `Idempotency-Key` is running"
)
VALIDATION_ERROR = Refusal(
    422, "validation_error", "a parameter or body field breaks its schema (`field` names it)"
)
MALFORMED_JSON = Refusal(422, "malformed_json", "the body is not a JSON document")
MALFORMED_BODY = Refusal(
    400, "malformed_body", "the body cannot be read as its content type says (not UTF-8)"
)
DATABASE_UNAVAILABLE = Refusal(
    503,
    "database_unavailable",
    "the database did not answer in time; nothing was changed. Send the request again after "
    "`Retry-After` seconds (under the same `Idempotency-Key` it never applies twice)",
)


def documented(
    *declared: Refusal, models: dict[int, type[BaseModel]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` argument of a route that answers ``declared`` (those every operation of
    its kind shares are added when the contract is published); ``models`` names the body of a
    status whose problems carry more members than :class:`Problem`."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": model} for status, model in (models or {}).items()
    }
    for refusal in declared:
        _add(responses.setdefault(refusal.status, {}), refusal)
    return responses


def request_example(example: object) -> dict[str, Any]:
    """The ``openapi_extra`` giving a JSON request body its example."""
    return {"requestBody": {"content": {"application/json": {"example": example}}}}


def response_example(example: object) -> dict[str, Any]:
    """A ``responses`` entry giving a JSON answer its example."""
    return {"content": {"application/json": {"example": example}}}


def csv_download(description: str) -> dict[str, Any]:
    """The ``responses`` entry of an answer that is a CSV file (use with
    ``response_class=StreamingResponse``, so no JSON body is declared beside it)."""
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


def _add(response: dict[str, Any], refusal: Refusal) -> None:
    """Document ``refusal`` in ``response`` (the response object of its status)."""
    codes: list[str] = response.setdefault(CODES_EXTENSION, [])
    if refusal.code in codes:
        return
    codes.append(refusal.code)
    line = f"- `{refusal.code}`: {refusal.meaning}"
    previous = response.get("description")
    response["description"] = f"{previous}\n{line}" if previous else line
    if "model" not in response:  # a model of its own: a problem with more members
        content = response.setdefault("content", {}).setdefault("application/json", {})
        content.setdefault("schema", {"$ref": _PROBLEM_REF})
    if refusal.status in (429, 503):
        response.setdefault("headers", {}).update(_RETRY_AFTER)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependencies(sub)


def _needs_key(route: RouteContext) -> bool:
    """Whether the operation authenticates its caller by the bearer API key."""
    calls = {getattr(d.call, "__qualname__", "") for d in _dependencies(route.dependant)}
    return current_principal.__qualname__ in calls


def _shared_refusals(route: RouteContext) -> Iterator[Refusal]:
    """The refusals ``route`` shares with every operation of its kind, read from its
    dependencies: the edge's character check, the key and role, the path, the idempotency key,
    the parameters and body, the unit of work."""
    dependants = list(_dependencies(route.dependant))
    calls = {getattr(d.call, "__qualname__", "") for d in dependants}
    yield INVALID_CHARACTER
    if _needs_key(route):
        yield UNAUTHENTICATED
    # require_role builds a closure per role set: ``require_role.<locals>.dependency``.
    if any(call.startswith(f"{require_role.__qualname__}.") for call in calls):
        yield FORBIDDEN
    if route.dependant.path_params:
        yield NOT_FOUND
    if any(p.alias == _IDEMPOTENCY_HEADER for d in dependants for p in d.header_params):
        yield IDEMPOTENCY_KEY_REUSED
        yield IDEMPOTENCY_IN_PROGRESS
    parameters = [
        p for d in dependants for p in (*d.path_params, *d.query_params, *d.header_params)
    ]
    if parameters or route.body_field is not None:
        yield VALIDATION_ERROR
    if route.body_field is not None:
        yield MALFORMED_JSON
        yield MALFORMED_BODY
    if isinstance(route.original_route, UnitOfWorkRoute):
        yield DATABASE_UNAVAILABLE


def _undocumented_default(response: dict[str, Any]) -> bool:
    """FastAPI's own 422 (its validation-error shape, which Sanyi never answers) or the unit of
    work's 503 without a body: both replaced by the problem documentation."""
    if CODES_EXTENSION in response:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return "content" not in response or schema.get("$ref", "").endswith("/HTTPValidationError")


def install(app: FastAPI) -> None:
    """Publish ``app``'s contract as ``/openapi.json``."""

    def contract() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = publish(app, FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = contract  # type: ignore[method-assign]


def publish(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Complete FastAPI's document of ``app``: each operation's shared refusals and security,
    and the components they refer to (the problem body, the bearer scheme)."""
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            responses: dict[str, dict[str, Any]] = operation["responses"]
            for status in [s for s, r in responses.items() if _undocumented_default(r)]:
                if int(status) >= 400:
                    del responses[status]
            # A route that answers its refusals in a 200 body (the national envelope) has only
            # the edge's own, answered before any route runs.
            in_body = getattr(route.original_route, "answers_refusals_in_body", False)
            shared = (INVALID_CHARACTER,) if in_body else tuple(_shared_refusals(route))
            for refusal in shared:
                _add(responses.setdefault(str(refusal.status), {}), refusal)
            if _needs_key(route):
                operation["security"] = [{SECURITY_SCHEME: []}]
            operation["responses"] = dict(sorted(responses.items()))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for fastapi_default in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_default, None)
    schemas[PROBLEM_SCHEMA] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "the organisation's API key, issued by the operator "
            "(`sanyi` admin endpoints or CLI); its role decides what it may call",
        }
    }
    return document
