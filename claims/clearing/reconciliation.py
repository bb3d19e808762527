"""Reconciliation (对账), docs/domain.md section 10: totals (3201) and details (3202).

Both compare the institution's records with the engine's settlements of a scope: an institution
(hospitals and pharmacies reconcile their own settlements only; an insurer names one institution
of its region, or for details its whole region), optionally an ``insutype`` and ``clr_type``, and
``setl_time`` from ``stmt_begndate`` to ``stmt_enddate`` inclusive, calendar days in China
Standard Time as every period of the claims domain (``engine.clock.CST``).

* Totals: count and sums (``medfee_sumamt``, ``fund_pay_sumamt``, ``acct_pay``) of the live
  settlements (not revoked, ``refd_setl_flag`` 0). Balanced means all four are equal.
* Details: the institution uploads its rows as CSV (header
  ``setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag``, amounts in
  yuan). Every setl_id on which the two sides disagree is a mismatch, of one or more kinds:
  ``missing_here`` (in the file, not in the engine), ``missing_there`` (in the engine, not in the
  file), ``amount_differs`` (any of the three amounts, to the fen), ``revocation_differs``
  (``refd_setl_flag`` against the settlement's status) and ``identity_differs`` (same setl_id,
  other ``mdtrt_id`` or ``psn_no``). The body is streamed into the database and compared there
  (``claims.clearing.repository``), so a million-row file reconciles in bounded memory.

The engine's totals for a detail run are derived, not re-read: rows that match contribute the
same to both sides, so the engine's side is the file's totals minus what the file's mismatched
rows contribute plus what the engine's mismatched rows contribute, exactly.
"""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from time import perf_counter
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import repository as repo
from claims.clearing.models import ReconJob, ReconMismatch, ReconRun
from claims.clearing.repository import AMOUNT_COLUMNS, DETAIL_COLUMNS, ID_MAX_LENGTH, Scope, Totals
from claims.clearing.schemas import (
    DetailJobOut,
    DetailReconOut,
    DetailSide,
    DetailSideTotals,
    MismatchCounts,
    MismatchKind,
    MismatchOut,
    SettlementTotals,
    TotalsIn,
    TotalsOut,
)
from claims.settlement.door.reads import institution_filter, is_institution
from engine import audit, metrics, outbox
from engine.auth import Principal, Role
from engine.clock import CST
from engine.db import Database, unit_of_work, utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import cny, to_fen, yuan

#: Mismatches returned inline by the detail endpoints; the CSV has all of them.
INLINE_MISMATCHES = 1000
#: Rows per insert on the SQLite path.
INSERT_BATCH = 5000
BOM = b"\xef\xbb\xbf"
KINDS: tuple[MismatchKind, ...] = get_args(MismatchKind)
log = logging.getLogger("sanyi.reconciliation")


@dataclass(frozen=True, slots=True)
class Period:
    """``stmt_begndate`` to ``stmt_enddate``, inclusive, in China Standard Time."""

    begndate: date
    enddate: date

    def bounds(self) -> tuple[datetime, datetime]:
        if self.enddate < self.begndate:
            raise InvalidRequest(
                "stmt_enddate is before stmt_begndate", code="invalid_period", field="stmt_enddate"
            )
        begin = datetime.combine(self.begndate, time.min, CST)
        return begin, datetime.combine(self.enddate + timedelta(days=1), time.min, CST)


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """The settlements a caller asks to reconcile: the statement period and, optionally, one
    institution, an insutype and a clr_type (3201's body, 3202's query)."""

    period: Period
    fixmedins_code: str | None
    insutype: str | None
    clr_type: str | None

    async def scope(self, session: AsyncSession, principal: Principal) -> Scope:
        """What the caller may reconcile of it: its own settlements (hospital, pharmacy), or
        its region's, of one institution or all (insurer); an institution outside that is
        answered as an unknown one."""
        begin, end = self.period.bounds()
        fixmedins_code = await institution_filter(session, principal, self.fixmedins_code)
        admdvs = None if is_institution(principal) else principal.admdvs
        return Scope(admdvs, fixmedins_code, self.insutype, self.clr_type, begin, end)

    def fingerprint_fields(self) -> dict[str, str | None]:
        """The request as JSON values, for its Idempotency-Key fingerprint."""
        return {
            "stmt_begndate": self.period.begndate.isoformat(),
            "stmt_enddate": self.period.enddate.isoformat(),
            "fixmedins_code": self.fixmedins_code,
            "insutype": self.insutype,
            "clr_type": self.clr_type,
        }


