"""Seals: MACed, chained commitments to the head of every stream that moved since the last one.

A chain alone cannot show that its newest entries were deleted; a seal lists (stream, seq, hash)
of each moved head, so verification can require every stream to still reach it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.audit.keys import Keyring, keyring
from engine.audit.models import GENESIS, AuditEntry, AuditSeal, AuditSealHead
from engine.db import utcnow

#: A seal covers the heads of streams written since the previous seal, looking back this far
#: before it: longer than any transaction lives (statements and pool waits are bounded), so an
#: entry committed late is still in the next seal's window.
SEAL_LOOKBACK = timedelta(hours=1)

Head = tuple[str, int, str]  # stream, seq, hash


def seal_mac(
    ring: Keyring, *, key_id: str, prev_mac: str, sealed_at: datetime, heads: Iterable[Head]
) -> str:
    """The MAC of a seal: its key, its predecessor, its time and its heads in stream order."""
    body: dict[str, Any] = {
        "key_id": key_id,
        "prev_mac": prev_mac,
        "sealed_at": sealed_at.astimezone(UTC).isoformat(),
        "heads": [list(head) for head in sorted(heads)],
    }
    return ring.mac(key_id, orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


async def _moved_heads(session: AsyncSession, since: datetime | None) -> list[Head]:
    """The head of every stream written since ``since`` (every stream, if None) whose head is
    not sealed yet: no later entry in its stream, no seal of its stream at or past its seq."""
    later = aliased(AuditEntry)
    query = select(AuditEntry.stream, AuditEntry.seq, AuditEntry.hash).where(
        ~exists().where(and_(later.stream == AuditEntry.stream, later.seq > AuditEntry.seq)),
        ~exists().where(
            and_(AuditSealHead.stream == AuditEntry.stream, AuditSealHead.seq >= AuditEntry.seq)
        ),
    )
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    rows = await session.execute(query.order_by(AuditEntry.stream))
    return [(stream, seq, entry_hash) for stream, seq, entry_hash in rows]


async def seal(session: AsyncSession, *, full: bool = False) -> AuditSeal | None:
    """Seal the heads of every stream that moved since the previous seal (None: nothing moved).

    The first seal, and one asked for with ``full``, looks at every stream; later ones at the
    streams written within :data:`SEAL_LOOKBACK` of the previous seal. Two sealers at once cannot
    fork the chain: the second one's insert fails on the unique ``prev_mac``.
    """
    last = await session.scalar(select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1))
    since = None if full or last is None else last.sealed_at - SEAL_LOOKBACK
    heads = await _moved_heads(session, since)
    if not heads:
        return None
    ring = keyring()
    prev_mac = last.mac if last else GENESIS
    sealed_at = utcnow()
    row = AuditSeal(
        sealed_at=sealed_at,
        head_count=len(heads),
        prev_mac=prev_mac,
        key_id=ring.signing,
        mac=seal_mac(
            ring, key_id=ring.signing, prev_mac=prev_mac, sealed_at=sealed_at, heads=heads
        ),
    )
    session.add(row)
    await session.flush()
    await session.execute(
        insert(AuditSealHead),
        [
            {"seal_id": row.id, "stream": stream, "seq": seq, "hash": entry_hash}
            for stream, seq, entry_hash in heads
        ],
    )
    return row
