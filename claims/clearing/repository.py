"""Every query of reconciliation and clearing (tables in ``claims.clearing.models``; settlements and
funding case entries are read from their own tables, which belong to the same domain).

A detail file is loaded into a staging table of its own and compared with one full join:

* PostgreSQL: the request body is streamed into ``COPY ... FROM STDIN`` (psycopg 3
  ``cursor.copy``), so no row becomes a Python object and memory stays flat whatever the file's
  size. The staging table keeps amounts as exact ``numeric`` yuan and has no index while it
  loads. PostgreSQL itself refuses a row it cannot parse or an over-long id, naming the line; a
  unique index built after the load refuses a setl_id listed twice; the other checks (whole fen,
  range, the 0/1 flag) ride on a statement that reads the file anyway, which costs less than
  CHECK constraints evaluated row by row during COPY: the diff for a synchronous 3202
  (:func:`diff_upload`), the scan that totals the file for a job's submission.
* SQLite (the embedded default): the service parses the stream and the rows are inserted in
  batches (``executemany``), already in fen.

The synchronous 3202 stages into a temporary table dropped at commit; a job submitted for a
worker stages into an ordinary table named after the job (``recon_staged_<id>``), durable and
readable by any worker, dropped by the transaction that stores the job's result (a ``DROP`` is
instant, where deleting a million rows from a shared table would write them all once more).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    MetaData,
    Numeric,
    Row,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from claims.clearing.models import (
    FUNDS,
    ClearingBatch,
    ClearingFundLine,
    ClearingLine,
    InterRegionClaim,
    InterRegionClaimLine,
    ReconJob,
    ReconMismatch,
    ReconRun,
)
from claims.funding import door as funding
from claims.settlement.door.reads import SETTLEMENTS
from engine.db import insert_or_ignore, utcnow
from engine.errors import InvalidRequest
from engine.money import cny, to_fen

DETAIL_COLUMNS = (
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "medfee_sumamt",
    "fund_pay_sumamt",
    "acct_pay",
    "refd_setl_flag",
)
AMOUNT_COLUMNS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
ID_MAX_LENGTH = 30
# numeric(16,2) on the national platform: at most 14 digits before the point.
AMOUNT_LIMIT = 10**14
# A hash join over a million rows fits in this without spilling to disk; the setting lasts only
# for the upload's transaction.
DIFF_WORK_MEM = "128MB"


# --- scopes and totals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Which settlements a reconciliation covers: a region and/or one institution, optionally an
    insutype and a clr_type, and ``setl_time`` in [begin, end)."""

    admdvs: str | None
    fixmedins_code: str | None
    insutype: str | None
    clr_type: str | None
    begin: datetime
    end: datetime

    def where(self) -> list[ColumnElement[bool]]:
        s = SETTLEMENTS.c
        clauses = [s.setl_time >= self.begin, s.setl_time < self.end]
        if self.admdvs is not None:
            clauses.append(s.admdvs == self.admdvs)
        if self.fixmedins_code is not None:
            clauses.append(s.fixmedins_code == self.fixmedins_code)
        if self.insutype is not None:
            clauses.append(s.insutype == self.insutype)
        if self.clr_type is not None:
            clauses.append(s.clr_type == self.clr_type)
        return clauses