def _settlement_totals(totals: Totals) -> dict[str, Any]:
    return {
        "fixmedins_setl_cnt": totals.setl_cnt,
        "medfee_sumamt": yuan(totals.medfee_sumamt),
        "fund_pay_sumamt": yuan(totals.fund_pay_sumamt),
        "acct_pay": yuan(totals.acct_pay),
    }


# --- 3201 ----------------------------------------------------------------------------------------


async def totals(session: AsyncSession, principal: Principal, body: TotalsIn) -> TotalsOut:
    """3201: balanced (``stmt_rslt`` 0) when count and the three sums equal the engine's."""
    if principal.role is Role.insurer and body.fixmedins_code is None:
        raise InvalidRequest(
            "an insurer names the institution to reconcile",
            code="fixmedins_code_required",
            field="fixmedins_code",
        )
    scope = await ScopeRequest(
        Period(body.stmt_begndate, body.stmt_enddate),
        body.fixmedins_code,
        body.insutype,
        body.clr_type,
    ).scope(session, principal)
    here = await repo.settlement_totals(session, scope)
    declared = Totals(
        setl_cnt=body.fixmedins_setl_cnt,
        medfee_sumamt=to_fen(cny(body.medfee_sumamt)),
        fund_pay_sumamt=to_fen(cny(body.fund_pay_sumamt)),
        acct_pay=to_fen(cny(body.acct_pay)),
    )
    differences = [
        f"{name}: declared {_figure(name, getattr(declared, attr))}, "
        f"engine {_figure(name, getattr(here, attr))}"
        for name, attr in (
            ("fixmedins_setl_cnt", "setl_cnt"),
            ("medfee_sumamt", "medfee_sumamt"),
            ("fund_pay_sumamt", "fund_pay_sumamt"),
            ("acct_pay", "acct_pay"),
        )
        if getattr(declared, attr) != getattr(here, attr)
    ]
    assert scope.fixmedins_code is not None
    return TotalsOut(
        fixmedins_code=scope.fixmedins_code,
        insutype=body.insutype,
        clr_type=body.clr_type,
        stmt_begndate=body.stmt_begndate,
        stmt_enddate=body.stmt_enddate,
        stmt_rslt="1" if differences else "0",
        stmt_rslt_dscr="; ".join(differences) or "balanced",
        here=SettlementTotals.model_validate(_settlement_totals(here)),
    )


def _figure(name: str, value: int) -> str:
    return str(value) if name == "fixmedins_setl_cnt" else f"{yuan(value):.2f}"


# --- 3202 ----------------------------------------------------------------------------------------


