"""The audit keys: HMAC-SHA256 keys kept out of the database, each named by a key id.

``SANYI_AUDIT_KEYS`` lists them newest first (the first signs, all verify); unset, one key is
derived from ``SANYI_SECRET_KEY``. Each secret is stretched with HKDF into the key used.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.settings import Settings, get_settings


@dataclass(frozen=True, slots=True)
class Keyring:
    """The audit keys: ``signing`` MACs what is written now, every key verifies what it signed.

    Each key is kept as a ready HMAC state, copied per MAC, so the hot path pays for the digest of
    its own bytes only (what plain SHA-256 costs).
    """

    signing: str
    keys: Mapping[str, hmac.HMAC]

    def mac(self, key_id: str, message: bytes) -> str:
        state = self.keys[key_id].copy()
        state.update(message)
        return state.hexdigest()


def _derive(secret: str) -> bytes:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"sanyi audit log")
    return hkdf.derive(secret.encode())


def _key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it, so entries can say which key MACed them."""
    return hmac.new(key, b"sanyi audit key id", hashlib.sha256).hexdigest()[:16]


def keyring_from(settings: Settings) -> Keyring:
    """The keyring of ``SANYI_AUDIT_KEYS`` (newest first), or of one key derived from
    ``SANYI_SECRET_KEY`` when it is unset."""
    if settings.audit_keys is None:
        secrets = [settings.secret_key.get_secret_value()]
    else:
        listed = settings.audit_keys.get_secret_value().split(",")
        secrets = [part.strip() for part in listed if part.strip()]
    if not secrets:
        raise ValueError("SANYI_AUDIT_KEYS holds no key")
    keys = {}
    for secret in secrets:
        key = _derive(secret)
        keys[_key_id(key)] = hmac.new(key, digestmod=hashlib.sha256)
    return Keyring(signing=next(iter(keys)), keys=keys)


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The process's keyring, derived once (``keyring.cache_clear()`` after changing settings)."""
    return keyring_from(get_settings())
