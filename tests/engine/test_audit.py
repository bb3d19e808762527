"""The audit log's chains, keys and seals, on entries written inside the test's transaction.

Findings are filtered to the streams each test writes: the test database is shared with tests
that commit their worlds (the race tests), whose streams are not this test's business.
"""

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import rfc8785
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.audit import AuditEntry, AuditSeal, AuditSealHead, Finding
from engine.audit.entries import HASHED, canonical, row_values
from engine.settings import Settings, get_settings


def _reset_keys() -> None:
    get_settings.cache_clear()
    audit.keyring.cache_clear()


@pytest.fixture
def use_audit_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Switch the process's audit keys (``SANYI_AUDIT_KEYS``) for the rest of the test."""

    def use(keys: str) -> None:
        monkeypatch.setenv("SANYI_AUDIT_KEYS", keys)
        _reset_keys()

    yield use
    monkeypatch.delenv("SANYI_AUDIT_KEYS", raising=False)
    _reset_keys()


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


async def _findings(session: AsyncSession, *object_ids: str, **kwargs: object) -> list[Finding]:
    """What verify finds about the ``thing`` streams named, and about any seal."""
    session.expire_all()
    report = await audit.verify(session, **kwargs)  # type: ignore[arg-type]
    names = tuple(f"thing:{object_id} " for object_id in object_ids)
    return [
        f
        for f in report.findings
        if f.where.startswith("audit_seal")
        or any(f"{f.where} ".startswith(f"stream {n}") or f"({n}" in f.where for n in names)
    ]


async def test_streams_chain_independently_under_the_audit_key(session: AsyncSession) -> None:
    a = await _write_stream(session, "a", 3)
    b = await _write_stream(session, "b", 2)
    assert [e.seq for e in a] == [1, 2, 3]
    assert a[1].prev_hash == a[0].hash
    assert b[0].prev_hash == audit.GENESIS
    assert {e.key_id for e in a + b} == {audit.keyring().signing}
    assert await _findings(session, "a", "b") == []


async def test_editing_an_entry_is_detected_and_named(session: AsyncSession) -> None:
    entries = await _write_stream(session, "edited", 3)
    target = entries[1]
    await session.execute(
        update(AuditEntry).where(AuditEntry.id == target.id).values(payload={"amount": "999.00"})
    )
    findings = await _findings(session, "edited")
    assert findings == [
        Finding(
            f"audit_entry id={target.id} (thing:edited seq 2)", "content edited: MAC does not match"
        )
    ]


async def test_an_edit_with_its_sha256_recomputed_is_still_detected(session: AsyncSession) -> None:
    """The old unkeyed hash could be recomputed by anyone; the keyed MAC cannot."""
    (entry,) = await _write_stream(session, "rehashed", 1)
    values = row_values(entry) | {"payload": {"amount": "999.00"}}
    body = canonical(values, keyed=True)
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == entry.id)
        .values(payload={"amount": "999.00"}, hash=hashlib.sha256(body).hexdigest())
    )
    assert [f.problem for f in await _findings(session, "rehashed")] == [
        "content edited: MAC does not match"
    ]


async def test_passing_an_edited_entry_off_as_unkeyed_is_detected(session: AsyncSession) -> None:
    entries = await _write_stream(session, "downgraded", 2)
    head = entries[-1]
    values = row_values(head) | {"payload": {"amount": "999.00"}, "key_id": audit.UNKEYED}
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == head.id)
        .values(
            payload={"amount": "999.00"},
            key_id=audit.UNKEYED,
            hash=audit.entry_mac(values, audit.keyring()),
        )
    )
    problems = [f.problem for f in await _findings(session, "downgraded")]
    assert problems == ["unkeyed entry after keyed ones: written without the key"]


async def test_deleting_a_middle_entry_is_detected(session: AsyncSession) -> None:
    entries = await _write_stream(session, "gap", 3)
    await session.execute(delete(AuditEntry).where(AuditEntry.id == entries[1].id))
    findings = await _findings(session, "gap")
    where = f"audit_entry id={entries[2].id} (thing:gap seq 3)"
    assert Finding(where, "sequence gap: expected seq 2") in findings
    assert Finding(where, "chain broken: prev_hash does not match") in findings


