"""2206 pre-settle, 2207 settle and 2208 revoke: the national shapes mapped onto the /v1
settlement services, with the HIS's own figures checked first."""

from __future__ import annotations

from claims.settlement import schemas as v1
from claims.settlement.service import settle as settlement
from claims.settlement.service import visits
from claims.settlement.service.settle import Commit
from engine.errors import InvalidRequest
from nhsa.envelope import Call, fields_under
from nhsa.figures import FigureMismatch, agree
from nhsa.schemas import (
    RevokeIn,
    SetlDetail,
    SetlInfo,
    SettleData,
    SettleIn,
    SettlementOut,
    national_time,
)

#: 个人结算方式 the engine settles by: 01 by item. 02 (by fixed amount) is not offered.
BY_ITEM = "01"
#: The amounts a HIS sends with its claim: the fee total always, the split when it has one.
_HIS_AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
)


def _check(data: SettleData, engine: v1.SettlementOut) -> None:
    """The HIS's claim agrees with the engine's adjudication of the visit."""
    under = "input.data"
    agree("psn_no", data.psn_no, engine.psn_no, under=under)
    agree("med_type", data.med_type, engine.med_type, under=under)
    agree("insutype", data.insutype, engine.insutype, under=under)
    for member in _HIS_AMOUNTS:
        agree(member, getattr(data, member), getattr(engine, member), under=under)


async def _check_batch(call: Call, data: SettleData) -> None:
    """A settlement that names a charge batch settles that batch, and the engine settles every
    fee line of the visit: each must have come in that batch (a line uploaded without a batch
    matches none)."""
    if data.chrg_bchno is None:
        return
    batches = await visits.fee_line_batches(call.session, data.mdtrt_id)
    if batches != {data.chrg_bchno}:
        held = sorted(batch or "no batch" for batch in batches)
        raise FigureMismatch(
            "chrg_bchno",
            data.chrg_bchno,
            " and ".join(held) or "no fee line",
            field="input.data.chrg_bchno",
        )


async def _presettled(call: Call, data: SettleData, commit: Commit) -> v1.SettlementOut:
    """The pre-settlement of the visit, refused unless the HIS's figures agree with it."""
    if data.psn_setlway != BY_ITEM:
        raise InvalidRequest(
            "only settlement by item (psn_setlway 01) is offered",
            code="psn_setlway_unsupported",
            field="input.data.psn_setlway",
        )
    with fields_under("input.data"):
        presettled = await settlement.presettle(
            call.session, call.principal, data.mdtrt_id, _settle_in(data), commit=commit
        )
    await _check_batch(call, data)
    _check(data, presettled)
    return presettled


def _settle_in(data: SettleData, presettle_token: str | None = None) -> v1.SettleIn:
    return v1.SettleIn(acct_used_flag=data.acct_used_flag == "1", presettle_token=presettle_token)


def national(out: v1.SettlementOut) -> SettlementOut:
    """A /v1 settlement as ``setlinfo`` and ``setldetail``, every amount as /v1 gives it."""
    own = {"psn_setlway", "setl_time", "acct_used_flag"}
    return SettlementOut(
        setlinfo=SetlInfo(
            **{name: getattr(out, name) for name in SetlInfo.model_fields if name not in own},
            psn_setlway=BY_ITEM,
            setl_time=national_time(out.setl_time),
            acct_used_flag="1" if out.acct_used_flag else "0",
        ),
        setldetail=[SetlDetail(**detail.model_dump()) for detail in out.setldetail],
    )


async def presettle(call: Call, body: SettleIn) -> SettlementOut:
    """2206: what 2207 would settle now; changes nothing."""
    return national(await _presettled(call, body.data, Commit.WITH_CALLER))


async def settle(call: Call, body: SettleIn) -> SettlementOut:
    """2207: settle the visit once the HIS's figures agree with the engine's. They are checked
    again on the settlement itself (a fee line uploaded in between changes the total or the
    batches): a
    mismatch then refuses the whole message, and the settlement rolls back with it."""
    data = body.data
    presettled = await _presettled(call, data, Commit.WITH_CALLER)
    with fields_under("input.data"):
        settled = await settlement.settle(
            call.session,
            call.principal,
            data.mdtrt_id,
            _settle_in(data, presettled.presettle_token),
            commit=Commit.WITH_CALLER,
        )
    await _check_batch(call, data)
    _check(data, settled)
    return national(settled)


async def revoke(call: Call, body: RevokeIn) -> SettlementOut:
    """2208: revoke the settlement, which must be of the visit and person the HIS names."""
    data = body.data
    with fields_under("input.data"):
        revoked = await settlement.revoke(call.session, call.principal, data.setl_id)
    agree("mdtrt_id", data.mdtrt_id, revoked.mdtrt_id, under="input.data")
    agree("psn_no", data.psn_no, revoked.psn_no, under="input.data")
    return national(revoked)
