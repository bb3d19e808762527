"""Cancelling a visit (2202) and its fee lines (2205) before settlement.

A hospital registers a visit or uploads a fee line by mistake and takes it back before the
visit settles. Only what no settlement has used may go: a visit with a live settlement is
refused (revoke it first, 2208), and a visit that was ever settled stays on record, since its
revoked settlement names it; its fee lines may still be cancelled and uploaded anew.

A cancellation takes the person's row lock, where settlements of the person queue, and moves
the person's ledger version on: a settlement of the visit adjudicated before the cancellation
then finds the ledger moved and runs again under the lock, after it, on what is left.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement import repository
from claims.settlement.models import Visit
from claims.settlement.service.visits import owned_visit
from engine import audit
from engine.auth import Principal
from engine.errors import Conflict, NotFound

#: The ``chrg_bchno`` that names every fee line of the visit (the national 2205 convention).
ALL_LINES = "0000"


async def _cancellable_visit(
    session: AsyncSession, principal: Principal, mdtrt_id: str, psn_no: str
) -> Visit:
    """The caller's own visit of person ``psn_no``, not settled, under the person's row lock; a
    visit of another person reads as an unknown one."""
    person = await repository.person(session, psn_no, lock=True)
    visit = await owned_visit(session, principal, mdtrt_id)  # read under the lock
    if person is None or visit.psn_no != psn_no:
        raise NotFound("no such visit", code="unknown_visit", field="mdtrt_id")
    person.ledger_version += 1
    if await repository.live_settlement(session, mdtrt_id) is not None:
        raise Conflict(
            "the visit is settled; revoke it first", code="visit_settled", field="mdtrt_id"
        )
    return visit


async def cancel_fee_lines(
    session: AsyncSession,
    principal: Principal,
    mdtrt_id: str,
    psn_no: str,
    *,
    chrg_bchno: str = ALL_LINES,
    feedetl_sn: str | None = None,
) -> int:
    """2205: cancel the fee lines of charge batch ``chrg_bchno`` of an unsettled visit (every
    line with :data:`ALL_LINES`), or only line ``feedetl_sn`` among them; returns how many
    were cancelled. A line or a batch the visit does not have is refused."""
    await _cancellable_visit(session, principal, mdtrt_id, psn_no)
    batch = None if chrg_bchno == ALL_LINES else chrg_bchno
    cancelled = await repository.delete_fee_lines(
        session, mdtrt_id, feedetl_sn=feedetl_sn, chrg_bchno=batch
    )
    if cancelled == 0 and feedetl_sn is not None:
        raise NotFound("no such fee line", code="unknown_fee_line", field="feedetl_sn")
    if cancelled == 0 and batch is not None:
        raise NotFound(
            "the visit has no fee line of this charge batch",
            code="unknown_chrg_bchno",
            field="chrg_bchno",
        )
    await audit.record(
        session,
        actor=principal,
        action="visit.fees_cancelled",
        object_type="visit",
        object_id=mdtrt_id,
        payload={"chrg_bchno": chrg_bchno, "feedetl_sn": feedetl_sn, "cancelled": cancelled},
    )
    return cancelled


async def cancel_visit(
    session: AsyncSession, principal: Principal, mdtrt_id: str, psn_no: str
) -> None:
    """2202: cancel an unsettled visit with its fee lines. A visit that was ever settled is
    refused (``visit_has_settlements``): its revoked settlement keeps naming it."""
    await _cancellable_visit(session, principal, mdtrt_id, psn_no)
    if await repository.has_settlement(session, mdtrt_id):
        raise Conflict(
            "the visit has a revoked settlement and stays on record",
            code="visit_has_settlements",
            field="mdtrt_id",
        )
    await repository.delete_fee_lines(session, mdtrt_id)
    await repository.delete_visit(session, mdtrt_id)
    await audit.record(
        session,
        actor=principal,
        action="visit.cancelled",
        object_type="visit",
        object_id=mdtrt_id,
        payload={"psn_no": psn_no},
    )
