"""One money format on the wire: every yuan amount of a settlement (its fields, ``setldetail``,
``lines``, the explanation) and of a fee upload has exactly two decimals; unit prices two or four;
quantities and ratios their shortest exact form; whatever scale the value was stored at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories.world import CLASS_A_ITEM, World, build_world

YUAN = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
#: Two decimals, or four where the price needs them: "7.00", "1.2345", never "7.0000".
UNIT_PRICE = re.compile(r"^[0-9]+\.[0-9]{2}((?!00)[0-9]{2})?$")
PLAIN = re.compile(r"^[0-9]+(\.[0-9]*[1-9])?$")
#: A band's product is the exact, unrounded figure the fund rounds once on the sum.
EXACT = re.compile(r"^[0-9]+\.[0-9]{2,}$")
FORMATS = {
    "pric": UNIT_PRICE,
    "pric_uplmt_amt": UNIT_PRICE,
    "cnt": PLAIN,
    "ratio": PLAIN,
    "selfpay_prop": PLAIN,
    "product": EXACT,
}
#: Codes and numbers that are not amounts, though some are digits.
NOT_AMOUNTS = frozenset(
    {"feedetl_sn", "fund_pay_type", "med_list_codg", "insutype", "med_type", "clr_type"}
    | {"clr_way", "refd_setl_flag", "category", "chrgitm_lv"}
)
NUMERIC = re.compile(r"^-?[0-9.]+$")


def decimals(document: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, key, text) of every numeric string of a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, str) and key not in NOT_AMOUNTS and NUMERIC.match(value):
                yield f"{path}.{key}", key, value
            else:
                yield from decimals(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from decimals(value, f"{path}[{index}]")


def misformatted(document: Any) -> list[tuple[str, str]]:
    return [
        (path, text)
        for path, key, text in decimals(document)
        if not FORMATS.get(key, YUAN).match(text)
    ]


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


async def test_every_amount_of_example_a_has_one_format(world: World) -> None:
    """Worked example A: class A and B drugs, a payment standard, self-paid and non-medical
    lines, the deductible, the pooled fund and the personal account."""
    psn_no, certno = await world.enrol(acct_balc="100.00")
    visit = await world.visit(psn_no, certno)
    fees = await world.example_a_lines(visit["mdtrt_id"])
    assert misformatted(fees) == []
    settled = await world.settle(visit["mdtrt_id"], acct_used_flag=True)
    assert settled.status_code == 201, settled.text
    body = settled.json()
    assert misformatted(body) == []
    # The walk reached the explanation's lines, bands and zero amounts.
    paths = {path for path, _, _ in decimals(body)}
    assert ".explanation.funds[0].bands[0].ratio" in paths
    assert any(text == "0.00" for _, _, text in decimals(body["lines"]))
    _, headers = world.hospital(0)
    read = await world.client.get(f"/v1/settlements/{body['setl_id']}", headers=headers)
    assert misformatted(read.json()) == []


async def test_every_amount_across_critical_illness_and_assistance_has_one_format(
    world: World,
) -> None:
    psn_no, certno = await world.enrol(insutype="390", asst_type="dibao", opsp_dise_codes=["E11"])
    await world.opening(psn_no, inscp_psn_cum="14800.00")
    visit = await world.visit(psn_no, certno, med_type="14", diag="E11.900")
    fees = await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1.5000", "2000.0000")])
    assert fees["feedetail"][0]["cnt"] == "1.5"
    assert fees["feedetail"][0]["pric"] == "2000.00"
    body = (await world.settle(visit["mdtrt_id"])).json()
    assert {d["fund_pay_type"] for d in body["setldetail"]} >= {"390100", "390200"}
    assert misformatted(body) == []
