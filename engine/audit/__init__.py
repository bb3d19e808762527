"""Append-only audit log that write access to the database alone cannot quietly rewrite.

Every state change writes an :class:`AuditEntry` in the same transaction as the change. Entries
are chained *per stream* (one stream per object, e.g. ``settlement:<setl_id>``), so transactions on
different objects never contend for a shared "previous hash": only writers of the same object
queue, and they already hold that object's row lock. Each entry's ``hash`` is an HMAC-SHA256 under
a key kept out of the database (``SANYI_AUDIT_KEYS``), so an edited entry cannot be given a
matching hash by someone who can only write the database.

A chain alone cannot show that its newest entries (or a whole stream) were deleted, so
:func:`seal` runs every few minutes: a seal lists the head (stream, seq, hash) of every stream that
moved since the previous seal, is MACed, and is chained to the previous seal. :func:`verify`
recomputes every chain and seal, checks that every stream still reaches its sealed head, and holds
the tables the audit describes (settlements, prescriptions: each domain's ``audit_facts`` module)
to what their entries say. docs/audit.md says what this proves and what it cannot.
"""

from engine.audit.entries import entry_mac, entry_values, record
from engine.audit.keys import Keyring, keyring, keyring_from
from engine.audit.models import GENESIS, UNKEYED, AuditEntry, AuditSeal, AuditSealHead
from engine.audit.seals import SEAL_LOOKBACK, seal
from engine.audit.verification import SEAL_OVERDUE, Described, Finding, Report, verify

__all__ = [
    "GENESIS",
    "SEAL_LOOKBACK",
    "SEAL_OVERDUE",
    "UNKEYED",
    "AuditEntry",
    "AuditSeal",
    "AuditSealHead",
    "Described",
    "Finding",
    "Keyring",
    "Report",
    "entry_mac",
    "entry_values",
    "keyring",
    "keyring_from",
    "record",
    "seal",
    "verify",
]