async def test_a_seal_commits_to_every_head_so_deleting_the_newest_entry_is_detected(
    session: AsyncSession,
) -> None:
    entries = await _write_stream(session, "sealed", 2)
    sealed = await audit.seal(session)
    assert sealed is not None
    assert await _findings(session, "sealed") == []
    await session.execute(delete(AuditEntry).where(AuditEntry.id == entries[-1].id))
    assert await _findings(session, "sealed") == [
        Finding(
            "stream thing:sealed",
            f"newest entries deleted: seq 2 was sealed in audit_seal id={sealed.id}, "
            "the stream now ends at seq 1",
        )
    ]


async def test_deleting_a_sealed_stream_is_detected(session: AsyncSession) -> None:
    await _write_stream(session, "vanished", 2)
    sealed = await audit.seal(session)
    assert sealed is not None
    await session.execute(delete(AuditEntry).where(AuditEntry.stream == "thing:vanished"))
    assert await _findings(session, "vanished") == [
        Finding(
            "stream thing:vanished",
            f"stream deleted: seq 2 was sealed in audit_seal id={sealed.id}",
        )
    ]


async def test_a_seal_lists_only_the_heads_that_moved_since_the_last(session: AsyncSession) -> None:
    await _write_stream(session, "quiet", 1)
    first = await audit.seal(session)
    assert first is not None
    assert await audit.seal(session) is None  # nothing moved
    moved = await _write_stream(session, "busy", 2)
    second = await audit.seal(session)
    assert second is not None and second.prev_mac == first.mac
    heads = (
        await session.execute(
            select(AuditSealHead.stream, AuditSealHead.seq, AuditSealHead.hash).where(
                AuditSealHead.seal_id == second.id
            )
        )
    ).all()
    assert [tuple(h) for h in heads] == [("thing:busy", 2, moved[-1].hash)]


async def test_editing_a_seal_head_or_deleting_a_seal_is_detected(session: AsyncSession) -> None:
    await _write_stream(session, "s1", 1)
    first = await audit.seal(session)
    await _write_stream(session, "s2", 1)
    second = await audit.seal(session)
    assert first is not None and second is not None
    await session.execute(
        update(AuditSealHead)
        .where(AuditSealHead.seal_id == second.id, AuditSealHead.stream == "thing:s2")
        .values(seq=1, hash="0" * 64)
    )
    assert Finding(
        f"audit_seal id={second.id}", "seal changed: its MAC does not match its heads"
    ) in await _findings(session, "s2")
    await session.execute(delete(AuditSealHead).where(AuditSealHead.seal_id == first.id))
    await session.execute(delete(AuditSeal).where(AuditSeal.id == first.id))
    assert Finding(
        f"audit_seal id={second.id}", "seal chain broken: a seal before it was deleted or changed"
    ) in await _findings(session, "s2")


async def test_deleting_the_newest_seal_is_seen_only_against_a_copy_of_its_mac(
    session: AsyncSession,
) -> None:
    entries = await _write_stream(session, "tail", 2)
    sealed = await audit.seal(session)
    assert sealed is not None
    mac = sealed.mac
    await session.execute(delete(AuditSealHead).where(AuditSealHead.seal_id == sealed.id))
    await session.execute(delete(AuditSeal).where(AuditSeal.id == sealed.id))
    await session.execute(delete(AuditEntry).where(AuditEntry.id == entries[-1].id))
    assert await _findings(session, "tail") == []  # the documented gap
    assert await _findings(session, "tail", known_seals=[mac]) == [
        Finding(f"audit_seal mac={mac}", "a seal recorded outside the database is gone")
    ]


async def test_rotated_keys_verify_what_they_signed_until_removed(
    session: AsyncSession, use_audit_keys: Callable[[str], None]
) -> None:
    use_audit_keys("old-audit-key")
    (old,) = await _write_stream(session, "rotated", 1)
    use_audit_keys("new-audit-key,old-audit-key")
    (new,) = await _write_stream(session, "fresh", 1)
    assert new.key_id == audit.keyring().signing != old.key_id
    assert await _findings(session, "rotated", "fresh") == []
    use_audit_keys("new-audit-key")
    assert await _findings(session, "rotated", "fresh") == [
        Finding(
            f"audit_entry id={old.id} (thing:rotated seq 1)",
            f"MACed with key {old.key_id}, which is not configured",
        )
    ]


