"""The voucher token's format: ``base64url(payload) "." base64url(signature)``, no padding.

The payload is the RFC 8785 canonical JSON of :class:`Payload` (names below); the signature is the
issuing key's signature of exactly those bytes (engine/signatures.py: Ed25519 raw, SM2 DER over SM3
with the default signer ID). A payload that is not canonical JSON of that shape is refused, so a
token has one spelling and what was signed is what is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Final

import rfc8785

#: The longest token accepted: a payload of about 160 bytes and an SM2 DER signature of at most
#: 72 bytes, base64url, with room to spare; anything longer is not a token.
MAX_TOKEN_CHARS: Final = 512

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_ADMDVS = re.compile(r"[0-9]{6}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_PSN_NO = re.compile(r"[A-Za-z0-9_-]{1,30}")


class Malformed(ValueError):
    """Not a token: wrong segments, not base64url, not canonical JSON of the payload's shape."""


@dataclass(frozen=True, slots=True)
class Payload:
    """What a token says: who issued it (region and key), whom it names, its id and lifetime
    (UNIX seconds)."""

    insuplc_admdvs: str
    key_id: str
    psn_no: str
    token_id: str
    iat: int
    exp: int


def payload_bytes(payload: Payload) -> bytes:
    """The bytes the issuer signs: RFC 8785 canonical JSON of the payload."""
    return bytes(rfc8785.dumps(asdict(payload)))


def segment(data: bytes) -> str:
    """``data`` as one token segment: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _SEGMENT.fullmatch(text):
        raise Malformed("a token segment is base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed("a token segment is not base64url") from exc
    if segment(data) != text:
        raise Malformed("a token segment is not canonical base64url")
    return data


def compact(signed: bytes, signature: bytes) -> str:
    """The token: the signed payload bytes and the signature, base64url, joined by a dot."""
    return f"{segment(signed)}.{segment(signature)}"


def _field(data: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Malformed(f"the payload's {name} is malformed")
    return value


def _seconds(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if type(value) is not int or not 0 < value < 2**40:
        raise Malformed(f"the payload's {name} is not UNIX seconds")
    return value


def parse(token: str) -> tuple[Payload, bytes, bytes]:
    """The payload, the signed bytes and the signature of ``token`` (:class:`Malformed` if it is
    not one). Nothing here is trusted before the signature is verified."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise Malformed("a token is two base64url segments joined by a dot")
    head, tail = token.split(".")
    signed, signature = _unb64(head), _unb64(tail)
    try:
        data = json.loads(signed)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("the payload is not JSON") from exc
    if not isinstance(data, dict) or set(data) != set(Payload.__dataclass_fields__):
        raise Malformed("the payload has other members than a voucher's")
    payload = Payload(
        insuplc_admdvs=_field(data, "insuplc_admdvs", _ADMDVS),
        key_id=_field(data, "key_id", _HEX16),
        psn_no=_field(data, "psn_no", _PSN_NO),
        token_id=_field(data, "token_id", _HEX32),
        iat=_seconds(data, "iat"),
        exp=_seconds(data, "exp"),
    )
    if payload_bytes(payload) != signed:
        raise Malformed("the payload is not canonical JSON")
    return payload, signed, signature
