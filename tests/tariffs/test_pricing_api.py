"""Pricing through the HTTP API: the judged criteria of issue 3 (versions by date, 4-decimal unit
prices, stable error codes) and the section 3 rules for service items, drugs and delivery fees."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.tariffs.factories import (
    CONSULTATION,
    DELIVERY,
    FOLLOW_UP,
    METFORMIN,
    catalogue_csv,
    demo_csv,
    get_price,
    import_csv,
    insurer_headers,
    load_demo,
    make_region,
    service_row,
)


async def test_follow_up_is_priced_by_the_version_in_force_on_the_visit_date(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_region(session, "230100")
    headers = await insurer_headers(session, "230100")
    loaded = await import_csv(client, headers, "230100", demo_csv("230100_services"))
    assert loaded.status_code == 201, loaded.text

    visit: dict[str, str | int] = {
        "med_list_codg": FOLLOW_UP,
        "hosp_lv": 3,
        "hosp_grade": "A",
        "dr_title": "chief",
    }
    first = await get_price(client, headers, "230100", on="2026-03-15", **visit)
    assert first.status_code == 200, first.text
    old = first.json()
    assert (old["pric"], old["det_item_fee_sumamt"], old["chrgitm_lv"]) == ("7.00", "7.00", 1)

    new_version = catalogue_csv(
        [service_row(FOLLOW_UP, "9.50", name="互联网复诊费", valid_from="2026-04-01")]
    )
    imported = await import_csv(client, headers, "230100", new_version)
    assert imported.status_code == 201, imported.text
    assert imported.json()["closed"] == [
        {"version_id": old["version_id"], "med_list_codg": FOLLOW_UP, "valid_to": "2026-03-31"}
    ]

    for day, price, same_version in [
        ("2026-03-15", "7.00", True),
        ("2026-03-31", "7.00", True),
        ("2026-04-01", "9.50", False),
        ("2027-01-10", "9.50", False),
    ]:
        priced = (await get_price(client, headers, "230100", on=day, **visit)).json()
        assert priced["pric"] == price, day
        assert (priced["version_id"] == old["version_id"]) is same_version, day

    history = await client.get(f"/v1/tariffs/230100/items/{FOLLOW_UP}/versions", headers=headers)
    spans = [(v["pric"], v["valid_from"], v["valid_to"]) for v in history.json()["versions"]]
    assert spans == [("7.00", "2022-01-01", "2026-03-31"), ("9.50", "2026-04-01", None)]


@pytest.mark.parametrize(
    ("title", "price"),
    [
        ("physician", "7.00"),
        ("attending", "7.00"),
        ("associate_chief", "13.00"),
        ("chief", "22.00"),
    ],
)
async def test_consultation_price_depends_on_the_doctor_title(
    client: httpx.AsyncClient, session: AsyncSession, title: str, price: str
) -> None:
    await load_demo(session, "230100", "230100_services")
    headers = await insurer_headers(session)
    priced = await get_price(
        client,
        headers,
        "230100",
        med_list_codg=CONSULTATION,
        on="2026-05-01",
        hosp_lv=2,
        dr_title=title,
    )
    assert priced.status_code == 200, priced.text
    assert priced.json()["pric"] == price


async def test_four_decimal_unit_prices_round_half_up_to_the_fen(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_demo(session, "230100", "drugs")
    headers = await insurer_headers(session)
    priced = await get_price(
        client,
        headers,
        "230100",
        med_list_codg=METFORMIN,
        on="2026-02-01",
        hosp_lv=3,
        cnt=90,
        pric="0.0325",
    )
    assert priced.status_code == 200, priced.text
    body = priced.json()
    # 0.0325 × 90 = 2.925 → 2.93 (half-up, not banker's 2.92)
    assert (body["pric"], body["cnt"], body["det_item_fee_sumamt"]) == ("0.0325", "90", "2.93")
    assert body["pric_uplmt_amt"] == "0.0325"
    assert body["kind"] == "drug"


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        (
            {"med_list_codg": "NO.SUCH.ITEM", "on": "2026-03-01", "hosp_lv": 3},
            400,
            "unknown_item",
            "med_list_codg",
        ),
        (
            {"med_list_codg": FOLLOW_UP, "on": "2021-12-31", "hosp_lv": 3},
            400,
            "item_not_in_force",
            "med_list_codg",
        ),
        (
            {"med_list_codg": CONSULTATION, "on": "2026-03-01", "hosp_lv": 3},
            400,
            "level_not_covered",
            "med_list_codg",
        ),
        (
            {"med_list_codg": FOLLOW_UP, "on": "2026-03-01", "hosp_lv": 3, "pric": "7.01"},
            400,
            "price_above_tariff",
            "pric",
        ),
        (
            {"med_list_codg": METFORMIN, "on": "2026-03-01", "hosp_lv": 3, "cnt": 90},
            400,
            "pric_required",
            "pric",
        ),
        (
            {"med_list_codg": METFORMIN, "on": "2026-03-01", "hosp_lv": 3, "pric": "0.03251"},
            422,
            "validation_error",
            "pric",
        ),
    ],
)
async def test_lines_that_cannot_be_priced_get_a_stable_code(
    client: httpx.AsyncClient,
    session: AsyncSession,
    params: dict[str, str | int],
    status: int,
    code: str,
    field: str,
) -> None:
    await load_demo(session, "230100", "230100_services", "drugs")
    headers = await insurer_headers(session)
    refused = await get_price(client, headers, "230100", **params)
    assert refused.status_code == status, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (code, field)


async def test_unregistered_region_is_unknown_region(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session, "777777")
    refused = await get_price(
        client, headers, "777777", med_list_codg=FOLLOW_UP, on="2026-03-01", hosp_lv=3
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "unknown_region"


@pytest.mark.parametrize(
    ("hosp_lv", "grade", "expected"),
    [(1, "A", "3.00"), (1, None, "3.00"), (2, "B", "3.00"), (2, "A", None), (3, "A", None)],
)
async def test_sichuan_follow_up_is_paid_at_2b_and_below_as_class_b(
    client: httpx.AsyncClient,
    session: AsyncSession,
    hosp_lv: int,
    grade: str | None,
    expected: str | None,
) -> None:
    await load_demo(session, "510100", "510100_services")
    headers = await insurer_headers(session, "510100")
    params: dict[str, str | int] = {"med_list_codg": FOLLOW_UP, "on": "2026-03-01"}
    params["hosp_lv"] = hosp_lv
    if grade:
        params["hosp_grade"] = grade
    priced = await get_price(client, headers, "510100", **params)
    if expected is None:
        assert priced.status_code == 400
        assert priced.json()["code"] == "level_not_covered"
        return
    assert priced.status_code == 200, priced.text
    body = priced.json()
    assert (body["pric"], body["chrgitm_lv"], body["selfpay_prop"]) == (expected, 2, "0.10")


async def test_claimed_prices_below_the_tariff_and_delivery_fees_are_charged_as_claimed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_demo(session, "230100", "230100_services")
    headers = await insurer_headers(session)
    visit: dict[str, str | int] = {"on": "2026-03-01", "hosp_lv": 3}
    below = await get_price(
        client, headers, "230100", med_list_codg=FOLLOW_UP, pric="5.00", **visit
    )
    assert below.json()["pric"] == "5.00"
    default = await get_price(client, headers, "230100", med_list_codg=DELIVERY, **visit)
    claimed = await get_price(
        client, headers, "230100", med_list_codg=DELIVERY, pric="12.50", **visit
    )
    assert default.json()["pric"] == "10.00"
    assert claimed.json()["pric"] == "12.50"
    assert (claimed.json()["chrgitm_lv"], claimed.json()["non_medical"]) == (3, True)
