"""The doctor's signature over a prescription (docs/domain.md section 9).

"The doctor's signature covers the canonical JSON (RFC 8785) of the prescription; the engine
verifies it against the doctor's registered public key (Ed25519 default; SM2 as an option). A
tampered or unsigned prescription never circulates."

What is signed is :func:`canonical_bytes` of the prescription document: the RFC 8785 (JCS)
serialisation of its *covered* members only (:data:`COVERED_FIELDS`,
:data:`COVERED_DIAGNOSIS_FIELDS` and :data:`COVERED_LINE_FIELDS`): everything the hospital uploads
and the doctor vouches for, and nothing the engine assigns (``hi_rxno``, ``rx_trace_code``,
``rx_stas_codg``...) nor the signature itself. Members outside that set are dropped before
canonicalising, so the engine can verify the stored document as it is, and a member that is
``null`` counts as absent (a JSON encoder that writes ``null`` for unset optionals and one that
leaves them out produce the same bytes). RFC 8785 fixes key order and whitespace, so neither changes
the signature; every other change to a covered value does.

Values are signed verbatim, so the document must stay exact through storage: codes, flags, times
and decimal quantities are JSON strings, counts and day numbers are integers, and floats are refused
(a float does not survive a Decimal round trip byte for byte). docs/prescriptions.md lists the
fields and their JSON types.

The envelope is :class:`Signature` ``{"scheme", "key_id"?, "value"}``. ``scheme`` is a closed set:
``ed25519`` (RFC 8032, via ``cryptography``) is implemented; ``sm2`` (GB/T 32918, the national
algorithm) is reserved and refused as ``unsupported_signature_scheme`` until it is implemented.
Public keys are registered as the raw 32-byte Ed25519 key in standard base64; ``key_id`` is
:func:`key_id` of that key, so a signature made with another key of the doctor is named as such.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import InvalidRequest

__all__ = [
    "COVERED_DIAGNOSIS_FIELDS",
    "COVERED_FIELDS",
    "COVERED_LINE_FIELDS",
    "Signature",
    "SignatureRejected",
    "SignatureScheme",
    "canonical_bytes",
    "check_public_key",
    "generate_key_pair",
    "key_id",
    "load_private_key",
    "public_key_b64",
    "save_private_key",
    "sign",
    "signed_content",
    "verify",
]

#: Top-level members of the prescription the signature covers: the prescription of docs/domain.md
#: section 9 as the hospital uploads it (national names of the 7101 upload), plus the doctor's
#: statements the section 6 rules depend on (emergency, chronic disease, stable condition and the
#: reason for a longer quantity), which must not be changeable without the doctor.
COVERED_FIELDS: Final = frozenset(
    {
        "hosp_rxno",
        "fixmedins_code",
        "mdtrt_id",
        "psn_no",
        "dr_code",
        "rx_type_code",
        "prsc_time",
        "vali_days",
        "vali_end_time",
        "long_rx_flag",
        "rept_flag",
        "max_rept_cnt",
        "min_inrv_days",
        "emer_flag",
        "chro_dise_flag",
        "stab_cond_flag",
        "extd_days_rsn",
        "diseinfo",
        "rxdrugdetail",
    }
)

#: Members of each diagnosis (``diseinfo``) the signature covers.
COVERED_DIAGNOSIS_FIELDS: Final = frozenset(
    {"diag_type", "maindiag_flag", "diag_srt_no", "diag_code", "diag_name"}
)

#: Members of each drug line (``rxdrugdetail``) the signature covers: the drug, the quantity, the
#: days and the usage (dose, frequency, route).
COVERED_LINE_FIELDS: Final = frozenset(
    {
        "med_list_codg",
        "drug_genname",
        "drug_spec",
        "drug_dosform",
        "drug_cnt",
        "drug_cnt_unit",
        "sin_doscnt",
        "sin_dosunt",
        "used_frqu_codg",
        "used_frqu_name",
        "medc_way_codg",
        "medc_way_dscr",
        "medc_days",
    }
)

_NESTED: Final[Mapping[str, frozenset[str]]] = {
    "diseinfo": COVERED_DIAGNOSIS_FIELDS,
    "rxdrugdetail": COVERED_LINE_FIELDS,
}

_ED25519_KEY_BYTES: Final = 32
_ED25519_SIGNATURE_BYTES: Final = 64


class SignatureScheme(enum.StrEnum):
    """The signature algorithms a doctor's key may use (docs/domain.md section 9)."""

    ed25519 = "ed25519"
    #: GB/T 32918 SM2 with SM3; reserved, refused until implemented.
    sm2 = "sm2"


