"""Tampering with a committed world, done the way an attacker with database write access (and
without the audit key) would: plain SQL on committed rows, then `sanyi audit verify`.

Each test builds its world in a scratch database through the HTTP API (two settlements, one of
them revoked, and an approved prescription routed to a pharmacy), seals it, tampers with one thing
and asserts that verify names exactly what was touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import rfc8785
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, insert, select, text, update

from engine import audit, migrate
from engine.app import create_app
from engine.audit import AuditEntry, Finding, Report
from engine.audit.entries import HASHED, canonical, row_values
from engine.db import Database, table_of
from engine.scheduler import JOBS
from engine.settings import Settings, get_settings, to_async_url
from tests.prescriptions.world import RxWorld, build_rx_world
from tests.scratch import scratch_database_url
from tests.support.factories.world import CLASS_A_ITEM
from workers.audit_seal import SEAL_INTERVAL, seal_audit


@dataclass
class Sealed:
    """A committed, sealed world: what the tests tamper with."""

    url: str
    db: Database
    settled: str  # setl_id of a live settlement
    revoked: str  # setl_id of a revoked one (stream: settled, revoked)
    hi_rxno: str  # an approved prescription routed to a pharmacy (uploaded, reviewed, routed)

    async def verify(self, **kwargs: Any) -> Report:
        return await _verify(self.db, **kwargs)

    async def entries(self, stream: str) -> list[AuditEntry]:
        return await _entries(self.db, stream)


async def _verify(db: Database, **kwargs: Any) -> Report:
    async with db.sessionmaker() as session:
        return await audit.verify(session, **kwargs)


async def _entries(db: Database, stream: str) -> list[AuditEntry]:
    async with db.sessionmaker() as session:
        query = select(AuditEntry).where(AuditEntry.stream == stream).order_by(AuditEntry.seq)
        return list((await session.scalars(query)).all())


async def _settle(world: RxWorld) -> str:
    claims = world.claims
    psn_no, certno = await claims.enrol(insutype="310")
    visit = await claims.visit(psn_no, certno)
    await claims.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    response = await claims.settle(visit["mdtrt_id"])
    assert response.status_code == 201, response.text
    return str(response.json()["setl_id"])


@pytest.fixture
async def sealed() -> AsyncIterator[Sealed]:
    with scratch_database_url() as url:
        migrate.upgrade(url)
        db = Database.connect(to_async_url(url))
        app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=db)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://sanyi.test") as client,
                db.sessionmaker() as session,
            ):
                admdvs = f"9{secrets.randbelow(10**5):05d}"
                world = await build_rx_world(app, client, session, admdvs=admdvs, pharmacies=1)
                await session.commit()
                settled, revoked = await _settle(world), await _settle(world)
                assert (await world.claims.revoke(revoked)).status_code == 200
                _, hi_rxno, _ = await world.issue(nominate=world.pharmacy(0)[0])
                assert await audit.seal(session) is not None
                await session.commit()
            yield Sealed(url, db, settled, revoked, hi_rxno)
        finally:
            await db.dispose()


async def _sql_on(db: Database, *statements: Any) -> None:
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def _sql(world: Sealed, *statements: Any) -> None:
    await _sql_on(world.db, *statements)


async def test_a_clean_world_verifies_with_no_problem(sealed: Sealed) -> None:
    report = await sealed.verify()
    assert report.findings == []
    assert report.rows == {"settlement": 2, "prescription": 1}
    assert report.seals == 1 and report.unsealed_streams == 0
    assert report.entries >= 8 and report.unkeyed == 0


async def test_an_edited_entry_is_named(sealed: Sealed) -> None:
    settle, _ = await sealed.entries(f"settlement:{sealed.revoked}")
    payload = settle.payload | {"hifp_pay": "9999.00"}
    await _sql(sealed, update(AuditEntry).where(AuditEntry.id == settle.id).values(payload=payload))
    assert (await sealed.verify()).findings == [
        Finding(
            f"audit_entry id={settle.id} (settlement:{sealed.revoked} seq 1)",
            "content edited: MAC does not match",
        )
    ]


async def test_an_edited_entry_with_its_hash_and_chain_recomputed_is_named(
    sealed: Sealed,
) -> None:
    """The attacker recomputes SHA-256 the way the unkeyed log did and relinks the next entry."""
    settle, revoke = await sealed.entries(f"settlement:{sealed.revoked}")
    values = row_values(settle) | {"payload": settle.payload | {"acct_pay": "0.00"}}
    forged = hashlib.sha256(canonical(values, keyed=True)).hexdigest()
    await _sql(
        sealed,
        update(AuditEntry)
        .where(AuditEntry.id == settle.id)
        .values(payload=values["payload"], hash=forged),
        update(AuditEntry).where(AuditEntry.id == revoke.id).values(prev_hash=forged),
    )
    findings = (await sealed.verify()).findings
    stream = f"settlement:{sealed.revoked}"
    assert (
        Finding(
            f"audit_entry id={settle.id} ({stream} seq 1)", "content edited: MAC does not match"
        )
        in findings
    )
    assert (
        Finding(
            f"audit_entry id={revoke.id} ({stream} seq 2)", "content edited: MAC does not match"
        )
        in findings
    )


async def test_a_deleted_middle_entry_is_named(sealed: Sealed) -> None:
    stream = f"prescription:{sealed.hi_rxno}"
    entries = await sealed.entries(stream)
    assert len(entries) == 3
    await _sql(sealed, delete(AuditEntry).where(AuditEntry.id == entries[1].id))
    findings = (await sealed.verify()).findings
    where = f"audit_entry id={entries[2].id} ({stream} seq 3)"
    assert Finding(where, "sequence gap: expected seq 2") in findings
    assert Finding(where, "chain broken: prev_hash does not match") in findings


async def test_a_deleted_newest_entry_is_named(sealed: Sealed) -> None:
    stream = f"settlement:{sealed.revoked}"
    _, revoke = await sealed.entries(stream)
    await _sql(sealed, delete(AuditEntry).where(AuditEntry.id == revoke.id))
    findings = (await sealed.verify()).findings
    assert [f.where for f in findings] == [f"stream {stream}", f"settlement {sealed.revoked}"]
    assert findings[0].problem.startswith("newest entries deleted: seq 2 was sealed")
    assert findings[1].problem == ("row differs from its audit: status is revoked, audited settled")


async def test_settlement_amounts_edited_in_their_table_are_named(sealed: Sealed) -> None:
    """One fen moved from the patient's cash to the fund, keeping every check constraint true."""
    await _sql(
        sealed,
        text(
            "UPDATE settlement SET fund_pay_sumamt = fund_pay_sumamt + 1, "
            "hifp_pay = hifp_pay + 1, psn_part_amt = psn_part_amt - 1, "
            "psn_cash_pay = psn_cash_pay - 1 WHERE setl_id = :setl_id"
        ).bindparams(setl_id=sealed.settled),
    )
    (finding,) = (await sealed.verify()).findings
    assert finding.where == f"settlement {sealed.settled}"
    changed = [part.split(" is ")[0] for part in finding.problem.split(": ", 1)[1].split("; ")]
    assert changed == ["hifp_pay", "fund_pay_sumamt", "psn_part_amt", "psn_cash_pay"]


