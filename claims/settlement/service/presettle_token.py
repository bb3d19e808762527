"""The pre-settlement token: what a pre-settle (2206) was computed on, vouched for by the engine.

A token is the digest of the claim state the pre-settlement read (policy version, accumulators,
account balance, fee lines) followed by a keyed MAC over the visit id and that digest. Settle
(2207) can then check a token without storing anything: a token whose MAC does not verify was not
issued by this engine for this visit and is refused; one that verifies says, by its digest,
whether the state moved since.

The MAC key is derived from ``SANYI_SECRET_KEY`` with its own label, so it is never the key of
the resident-ID hashes or API keys.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

from engine.errors import InvalidRequest
from engine.settings import get_settings

_DIGEST_CHARS = 32
_MAC_CHARS = 32
_SHAPE = re.compile(rf"[0-9a-f]{{{_DIGEST_CHARS + _MAC_CHARS}}}")
_KEY_LABEL = b"sanyi/presettle-token/v1"


class UnknownPresettleToken(InvalidRequest):
    """The presettle_token was not issued by this engine for this visit."""

    default_code = "unknown_presettle_token"


def state_digest(state: str) -> str:
    """The digest of a claim state, as the token carries it."""
    return hashlib.sha256(state.encode()).hexdigest()[:_DIGEST_CHARS]


def issue(mdtrt_id: str, digest: str) -> str:
    """The token for a pre-settlement of ``mdtrt_id`` computed on the state ``digest``."""
    return digest + _mac(mdtrt_id, digest)


def issued_digest(mdtrt_id: str, token: str) -> str:
    """The state digest ``token`` was issued on, if the engine issued it for ``mdtrt_id``;
    otherwise refused with ``unknown_presettle_token``."""
    digest, mac = token[:_DIGEST_CHARS], token[_DIGEST_CHARS:]
    if not _SHAPE.fullmatch(token) or not hmac.compare_digest(mac, _mac(mdtrt_id, digest)):
        raise UnknownPresettleToken(
            "this presettle_token was not issued by a pre-settlement of this visit",
            field="presettle_token",
        )
    return digest


def _mac(mdtrt_id: str, digest: str) -> str:
    key = _key(get_settings().secret_key.get_secret_value())
    message = f"{mdtrt_id}|{digest}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_MAC_CHARS]


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    """The token key derived from the engine's secret (settle derives it once, not per call)."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