async def _write_unkeyed(session: AsyncSession, object_id: str, seq: int, prev: str) -> AuditEntry:
    """An entry as written before entries were keyed (plain SHA-256, no key id in the body)."""
    values = audit.entry_values(
        actor=None, action="legacy", object_type="thing", object_id=object_id, head=(seq - 1, prev)
    )
    body = {name: values[name] for name in HASHED}
    body["occurred_at"] = values["occurred_at"].isoformat()
    values |= {"key_id": audit.UNKEYED, "hash": hashlib.sha256(rfc8785.dumps(body)).hexdigest()}
    entry = AuditEntry(**values)
    session.add(entry)
    await session.flush()
    return entry


async def test_unkeyed_entries_verify_and_are_proven_by_the_first_seal(
    session: AsyncSession,
) -> None:
    first = await _write_unkeyed(session, "legacy", 1, audit.GENESIS)
    await _write_unkeyed(session, "legacy", 2, first.hash)
    session.expire_all()
    before = await audit.verify(session)
    assert before.unkeyed >= 2 and before.unkeyed_unproven >= 2
    assert await _findings(session, "legacy") == []
    assert await audit.seal(session) is not None
    after = await audit.verify(session)
    assert after.unkeyed_unproven == 0
    assert await _findings(session, "legacy") == []
    forged = await _write_unkeyed(session, "forged", 1, audit.GENESIS)
    assert await _findings(session, "forged") == [
        Finding(
            f"audit_entry id={forged.id} (thing:forged seq 1)",
            "unkeyed entry no seal covers: written without the key",
        )
    ]


async def test_an_entry_committed_after_a_seal_it_predates_is_in_the_next_seal(
    session: AsyncSession,
) -> None:
    """A transaction that wrote its entry before a seal and committed after it is not lost."""
    await _write_stream(session, "early", 1)
    first = await audit.seal(session)
    assert first is not None
    (late,) = await _write_stream(session, "late", 1)
    late.occurred_at = first.sealed_at - audit.SEAL_LOOKBACK / 2
    await session.flush()
    second = await audit.seal(session)
    assert second is not None
    streams = await session.scalars(
        select(AuditSealHead.stream).where(AuditSealHead.seal_id == second.id)
    )
    assert streams.all() == ["thing:late"]


async def test_a_head_long_unsealed_is_named_as_deleted_seals(session: AsyncSession) -> None:
    """Deleting every seal (or the newest ones) leaves old heads unsealed, which verify names."""
    (entry,) = await _write_stream(session, "stale", 1)
    entry.occurred_at = entry.occurred_at - audit.SEAL_OVERDUE - timedelta(minutes=1)
    entry.hash = audit.entry_mac(row_values(entry), audit.keyring())
    await session.flush()
    (finding,) = await _findings(session, "stale")
    assert finding.where == "stream thing:stale"
    assert finding.problem.startswith("no seal covers seq 1, written ")
    assert await audit.seal(session) is not None
    assert await _findings(session, "stale") == []


def test_the_keyring_signs_with_the_first_listed_key_and_knows_the_rest() -> None:
    ring = audit.keyring_from(Settings.model_validate({"SANYI_AUDIT_KEYS": " new-key , old-key "}))
    old = audit.keyring_from(Settings.model_validate({"SANYI_AUDIT_KEYS": "old-key"}))
    assert list(ring.keys) == [ring.signing, old.signing]
    assert ring.mac(old.signing, b"m") == old.mac(old.signing, b"m")
    assert "old-key" not in old.signing and len(old.signing) == 16


def test_without_audit_keys_one_key_comes_from_the_whole_secret_key() -> None:
    ring = audit.keyring_from(Settings.model_validate({"SANYI_SECRET_KEY": "with,a,comma"}))
    assert len(ring.keys) == 1
    with pytest.raises(ValueError, match="holds no key"):
        audit.keyring_from(Settings.model_validate({"SANYI_AUDIT_KEYS": " , "}))
