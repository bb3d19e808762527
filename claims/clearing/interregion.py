"""Inter-region clearing (跨区清算), docs/domain.md section 15.

The treatment place (B) clears its institutions as for any settlement (3203). Each month B's
agency also claims from each insured place (A) the fund share of the cross-region settlements
its institutions made for A's insured: :func:`make_claim` freezes the claim at once, with

1. every settlement of the month by B's institutions for A's insured live at that moment;
2. every settlement of an earlier claim of the pair revoked since that claim froze and not
   carried yet, as an adjustment with its amounts negated: a frozen claim never changes, and a
   revocation after it lands in the pair's next claim, as in 3203.

A's agency reconciles a claim (:func:`reconcile`), as B's file (the CSV :func:`line_rows`
export) or as stored, against its own record: its insured's settlements at B, as they stood when
the claim froze. Each line either side lacks, or whose fund share differs, is a mismatch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import repository
from claims.clearing.batches import csv_cells, month_of, require_month_over
from claims.clearing.models import InterRegionClaim, InterRegionClaimLine
from claims.clearing.schemas import (
    InterRegionClaimIn,
    InterRegionClaimList,
    InterRegionClaimOut,
    InterRegionMismatch,
    InterRegionReconOut,
    InterRegionSide,
)
from engine import audit
from engine.auth import Principal
from engine.clock import month_bounds
from engine.db import insert_or_ignore, utcnow
from engine.errors import Conflict, Forbidden, InvalidRequest, NotFound
from engine.ids import new_id
from engine.money import cny, to_fen, yuan
from engine.wire import SignedYuan

LINE_CSV_HEADER = (
    "setl_id",
    "kind",
    "mdtrt_id",
    "psn_no",
    "fixmedins_code",
    "filing_type",
    "setl_time",
    "medfee_sumamt",
    "fund_pay_sumamt",
)
#: The columns a claim file needs to be reconciled; the others are for people.
_KEY_COLUMNS = ("setl_id", "kind", "fund_pay_sumamt")
_SIGNED_YUAN: TypeAdapter[Decimal] = TypeAdapter(SignedYuan)

#: (setl_id, kind) -> fund share in fen, signed.
Lines = dict[tuple[str, str], int]


def claim_out(row: InterRegionClaim) -> InterRegionClaimOut:
    return InterRegionClaimOut(
        claim_id=row.claim_id,
        mdtrtarea_admvs=row.mdtrtarea_admvs,
        insuplc_admdvs=row.insuplc_admdvs,
        setlym=row.setlym,
        frozen_at=row.frozen_at,
        setl_cnt=row.setl_cnt,
        adjustment_cnt=row.adjustment_cnt,
        medfee_sumamt=yuan(row.medfee_sumamt),
        fund_pay_sumamt=yuan(row.fund_pay_sumamt),
    )


def _line(claim_id: str, settlement: Row[Any], kind: str) -> dict[str, object]:
    sign = 1 if kind == "settlement" else -1
    return {
        "setl_id": settlement.setl_id,
        "kind": kind,
        "claim_id": claim_id,
        "mdtrt_id": settlement.mdtrt_id,
        "psn_no": settlement.psn_no,
        "fixmedins_code": settlement.fixmedins_code,
        "filing_type": settlement.filing_type,
        "setl_time": settlement.setl_time,
        "medfee_sumamt": sign * settlement.medfee_sumamt,
        "fund_pay_sumamt": sign * settlement.fund_pay_sumamt,
    }


async def make_claim(
    session: AsyncSession, principal: Principal, body: InterRegionClaimIn
) -> InterRegionClaim:
    """Freeze the month's claim of the caller's region on ``body.insuplc_admdvs`` (module
    docstring). A settlement is claimed once and adjusted once (the lines' key): when two claims
    of the pair are made at once, the second finds the first's lines taken and its totals count
    only the lines it holds."""
    treatment = principal.admdvs
    assert treatment is not None  # insurers are bound to a region
    if body.insuplc_admdvs == treatment:
        raise InvalidRequest(
            "a region claims from another region", code="same_region", field="insuplc_admdvs"
        )
    require_month_over(body.setlym)
    if await repository.claim_by_month(session, treatment, body.insuplc_admdvs, body.setlym):
        raise Conflict(
            "the month's claim on that region is made already", code="claim_exists", field="setlym"
        )
    now = utcnow()
    begin, end = month_bounds(*month_of(body.setlym))
    settled = await repository.month_settlements(
        session, treatment, body.insuplc_admdvs, begin, end, live_at=now
    )
    carried = await repository.revocations_to_carry(
        session, treatment, body.insuplc_admdvs, before=now, into=None
    )
    header = {
        "claim_id": new_id("X"),
        "mdtrtarea_admvs": treatment,
        "insuplc_admdvs": body.insuplc_admdvs,
        "setlym": body.setlym,
        "frozen_at": now,
        "setl_cnt": 0,
        "adjustment_cnt": 0,
        "medfee_sumamt": 0,
        "fund_pay_sumamt": 0,
        "created_by": principal.org_id,
    }
    if not await insert_or_ignore(session, InterRegionClaim, header):
        raise Conflict(
            "the month's claim on that region is made already", code="claim_exists", field="setlym"
        )
    claim_id = str(header["claim_id"])
    for kind, rows in (("settlement", settled), ("adjustment", carried)):
        for settlement in rows:
            await insert_or_ignore(session, InterRegionClaimLine, _line(claim_id, settlement, kind))
    claim = await session.get_one(InterRegionClaim, claim_id)
    lines = await repository.claim_lines(session, claim_id)
    claim.setl_cnt = sum(1 for line in lines if line.kind == "settlement")
    claim.adjustment_cnt = len(lines) - claim.setl_cnt
    claim.medfee_sumamt = sum(line.medfee_sumamt for line in lines)
    claim.fund_pay_sumamt = sum(line.fund_pay_sumamt for line in lines)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="interregion_claim.frozen",
        object_type="interregion_claim",
        object_id=claim_id,
        payload=claim_out(claim).model_dump(mode="json"),
        new_stream=True,
    )
    return claim


def _visible(principal: Principal, row: InterRegionClaim) -> bool:
    return principal.in_region(row.mdtrtarea_admvs) or principal.in_region(row.insuplc_admdvs)


async def visible_claim(
    session: AsyncSession, principal: Principal, claim_id: str
) -> InterRegionClaim:
    """A claim, to the insurer of either region; to anyone else, as one that does not exist."""
    row = await repository.interregion_claim(session, claim_id)
    if row is None or not _visible(principal, row):
        raise NotFound("no such claim", code="unknown_claim", field="claim_id")
    return row


async def visible_claims(session: AsyncSession, principal: Principal) -> InterRegionClaimList:
    assert principal.admdvs is not None  # insurers are bound to a region
    rows = await repository.claims_of_region(session, principal.admdvs)
    return InterRegionClaimList(items=[claim_out(r) for r in rows])


async def line_rows(session: AsyncSession, claim_id: str) -> AsyncIterator[list[str]]:
    """A claim's lines as CSV cells (:data:`LINE_CSV_HEADER`), amounts in yuan, times in China
    Standard Time: the file the treatment place sends."""
    for line in await repository.claim_lines(session, claim_id):
        yield csv_cells(line, LINE_CSV_HEADER)


def _invalid(message: str, line: int) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_claim_file", field=f"line {line}")


def read_claim_file(data: bytes) -> Lines:
    """The lines of a claim file (the :func:`line_rows` export, possibly from another system):
    the header names at least ``setl_id``, ``kind`` and ``fund_pay_sumamt``; each line once."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid("the file is not UTF-8", 1) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or not set(_KEY_COLUMNS) <= set(reader.fieldnames):
        raise _invalid(f"the header needs {', '.join(_KEY_COLUMNS)}", 1)
    lines: Lines = {}
    for row in reader:
        number = reader.line_num
        setl_id, kind = row["setl_id"] or "", row["kind"] or ""
        if not setl_id or kind not in ("settlement", "adjustment"):
            raise _invalid("each line names its setl_id and kind settlement or adjustment", number)
        try:
            amount = _SIGNED_YUAN.validate_python(row["fund_pay_sumamt"])
        except ValidationError:
            raise _invalid("fund_pay_sumamt is not an amount in yuan", number) from None
        if (setl_id, kind) in lines:
            raise _invalid(f"{setl_id} {kind} is listed twice", number)
        lines[setl_id, kind] = to_fen(cny(amount))
    return lines


async def _record(session: AsyncSession, claim: InterRegionClaim) -> Lines:
    """The insured place's own record of what the claim holds: its insured's settlements at the
    treatment place, as they stood when the claim froze."""
    begin, end = month_bounds(*month_of(claim.setlym))
    settled = await repository.month_settlements(
        session,
        claim.mdtrtarea_admvs,
        claim.insuplc_admdvs,
        begin,
        end,
        live_at=claim.frozen_at,
    )
    carried = await repository.revocations_to_carry(
        session,
        claim.mdtrtarea_admvs,
        claim.insuplc_admdvs,
        before=claim.frozen_at,
        into=claim.claim_id,
    )
    record: Lines = {(s.setl_id, "settlement"): s.fund_pay_sumamt for s in settled}
    record |= {(s.setl_id, "adjustment"): -s.fund_pay_sumamt for s in carried}
    return record


def _side(lines: Mapping[tuple[str, str], int]) -> InterRegionSide:
    return InterRegionSide(lines=len(lines), fund_pay_sumamt=yuan(sum(lines.values())))


def _mismatches(claimed: Lines, record: Lines) -> list[InterRegionMismatch]:
    found = []
    for key in sorted(claimed.keys() | record.keys()):
        mine, theirs = record.get(key), claimed.get(key)
        if mine == theirs:
            continue
        kind = (
            "missing_here"
            if mine is None
            else "missing_there"
            if theirs is None
            else "amount_differs"
        )
        found.append(
            InterRegionMismatch(
                setl_id=key[0],
                kind=key[1],
                mismatch=kind,
                claimed=None if theirs is None else yuan(theirs),
                recorded=None if mine is None else yuan(mine),
            )
        )
    return found


async def reconcile(
    session: AsyncSession, principal: Principal, claim_id: str, claim_file: bytes | None
) -> InterRegionReconOut:
    """The insured place's reconciliation of a claim against its own record: the claim as the
    file ``claim_file`` carries it, or as stored when None."""
    claim = await visible_claim(session, principal, claim_id)
    if not principal.in_region(claim.insuplc_admdvs):
        raise Forbidden("only the insured place reconciles a claim on it", field="claim_id")
    claimed = (
        {(line.setl_id, line.kind): line.fund_pay_sumamt
         for line in await repository.claim_lines(session, claim_id)}
        if claim_file is None
        else read_claim_file(claim_file)
    )  # fmt: skip
    record = await _record(session, claim)
    mismatches = _mismatches(claimed, record)
    return InterRegionReconOut(
        claim_id=claim_id,
        balanced=not mismatches,
        claim=_side(claimed),
        record=_side(record),
        mismatches=mismatches,
    )
