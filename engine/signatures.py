"""Digital signatures of the two schemes the engine verifies: Ed25519 and SM2 (docs/signatures.md).

docs/domain.md section 17: "GB/T 32918 SM2 signatures over SM3 digests, with the signer's identity
(default ID ``1234567812345678``) mixed into the digest as the standard prescribes." Nationally,
prescriptions and vouchers are signed with SM2; Ed25519 (RFC 8032) remains supported. Domains sign
and verify through this module only, so a key or signature is read the same way everywhere.

Encodings (what travels and what is stored):

- public keys: Ed25519 the raw 32 bytes (RFC 8032); SM2 the uncompressed point ``04 || x || y``
  (65 bytes, GB/T 32918.1 section 4.2.9), the form OpenSSL prints as ``pub:``;
- signatures: Ed25519 the raw 64 bytes; SM2 the DER ``SEQUENCE { r INTEGER, s INTEGER }`` of
  GB/T 35276 (what OpenSSL and the national SDKs emit), refused unless strictly DER;
- private keys on disk: PEM PKCS#8, readable by OpenSSL (``openssl pkey -in key.pem``).

SM2 arithmetic is snowland-smx's (``pysmx``); SM3 and Ed25519 are ``cryptography``'s. The checks
the library leaves to its caller are made here: the public key is a point of the curve, ``r`` and
``s`` lie in ``[1, n-1]``, and signing retries a nonce that gives a degenerate ``r`` or ``s``.
"""

from __future__ import annotations

import base64
import enum
import secrets
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pysmx.SM2 import Sign as _pysmx_sign
from pysmx.SM2 import Verify as _pysmx_verify
from pysmx.SM2 import get_za as _pysmx_za
from pysmx.SM2 import kG as _pysmx_scalar_mult
from pysmx.SM2 import sm2_G as _SM2_G_HEX

__all__ = [
    "SM2_DEFAULT_ID",
    "KeyRejected",
    "MalformedSignature",
    "PrivateKey",
    "SignatureFailed",
    "SignatureScheme",
    "Sm2PrivateKey",
    "check_public_key",
    "generate_private_key",
    "load_private_key_pem",
    "private_key_pem",
    "public_key_bytes",
    "scheme_of",
    "sign",
    "sm2_sign_with_nonce",
    "sm2_za",
    "sm3",
    "verify",
]


class SignatureScheme(enum.StrEnum):
    """The closed set of signature schemes the engine signs and verifies with."""

    ed25519 = "ed25519"
    #: GB/T 32918.2 SM2 over SM3, the signer's ID mixed in (ZA).
    sm2 = "sm2"


#: GB/T 35276 section 10: the user ID when none is agreed, 16 bytes.
SM2_DEFAULT_ID: Final = b"1234567812345678"

# GB/T 32918.5 recommended curve sm2p256v1: y^2 = x^3 + ax + b over F_p, base point order n.
_P: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
_A: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
_B: Final = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
_N: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

_ED25519_KEY_BYTES: Final = 32
_ED25519_SIGNATURE_BYTES: Final = 64
_SM2_POINT_BYTES: Final = 65
_SM2_SCALAR_BYTES: Final = 32

# PKCS#8 DER of an SM2 private key, up to the 32 bytes of d. Ours: AlgorithmIdentifier
# {id-ecPublicKey, sm2p256v1} and an ECPrivateKey {1, d} without the optional members. OpenSSL's
# ``genpkey -algorithm SM2``: the same, the ECPrivateKey followed by its [1] public key.
_SM2_PKCS8_PREFIX: Final = bytes.fromhex(
    "3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420"
)
_SM2_PKCS8_OPENSSL_PREFIX: Final = bytes.fromhex(
    "308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420"
)
_SM2_PKCS8_OPENSSL_PUBLIC: Final = bytes.fromhex("a144034200")


class KeyRejected(ValueError):
    """A key that is not a key of its scheme (wrong length, not on the curve, not PKCS#8...)."""


class SignatureFailed(ValueError):
    """A signature that does not verify: malformed, made by another key, or over other bytes."""


class MalformedSignature(SignatureFailed):
    """Bytes that are no signature of the scheme at all (length, DER, range of r and s)."""


@dataclass(frozen=True)
class Sm2PrivateKey:
    """An SM2 private key: the scalar ``d`` in ``[1, n-2]`` (GB/T 32918.1 section 6.1)."""

    d: int = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.d <= _N - 2:
            raise KeyRejected("an SM2 private key lies in [1, n-2]")


PrivateKey = Ed25519PrivateKey | Sm2PrivateKey


# --- hashing -------------------------------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    """The SM3 digest of ``data`` (GB/T 32905), 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm2_za(public_key: bytes, signer_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """``ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2 section 5.5): the
    signer's identity and key hashed into every digest they sign."""
    _sm2_point(public_key)
    return bytes.fromhex(_pysmx_za(signer_id, public_key[1:].hex()))


# --- keys ----------------------------------------------------------------------------------------


def _sm2_point(raw: bytes) -> tuple[int, int]:
    """The affine point of an uncompressed SM2 public key, refused unless it lies on the curve
    (the cofactor is 1, so any point of the curve other than infinity is a valid public key)."""
    if len(raw) != _SM2_POINT_BYTES or raw[0] != 0x04:
        raise KeyRejected("an SM2 public key is the 65-byte uncompressed point 04 || x || y")
    x = int.from_bytes(raw[1:33], "big")
    y = int.from_bytes(raw[33:], "big")
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P != 0:
        raise KeyRejected("the SM2 public key is not a point of the curve")
    return x, y


def _sm2_public_point(d: int) -> bytes:
    return b"\x04" + bytes.fromhex(_pysmx_scalar_mult(d, _SM2_G_HEX, 64))