async def test_a_settlement_whose_audit_stream_was_deleted_is_named(sealed: Sealed) -> None:
    stream = f"settlement:{sealed.settled}"
    await _sql(sealed, delete(AuditEntry).where(AuditEntry.stream == stream))
    findings = (await sealed.verify()).findings
    assert [(f.where, f.problem.split(":")[0]) for f in findings] == [
        (f"stream {stream}", "stream deleted"),
        (f"settlement {sealed.settled}", "row has no audit entry"),
    ]


async def test_a_prescription_edited_in_its_table_is_named(sealed: Sealed) -> None:
    await _sql(
        sealed,
        text(
            "UPDATE prescription SET status = 'dispensed', dspe_cnt = 1 WHERE hi_rxno = :no"
        ).bindparams(no=sealed.hi_rxno),
    )
    assert (await sealed.verify()).findings == [
        Finding(
            f"prescription {sealed.hi_rxno}",
            "row differs from its audit: status is dispensed, audited circulating; "
            "dspe_cnt is 1, audited 0",
        )
    ]


def _sanyi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env |= {"DATABASE_URL": url, "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_cli_verify_exits_non_zero_naming_the_problem(sealed: Sealed) -> None:
    clean = _sanyi(sealed.url, "audit", "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "2 settlement row(s), 1 prescription row(s)" in clean.stdout
    assert "audit log intact" in clean.stdout
    stream = f"settlement:{sealed.revoked}"
    _, revoke = await sealed.entries(stream)
    await _sql(sealed, update(AuditEntry).where(AuditEntry.id == revoke.id).values(action="x"))
    tampered = _sanyi(sealed.url, "audit", "verify")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"audit_entry id={revoke.id} ({stream} seq 2)" in tampered.stdout
    assert "content edited" in tampered.stdout


async def test_the_cli_seals_only_what_moved(sealed: Sealed) -> None:
    nothing = _sanyi(sealed.url, "audit", "seal")
    assert nothing.returncode == 0, nothing.stderr
    assert "nothing moved since the last seal" in nothing.stdout
    full = _sanyi(sealed.url, "audit", "seal", "--full")
    assert full.returncode == 0 and "nothing moved" in full.stdout


async def test_the_periodic_seal_seals_what_moved(
    sealed: Sealed, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = JOBS["engine.audit_seal"]
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == SEAL_INTERVAL
    async with sealed.db.sessionmaker() as session:
        await audit.record(
            session, actor=None, action="note", object_type="thing", object_id="after-seal"
        )
        await session.commit()
    assert (await sealed.verify()).unsealed_streams == 1
    monkeypatch.setenv("DATABASE_URL", sealed.url)
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(seal_audit.fn)  # as a worker thread runs it
    finally:
        get_settings.cache_clear()
    report = await sealed.verify()
    assert report.seals == 2 and report.unsealed_streams == 0 and report.findings == []


async def test_entries_from_before_keyed_macs_verify_and_the_first_seal_proves_them() -> None:
    """Entries written by revision 0010's code (plain SHA-256 over RFC 8785, no key id) are
    marked unkeyed by the migration, verify as they are, and are pinned by the first seal."""
    with scratch_database_url() as url:
        migrate.upgrade(url, "0010")
        db = Database.connect(to_async_url(url))
        try:
            values = audit.entry_values(
                actor=None, action="old", object_type="thing", object_id="old", payload={"n": 1}
            )
            body = {name: values[name] for name in HASHED}
            body["occurred_at"] = values["occurred_at"].isoformat()
            values["hash"] = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
            del values["key_id"]  # not a column yet
            await _sql_on(db, insert(table_of(AuditEntry)).values(values))
            migrate.upgrade(url)
            before = await _verify(db)
            assert (before.findings, before.unkeyed, before.unkeyed_unproven) == ([], 1, 1)
            async with db.sessionmaker() as session:
                assert await audit.seal(session) is not None
                await session.commit()
            after = await _verify(db)
            assert (after.findings, after.unkeyed, after.unkeyed_unproven) == ([], 1, 0)
            # Editing it now and recomputing its (unkeyed) hash no longer passes.
            (entry,) = await _entries(db, "thing:old")
            edited = row_values(entry) | {"payload": {"n": 2}}
            await _sql_on(
                db,
                update(AuditEntry)
                .where(AuditEntry.id == entry.id)
                .values(payload={"n": 2}, hash=audit.entry_mac(edited, audit.keyring())),
            )
            assert [f.problem for f in (await _verify(db)).findings] == [
                "differs from the head sealed in audit_seal id=1"
            ]
        finally:
            await db.dispose()
