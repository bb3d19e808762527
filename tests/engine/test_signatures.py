"""The two signature schemes: the standards' published vectors, OpenSSL as an independent peer."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from engine import signatures
from engine.signatures import (
    SM2_DEFAULT_ID,
    KeyRejected,
    MalformedSignature,
    SignatureFailed,
    SignatureScheme,
    Sm2PrivateKey,
)
from tests.support import openssl

# GB/T 32918.5-2017 (GM/T 0003.5-2012) annex A.2: signature on the recommended curve, with the
# default ID; OpenSSL's test/sm2_internal_test.c checks the same numbers.
VECTOR_D = int("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8", 16)
VECTOR_PUBLIC = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
VECTOR_MESSAGE = b"message digest"
VECTOR_K = int("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21", 16)
VECTOR_ZA = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
VECTOR_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
VECTOR_R = int("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3", 16)
VECTOR_S = int("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA", 16)

# GB/T 32905-2016 annex A: examples 1 and 2.
SM3_VECTORS = [
    (b"abc", "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"),
    (b"abcd" * 16, "DEBE9FF92275B8A138604889C18E5A4D6FDB70E5387E5765293DCBA39C0C5732"),
]


@pytest.mark.parametrize(("message", "digest"), SM3_VECTORS)
def test_sm3_reproduces_the_standards_examples(message: bytes, digest: str) -> None:
    assert signatures.sm3(message) == bytes.fromhex(digest)


def test_sm2_reproduces_the_standards_signature_example() -> None:
    key = Sm2PrivateKey(VECTOR_D)
    assert signatures.public_key_bytes(key) == VECTOR_PUBLIC
    assert signatures.sm2_za(VECTOR_PUBLIC, SM2_DEFAULT_ID) == VECTOR_ZA
    assert signatures.sm3(VECTOR_ZA + VECTOR_MESSAGE) == VECTOR_E
    # The example's fixed nonce k, through the same signing step sign() uses with a random one.
    assert signatures.sm2_sign_with_nonce(VECTOR_D, VECTOR_MESSAGE, SM2_DEFAULT_ID, VECTOR_K) == (
        VECTOR_R,
        VECTOR_S,
    )
    published = encode_dss_signature(VECTOR_R, VECTOR_S)
    signatures.verify(SignatureScheme.sm2, VECTOR_PUBLIC, VECTOR_MESSAGE, published)
    for message, signer_id in ((b"message digesT", SM2_DEFAULT_ID), (VECTOR_MESSAGE, b"ALICE")):
        with pytest.raises(SignatureFailed):
            signatures.verify(
                SignatureScheme.sm2, VECTOR_PUBLIC, message, published, signer_id=signer_id
            )


def test_ed25519_reproduces_rfc8032_test_1() -> None:
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    signatures.verify(SignatureScheme.ed25519, public, b"", signature)
    with pytest.raises(SignatureFailed):
        signatures.verify(SignatureScheme.ed25519, public, b"x", signature)


@pytest.mark.parametrize("scheme", list(SignatureScheme))
def test_each_scheme_signs_verifies_and_round_trips_its_pem(scheme: SignatureScheme) -> None:
    key = signatures.generate_private_key(scheme)
    assert signatures.scheme_of(key) == scheme
    public = signatures.public_key_bytes(key)
    signature = signatures.sign(key, b"payload")
    signatures.verify(scheme, public, b"payload", signature)
    loaded = signatures.load_private_key_pem(signatures.private_key_pem(key))
    assert signatures.public_key_bytes(loaded) == public
    other = signatures.public_key_bytes(signatures.generate_private_key(scheme))
    with pytest.raises(SignatureFailed):
        signatures.verify(scheme, other, b"payload", signature)


def test_sm2_refuses_points_off_the_curve_and_malformed_signatures() -> None:
    off_curve = VECTOR_PUBLIC[:-1] + bytes([VECTOR_PUBLIC[-1] ^ 1])
    for bad in (off_curve, VECTOR_PUBLIC[1:], b"\x02" + VECTOR_PUBLIC[1:], b""):
        with pytest.raises(KeyRejected):
            signatures.check_public_key(SignatureScheme.sm2, bad)
    n = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
    published = encode_dss_signature(VECTOR_R, VECTOR_S)
    malformed = [
        b"",
        VECTOR_R.to_bytes(32, "big") + VECTOR_S.to_bytes(32, "big"),  # raw r || s, not DER
        published + b"\x00",
        encode_dss_signature(0, VECTOR_S),
        encode_dss_signature(VECTOR_R, n),
    ]
    for signature in malformed:
        with pytest.raises(MalformedSignature):
            signatures.verify(SignatureScheme.sm2, VECTOR_PUBLIC, VECTOR_MESSAGE, signature)


def test_pem_of_another_kind_is_refused() -> None:
    for pem in (b"", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(KeyRejected):
            signatures.load_private_key_pem(pem)


# --- OpenSSL 3 as an independent implementation --------------------------------------------------


def test_sanyi_verifies_an_sm2_signature_made_by_openssl(tmp_path: Path) -> None:
    key, public = openssl.sm2_key(tmp_path)
    message = b'{"hosp_rxno":"RX-1"}'
    signature = openssl.sm2_sign(key, message, tmp_path)
    signatures.verify(SignatureScheme.sm2, public, message, signature)
    with pytest.raises(SignatureFailed):
        signatures.verify(SignatureScheme.sm2, public, b"other", signature)
    # OpenSSL's own PKCS#8 file loads as the same key.
    loaded = signatures.load_private_key_pem(key.read_bytes())
    assert signatures.public_key_bytes(loaded) == public


def test_openssl_verifies_an_sm2_signature_made_by_sanyi(tmp_path: Path) -> None:
    private = signatures.generate_private_key(SignatureScheme.sm2)
    key = tmp_path / "sanyi.pem"
    key.write_bytes(signatures.private_key_pem(private))
    spki = openssl.run(openssl.openssl(), "pkey", "-in", str(key), "-pubout", "-outform", "DER")
    assert spki == openssl.SM2_SPKI_PREFIX + signatures.public_key_bytes(private)
    message = b'{"psn_no":"P-1"}'
    signature = signatures.sign(private, message)
    assert openssl.sm2_verifies(key, message, signature, tmp_path)
    assert not openssl.sm2_verifies(key, b'{"psn_no":"P-2"}', signature, tmp_path)