def check_public_key(scheme: SignatureScheme, public_key: bytes) -> None:
    """Refuse (``KeyRejected``) bytes that are not a public key of ``scheme``."""
    if scheme == SignatureScheme.ed25519:
        if len(public_key) != _ED25519_KEY_BYTES:
            raise KeyRejected("an Ed25519 public key is 32 raw bytes")
    else:
        _sm2_point(public_key)


def generate_private_key(scheme: SignatureScheme) -> PrivateKey:
    """A new private key of ``scheme`` from the operating system's CSPRNG."""
    if scheme == SignatureScheme.ed25519:
        return Ed25519PrivateKey.generate()
    return Sm2PrivateKey(1 + secrets.randbelow(_N - 2))


def scheme_of(private_key: PrivateKey) -> SignatureScheme:
    if isinstance(private_key, Sm2PrivateKey):
        return SignatureScheme.sm2
    return SignatureScheme.ed25519


def public_key_bytes(private_key: PrivateKey) -> bytes:
    """The public key of ``private_key`` in the encoding the registries store (module docstring)."""
    if isinstance(private_key, Sm2PrivateKey):
        return _sm2_public_point(private_key.d)
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def private_key_pem(private_key: PrivateKey) -> bytes:
    """``private_key`` as unencrypted PEM PKCS#8."""
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    der = _SM2_PKCS8_PREFIX + private_key.d.to_bytes(_SM2_SCALAR_BYTES, "big")
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n".encode("ascii")


def _sm2_from_pkcs8(der: bytes) -> Sm2PrivateKey | None:
    """The SM2 key of one of the two PKCS#8 layouts above, None for anything else."""
    for prefix, public_tag in (
        (_SM2_PKCS8_PREFIX, b""),
        (_SM2_PKCS8_OPENSSL_PREFIX, _SM2_PKCS8_OPENSSL_PUBLIC),
    ):
        end = len(prefix) + _SM2_SCALAR_BYTES
        if not der.startswith(prefix) or len(der) != end + len(public_tag) + (
            _SM2_POINT_BYTES if public_tag else 0
        ):
            continue
        key = Sm2PrivateKey(int.from_bytes(der[len(prefix) : end], "big"))
        if public_tag:
            if der[end : end + len(public_tag)] != public_tag:
                return None
            if der[end + len(public_tag) :] != public_key_bytes(key):
                raise KeyRejected("the PKCS#8 public key does not belong to its private key")
        return key
    return None


def load_private_key_pem(pem: bytes) -> PrivateKey:
    """Read a PEM PKCS#8 private key of either scheme (``KeyRejected`` for anything else)."""
    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != b"-----BEGIN PRIVATE KEY-----":
        raise KeyRejected("not a PEM PKCS#8 private key")
    try:
        der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise KeyRejected("the PEM body is not base64") from exc
    sm2_key = _sm2_from_pkcs8(der)
    if sm2_key is not None:
        return sm2_key
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyRejected(f"not an Ed25519 or SM2 private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyRejected(f"a {type(key).__name__} is neither an Ed25519 nor an SM2 key")
    return key


# --- sign and verify -----------------------------------------------------------------------------


def sm2_sign_with_nonce(d: int, message: bytes, signer_id: bytes, k: int) -> tuple[int, int] | None:
    """GB/T 32918.2 section 6.1 with the nonce ``k`` given; None when ``k`` gives ``r = 0``,
    ``r + k = n`` or ``s = 0`` (the standard's "choose another k"). :func:`sign` draws ``k`` at
    random; a fixed one reproduces the standard's worked example."""
    raw = _pysmx_sign(message, f"{d:064x}", f"{k:064x}", 64, uid=signer_id)
    if raw is None:
        return None
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return None if s == 0 else (r, s)


def sign(private_key: PrivateKey, message: bytes, *, signer_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """The signature of ``message`` (Ed25519 raw, or SM2 DER over SM3 with ZA of ``signer_id``)."""
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.sign(message)
    while True:
        rs = sm2_sign_with_nonce(private_key.d, message, signer_id, 1 + secrets.randbelow(_N - 1))
        if rs is not None:
            return encode_dss_signature(*rs)


def _sm2_rs(signature: bytes) -> tuple[int, int]:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError as exc:
        raise MalformedSignature("an SM2 signature is DER SEQUENCE { r, s }") from exc
    # One encoding per signature: BER variants and padded integers are not the signer's bytes.
    if encode_dss_signature(r, s) != signature:
        raise MalformedSignature("the SM2 signature is not strict DER")
    if not (1 <= r < _N and 1 <= s < _N):
        raise MalformedSignature("SM2 r and s lie in [1, n-1]")
    return r, s


def verify(
    scheme: SignatureScheme,
    public_key: bytes,
    message: bytes,
    signature: bytes,
    *,
    signer_id: bytes = SM2_DEFAULT_ID,
) -> None:
    """Check that ``signature`` is ``public_key``'s signature of ``message`` under ``scheme``.

    Raises ``KeyRejected`` for a public key that is not one, ``SignatureFailed`` for any other
    mismatch (malformed signature, another key, other bytes, another signer ID)."""
    check_public_key(scheme, public_key)
    if scheme == SignatureScheme.ed25519:
        if len(signature) != _ED25519_SIGNATURE_BYTES:
            raise MalformedSignature("an Ed25519 signature is 64 raw bytes")
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureFailed("the signature does not match") from exc
        return
    r, s = _sm2_rs(signature)
    rs_hex = f"{r:064x}{s:064x}"
    if not _pysmx_verify(rs_hex, message, public_key[1:].hex(), 64, uid=signer_id):
        raise SignatureFailed("the signature does not match")
