from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.audit import AuditEntry


async def _write_stream(session: AsyncSession, object_id: str, n: int) -> list[AuditEntry]:
    entries = []
    for i in range(n):
        entries.append(
            await audit.record(
                session,
                actor=None,
                action=f"step.{i}",
                object_type="thing",
                object_id=object_id,
                payload={"amount": f"{i}.00", "nested": {"k": [1, 2]}},
            )
        )
    await session.flush()
    return entries


async def test_streams_chain_independently(session: AsyncSession) -> None:
    a = await _write_stream(session, "a", 3)
    b = await _write_stream(session, "b", 2)
    assert [e.seq for e in a] == [1, 2, 3]
    assert a[1].prev_hash == a[0].hash
    assert b[0].prev_hash == audit.GENESIS
    assert await audit.verify(session) == []


async def test_editing_a_row_is_detected_and_named(session: AsyncSession) -> None:
    entries = await _write_stream(session, "edited", 3)
    target = entries[1]
    await session.execute(
        update(AuditEntry).where(AuditEntry.id == target.id).values(payload={"amount": "999.00"})
    )
    session.expire_all()
    findings = await audit.verify(session)
    assert [f.where for f in findings] == [f"audit_entry id={target.id} (thing:edited seq 2)"]
    assert "content edited" in findings[0].problem


async def test_deleting_a_middle_row_is_detected(session: AsyncSession) -> None:
    entries = await _write_stream(session, "gap", 3)
    await session.execute(delete(AuditEntry).where(AuditEntry.id == entries[1].id))
    session.expire_all()
    findings = await audit.verify(session)
    assert any(f"id={entries[2].id}" in f.where and "gap" in f.problem for f in findings)


async def test_seal_detects_deleting_the_last_entry_of_a_closed_day(session: AsyncSession) -> None:
    entries = await _write_stream(session, "sealed", 2)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    # Move the stream into a closed day, re-hashing so the chain itself stays valid.
    prev = audit.GENESIS
    for entry in entries:
        entry.occurred_at = yesterday
        entry.prev_hash = prev
        entry.hash = audit._entry_hash(audit._row_values(entry))
        prev = entry.hash
    await session.flush()
    sealed = await audit.seal(session)
    assert sealed and sealed[-1].period <= yesterday.date()
    assert await audit.verify(session) == []
    await session.execute(delete(AuditEntry).where(AuditEntry.id == entries[-1].id))
    session.expire_all()
    findings = await audit.verify(session)
    assert [f.where for f in findings] == [f"audit_seal {yesterday.date().isoformat()}"]
    remaining = await session.scalars(select(AuditEntry).where(AuditEntry.object_id == "sealed"))
    assert len(remaining.all()) == 1
