"""Property test through the HTTP API and the database: for random claims and accumulator states,
settle satisfies the section 5 identities and never exceeds a limit, and revoke restores every
accumulator and the account balance exactly."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.claims.settlement.test_settlement_races import fen_of
from tests.support.factories.settlement import ledger_state
from tests.support.factories.world import (
    CLASS_A_ITEM,
    DELIVERY,
    DRUG_X,
    DRUG_Y,
    DRUG_Z,
    World,
    build_world,
)

amount = st.integers(min_value=0, max_value=600_000).map(
    lambda fen: f"{fen // 100}.{fen % 100:02d}"
)
line = st.tuples(
    st.sampled_from([CLASS_A_ITEM, DRUG_X, DRUG_Y, DRUG_Z, DELIVERY]),
    st.integers(min_value=1, max_value=5).map(str),
    st.integers(min_value=1, max_value=80_000).map(lambda fen: f"{fen // 100}.{fen % 100:02d}"),
)


#: The demo policy's med_type 11 deductible and annual cap by insutype: opening figures stay within
#: them (the engine refuses more), drawn amounts above them land on the limit itself.
_CAPS_11 = {"310": ("200.00", "5000.00"), "390": ("0.00", "800.00")}


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    """One world per test; hypothesis examples share it, each enrolling a new person."""
    return await build_world(client, session)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    insutype=st.sampled_from(["310", "390"]),
    asst_type=st.sampled_from([None, "dibao", "tekun"]),
    deductible_used=amount,
    hifp_paid=amount,
    inscp_psn_cum=st.integers(min_value=0, max_value=3_000_000).map(
        lambda fen: f"{fen // 100}.{fen % 100:02d}"
    ),
    acct_balc=amount,
    lines=st.lists(line, min_size=1, max_size=5),
    acct_used_flag=st.booleans(),
)
async def test_settle_then_revoke_restores_everything(
    world: World,
    session: AsyncSession,
    insutype: str,
    asst_type: str | None,
    deductible_used: str,
    hifp_paid: str,
    inscp_psn_cum: str,
    acct_balc: str,
    lines: list[tuple[str, str, str]],
    acct_used_flag: bool,
) -> None:
    psn_no, certno = await world.enrol(insutype=insutype, asst_type=asst_type, acct_balc=acct_balc)
    deductible, annual_cap = _CAPS_11[insutype]
    await world.opening(
        psn_no,
        inscp_psn_cum=inscp_psn_cum,
        categories=[
            {
                "insutype": insutype,
                "med_type": "11",
                "deductible_used": min(deductible_used, deductible, key=fen_of),
                "hifp_paid": min(hifp_paid, annual_cap, key=fen_of),
            }
        ],
    )
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(code, cnt, pric) for code, cnt, pric in lines])
    before = await ledger_state(session, psn_no)

    response = await world.settle(visit["mdtrt_id"], acct_used_flag=acct_used_flag)
    assert response.status_code == 201, response.text
    s = {
        k: fen_of(v)
        for k, v in response.json().items()
        if isinstance(v, str) and k.endswith(("amt", "pay", "selfpay", "balc", "dedc"))
    }
    assert all(v >= 0 for v in s.values())
    assert s["medfee_sumamt"] == (
        s["fulamt_ownpay_amt"] + s["overlmt_selfpay"] + s["preselfpay_amt"] + s["inscp_scp_amt"]
    )
    assert s["medfee_sumamt"] == s["fund_pay_sumamt"] + s["psn_part_amt"]
    assert s["psn_part_amt"] == s["acct_pay"] + s["psn_cash_pay"]
    assert s["fund_pay_sumamt"] == sum(
        fen_of(d["fund_payamt"]) for d in response.json()["setldetail"]
    )
    cap = 500_000 if insutype == "310" else 80_000
    assert s["hifp_pay"] <= max(0, cap - fen_of(hifp_paid))
    assert s["acct_pay"] <= fen_of(acct_balc)

    revoked = await world.revoke(response.json()["setl_id"])
    assert revoked.status_code == 200, revoked.text
    assert await ledger_state(session, psn_no) == before
