"""Malformed input through the HTTP API: each case is a 4xx with a stable code and the offending
field, never a 500, and nothing is written (read back afterwards)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric

from claims.settlement.models import FeeLine, Visit
from prescriptions.models import Prescription
from tariffs.models import PoolingRegion
from tests.prescriptions.factories import drug_line_doc, rx_doc
from tests.support.factories.world import DRUG_X, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


def assert_refused(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    body = response.json()
    assert (response.status_code, body.get("code"), body.get("field")) == (status, code, field), (
        body
    )


def certno(area: str, birth: str) -> str:
    """A resident ID with a correct check character around any area and birth date."""
    body = f"{area}{birth}123"
    return body + ric.calc_check_digit(body + "0")


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- enrolment -----------------------------------------------------------------------------------

#: Not a decimal of the wire grammar, for any field: a float, exponents, full-width or padded
#: digits, a plus sign, a leading zero, a boolean, not-a-number.
NOT_DECIMALS = [25.5, "1e2", "1E+2", "１", " 1", "1 ", "+1", "01", True, "NaN"]


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("psn_name", "张\x00三"),
        ("psn_name", "张\x1b三"),
        ("psn_no", "P\x00"),
        ("asst_type", "\x00"),
        ("insutype", "311"),
        ("admdvs", "２３０１００"),
        ("admdvs", "000000"),
        ("retired", "yes"),
        ("certno", certno("230102", "19901301")),  # month 13
        ("certno", certno("230102", "19900230")),  # 30 February
        ("certno", certno("230102", "00000101")),  # year 0000
        ("certno", certno("230102", "29990101")),  # born in the future
        ("certno", certno("000000", "19900101")),  # no such area
        ("certno", "11010519491231002Y"),
        ("certno", "１１０１０５１９４９１２３１００２X"),
        *(("acct_balc", value) for value in NOT_DECIMALS),
        ("acct_balc", "1.001"),
        ("acct_balc", "-1.00"),
    ],
)
async def test_enrolment_refuses_malformed_members(world: World, member: str, value: Any) -> None:
    psn_no = "P" + uuid.uuid4().hex[:12].upper()
    body = {
        "psn_no": psn_no,
        "psn_name": "测试",
        "certno": certno("230102", "19800101"),
        "admdvs": world.admdvs,
        "insutype": "310",
    } | {member: value}
    response = await world.client.post("/v1/persons", json=body, headers=world.insurer)
    assert_refused(response, 422, "validation_error", member)
    shown = await world.client.get(f"/v1/persons/{psn_no}", headers=world.insurer)
    assert shown.status_code == 404


async def test_a_json_integer_is_money_and_goes_out_with_two_decimals(world: World) -> None:
    psn_no, _ = await world.enrol(acct_balc=88)
    shown = await world.client.get(f"/v1/persons/{psn_no}", headers=world.insurer)
    assert shown.json()["acct_balc"] == "88.00"


# --- visits --------------------------------------------------------------------------------------

MAIN = {"diag_code": "I10.x00", "diag_name": "高血压", "maindiag_flag": "1"}
OTHER = {"diag_code": "E11.900", "diag_name": "糖尿病", "maindiag_flag": "0"}


@pytest.mark.parametrize(
    ("member", "value", "field"),
    [
        ("begntime", "2026-06-15T09:30:00", "begntime"),
        ("begntime", "2026-06-15", "begntime"),
        ("begntime", "0001-01-01T00:00:00+08:00", "begntime"),
        ("begntime", "9999-12-31T23:59:59+08:00", "begntime"),
        ("begntime", "2999-01-01T09:00:00+08:00", "begntime"),
        ("begntime", 1781000000, "begntime"),
        ("diseinfo", [MAIN, MAIN], "diseinfo"),
        ("diseinfo", [OTHER], "diseinfo"),
        ("diseinfo", [MAIN | {"diag_code": "I10\x00"}], "diseinfo.0.diag_code"),
        ("diseinfo", [MAIN | {"diag_name": "高\x00血压"}], "diseinfo.0.diag_name"),
        ("mdtrt_cert_type", "04", "mdtrt_cert_type"),
        ("biz_type_code", "03", "biz_type_code"),
        ("med_type", "99", "med_type"),
        ("fixmedins_code", "H\x00", "fixmedins_code"),
        ("selfpay_flag", 1, "selfpay_flag"),
    ],
)
async def test_registration_refuses_malformed_members(
    world: World, session: AsyncSession, member: str, value: Any, field: str
) -> None:
    psn_no, cert = await world.enrol()
    refused = await world.visit(psn_no, cert, expect=422, **{member: value})
    assert (refused["code"], refused["field"]) == ("validation_error", field)
    assert await count(session, Visit, Visit.psn_no == psn_no) == 0


@pytest.mark.parametrize(
    ("line", "field"),
    [
        *(({"cnt": value}, "feedetail.0.cnt") for value in NOT_DECIMALS),
        ({"cnt": "0"}, "feedetail.0.cnt"),
        ({"cnt": "-1"}, "feedetail.0.cnt"),
        ({"cnt": "1.00001"}, "feedetail.0.cnt"),
        ({"pric": "0"}, "feedetail.0.pric"),
        ({"pric": 25.5}, "feedetail.0.pric"),
        ({"pric": "25.12345"}, "feedetail.0.pric"),
        ({"fee_ocur_time": "0001-01-01T00:00:00+08:00"}, "feedetail.0.fee_ocur_time"),
        ({"fee_ocur_time": "1900-01-01T00:00:00+08:00"}, "feedetail.0.fee_ocur_time"),
        ({"fee_ocur_time": "2099-01-01T00:00:00+08:00"}, "feedetail.0.fee_ocur_time"),
        ({"fee_ocur_time": "9999-12-31T23:59:59+08:00"}, "feedetail.0.fee_ocur_time"),
        ({"fee_ocur_time": "2026-03-02T09:30:00"}, "feedetail.0.fee_ocur_time"),
        ({"feedetl_sn": "1\x00"}, "feedetail.0.feedetl_sn"),
        ({"med_list_codg": DRUG_X + "\x00"}, "feedetail.0.med_list_codg"),
    ],
)
async def test_fee_upload_refuses_malformed_lines(
    world: World, session: AsyncSession, line: dict[str, Any], field: str
) -> None:
    psn_no, cert = await world.enrol()
    mdtrt_id = (await world.visit(psn_no, cert))["mdtrt_id"]
    good = {"feedetl_sn": "1", "med_list_codg": DRUG_X, "cnt": "2", "pric": "25.50"}
    response = await world.client.post(
        f"/v1/visits/{mdtrt_id}/fee-lines",
        json={"feedetail": [good | line]},
        headers=world.hospital()[1],
    )
    assert_refused(response, 422, "validation_error", field)
    assert await count(session, FeeLine, FeeLine.mdtrt_id == mdtrt_id) == 0


# --- prescriptions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rxdrugdetail": [drug_line_doc(drug_cnt="0")]}, "rxdrugdetail.0.drug_cnt"),
        ({"rxdrugdetail": [drug_line_doc(drug_cnt="1e2")]}, "rxdrugdetail.0.drug_cnt"),
        ({"rxdrugdetail": [drug_line_doc(drug_cnt=1.5)]}, "rxdrugdetail.0.drug_cnt"),
        ({"rx_type_code": "9"}, "rx_type_code"),
        ({"prsc_time": "2026-03-02T09:30:00"}, "prsc_time"),
        ({"prsc_time": "2999-03-02T09:30:00+08:00"}, "prsc_time"),
        ({"vali_end_time": "9999-12-31T23:59:59+08:00"}, "vali_end_time"),
        ({"diseinfo": [rx_doc()["diseinfo"][0]] * 2}, "diseinfo"),
        ({"extd_days_rsn": "稳定\x00"}, "extd_days_rsn"),
    ],
)
async def test_prescription_upload_refuses_malformed_documents(
    world: World, session: AsyncSession, overrides: dict[str, Any], field: str
) -> None:
    code, headers = world.hospital()
    hosp_rxno = "RX" + uuid.uuid4().hex[:12].upper()
    body = rx_doc(fixmedins_code=code, hosp_rxno=hosp_rxno, **overrides) | {
        "signature": {"scheme": "ed25519", "value": "AAAA"}
    }
    body = {k: v for k, v in body.items() if k not in ("hi_rxno", "rx_stas_codg")}
    response = await world.client.post("/v1/prescriptions", json=body, headers=headers)
    assert_refused(response, 422, "validation_error", field)
    assert await count(session, Prescription, Prescription.hosp_rxno == hosp_rxno) == 0


async def test_a_control_character_in_the_signature_envelope_is_refused(world: World) -> None:
    code, headers = world.hospital()
    body = rx_doc(fixmedins_code=code) | {"signature": {"scheme": "ed25519", "value": "A\x00"}}
    body = {k: v for k, v in body.items() if k not in ("hi_rxno", "rx_stas_codg")}
    response = await world.client.post("/v1/prescriptions", json=body, headers=headers)
    assert_refused(response, 422, "validation_error", "signature")


# --- registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"admdvs": "230200", "name": "齐齐哈尔\x00"}, "name"),
        ({"admdvs": "2302０0", "name": "齐齐哈尔"}, "admdvs"),
        ({"admdvs": "230200", "name": "齐齐哈尔", "extra": 1}, "extra"),
    ],
)
async def test_region_creation_refuses_malformed_bodies(
    world: World, session: AsyncSession, body: dict[str, Any], field: str
) -> None:
    response = await world.client.post("/v1/registry/regions", json=body, headers=world.insurer)
    assert_refused(response, 422, "validation_error", field)
    assert await count(session, PoolingRegion, PoolingRegion.admdvs == "230200") == 0


# --- path, query and headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/persons/P%00", "path"),
        ("/v1/persons/P%7F1", "path"),
        ("/v1/registry/practitioners?fixmedins_code=%00", "fixmedins_code"),
        ("/v1/registry/practitioners?fixmedins_code=H%0A1", "fixmedins_code"),
    ],
)
async def test_control_characters_in_path_or_query_are_refused(
    world: World, url: str, field: str
) -> None:
    response = await world.client.get(url, headers=world.insurer)
    assert_refused(response, 400, "invalid_character", field)


async def test_a_control_character_in_a_header_is_refused(world: World) -> None:
    response = await world.client.get(
        "/v1/registry/regions", headers=world.insurer | {"X-Request-Id": "a\x7fb"}
    )
    assert_refused(response, 400, "invalid_character", "x-request-id")


async def test_utf8_text_and_tabs_in_a_header_pass(world: World) -> None:
    response = await world.client.get(
        "/v1/registry/regions",
        headers=[(k.encode(), v.encode()) for k, v in world.insurer.items()]
        + [(b"X-Note", "测试\t说明".encode())],  # UTF-8 bytes 0x8B, 0x95 ...
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("begin", "field"),
    [
        ("2026-06-01", "begin"),
        ("2026-06-01T00:00:00", "begin"),
        ("0001-01-01T00:00:00+08:00", "begin"),
        ("2026-06-01T00:00:00%2B08:00&end=9999-01-01T00:00:00Z", "end"),
    ],
)
async def test_settlement_ranges_need_aware_times_in_a_plausible_window(
    world: World, begin: str, field: str
) -> None:
    end = "" if "&end=" in begin else "&end=2026-07-01T00:00:00%2B08:00"
    response = await world.client.get(
        f"/v1/settlements?begin={begin}{end}", headers=world.hospital()[1]
    )
    assert_refused(response, 422, "validation_error", field)


async def test_catalogue_dates_are_plain_iso_dates(world: World) -> None:
    response = await world.client.get(
        f"/v1/tariffs/{world.admdvs}/catalogue?on=2026-03-02T00:00:00", headers=world.insurer
    )
    assert_refused(response, 422, "validation_error", "on")


async def test_malformed_json_names_no_field(world: World) -> None:
    response = await world.client.post(
        "/v1/persons",
        content=b'{"psn_no": "P1", "acct_balc": 1e2',
        headers=world.insurer | {"Content-Type": "application/json"},
    )
    assert_refused(response, 422, "malformed_json", None)
    shown = await world.client.get("/v1/persons/P1", headers=world.insurer)
    assert shown.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("hosp_lv=%202", "hosp_lv"),
        ("hosp_lv=2.0", "hosp_lv"),
        ("hosp_lv=2_0", "hosp_lv"),
        ("hosp_lv=3&cnt=1e2", "cnt"),
        ("hosp_lv=3&cnt=%EF%BC%91", "cnt"),  # full-width 1
        ("hosp_lv=3&cnt=0", "cnt"),
        ("hosp_lv=3&pric=%201.00", "pric"),
    ],
)
async def test_price_queries_read_numbers_by_the_wire_grammar(
    world: World, query: str, field: str
) -> None:
    response = await world.client.get(
        f"/v1/tariffs/{world.admdvs}/price?med_list_codg={DRUG_X}&on=2026-03-02&{query}",
        headers=world.insurer,
    )
    assert_refused(response, 422, "validation_error", field)


async def test_a_padded_page_size_is_refused(world: World) -> None:
    response = await world.client.get(
        "/v1/settlements?begin=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z&limit=%2B5",
        headers=world.hospital()[1],
    )
    assert_refused(response, 422, "validation_error", "limit")