class Signature(BaseModel):
    """The signature envelope a hospital uploads with a prescription."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: SignatureScheme
    key_id: str | None = Field(
        default=None, max_length=64, description="key_id() of the public key that verifies it"
    )
    value: str = Field(min_length=1, max_length=200, description="the signature, base64")


class SignatureRejected(InvalidRequest):
    """The prescription's signature does not verify against the doctor's registered key.

    docs/domain.md section 9: a tampered or unsigned prescription never circulates. The message says
    what did not match, never anything about the key material.
    """

    default_code = "invalid_signature"


# --- canonical form ------------------------------------------------------------------------------


def _unsignable(message: str, field: str | None) -> InvalidRequest:
    return InvalidRequest(message, code="unsignable_document", field=field)


def _json_value(value: Any, path: str) -> Any:
    """``value`` as plain JSON data, ``null`` members dropped; floats and other non-JSON types
    refused with the path of the offending member."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | Decimal):
        raise _unsignable(
            f"{path} is a fractional number; signed quantities travel as decimal strings", path
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _unsignable(f"{path} has a non-string key {key!r}", path)
            if item is not None:
                out[key] = _json_value(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{path}.{index}") for index, item in enumerate(value)]
    raise _unsignable(f"{path} is a {type(value).__name__}, not JSON data", path)


def signed_content(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``doc`` the signature covers, as plain JSON data.

    Keeps the covered members (and, inside each diagnosis and drug line, the covered members of
    those), drops everything else and every ``null`` member.
    """
    content: dict[str, Any] = {}
    for name in sorted(COVERED_FIELDS & doc.keys()):
        value = doc[name]
        if value is None:
            continue
        nested = _NESTED.get(name)
        if nested is not None:
            if not isinstance(value, list | tuple) or not all(
                isinstance(item, Mapping) for item in value
            ):
                raise _unsignable(f"{name} must be a list of objects", name)
            value = [{k: v for k, v in item.items() if k in nested} for item in value]
        content[name] = _json_value(value, name)
    return content


def canonical_bytes(doc: Mapping[str, Any]) -> bytes:
    """The bytes a doctor signs: RFC 8785 canonical JSON of :func:`signed_content`."""
    try:
        return bytes(rfc8785.dumps(signed_content(doc)))
    except rfc8785.CanonicalizationError as exc:
        # Integers beyond 2**53 - 1, lone surrogates: JSON that no two parsers agree on.
        raise _unsignable(f"the prescription is not canonical JSON: {exc}", None) from exc


# --- keys ----------------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def _require_implemented(scheme: SignatureScheme | str, field: str) -> None:
    """Refuse a scheme Sanyi cannot verify yet (``unsupported_signature_scheme``)."""
    if scheme != SignatureScheme.ed25519:
        raise InvalidRequest(
            f"signature scheme {scheme!s} is not supported; use ed25519",
            code="unsupported_signature_scheme",
            field=field,
        )


def _ed25519_public_key(public_key_b64: str) -> Ed25519PublicKey:
    try:
        raw = _b64decode(public_key_b64)
    except ValueError:
        raw = b""
    if len(raw) != _ED25519_KEY_BYTES:
        raise InvalidRequest(
            "an Ed25519 public key is 32 raw bytes in base64",
            code="invalid_public_key",
            field="public_key",
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def check_public_key(public_key_b64: str, scheme: SignatureScheme | str) -> None:
    """Refuse a public key Sanyi could never verify with, at registration rather than at the
    first prescription (``unsupported_signature_scheme`` or ``invalid_public_key``)."""
    _require_implemented(scheme, "key_scheme")
    _ed25519_public_key(public_key_b64)


def key_id(public_key_b64: str) -> str:
    """A short, stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes
    (independent of how the base64 was written)."""
    return hashlib.sha256(_b64decode(public_key_b64)).hexdigest()[:16]


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in standard base64: what the registry stores as ``public_key``."""
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def generate_key_pair() -> tuple[Ed25519PrivateKey, str]:
    """A new doctor key: the private key and the base64 public key to register."""
    private_key = Ed25519PrivateKey.generate()
    return private_key, public_key_b64(private_key)


def save_private_key(private_key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as unencrypted PEM PKCS#8, readable by its owner only.

    Refuses to overwrite an existing file (``FileExistsError``): replacing a doctor's key by
    accident would orphan the public key already registered for them.
    """
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PEM PKCS#8 Ed25519 private key (``ValueError`` if it is anything else)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


# --- sign and verify -----------------------------------------------------------------------------


def sign(doc: Mapping[str, Any], private_key: Ed25519PrivateKey) -> Signature:
    """The doctor's signature over ``doc`` (Ed25519 over :func:`canonical_bytes`)."""
    value = private_key.sign(canonical_bytes(doc))
    return Signature(
        scheme=SignatureScheme.ed25519,
        key_id=key_id(public_key_b64(private_key)),
        value=base64.b64encode(value).decode("ascii"),
    )


def verify(
    doc: Mapping[str, Any],
    signature: Signature,
    public_key_b64: str,
    scheme: SignatureScheme | str,
) -> None:
    """Check that ``signature`` is the registered key's signature over ``doc``.

    ``public_key_b64`` and ``scheme`` are the doctor's registered key. Raises
    :class:`SignatureRejected` (``invalid_signature``) on any mismatch: another key than the
    registered one, a malformed value, or a document that differs in any covered byte; and
    ``unsupported_signature_scheme`` for a scheme not implemented yet (SM2), in the envelope or
    registered for the doctor.
    """
    # Ed25519 is the one implemented scheme, so once both pass they are the same; SM2 adds a
    # dispatch on the scheme here.
    _require_implemented(signature.scheme, "signature.scheme")
    _require_implemented(scheme, "key_scheme")
    public_key = _ed25519_public_key(public_key_b64)
    if signature.key_id is not None and signature.key_id != key_id(public_key_b64):
        raise SignatureRejected(
            "signed with another key than the one registered for the doctor",
            field="signature.key_id",
        )
    try:
        value = _b64decode(signature.value)
    except ValueError:
        value = b""
    if len(value) != _ED25519_SIGNATURE_BYTES:
        raise SignatureRejected(
            "an Ed25519 signature is 64 bytes in base64", field="signature.value"
        )
    try:
        public_key.verify(value, canonical_bytes(doc))
    except InvalidSignature as exc:
        raise SignatureRejected(
            "the signature does not match the prescription", field="signature"
        ) from exc
