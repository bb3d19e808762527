"""Writing audit entries: each MACed under the signing key and chained to its stream's head."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import orjson
import rfc8785
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit.keys import Keyring, keyring
from engine.audit.models import GENESIS, UNKEYED, AuditEntry
from engine.auth import Principal
from engine.db import utcnow

#: The columns an entry's MAC covers (every column but its id and the MAC itself).
HASHED = (
    "stream",
    "seq",
    "prev_hash",
    "occurred_at",
    "actor_org_id",
    "actor_key_id",
    "action",
    "object_type",
    "object_id",
    "payload",
)


def canonical(values: Mapping[str, Any], *, keyed: bool) -> bytes:
    """The bytes an entry's MAC covers: its columns as JSON with sorted keys and no whitespace
    (orjson, a few microseconds on the settle path), the key id included. Unkeyed entries were
    hashed over RFC 8785 JSON without it, and are checked that way."""
    body = {name: values[name] for name in HASHED}
    body["occurred_at"] = values["occurred_at"].astimezone(UTC).isoformat()
    body["actor_org_id"] = str(values["actor_org_id"]) if values["actor_org_id"] else None
    if not keyed:
        return rfc8785.dumps(body)
    body["key_id"] = values["key_id"]
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_mac(values: Mapping[str, Any], ring: Keyring) -> str:
    """The ``hash`` the entry with these column values must carry: the HMAC under its key, or
    for an :data:`UNKEYED` entry the plain SHA-256 it was written with. KeyError: an unknown key."""
    if values["key_id"] == UNKEYED:
        return hashlib.sha256(canonical(values, keyed=False)).hexdigest()
    return ring.mac(values["key_id"], canonical(values, keyed=True))


def row_values(entry: AuditEntry) -> dict[str, Any]:
    """The column values of a stored entry that its MAC covers."""
    return {name: getattr(entry, name) for name in (*HASHED, "key_id")}


def entry_values(
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any] | None = None,
    head: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The column values of the entry that follows ``head`` (the stream's last seq and hash; None
    starts a new stream), MAC included. A caller that writes the entry in a statement of its own
    (the settlement hot path) inserts these values; :func:`record` adds them as a row."""
    ring = keyring()
    values: dict[str, Any] = {
        "stream": f"{object_type}:{object_id}",
        "seq": head[0] + 1 if head else 1,
        "prev_hash": head[1] if head else GENESIS,
        "occurred_at": utcnow(),
        "actor_org_id": actor.org_id if actor else None,
        "actor_key_id": actor.key_id if actor else None,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "payload": payload or {},
        "key_id": ring.signing,
    }
    values["hash"] = entry_mac(values, ring)
    return values


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any] | None = None,
    new_stream: bool = False,
) -> AuditEntry:
    """Append one entry to the object's stream, in the caller's transaction.

    The caller holds the lock that guards the object (or has just created it), so reading the
    stream head here cannot race another writer of the same stream; the unique (stream, seq)
    constraint makes any fork fail loudly rather than branch the chain. ``new_stream`` says the
    object was just created, which saves the head lookup on the hot path (and if it was wrong,
    the unique constraint refuses the entry).
    """
    head = None
    if not new_stream:
        head = (
            await session.execute(
                select(AuditEntry.seq, AuditEntry.hash)
                .where(AuditEntry.stream == f"{object_type}:{object_id}")
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            )
        ).first()
    entry = AuditEntry(
        **entry_values(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            payload=payload,
            head=None if head is None else (head.seq, head.hash),
        )
    )
    session.add(entry)
    return entry
