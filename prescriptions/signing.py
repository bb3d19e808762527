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

The envelope is :class:`Signature` ``{"scheme", "key_id"?, "value"}``. ``scheme`` is the closed set
of :mod:`engine.signatures`: ``ed25519`` (RFC 8032) and ``sm2`` (GB/T 32918 over SM3, the default
signer ID ``1234567812345678`` in ZA). Public keys are registered in standard base64 of the raw key
(32 bytes Ed25519, the 65-byte uncompressed point ``04 || x || y`` SM2); ``value`` is the base64 of
the signature (64 raw bytes Ed25519, DER ``SEQUENCE { r, s }`` SM2). ``key_id`` is :func:`key_id`
of the public key, so a signature made with another key of the doctor is named as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import rfc8785
from pydantic import BaseModel, ConfigDict, Field

from engine import signatures
from engine.errors import InvalidRequest
from engine.signatures import PrivateKey, SignatureScheme

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


def _known_scheme(scheme: SignatureScheme | str, field: str) -> SignatureScheme:
    """``scheme`` as a member of the closed set, or ``unsupported_signature_scheme``."""
    try:
        return SignatureScheme(scheme)
    except ValueError:
        raise InvalidRequest(
            f"signature scheme {scheme!s} is not supported; use ed25519 or sm2",
            code="unsupported_signature_scheme",
            field=field,
        ) from None


def _public_key(public_key_b64: str, scheme: SignatureScheme) -> bytes:
    """The raw registered key, refused as ``invalid_public_key`` unless it is one of ``scheme``."""
    try:
        raw = _b64decode(public_key_b64)
        signatures.check_public_key(scheme, raw)
    except ValueError:
        shape = "32 raw bytes" if scheme == SignatureScheme.ed25519 else "the point 04||x||y"
        raise InvalidRequest(
            f"an {scheme.value} public key is {shape} in base64",
            code="invalid_public_key",
            field="public_key",
        ) from None
    return raw


def check_public_key(public_key_b64: str, scheme: SignatureScheme | str) -> None:
    """Refuse a public key Sanyi could never verify with, at registration rather than at the
    first prescription (``unsupported_signature_scheme`` or ``invalid_public_key``)."""
    _public_key(public_key_b64, _known_scheme(scheme, "key_scheme"))


def key_id(public_key_b64: str) -> str:
    """A short, stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes
    (independent of how the base64 was written)."""
    return hashlib.sha256(_b64decode(public_key_b64)).hexdigest()[:16]


def public_key_b64(private_key: PrivateKey) -> str:
    """The raw public key in standard base64: what the registry stores as ``public_key``."""
    return base64.b64encode(signatures.public_key_bytes(private_key)).decode("ascii")


def generate_key_pair(
    scheme: SignatureScheme = SignatureScheme.ed25519,
) -> tuple[PrivateKey, str]:
    """A new doctor key: the private key and the base64 public key to register."""
    private_key = signatures.generate_private_key(scheme)
    return private_key, public_key_b64(private_key)


def save_private_key(private_key: PrivateKey, path: Path) -> None:
    """Write the key as unencrypted PEM PKCS#8, readable by its owner only.

    Refuses to overwrite an existing file (``FileExistsError``): replacing a doctor's key by
    accident would orphan the public key already registered for them.
    """
    pem = signatures.private_key_pem(private_key)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path) -> PrivateKey:
    """Read a PEM PKCS#8 Ed25519 or SM2 private key (``ValueError`` if it is anything else)."""
    return signatures.load_private_key_pem(path.read_bytes())


# --- sign and verify -----------------------------------------------------------------------------


def sign(doc: Mapping[str, Any], private_key: PrivateKey) -> Signature:
    """The doctor's signature over ``doc`` (:func:`canonical_bytes`, the key's scheme)."""
    value = signatures.sign(private_key, canonical_bytes(doc))
    return Signature(
        scheme=signatures.scheme_of(private_key),
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
    :class:`SignatureRejected` (``invalid_signature``) on any mismatch: another key or scheme than
    the registered one, a malformed value, or a document that differs in any covered byte;
    ``unsupported_signature_scheme`` for a registered scheme outside the closed set.
    """
    registered = _known_scheme(scheme, "key_scheme")
    public_key = _public_key(public_key_b64, registered)
    if signature.scheme != registered:
        raise SignatureRejected(
            f"signed with {signature.scheme.value}; the doctor's key is {registered.value}",
            field="signature.scheme",
        )
    if signature.key_id is not None and signature.key_id != key_id(public_key_b64):
        raise SignatureRejected(
            "signed with another key than the one registered for the doctor",
            field="signature.key_id",
        )
    try:
        value = _b64decode(signature.value)
    except ValueError:
        raise SignatureRejected("the signature is not base64", field="signature.value") from None
    try:
        signatures.verify(registered, public_key, canonical_bytes(doc), value)
    except signatures.MalformedSignature as exc:
        raise SignatureRejected(str(exc), field="signature.value") from exc
    except signatures.SignatureFailed as exc:
        raise SignatureRejected(
            f"the signature does not match the prescription: {exc}", field="signature"
        ) from exc
