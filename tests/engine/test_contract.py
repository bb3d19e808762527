"""The published OpenAPI says what the API does: named operations, one documented problem body
for every refusal, the bearer scheme, CSV declared as CSV (and uploadable as a form), worked
examples that are real answers, and a docs page that loads with no network.

That every refusal the suite provokes is documented is held by the session-wide recorder
(``tests/support/contract.py``); the fuzzer (``test_fuzz.py``) checks statuses, media types and
shapes against this document from the outside.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.schemas import SettlementOut
from engine.openapi import CODES_EXTENSION, SECURITY_SCHEME, TAGS
from tests.support.contract import Answer, Recorder
from tests.support.factories.clearing import detail_file, file_row, settled, today
from tests.support.factories.world import World, build_world
from tests.tariffs.factories import catalogue_csv, drug_row, insurer_headers, make_region

_OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_CSV_UPLOADS = {
    ("/v1/tariffs/{admdvs}/imports", "post"),
    ("/v1/reconciliation/details", "post"),
    ("/v1/reconciliation/detail-jobs", "post"),
}
_CSV_DOWNLOADS = {
    "/v1/reconciliation/details/{recon_id}/mismatches.csv",
    "/v1/clearing/batches/{clr_appy_evt_id}/lines.csv",
}


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_is_named_summarised_described_and_tagged(
    document: dict[str, Any],
) -> None:
    described_tags = {tag["name"] for tag in document["tags"] if tag.get("description")}
    assert described_tags == {tag["name"] for tag in TAGS}
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        assert _OPERATION_ID.match(operation["operationId"]), where
        assert "_v1_" not in operation["operationId"], where
        assert operation["summary"], where
        assert operation.get("description"), where
        assert set(operation["tags"]) <= described_tags, where
    settlement = document["paths"]["/v1/visits/{mdtrt_id}/settlement"]["post"]
    assert settlement["operationId"] == "settle_2207"


def test_every_refusal_documents_its_codes_and_the_problem_body(
    document: dict[str, Any],
) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "message", "field"} <= set(
        problem["properties"]
    )
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path in ("/readyz", "/health"):
                continue
            where = f"{method.upper()} {path} {status}"
            assert response[CODES_EXTENSION], where
            for code in response[CODES_EXTENSION]:
                assert f"`{code}`" in response["description"], where
            schema = response["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").rsplit("/", 1)[-1] in ("Problem", "ImportRejectedOut"), (
                where
            )


def test_operations_that_need_a_key_carry_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in _operations(document):
        keyed = path.startswith(("/v1/", "/nhsa"))
        assert ("security" in operation) is keyed, f"{method.upper()} {path}"
        # The envelope answers its refusals, a missing key's included, as HTTP 200 envelopes.
        assert ("401" in operation["responses"]) is path.startswith("/v1/"), f"{method} {path}"


async def test_a_refusal_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/settlements/S1")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "type": "urn:sanyi:problem:unauthenticated",
        "title": "Unauthorized",
        "status": 401,
        "detail": "missing bearer API key",
        "code": "unauthenticated",
        "message": "missing bearer API key",
        "field": "Authorization",
    }


def test_csv_is_declared_as_csv(document: dict[str, Any]) -> None:
    for path in _CSV_DOWNLOADS:
        ok = document["paths"][path]["get"]["responses"]["200"]
        assert set(ok["content"]) == {"text/csv"}, path
    for path, method in _CSV_UPLOADS:
        body = document["paths"][path][method]["requestBody"]
        assert set(body["content"]) == {"text/csv", "multipart/form-data"}, path
        form = body["content"]["multipart/form-data"]["schema"]
        assert form["properties"]["file"]["format"] == "binary", path


def test_the_worked_example_is_a_real_settlement(document: dict[str, Any]) -> None:
    ok = document["paths"]["/v1/visits/{mdtrt_id}/settlement"]["post"]["responses"]["201"]
    example = ok["content"]["application/json"]["example"]
    settlement = SettlementOut.model_validate(example)
    assert (str(settlement.medfee_sumamt), str(settlement.fund_pay_sumamt)) == ("211.40", "58.00")
    assert (str(settlement.psn_cash_pay), str(settlement.acct_pay)) == ("53.40", "100.00")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


async def test_the_docs_page_loads_everything_from_the_app(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assets = _Assets()
    assets.feed(page.text)
    assert len(assets.urls) >= 3  # the stylesheet, the icon, the script
    for url in [*assets.urls, "/openapi.json"]:
        assert not urlsplit(url).netloc, url
        loaded = await client.get(url)
        assert loaded.status_code == 200, url
        assert loaded.content, url


async def test_a_3202_file_uploaded_as_a_form_reconciles_like_the_raw_body(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    world: World = await build_world(client, session)
    settlement = await settled(world, price="100.00")
    rows = detail_file([file_row(settlement, medfee_sumamt="99.00")])
    period = {
        "stmt_begndate": today().isoformat(),
        "stmt_enddate": today().isoformat(),
    }
    headers = world.hospital(0)[1]

    raw = await client.post(
        "/v1/reconciliation/details",
        params=period,
        content=rows,
        headers=headers | {"Content-Type": "text/csv"},
    )
    form = await client.post(
        "/v1/reconciliation/details",
        params=period,
        files={"file": ("details.csv", rows, "text/csv")},
        headers=headers,
    )

    assert (raw.status_code, form.status_code) == (201, 201), form.text
    assert raw.json()["mismatches"] == form.json()["mismatches"]
    assert [m["kinds"] for m in form.json()["mismatches"]] == [["amount_differs"]]


async def test_a_form_without_its_file_part_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    headers = await insurer_headers(session, "230100")

    refused = await client.post(
        "/v1/tariffs/230100/imports",
        files={"sheet": ("sheet.csv", b"x", "text/csv")},
        headers=headers,
    )

    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("invalid_upload", "file")


async def test_a_catalogue_uploaded_as_a_form_is_imported(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    headers = await insurer_headers(session, "230100")
    sheet = catalogue_csv([drug_row("XFORM0001", "12.50")]).encode("gb18030")

    imported = await client.post(
        "/v1/tariffs/230100/imports",
        files={"file": ("sheet.csv", sheet, "text/csv; charset=gb18030")},
        headers=headers,
    )

    assert imported.status_code == 201, imported.text
    assert imported.json()["rows"] == 1


def test_the_recorder_names_an_undocumented_refusal(document: dict[str, Any]) -> None:
    recorder = Recorder()
    documented = Answer("POST", "/v1/visits/{mdtrt_id}/settlement", 409, "idempotency_key_reused")
    undocumented = Answer("POST", "/v1/visits/{mdtrt_id}/settlement", 409, "made_up")
    unlisted_status = Answer("GET", "/livez", 418, None)
    recorder.answers |= {documented, undocumented, unlisted_status}

    assert recorder.undocumented(document) == [unlisted_status, undocumented]
    assert json.dumps(document)  # the published document is plain JSON


async def test_a_body_that_is_not_utf8_is_a_documented_400(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    refused = await client.post(
        "/v1/visits", content=b'{"psn_no": "\xff"}', headers={"Content-Type": "application/json"}
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "malformed_body"
    listed = document["paths"]["/v1/visits"]["post"]["responses"]["400"][CODES_EXTENSION]
    assert "malformed_body" in listed
