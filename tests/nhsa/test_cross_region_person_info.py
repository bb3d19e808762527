"""1101 at an institution of the treatment region (B, 510100) for a person insured in A
(230100), the envelope naming A as ``insuplc_admdvs``: the counter learns what it registers and
settles with (as for its own insured) and the person's filing for B, and nothing about anyone it
may not settle for."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.nhsa.his import His
from tests.support.factories.crossregion import INSURED, TREATMENT, CrossRegion, treatment_world
from tests.support.factories.world import build_world, make_certno
from tests.vouchers.factories import forge, issue, register_voucher_key

THIRD = "230200"


@pytest.fixture
async def xr(client: httpx.AsyncClient, session: AsyncSession) -> CrossRegion:
    home = await build_world(client, session, admdvs=INSURED)
    return CrossRegion(home=home, away=await treatment_world(client, session))


async def _ask(
    xr: CrossRegion, data: dict[str, Any], *, insuplc_admdvs: str = INSURED
) -> dict[str, Any]:
    """The envelope answer to 1101 from B's hospital naming ``insuplc_admdvs``."""
    his = His(xr.away)
    message = his.message("1101", {"data": data})
    message["insuplc_admdvs"] = insuplc_admdvs
    return await his.post(message)


def _output(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["infcode"] == 0, answer
    return dict(answer["output"])


def _refusal(answer: dict[str, Any]) -> tuple[str, str]:
    assert answer["infcode"] == -1 and answer["output"] is None, answer
    return answer["err_code"], answer["err_field"]


async def test_the_treatment_place_learns_the_person_and_the_filing_in_force(
    xr: CrossRegion,
) -> None:
    psn_no, certno = await xr.insured("temporary_travel", acct_balc="300.00")
    output = _output(await _ask(xr, {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}))
    assert output["baseinfo"]["psn_no"] == psn_no
    assert output["baseinfo"]["certno"] == certno[:6] + "********" + certno[-4:]
    assert output["insuinfo"] == [
        {
            "balc": "300.00",
            "insutype": "390",
            "psn_type": "11",
            "psn_insu_stas": "1",
            "cvlserv_flag": "0",
            "insuplc_admdvs": INSURED,
        }
    ]
    filing = output["filing"]
    assert filing.pop("trt_dcla_detl_sn").startswith("F")
    assert filing == {
        "filing_type": "temporary_travel",
        "insuplc_admdvs": INSURED,
        "mdtrtarea_admvs": TREATMENT,
        "begndate": "2026-01-01",
        "enddate": "2026-12-31",
    }
    # Nothing of the accumulators, as at home.
    assert set(output) == {"baseinfo", "insuinfo", "idetinfo", "filing"}


async def test_the_filing_is_the_one_covering_the_day_asked(xr: CrossRegion) -> None:
    _, certno = await xr.insured("long_term_residence")
    on = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    assert (
        _output(await _ask(xr, on | {"begntime": "2026-03-02 09:00:00"}))["filing"]["filing_type"]
        == "long_term_residence"
    )
    # Before the filing's period the visit would be unfiled care.
    assert _output(await _ask(xr, on | {"begntime": "2025-12-31 09:00:00"}))["filing"] is None
    _, unfiled = await xr.insured(None)
    answer = _output(await _ask(xr, {"mdtrt_cert_type": "03", "mdtrt_cert_no": unfiled}))
    assert (answer["insuinfo"][0]["insuplc_admdvs"], answer["filing"]) == (INSURED, None)


async def test_at_home_the_answer_has_no_filing(xr: CrossRegion) -> None:
    psn_no, certno = await xr.away.enrol()
    output = _output(
        await _ask(xr, {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}, insuplc_admdvs="")
    )
    assert (output["baseinfo"]["psn_no"], output["filing"]) == (psn_no, None)


async def test_whom_the_counter_may_not_settle_for_reads_as_nobody(
    xr: CrossRegion, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A person insured in A is found only when the envelope names A as the insured place; a
    person of a third region, a resident ID nobody holds and a wrong insured place get one
    answer."""
    _, certno = await xr.insured("referral")
    third = await build_world(client, session, admdvs=THIRD)
    _, elsewhere = await third.enrol()
    by_card = {"mdtrt_cert_type": "02"}
    nobody = (
        "unknown_person",
        "input.data.mdtrt_cert_no",
        "unknown_person: no such insured person",
    )
    for cert, insuplc in (
        (certno, TREATMENT),  # the insured place not named: B's own people only
        (certno, ""),
        (certno, THIRD),
        (elsewhere, INSURED),  # a third region's person, whatever the envelope claims
        (make_certno(), INSURED),
    ):
        answer = await _ask(xr, by_card | {"mdtrt_cert_no": cert}, insuplc_admdvs=insuplc)
        assert (*_refusal(answer), answer["err_msg"]) == nobody, (cert, insuplc)


async def test_an_insured_places_voucher_answers_once(xr: CrossRegion) -> None:
    """The token A's insurer signed is verified against A's key at B's counter and used up."""
    key = await register_voucher_key(xr.home)
    psn_no, certno = await xr.insured("temporary_travel")
    token = await issue(xr.home, key, psn_no)
    query = {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}
    # Naming another insured place, the token's holder is nobody here; the refusal uses nothing.
    assert _refusal(await _ask(xr, query, insuplc_admdvs=TREATMENT)) == (
        "unknown_person",
        "input.data.mdtrt_cert_no",
    )
    output = _output(await _ask(xr, query))
    assert (output["baseinfo"]["psn_no"], output["baseinfo"]["gend"]) == (psn_no, None)
    assert output["filing"]["filing_type"] == "temporary_travel"
    assert _refusal(await _ask(xr, query)) == ("voucher_reused", "input.data.mdtrt_cert_no")
    # With the holder's resident ID, the answer has what it carries.
    again = await issue(xr.home, key, psn_no)
    with_id = _output(
        await _ask(xr, {"mdtrt_cert_type": "01", "mdtrt_cert_no": again, "certno": certno})
    )
    assert with_id["baseinfo"]["brdy"] == f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}"


async def test_the_treatment_places_key_cannot_vouch_for_a_person_of_a(
    xr: CrossRegion,
) -> None:
    """B's insurer holds a key, but tokens it signs name only B's insured: its token naming A's
    person verifies against B's key and then finds no such person insured in B."""
    key_b = await register_voucher_key(xr.away)
    psn_no, _ = await xr.insured("temporary_travel")
    forged = forge(key_b, admdvs=TREATMENT, psn_no=psn_no)
    answer = await _ask(xr, {"mdtrt_cert_type": "01", "mdtrt_cert_no": forged})
    assert _refusal(answer) == ("voucher_invalid", "input.data.mdtrt_cert_no")