@dataclass(frozen=True, slots=True)
class Totals:
    """Fen sums of live rows, the count of live rows, and every row (revoked too)."""

    rows: int = 0
    setl_cnt: int = 0
    medfee_sumamt: int = 0
    fund_pay_sumamt: int = 0
    acct_pay: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def __sub__(self, other: Totals) -> Totals:
        return Totals(*(a - b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, int, int, int, int]:
        return (self.rows, self.setl_cnt, self.medfee_sumamt, self.fund_pay_sumamt, self.acct_pay)


def _totals_columns(
    live: ColumnElement[bool], medfee: Any, fund: Any, acct: Any
) -> tuple[Any, ...]:
    def live_sum(column: Any) -> Any:
        return func.coalesce(func.sum(column).filter(live), 0)

    return (
        func.count(),
        func.count().filter(live),
        live_sum(medfee),
        live_sum(fund),
        live_sum(acct),
    )


def _totals(row: Any) -> Totals:
    return Totals(*(int(value) for value in row))


async def settlement_totals(session: AsyncSession, scope: Scope) -> Totals:
    s = SETTLEMENTS.c
    stmt = select(
        *_totals_columns(s.status == "settled", s.medfee_sumamt, s.fund_pay_sumamt, s.acct_pay)
    ).where(*scope.where())
    return _totals((await session.execute(stmt)).one())


# --- the staging table of an upload --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    table: Table
    postgres: bool

    def fen(self, value: Any) -> Any:
        """An uploaded amount (a staged column, or one carried through a query) in fen:
        PostgreSQL stages exact yuan, SQLite stages fen."""
        return cast(value * 100, BigInteger) if self.postgres else value

    def differs(self, column: str, fen: Any) -> ColumnElement[bool]:
        """The uploaded amount is not ``fen``, compared exactly: on PostgreSQL in ``numeric``, so
        that a value that is not a whole fen differs from every stored amount."""
        value = self.table.c[column]
        return (value * 100 if self.postgres else value) != fen


def _staging_table(name: str, postgres: bool, *, temporary: bool) -> Table:
    """Exact yuan (``numeric``) on PostgreSQL, fen on SQLite; ids at most 30 characters and a
    one-character flag, which COPY enforces as it parses (naming the line and column).

    No key while loading: a unique index built once the rows are in (:func:`refuse_duplicates`)
    costs a third of maintaining one row by row, and nothing else needs an index (the diff is a
    hash join).
    """
    amount = Numeric() if postgres else BigInteger()
    options: dict[str, Any] = (
        {"prefixes": ["TEMPORARY"], "postgresql_on_commit": "DROP"} if temporary else {}
    )
    return Table(
        name,
        MetaData(),
        Column("setl_id", String(ID_MAX_LENGTH), nullable=False),
        Column("mdtrt_id", String(ID_MAX_LENGTH), nullable=False),
        Column("psn_no", String(ID_MAX_LENGTH), nullable=False),
        *(Column(c, amount, nullable=False) for c in AMOUNT_COLUMNS),
        Column("refd_setl_flag", String(1), nullable=False),
        **options,
    )


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def staged_upload(session: AsyncSession, recon_id: uuid.UUID) -> Upload:
    """The durable staging table of a submitted job (:func:`create_upload` with its id)."""
    postgres = is_postgres(session)
    return Upload(
        _staging_table(f"recon_staged_{recon_id.hex}", postgres, temporary=False), postgres
    )


async def create_upload(session: AsyncSession, *, job: uuid.UUID | None = None) -> Upload:
    """A staging table for one upload.

    Without ``job``: a temporary table, private to this transaction's connection and dropped at
    commit (the synchronous 3202). With ``job``: an ordinary table named after the job, so the
    upload is durable and any worker can read it; the job drops it when it is done.
    """
    if job is not None:
        upload = staged_upload(session, job)
    else:
        postgres = is_postgres(session)
        table = _staging_table(f"recon_upload_{uuid.uuid4().hex}", postgres, temporary=True)
        upload = Upload(table, postgres)
    connection = await session.connection()
    await connection.run_sync(upload.table.create)
    return upload


async def drop_upload(session: AsyncSession, upload: Upload) -> None:
    connection = await session.connection()
    await connection.run_sync(upload.table.drop)


async def set_local(session: AsyncSession, setting: str, value: str) -> None:
    """``SET LOCAL`` on PostgreSQL: a setting for the current transaction only."""
    if is_postgres(session):
        await session.execute(select(func.set_config(setting, value, True)))


async def copy_csv(session: AsyncSession, upload: Upload, chunks: AsyncIterator[bytes]) -> int:
    """Stream CSV bytes (with the header line) into the staging table; the number of rows.

    A row PostgreSQL refuses is reported by its line number; the transaction is then aborted and
    the caller's unit of work rolls it back.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    columns = ", ".join(DETAIL_COLUMNS)
    statement = f"COPY {upload.table.name} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER MATCH)"
    try:
        async with driver.cursor() as cursor:
            async with cursor.copy(statement) as copy:
                async for chunk in chunks:
                    await copy.write(chunk)
            return cursor.rowcount
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        raise _file_error(exc) from None


_WHERE = re.compile(r"^COPY \S+, (line \d+(?:, column \w+)?)")
_KEY = re.compile(r"\(setl_id\)=\((.*)\)")


def _file_error(exc: psycopg.Error) -> InvalidRequest:
    """PostgreSQL's refusal of a row, as the client's error: the line, the column, the reason
    (never the staging table's name)."""
    diag = exc.diag
    found = _WHERE.match(diag.context or "")
    where = found.group(1) if found else "the file"
    field = None
    reason = diag.message_primary or "invalid row"
    if isinstance(exc, psycopg.errors.UniqueViolation):
        field = "setl_id"
        key = _KEY.search(diag.message_detail or "")
        reason = f"setl_id {key.group(1) if key else ''} appears twice".replace("  ", " ")
    elif found and ", column " in where:
        field = where.rsplit(" ", 1)[1]
        if isinstance(exc, psycopg.errors.StringDataRightTruncation):
            reason = f"{field} {INVALID_REASONS.get(field, 'is too long')}"
    return InvalidRequest(f"{where}: {reason}", code="invalid_detail_file", field=field)


async def insert_rows(
    session: AsyncSession, upload: Upload, batches: AsyncIterator[list[dict[str, Any]]]
) -> int:
    """The SQLite path: insert already parsed rows (fen amounts) batch by batch."""
    rows = 0
    async for batch in batches:
        await session.execute(insert(upload.table), batch)
        rows += len(batch)
    return rows


# A sort of a million setl_ids fits in this, so the unique index is built in memory.
INDEX_MAINTENANCE_WORK_MEM = "256MB"


async def refuse_duplicates(session: AsyncSession, upload: Upload) -> None:
    """Build the unique index on setl_id: a setl_id listed twice refuses the file."""
    await set_local(session, "maintenance_work_mem", INDEX_MAINTENANCE_WORK_MEM)
    index = Index(f"ix_{upload.table.name}_setl_id", upload.table.c.setl_id, unique=True)
    connection = await session.connection()
    try:
        await connection.run_sync(index.create)
    except IntegrityError as exc:
        if isinstance(exc.orig, psycopg.Error):
            raise _file_error(exc.orig) from None
        raise InvalidRequest(
            "a setl_id appears twice in the file", code="invalid_detail_file", field="setl_id"
        ) from None


def _invalid(upload: Upload) -> dict[str, ColumnElement[bool]]:
    """Per column, what makes an uploaded value invalid that COPY lets through (PostgreSQL; the
    SQLite path checks rows as it parses them): amounts must be whole fen, not negative, within
    numeric(16,2); the flag 0 or 1."""
    u = upload.table.c
    # scale() first: reading a numeric's scale is cheap and almost every amount has at most two
    # decimals, so the truncation (which "1.500" passes) is computed only for the rare rest.
    checks: dict[str, ColumnElement[bool]] = {
        c: or_(
            and_(func.scale(u[c]) > 2, u[c] != func.trunc(u[c], 2)),
            u[c] < 0,
            u[c] >= AMOUNT_LIMIT,
        )
        for c in AMOUNT_COLUMNS
    }
    checks["refd_setl_flag"] = u.refd_setl_flag.not_in(("0", "1"))
    return checks


INVALID_REASONS = {
    **{c: "must be an amount in yuan with at most two decimals" for c in AMOUNT_COLUMNS},
    **{c: f"must have 1 to {ID_MAX_LENGTH} characters" for c in ("setl_id", "mdtrt_id", "psn_no")},
    "refd_setl_flag": "must be 0 or 1",
}


async def upload_totals(session: AsyncSession, upload: Upload, *, check: bool) -> Totals:
    """The file's totals.

    With ``check`` (PostgreSQL; the SQLite path checks rows as it parses them), in the same scan
    that checks every value: a file with an invalid value is refused, naming the first such row
    by its setl_id. Without, the values must have been checked already (:func:`diff_upload`
    checks those of a synchronous upload within its join, which is cheaper than this scan).
    """
    u = upload.table.c
    live = u.refd_setl_flag == "0"
    columns = _totals_columns(live, u.medfee_sumamt, u.fund_pay_sumamt, u.acct_pay)
    if not upload.postgres:
        return _totals((await session.execute(select(*columns))).one())
    invalid = _invalid(upload)
    first_invalid = [func.min(u.setl_id).filter(or_(*invalid.values()))] if check else []
    count, live_count, *sums = (await session.execute(select(*columns, *first_invalid))).one()
    if check and sums[-1] is not None:
        await _refuse(session, upload, sums[-1], invalid)
    return Totals(count, live_count, *(to_fen(cny(value)) for value in sums[:3]))


async def _refuse(
    session: AsyncSession, upload: Upload, setl_id: str, invalid: dict[str, ColumnElement[bool]]
) -> None:
    flags = (
        await session.execute(select(*invalid.values()).where(upload.table.c.setl_id == setl_id))
    ).one()
    field = next(column for column, bad in zip(invalid, flags, strict=True) if bad)
    raise InvalidRequest(
        f"the row of setl_id {setl_id}: {field} {INVALID_REASONS[field]}",
        code="invalid_detail_file",
        field=field,
    )


# --- the diff ------------------------------------------------------------------------------------


async def diff_upload(
    session: AsyncSession, upload: Upload, scope: Scope, recon_id: uuid.UUID
) -> None:
    """Write every mismatch between the upload and the scope's settlements, and on PostgreSQL
    refuse the file if a value of it is invalid.

    One statement: a full join on setl_id, keeping rows missing on either side or differing in
    amount (to the fen), revocation flag, or identity (mdtrt_id, psn_no). Amounts are compared
    exactly and stored amounts are whole fen in [0, 10^16) (the settlement's CHECK constraint
    and this limit, which the join also tests), so a row with an invalid value (not a whole fen,
    negative, beyond numeric(16,2), a flag other than 0 or 1) is always kept: the values are
    checked on the kept rows only, not on every row of the file as :func:`upload_totals` would.
    An invalid row is named as there: the first by setl_id, its first invalid column.
    """
    await set_local(session, "work_mem", DIFF_WORK_MEM)
    s = SETTLEMENTS.c
    here = (
        select(
            s.setl_id,
            s.mdtrt_id,
            s.psn_no,
            s.medfee_sumamt,
            s.fund_pay_sumamt,
            s.acct_pay,
            case((s.status == "revoked", "1"), else_="0").label("refd_setl_flag"),
        )
        .where(*scope.where())
        .subquery("here")
    )
    u, h = upload.table.c, here.c
    both = and_(u.setl_id.is_not(None), h.setl_id.is_not(None))
    amount = or_(*(upload.differs(c, h[c]) for c in AMOUNT_COLUMNS))
    revocation = u.refd_setl_flag != h.refd_setl_flag
    identity = or_(u.mdtrt_id != h.mdtrt_id, u.psn_no != h.psn_no)
    kept = [u.setl_id.is_(None), h.setl_id.is_(None), amount, revocation, identity]
    if upload.postgres:
        kept += [h[c] >= AMOUNT_LIMIT * 100 for c in AMOUNT_COLUMNS]
    columns: dict[str, Any] = {
        "setl_id": func.coalesce(u.setl_id, h.setl_id),
        "missing_here": h.setl_id.is_(None),
        "missing_there": u.setl_id.is_(None),
        "amount_differs": and_(both, amount),
        "revocation_differs": and_(both, revocation),
        "identity_differs": and_(both, identity),
        "file_mdtrt_id": u.mdtrt_id,
        "file_psn_no": u.psn_no,
        **{f"file_{c}": u[c] for c in AMOUNT_COLUMNS},
        "file_refd_setl_flag": u.refd_setl_flag,
        "here_mdtrt_id": h.mdtrt_id,
        "here_psn_no": h.psn_no,
        **{f"here_{c}": h[c] for c in AMOUNT_COLUMNS},
        "here_refd_setl_flag": h.refd_setl_flag,
    }
    found = (
        select(*(value.label(name) for name, value in columns.items()))
        .select_from(upload.table.join(here, u.setl_id == h.setl_id, full=True))
        .where(or_(*kept))
    )
    file_amounts = {f"file_{c}" for c in AMOUNT_COLUMNS}
    names = ["recon_id", *columns]

    def stored(rows: Any) -> Select[Any]:
        """The kept rows as ``recon_mismatch`` rows (file amounts in fen)."""
        return select(
            literal(recon_id, ReconMismatch.recon_id.type),
            *(upload.fen(rows.c[n]) if n in file_amounts else rows.c[n] for n in columns),
        )

    if not upload.postgres:
        kept_rows = found.subquery("found")
        await session.execute(insert(ReconMismatch).from_select(names, stored(kept_rows)))
        return
    invalid = _invalid(upload)
    checked = and_(u.setl_id.is_not(None), or_(*invalid.values()))
    rows = found.add_columns(checked.label("invalid")).cte("found")
    # Referenced twice, the CTE is computed once: the mismatches are written (if none is
    # invalid they are all of them) and the first invalid row is read from the same rows.
    written = insert(ReconMismatch).from_select(names, stored(rows).where(~rows.c.invalid))
    first_invalid = await session.scalar(
        select(func.min(rows.c.setl_id).filter(rows.c.invalid)).add_cte(written.cte("written"))
    )
    if first_invalid is not None:
        await _refuse(session, upload, first_invalid, invalid)


@dataclass(frozen=True, slots=True)
class MismatchSums:
    """Counts of each kind, and the totals each side contributes through its mismatched rows."""

    counts: dict[str, int]
    file: Totals
    here: Totals


async def mismatch_sums(
    session: AsyncSession, recon_id: uuid.UUID, kinds: Sequence[str]
) -> MismatchSums:
    """``kinds`` names the flag columns of ``ReconMismatch`` to count."""
    m = ReconMismatch

    def side(prefix: str) -> tuple[Any, ...]:
        present = ~getattr(m, "missing_there" if prefix == "file" else "missing_here")
        live = and_(present, getattr(m, f"{prefix}_refd_setl_flag") == "0")
        return (
            func.count().filter(present),
            *_totals_columns(
                live,
                getattr(m, f"{prefix}_medfee_sumamt"),
                getattr(m, f"{prefix}_fund_pay_sumamt"),
                getattr(m, f"{prefix}_acct_pay"),
            )[1:],
        )

    row = (
        await session.execute(
            select(
                *(func.count().filter(getattr(m, kind)) for kind in kinds),
                *side("file"),
                *side("here"),
            ).where(m.recon_id == recon_id)
        )
    ).one()
    values = [int(v) for v in row]
    counts, file, here = values[: len(kinds)], values[len(kinds) : -5], values[-5:]
    return MismatchSums(dict(zip(kinds, counts, strict=True)), Totals(*file), Totals(*here))


async def recon_run(session: AsyncSession, recon_id: uuid.UUID) -> ReconRun | None:
    return await session.get(ReconRun, recon_id)


async def recon_job(
    session: AsyncSession, recon_id: uuid.UUID, *, lock: bool = False
) -> ReconJob | None:
    stmt = select(ReconJob).where(ReconJob.recon_id == recon_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def start_job(session: AsyncSession, recon_id: uuid.UUID) -> bool:
    """Mark an unfinished job running (again, after a crash); False if it is done or failed.

    On PostgreSQL this waits for a worker diffing the job right now (it holds the row lock), and
    then finds it finished.
    """
    result = await session.execute(
        update(ReconJob)
        .where(ReconJob.recon_id == recon_id, ReconJob.status.in_(("queued", "running")))
        .values(status="running", started_at=utcnow(), attempts=ReconJob.attempts + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def jobs_to_dispatch(
    session: AsyncSession, sent_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Unfinished jobs never dispatched, or last dispatched before ``sent_before``, marked
    dispatched now. A job being diffed is skipped (its row is locked), and so are jobs another
    dispatcher holds."""
    pending = ReconJob.status.in_(("queued", "running"))
    due = or_(ReconJob.dispatched_at.is_(None), ReconJob.dispatched_at < sent_before)
    ids = list(
        await session.scalars(
            select(ReconJob.recon_id)
            .where(pending, due)
            .order_by(ReconJob.submitted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        await session.execute(
            update(ReconJob).where(ReconJob.recon_id.in_(ids)).values(dispatched_at=utcnow())
        )
    return ids


async def mismatches(
    session: AsyncSession, recon_id: uuid.UUID, limit: int
) -> Sequence[ReconMismatch]:
    return (
        await session.scalars(
            select(ReconMismatch)
            .where(ReconMismatch.recon_id == recon_id)
            .order_by(ReconMismatch.setl_id)
            .limit(limit)
        )
    ).all()


async def stream_mismatches(
    session: AsyncSession, recon_id: uuid.UUID
) -> AsyncIterator[ReconMismatch]:
    result = await session.stream_scalars(
        select(ReconMismatch)
        .where(ReconMismatch.recon_id == recon_id)
        .order_by(ReconMismatch.setl_id)
        .execution_options(yield_per=1000)
    )
    async for row in result:
        yield row


# --- clearing ------------------------------------------------------------------------------------


async def insert_batch(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the application unless the institution already applied for that month and
    clr_type (a unique key); True if this call did."""
    return await insert_or_ignore(session, ClearingBatch, values)


async def batch(
    session: AsyncSession, clr_appy_evt_id: str, *, lock: bool = False
) -> ClearingBatch | None:
    stmt = select(ClearingBatch).where(ClearingBatch.clr_appy_evt_id == clr_appy_evt_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def batches(
    session: AsyncSession,
    *,
    admdvs: str,
    fixmedins_code: str | None,
    setlym: str | None,
    clr_stas: str | None,
) -> Sequence[ClearingBatch]:
    b = ClearingBatch
    stmt = select(b).where(b.admdvs == admdvs)
    if fixmedins_code is not None:
        stmt = stmt.where(b.fixmedins_code == fixmedins_code)
    if setlym is not None:
        stmt = stmt.where(b.setlym == setlym)
    if clr_stas is not None:
        stmt = stmt.where(b.clr_stas == clr_stas)
    return (await session.scalars(stmt.order_by(b.setlym, b.fixmedins_code, b.clr_type))).all()


_AMOUNTS = ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", *FUNDS)


async def freeze_settlements(
    session: AsyncSession, row: ClearingBatch, begin: datetime, end: datetime
) -> int:
    """Copy every live settlement of the batch's institution, clr_type and month into the batch;
    how many. What is copied is what the batch pays, whatever happens to the settlements later."""
    s = SETTLEMENTS.c
    columns: dict[str, Any] = {
        "setl_id": s.setl_id,
        "kind": literal("settlement"),
        "clr_appy_evt_id": literal(row.clr_appy_evt_id),
        "carried_from": null(),
        "mdtrt_id": s.mdtrt_id,
        "psn_no": s.psn_no,
        "insutype": s.insutype,
        "clr_way": s.clr_way,
        "hifp_route": funding.hifp_route(s.setl_id, s.fixmedins_code),
        "setl_time": s.setl_time,
        "revoked_at": null(),
        **{name: getattr(s, name) for name in _AMOUNTS},
    }
    query = select(*columns.values()).where(
        s.fixmedins_code == row.fixmedins_code,
        s.clr_type == row.clr_type,
        s.setl_time >= begin,
        s.setl_time < end,
        s.status == "settled",
    )
    result = await session.execute(insert(ClearingLine).from_select(list(columns), query))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def carry_adjustments(session: AsyncSession, row: ClearingBatch) -> int:
    """Carry into the batch, negated, every settlement of an earlier approved batch of the same
    institution and clr_type that has since been revoked and not been carried yet; how many.

    The primary key (setl_id, kind) makes a concurrent approval that carries the same revocation
    skip it (``ON CONFLICT DO NOTHING``): each revocation is carried once.
    """
    line, earlier, s = aliased(ClearingLine), aliased(ClearingBatch), SETTLEMENTS.c
    carried = aliased(ClearingLine)
    columns: dict[str, Any] = {
        "setl_id": line.setl_id,
        "kind": literal("adjustment"),
        "clr_appy_evt_id": literal(row.clr_appy_evt_id),
        "carried_from": line.clr_appy_evt_id,
        "mdtrt_id": line.mdtrt_id,
        "psn_no": line.psn_no,
        "insutype": line.insutype,
        "clr_way": line.clr_way,
        "hifp_route": line.hifp_route,
        "setl_time": line.setl_time,
        "revoked_at": s.revoked_at,
        **{name: -getattr(line, name) for name in _AMOUNTS},
    }
    query = (
        select(*columns.values())
        .join(earlier, earlier.clr_appy_evt_id == line.clr_appy_evt_id)
        .join(SETTLEMENTS, s.setl_id == line.setl_id)
        .where(
            line.kind == "settlement",
            earlier.fixmedins_code == row.fixmedins_code,
            earlier.clr_type == row.clr_type,
            earlier.setlym < row.setlym,
            earlier.clr_stas == "approved",
            s.status == "revoked",
            ~exists().where(carried.setl_id == line.setl_id, carried.kind == "adjustment"),
        )
    )
    dialect_insert = postgresql.insert if is_postgres(session) else sqlite.insert
    stmt = dialect_insert(ClearingLine).from_select(list(columns), query).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class LineSums:
    """A batch's lines summed per (kind, hifp_route): fen per amount column, and the count."""

    kind: str
    hifp_route: str
    count: int
    amounts: dict[str, int]


async def line_sums(session: AsyncSession, clr_appy_evt_id: str) -> list[LineSums]:
    c = ClearingLine
    rows = await session.execute(
        select(
            c.kind,
            c.hifp_route,
            func.count(),
            *(func.coalesce(func.sum(getattr(c, name)), 0) for name in _AMOUNTS),
        )
        .where(c.clr_appy_evt_id == clr_appy_evt_id)
        .group_by(c.kind, c.hifp_route)
    )
    return [
        LineSums(
            kind=row[0],
            hifp_route=row[1],
            count=int(row[2]),
            amounts={name: int(v) for name, v in zip(_AMOUNTS, row[3:], strict=True)},
        )
        for row in rows
    ]


async def fund_lines(session: AsyncSession, clr_appy_evt_id: str) -> Sequence[ClearingFundLine]:
    order = case({fund: i for i, fund in enumerate(FUNDS)}, value=ClearingFundLine.fund)
    return (
        await session.scalars(
            select(ClearingFundLine)
            .where(ClearingFundLine.clr_appy_evt_id == clr_appy_evt_id)
            .order_by(order)
        )
    ).all()


async def stream_lines(session: AsyncSession, clr_appy_evt_id: str) -> AsyncIterator[ClearingLine]:
    result = await session.stream_scalars(
        select(ClearingLine)
        .where(ClearingLine.clr_appy_evt_id == clr_appy_evt_id)
        .order_by(ClearingLine.kind.desc(), ClearingLine.setl_time, ClearingLine.setl_id)
        .execution_options(yield_per=1000)
    )
    async for row in result:
        yield row


# --- inter-region claims --------------------------------------------------------------------------


_S = SETTLEMENTS.c


def _pair(b: str, a: str) -> list[ColumnElement[bool]]:
    """Settlements made by ``b``'s institutions for ``a``'s insured."""
    return [_S.admdvs == b, _S.insuplc_admdvs == a]


async def month_settlements(
    session: AsyncSession, b: str, a: str, begin: datetime, end: datetime, *, live_at: datetime
) -> Sequence[Row[Any]]:
    """The pair's settlements made in [begin, end) that were live at ``live_at`` (not revoked,
    or revoked only later), as rows of settlement's columns."""
    query = select(SETTLEMENTS).where(
        *_pair(b, a),
        _S.setl_time >= begin,
        _S.setl_time < end,
        or_(_S.revoked_at.is_(None), _S.revoked_at >= live_at),
    )
    return (await session.execute(query.order_by(_S.setl_time, _S.setl_id))).all()


async def revocations_to_carry(
    session: AsyncSession, b: str, a: str, *, before: datetime, into: str | None
) -> Sequence[Row[Any]]:
    """Settlements of the pair claimed in a claim frozen before ``before``, revoked after that
    claim froze and before ``before``, and not carried into a claim other than ``into`` (the
    claim being checked; None while making a claim): the adjustments a claim frozen at
    ``before`` carries."""
    claimed = aliased(InterRegionClaimLine)
    earlier = aliased(InterRegionClaim)
    carried = aliased(InterRegionClaimLine)
    query = (
        select(SETTLEMENTS)
        .join(claimed, and_(claimed.setl_id == _S.setl_id, claimed.kind == "settlement"))
        .join(earlier, earlier.claim_id == claimed.claim_id)
        .where(
            *_pair(b, a),
            earlier.frozen_at < before,
            _S.revoked_at >= earlier.frozen_at,
            _S.revoked_at < before,
            ~exists().where(
                carried.setl_id == _S.setl_id,
                carried.kind == "adjustment",
                *([] if into is None else [carried.claim_id != into]),
            ),
        )
    )
    return (await session.execute(query.order_by(_S.setl_time, _S.setl_id))).all()


async def interregion_claim(session: AsyncSession, claim_id: str) -> InterRegionClaim | None:
    return await session.get(InterRegionClaim, claim_id)


async def claim_by_month(
    session: AsyncSession, b: str, a: str, setlym: str
) -> InterRegionClaim | None:
    query = select(InterRegionClaim).where(
        InterRegionClaim.mdtrtarea_admvs == b,
        InterRegionClaim.insuplc_admdvs == a,
        InterRegionClaim.setlym == setlym,
    )
    return (await session.scalars(query)).first()


async def claims_of_region(session: AsyncSession, admdvs: str) -> Sequence[InterRegionClaim]:
    """The claims a region made (as treatment place) or owes (as insured place)."""
    query = select(InterRegionClaim).where(
        or_(InterRegionClaim.mdtrtarea_admvs == admdvs, InterRegionClaim.insuplc_admdvs == admdvs)
    )
    return (
        await session.scalars(
            query.order_by(InterRegionClaim.setlym.desc(), InterRegionClaim.claim_id)
        )
    ).all()


async def claim_lines(session: AsyncSession, claim_id: str) -> Sequence[InterRegionClaimLine]:
    """A claim's lines: settlements, then adjustments, by time."""
    query = select(InterRegionClaimLine).where(InterRegionClaimLine.claim_id == claim_id)
    return (
        await session.scalars(
            query.order_by(
                InterRegionClaimLine.kind.desc(),
                InterRegionClaimLine.setl_time,
                InterRegionClaimLine.setl_id,
            )
        )
    ).all()


async def recent_runs(session: AsyncSession, admdvs: str, limit: int) -> Sequence[uuid.UUID]:
    """The region's latest detail reconciliations, newest first."""
    return (
        await session.scalars(
            select(ReconRun.id)
            .where(ReconRun.admdvs == admdvs)
            .order_by(ReconRun.created_at.desc())
            .limit(limit)
        )
    ).all()