async def _without_bom(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body with a leading UTF-8 byte-order mark dropped (spreadsheets write one)."""
    first = True
    async for chunk in chunks:
        if first:
            chunk, first = chunk.removeprefix(BOM), False
        if chunk:
            yield chunk


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    tail = b""
    async for chunk in _without_bom(chunks):
        *complete, tail = (tail + chunk).split(b"\n")
        for line in complete:
            yield _decode(line)
    if tail:
        yield _decode(tail)


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "the file is not UTF-8 text", code="invalid_detail_file", field=None
        ) from exc


def _bad(number: int, message: str, field: str | None = None) -> InvalidRequest:
    return InvalidRequest(f"line {number}: {message}", code="invalid_detail_file", field=field)


def _fen(number: int, column: str, text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    fen = value * 100
    if not value.is_finite() or fen != fen.to_integral_value() or not 0 <= value < 10**14:
        raise _bad(number, f"{column} must be an amount in yuan with at most two decimals", column)
    return int(fen)


def _parse_row(number: int, fields: list[str]) -> dict[str, Any]:
    if len(fields) != len(DETAIL_COLUMNS):
        raise _bad(number, f"expected {len(DETAIL_COLUMNS)} fields, found {len(fields)}")
    text = dict(zip(DETAIL_COLUMNS, fields, strict=True))
    for column in ("setl_id", "mdtrt_id", "psn_no"):
        if not text[column] or len(text[column]) > ID_MAX_LENGTH:
            raise _bad(number, f"{column} must have 1 to {ID_MAX_LENGTH} characters", column)
    if text["refd_setl_flag"] not in ("0", "1"):
        raise _bad(number, "refd_setl_flag must be 0 or 1", "refd_setl_flag")
    return text | {column: _fen(number, column, text[column]) for column in AMOUNT_COLUMNS}


async def _parsed(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[dict[str, Any]]]:
    """The SQLite path: CSV rows checked as PostgreSQL's staging table checks them, in batches."""
    batch: list[dict[str, Any]] = []
    number = 0
    async for line in _lines(chunks):
        number += 1
        fields = next(csv.reader([line]), [])
        if number == 1:
            if tuple(fields) != DETAIL_COLUMNS:
                raise _bad(1, f"the header must be {','.join(DETAIL_COLUMNS)}")
            continue
        batch.append(_parse_row(number, fields))
        if len(batch) == INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Steps:
    """How long each step of a detail reconciliation took, logged once per step sequence so an
    operator (and bench/reconcile.py) sees where the time of a large file goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = perf_counter()
        yield
        self.seconds[name] = perf_counter() - start

    def log(self, what: str, recon_id: uuid.UUID) -> None:
        steps = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.seconds.items())
        log.info("%s %s: %s", what, recon_id, steps)


async def _load(
    session: AsyncSession, upload: repo.Upload, chunks: AsyncIterator[bytes], steps: _Steps
) -> None:
    """Load the streamed file into ``upload`` and refuse a setl_id listed twice. A bad file
    raises :class:`InvalidRequest`, and the caller's unit of work rolls everything back."""
    with steps.step("load"):
        if upload.postgres:
            await repo.copy_csv(session, upload, _without_bom(chunks))
        else:
            await repo.insert_rows(session, upload, _parsed(chunks))
    with steps.step("unique"):
        await repo.refuse_duplicates(session, upload)


def _new_run(principal: Principal, scope: Scope, period: Period) -> ReconRun:
    """A run without figures yet: the file's are set once it is checked, the engine's side and
    the counts by :func:`_complete`."""
    assert principal.admdvs is not None
    return ReconRun(
        id=uuid.uuid4(),
        requested_by=principal.org_id,
        admdvs=principal.admdvs,
        fixmedins_code=scope.fixmedins_code,
        insutype=scope.insutype,
        clr_type=scope.clr_type,
        stmt_begndate=period.begndate,
        stmt_enddate=period.enddate,
        stmt_rslt="1",
        **_figures(Totals(), Totals(), dict.fromkeys(KINDS, 0)),
    )


async def _write_mismatches(
    session: AsyncSession, run: ReconRun, upload: repo.Upload, scope: Scope, steps: _Steps
) -> None:
    with steps.step("diff"):
        await repo.diff_upload(session, upload, scope, run.id)


async def _complete(
    session: AsyncSession, run: ReconRun, upload: repo.Upload, file: Totals, steps: _Steps
) -> DetailReconOut:
    """Drop the staging table and give the run its figures, from the file's totals and the
    mismatches written."""
    await repo.drop_upload(session, upload)
    sums = await repo.mismatch_sums(session, run.id, KINDS)
    for name, value in _figures(file, file - sums.file + sums.here, sums.counts).items():
        setattr(run, name, value)
    run.stmt_rslt = "1" if any(sums.counts.values()) else "0"
    await session.flush()
    metrics.reconciled(file.rows, sum(steps.seconds.values()))
    return await detail_out(session, run)


async def reconcile_details(
    session: AsyncSession,
    principal: Principal,
    asked: ScopeRequest,
    chunks: AsyncIterator[bytes],
) -> DetailReconOut:
    """3202: load the streamed file, diff it against the scope's settlements, keep the result.

    The diff checks the file's values as it joins (``repo.diff_upload``), so the file is totalled
    after it, by a scan that checks nothing.
    """
    scope = await asked.scope(session, principal)
    steps = _Steps()
    upload = await repo.create_upload(session)
    await _load(session, upload, chunks, steps)
    run = _new_run(principal, scope, asked.period)
    session.add(run)
    await session.flush()
    await _write_mismatches(session, run, upload, scope, steps)
    with steps.step("totals"):
        file = await repo.upload_totals(session, upload, check=False)
    out = await _complete(session, run, upload, file, steps)
    await audit.record(
        session,
        actor=principal,
        action="reconciliation.details",
        object_type="recon_run",
        object_id=str(run.id),
        payload=out.model_dump(mode="json", exclude={"mismatches"}),
        new_stream=True,
    )
    steps.log("reconciliation", run.id)
    return out


# --- 3202 by a worker ----------------------------------------------------------------------------


async def submit_details(
    session: AsyncSession,
    principal: Principal,
    asked: ScopeRequest,
    chunks: AsyncIterator[bytes],
) -> DetailJobOut:
    """3202 for a large file: check and store the upload as the synchronous path does, and queue
    a job for a worker (``claims.clearing.tasks``). Nothing is stored for a bad file; the job is
    dispatched only once this unit of work committed."""
    scope = await asked.scope(session, principal)
    steps = _Steps()
    run = _new_run(principal, scope, asked.period)
    session.add(run)
    await session.flush()
    upload = await repo.create_upload(session, job=run.id)
    await _load(session, upload, chunks, steps)
    with steps.step("check"):
        file = await repo.upload_totals(session, upload, check=True)
    for name, value in _figures(file, Totals(), dict.fromkeys(KINDS, 0)).items():
        setattr(run, name, value)
    job = ReconJob(recon_id=run.id, status="queued", scope_admdvs=scope.admdvs, attempts=0)
    session.add(job)
    await session.flush()
    out = await job_out(session, run, job)
    await audit.record(
        session,
        actor=principal,
        action="reconciliation.details.submitted",
        object_type="recon_run",
        object_id=str(run.id),
        payload=out.model_dump(mode="json"),
        new_stream=True,
    )
    steps.log("reconciliation submitted", run.id)
    return out


def run_scope(run: ReconRun, job: ReconJob) -> Scope:
    """The settlements a submitted detail reconciliation compares with."""
    begin, end = Period(run.stmt_begndate, run.stmt_enddate).bounds()
    return Scope(job.scope_admdvs, run.fixmedins_code, run.insutype, run.clr_type, begin, end)


def _event_subject(run: ReconRun) -> str:
    """The institution reconciled, or the region for an insurer's whole-region run."""
    return run.fixmedins_code or run.admdvs


async def run_job(db: Database, recon_id: uuid.UUID) -> None:
    """Do a submitted job, once however often it is delivered.

    Two transactions: the first marks the job running (what its status shows while it runs);
    the second locks the job, diffs, stores the result, drops the staging table, marks it done
    and emits ``reconciliation.completed``, so a worker killed mid-diff leaves the job running
    with its upload intact and nothing half-written, and the redelivered message does the diff
    again from the staged rows. A job already done (or failed) is left alone.
    """
    async with unit_of_work(db.sessionmaker) as session:
        if not await repo.start_job(session, recon_id):
            return
    async with unit_of_work(db.sessionmaker) as session:
        job = await repo.recon_job(session, recon_id, lock=True)
        run = await repo.recon_run(session, recon_id)
        if job is None or run is None or job.status != "running":
            return  # finished by a concurrent delivery while this one waited for the lock
        steps = _Steps()
        upload = repo.staged_upload(session, recon_id)
        await _write_mismatches(session, run, upload, run_scope(run, job), steps)
        out = await _complete(session, run, upload, _side_figures(run, "file"), steps)
        job.status, job.finished_at = "done", utcnow()
        payload = out.model_dump(mode="json", exclude={"mismatches"})
        await audit.record(
            session,
            actor=None,
            action="reconciliation.details",
            object_type="recon_run",
            object_id=str(run.id),
            payload=payload,
        )
        outbox.emit(session, "reconciliation.completed", _event_subject(run), payload)
        steps.log("reconciliation job", run.id)


async def fail_job(session: AsyncSession, recon_id: uuid.UUID, error: str) -> bool:
    """Give a job up (its worker ran out of retries): ``failed`` with the error, the upload
    dropped, ``reconciliation.failed`` emitted. False if it had finished already."""
    job = await repo.recon_job(session, recon_id, lock=True)
    run = await repo.recon_run(session, recon_id)
    if job is None or run is None or job.status not in ("queued", "running"):
        return False
    job.status, job.finished_at, job.error = "failed", utcnow(), error
    await repo.drop_upload(session, repo.staged_upload(session, recon_id))
    payload = {"recon_id": str(recon_id), "error": error}
    await audit.record(
        session,
        actor=None,
        action="reconciliation.details.failed",
        object_type="recon_run",
        object_id=str(recon_id),
        payload=payload,
    )
    outbox.emit(session, "reconciliation.failed", _event_subject(run), payload)
    return True


#: A job whose message is this old and still not finished (nor being diffed) is sent again: the
#: message was lost (the in-process broker of a restarted embedded server), or is held by a
#: retry whose backoff is this long anyway.
REDISPATCH_AFTER = timedelta(minutes=10)
DISPATCH_BATCH = 100


async def jobs_to_dispatch(session: AsyncSession) -> list[uuid.UUID]:
    """The jobs to send a message for now (marked sent): every one never sent, and every one
    sent more than :data:`REDISPATCH_AFTER` ago that is neither finished nor being diffed."""
    return await repo.jobs_to_dispatch(session, utcnow() - REDISPATCH_AFTER, DISPATCH_BATCH)


async def job_out(session: AsyncSession, run: ReconRun, job: ReconJob) -> DetailJobOut:
    return DetailJobOut(
        recon_id=run.id,
        status=job.status,
        status_url=f"/v1/reconciliation/detail-jobs/{run.id}",
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        file=_side_totals(run, "file"),
        result=await detail_out(session, run) if job.status == "done" else None,
    )


async def visible_job(
    session: AsyncSession, principal: Principal, recon_id: uuid.UUID
) -> DetailJobOut:
    run, job = await _run_and_job(session, principal, recon_id)
    if job is None:
        raise NotFound(
            "no such reconciliation job", code="unknown_reconciliation", field="recon_id"
        )
    return await job_out(session, run, job)


def _figures(file: Totals, here: Totals, counts: dict[str, int]) -> dict[str, int]:
    figures: dict[str, int] = dict(counts)
    for side, totals in (("file", file), ("here", here)):
        figures |= {
            f"{side}_rows": totals.rows,
            f"{side}_setl_cnt": totals.setl_cnt,
            f"{side}_medfee_sumamt": totals.medfee_sumamt,
            f"{side}_fund_pay_sumamt": totals.fund_pay_sumamt,
            f"{side}_acct_pay": totals.acct_pay,
        }
    return figures


def _side_figures(run: ReconRun, side: str) -> Totals:
    return Totals(
        *(
            getattr(run, f"{side}_{name}")
            for name in ("rows", "setl_cnt", "medfee_sumamt", "fund_pay_sumamt", "acct_pay")
        )
    )


def _side_totals(run: ReconRun, side: str) -> DetailSideTotals:
    totals = _side_figures(run, side)
    return DetailSideTotals.model_validate({"rows": totals.rows, **_settlement_totals(totals)})


def kinds_of(row: ReconMismatch) -> list[MismatchKind]:
    return [kind for kind in KINDS if getattr(row, kind)]


def _side(row: ReconMismatch, side: str) -> DetailSide | None:
    if getattr(row, "missing_there" if side == "file" else "missing_here"):
        return None
    return DetailSide.model_validate(
        {
            "mdtrt_id": getattr(row, f"{side}_mdtrt_id"),
            "psn_no": getattr(row, f"{side}_psn_no"),
            **{c: yuan(getattr(row, f"{side}_{c}")) for c in AMOUNT_COLUMNS},
            "refd_setl_flag": getattr(row, f"{side}_refd_setl_flag"),
        }
    )


def mismatch_out(row: ReconMismatch) -> MismatchOut:
    return MismatchOut(
        setl_id=row.setl_id,
        kinds=kinds_of(row),
        file=_side(row, "file"),
        here=_side(row, "here"),
    )


async def detail_out(session: AsyncSession, run: ReconRun) -> DetailReconOut:
    rows = await repo.mismatches(session, run.id, INLINE_MISMATCHES + 1)
    return DetailReconOut(
        recon_id=run.id,
        admdvs=run.admdvs,
        fixmedins_code=run.fixmedins_code,
        insutype=run.insutype,
        clr_type=run.clr_type,
        stmt_begndate=run.stmt_begndate,
        stmt_enddate=run.stmt_enddate,
        stmt_rslt="1" if run.stmt_rslt == "1" else "0",
        created_at=run.created_at,
        file=_side_totals(run, "file"),
        here=_side_totals(run, "here"),
        counts=MismatchCounts.model_validate({kind: getattr(run, kind) for kind in KINDS}),
        mismatches=[mismatch_out(row) for row in rows[:INLINE_MISMATCHES]],
        mismatches_truncated=len(rows) > INLINE_MISMATCHES,
        mismatches_csv=f"/v1/reconciliation/details/{run.id}/mismatches.csv",
    )


async def recent_runs(session: AsyncSession, admdvs: str, limit: int) -> Sequence[uuid.UUID]:
    """The ids of the region's latest detail reconciliations, newest first; each is read through
    :func:`visible_run`, which decides whether the caller may see it."""
    return await repo.recent_runs(session, admdvs, limit)


async def visible_run(
    session: AsyncSession, principal: Principal, recon_id: uuid.UUID, *, finished: bool = True
) -> ReconRun:
    """A run is seen by the organisation that asked for it and by its region's insurer.

    ``finished``: its result is read, which a job has only once done (409 before).
    """
    run, job = await _run_and_job(session, principal, recon_id)
    if finished and job is not None and job.status != "done":
        raise Conflict(
            f"the reconciliation job is {job.status}; its result is not there",
            code="reconciliation_not_done",
            field="recon_id",
        )
    return run


async def _run_and_job(
    session: AsyncSession, principal: Principal, recon_id: uuid.UUID
) -> tuple[ReconRun, ReconJob | None]:
    """The job is read first: a run read after it is at least as recent, so a job seen done
    never comes with the run's figures from before the diff committed."""
    job = await repo.recon_job(session, recon_id)
    run = await repo.recon_run(session, recon_id)
    visible = run is not None and (
        run.requested_by == principal.org_id
        or (principal.role is Role.insurer and principal.in_region(run.admdvs))
    )
    if run is None or not visible:
        raise NotFound("no such reconciliation", code="unknown_reconciliation", field="recon_id")
    return run, job


MISMATCH_CSV_HEADER = (
    "setl_id",
    "kinds",
    *(f"file_{c}" for c in DETAIL_COLUMNS[1:]),
    *(f"here_{c}" for c in DETAIL_COLUMNS[1:]),
)


def _csv_row(row: ReconMismatch) -> list[str]:
    cells = [row.setl_id, ";".join(kinds_of(row))]
    for side in ("file", "here"):
        values = _side(row, side)
        cells += (
            [""] * (len(DETAIL_COLUMNS) - 1)
            if values is None
            else [
                values.mdtrt_id or "",
                values.psn_no or "",
                *(f"{getattr(values, c):.2f}" for c in AMOUNT_COLUMNS),
                values.refd_setl_flag,
            ]
        )
    return cells


async def mismatch_rows(session: AsyncSession, recon_id: uuid.UUID) -> AsyncIterator[list[str]]:
    """Every mismatch of a run as CSV cells (``MISMATCH_CSV_HEADER``), streamed."""
    async for row in repo.stream_mismatches(session, recon_id):
        yield _csv_row(row)
