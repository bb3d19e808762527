"""The doctor's signature: canonical form, envelope, keys and every way verification refuses."""

from __future__ import annotations

import base64
import copy
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.errors import InvalidRequest, SanyiError
from prescriptions.signing import (
    COVERED_DIAGNOSIS_FIELDS,
    COVERED_FIELDS,
    COVERED_LINE_FIELDS,
    Signature,
    SignatureRejected,
    SignatureScheme,
    canonical_bytes,
    check_public_key,
    generate_key_pair,
    key_id,
    load_private_key,
    public_key_b64,
    save_private_key,
    sign,
    signed_content,
    verify,
)
from tests.prescriptions.factories import drug_line_doc, rx_doc

# RFC 8032 section 7.1, test 1: a published Ed25519 key, so the vector below can be checked by
# any other implementation (docs/prescriptions.md repeats it).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
VECTOR_DOC: dict[str, Any] = {
    "vali_days": 1,
    "hosp_rxno": "RX0001",
    "rxdrugdetail": [
        {
            "medc_days": 7,
            "drug_cnt": "14",
            "med_list_codg": "XC08CAA001A001010100001",
            "pric": "1.2345",
        }
    ],
    "diseinfo": [{"diag_name": "高血压", "diag_code": "I10"}],
    "prsc_time": "2026-03-02T09:30:00+08:00",
    "hi_rxno": "engine",
    "max_rept_cnt": None,
}
VECTOR_BYTES = (
    '{"diseinfo":[{"diag_code":"I10","diag_name":"高血压"}],"hosp_rxno":"RX0001",'
    '"prsc_time":"2026-03-02T09:30:00+08:00","rxdrugdetail":[{"drug_cnt":"14",'
    '"med_list_codg":"XC08CAA001A001010100001","medc_days":7}],"vali_days":1}'
).encode()
VECTOR_SIGNATURE = (
    "IIiC4lmGmCb2AxhRrdbgbJK1FBdOCHUyK5zdu6HltY3urVb7yaUeP7dSzJ8SEfkkv/PqceMCr8bbvBftGV8fDQ=="
)

PRIVATE_KEY, PUBLIC_KEY = generate_key_pair()
OTHER_KEY, OTHER_PUBLIC_KEY = generate_key_pair()


def _code(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str | None]:
    error: SanyiError = exc.value
    return error.code, error.field


def test_a_signed_prescription_verifies() -> None:
    doc = rx_doc()
    signature = sign(doc, PRIVATE_KEY)
    assert signature.scheme is SignatureScheme.ed25519
    assert signature.key_id == key_id(PUBLIC_KEY)
    verify(doc, signature, PUBLIC_KEY, "ed25519")
    verify(doc, signature, PUBLIC_KEY, SignatureScheme.ed25519)


def test_canonical_bytes_match_the_published_vector() -> None:
    """RFC 8785: sorted keys, no whitespace, UTF-8 text as is; uncovered and null members gone."""
    assert canonical_bytes(VECTOR_DOC) == VECTOR_BYTES


def test_signature_matches_the_published_vector() -> None:
    """Ed25519 is deterministic: RFC 8032 test key 1 over the vector document gives one value,
    and that value verifies with a plain Ed25519 implementation over the canonical bytes."""
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert base64.b64decode(public_key_b64(key)) == RFC8032_PUBLIC
    signature = sign(VECTOR_DOC, key)
    assert signature.value == VECTOR_SIGNATURE
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(
        base64.b64decode(VECTOR_SIGNATURE), VECTOR_BYTES
    )


def test_the_covered_set_is_the_section_9_document() -> None:
    assert {"hosp_rxno", "dr_code", "prsc_time", "vali_end_time", "rxdrugdetail"} <= COVERED_FIELDS
    assert not {"hi_rxno", "rx_trace_code", "rx_stas_codg", "signature"} & COVERED_FIELDS
    assert {"med_list_codg", "drug_cnt", "medc_days", "used_frqu_codg"} <= COVERED_LINE_FIELDS
    assert {"diag_code", "diag_name"} <= COVERED_DIAGNOSIS_FIELDS
    content = signed_content(rx_doc())
    assert set(content) == COVERED_FIELDS
    assert all(set(item) == COVERED_LINE_FIELDS for item in content["rxdrugdetail"])
    assert all(set(item) == COVERED_DIAGNOSIS_FIELDS for item in content["diseinfo"])


def test_engine_assigned_and_unknown_members_are_not_signed() -> None:
    doc = rx_doc()
    signature = sign(doc, PRIVATE_KEY)
    stored = copy.deepcopy(doc)
    stored.update(hi_rxno="HI999", rx_trace_code="other", rx_stas_codg="2", signature={"x": 1})
    stored["rxdrugdetail"][0]["pric"] = "12.3456"
    stored["rxdrugdetail"][0]["drug_trac_codg"] = ["81234567890123456789"]
    verify(stored, signature, PUBLIC_KEY, "ed25519")


def test_a_null_member_is_the_same_as_an_absent_one() -> None:
    doc = rx_doc(extd_days_rsn=None)
    doc["rxdrugdetail"][0]["drug_spec"] = None
    signature = sign(doc, PRIVATE_KEY)
    del doc["extd_days_rsn"]
    del doc["rxdrugdetail"][0]["drug_spec"]
    verify(doc, signature, PUBLIC_KEY, "ed25519")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["rxdrugdetail"].reverse(), id="line order"),
        pytest.param(lambda d: d["rxdrugdetail"].pop(), id="a line removed"),
        pytest.param(lambda d: d["rxdrugdetail"].append(drug_line_doc()), id="a line added"),
        pytest.param(lambda d: d.update(max_rept_cnt="3"), id="int to string"),
        pytest.param(lambda d: d["rxdrugdetail"][0].update(drug_cnt="3.0"), id="3 to 3.0"),
        pytest.param(lambda d: d.update(emer_flag=None), id="a signed member removed"),
        pytest.param(lambda d: d["diseinfo"][0].update(diag_name="高血压"), id="diagnosis name"),
    ],
)
def test_structural_changes_break_the_signature(change: Any) -> None:
    doc = rx_doc()
    signature = sign(doc, PRIVATE_KEY)
    change(doc)
    with pytest.raises(SignatureRejected) as exc:
        verify(doc, signature, PUBLIC_KEY, "ed25519")
    assert _code(exc) == ("invalid_signature", "signature")


def test_another_doctors_key_is_refused() -> None:
    doc = rx_doc()
    with pytest.raises(SignatureRejected) as exc:
        verify(doc, sign(doc, OTHER_KEY), PUBLIC_KEY, "ed25519")
    assert _code(exc) == ("invalid_signature", "signature.key_id")
    anonymous = sign(doc, OTHER_KEY).model_copy(update={"key_id": None})
    with pytest.raises(SignatureRejected) as exc:
        verify(doc, anonymous, PUBLIC_KEY, "ed25519")
    assert _code(exc) == ("invalid_signature", "signature")


def test_key_id_is_optional_and_independent_of_base64_spelling() -> None:
    doc = rx_doc()
    signature = sign(doc, PRIVATE_KEY).model_copy(update={"key_id": None})
    verify(doc, signature, PUBLIC_KEY, "ed25519")
    assert len(key_id(PUBLIC_KEY)) == 16


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"x" * 63).decode()])
def test_a_malformed_signature_value_is_refused(value: str) -> None:
    signature = Signature.model_construct(scheme=SignatureScheme.ed25519, key_id=None, value=value)
    with pytest.raises(SignatureRejected) as exc:
        verify(rx_doc(), signature, PUBLIC_KEY, "ed25519")
    assert _code(exc) == ("invalid_signature", "signature.value")


def test_an_sm2_signature_verifies_against_the_doctors_sm2_key() -> None:
    doc = rx_doc()
    private_key, public_key = generate_key_pair(SignatureScheme.sm2)
    signature = sign(doc, private_key)
    assert signature.scheme == SignatureScheme.sm2
    verify(doc, signature, public_key, "sm2")
    changed = copy.deepcopy(doc)
    changed["rxdrugdetail"][0]["drug_cnt"] = "7"
    with pytest.raises(SignatureRejected) as exc:
        verify(changed, signature, public_key, "sm2")
    assert _code(exc) == ("invalid_signature", "signature")


def test_a_scheme_other_than_the_registered_keys_is_refused() -> None:
    doc = rx_doc()
    envelope = Signature.model_validate({"scheme": "sm2", "value": sign(doc, PRIVATE_KEY).value})
    with pytest.raises(SignatureRejected) as exc:
        verify(doc, envelope, PUBLIC_KEY, "ed25519")
    assert _code(exc) == ("invalid_signature", "signature.scheme")
    with pytest.raises(InvalidRequest) as unknown:
        verify(doc, sign(doc, PRIVATE_KEY), PUBLIC_KEY, "rsa")
    assert _code(unknown) == ("unsupported_signature_scheme", "key_scheme")


def test_the_envelope_is_a_closed_shape() -> None:
    with pytest.raises(ValueError):
        Signature.model_validate({"scheme": "rsa", "value": "AAAA"})
    with pytest.raises(ValueError):
        Signature.model_validate({"scheme": "ed25519", "value": "AAAA", "alg": "none"})
    envelope = sign(rx_doc(), PRIVATE_KEY)
    assert Signature.model_validate_json(envelope.model_dump_json()) == envelope


@pytest.mark.parametrize(
    "public_key", ["", "AAAA", base64.b64encode(b"k" * 33).decode(), "11qYAYKx!"]
)
def test_a_malformed_registered_key_is_named(public_key: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_public_key(public_key, "ed25519")
    assert _code(exc) == ("invalid_public_key", "public_key")
    with pytest.raises(InvalidRequest) as exc:
        verify(rx_doc(), sign(rx_doc(), PRIVATE_KEY), public_key, "ed25519")
    assert exc.value.code == "invalid_public_key"


def test_check_public_key_knows_each_schemes_keys() -> None:
    check_public_key(PUBLIC_KEY, "ed25519")
    check_public_key(generate_key_pair(SignatureScheme.sm2)[1], "sm2")
    with pytest.raises(InvalidRequest) as exc:
        check_public_key(PUBLIC_KEY, "sm2")
    assert _code(exc) == ("invalid_public_key", "public_key")
    with pytest.raises(InvalidRequest) as exc:
        check_public_key(PUBLIC_KEY, "rsa")
    assert exc.value.code == "unsupported_signature_scheme"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["rxdrugdetail"][1].update(drug_cnt=3.5), "rxdrugdetail.1.drug_cnt"),
        (lambda d: d.update(vali_days=Decimal("3")), "vali_days"),
        (lambda d: d.update(prsc_time=date(2026, 3, 2)), "prsc_time"),
        (lambda d: d.update(rxdrugdetail="X001"), "rxdrugdetail"),
        (lambda d: d.update(diseinfo=[["I10"]]), "diseinfo"),
        (lambda d: d.update(max_rept_cnt=2**53), None),
        (lambda d: d.update(hosp_rxno="RX\ud800"), None),
    ],
)
def test_values_that_do_not_survive_storage_are_refused(change: Any, field: str | None) -> None:
    doc = rx_doc()
    change(doc)
    with pytest.raises(InvalidRequest) as exc:
        canonical_bytes(doc)
    assert _code(exc) == ("unsignable_document", field)


def test_a_float_in_an_unsigned_member_does_not_matter() -> None:
    doc = rx_doc()
    doc["rxdrugdetail"][0]["pric"] = 1.5
    doc["bench_ms"] = 0.25
    assert canonical_bytes(doc) == canonical_bytes(rx_doc())


def test_signature_rejected_renders_as_a_400() -> None:
    error = SignatureRejected("x", field="signature")
    assert isinstance(error, InvalidRequest)
    assert error.status == 400
    assert error.as_dict() == {
        "type": "urn:sanyi:problem:invalid_signature",
        "title": "Bad Request",
        "status": 400,
        "detail": "x",
        "code": "invalid_signature",
        "message": "x",
        "field": "signature",
    }


def test_a_private_key_file_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "doctor.pem"
    key, public = generate_key_pair()
    save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert public_key_b64(loaded) == public
    doc = rx_doc()
    verify(doc, sign(doc, loaded), public, "ed25519")
    with pytest.raises(FileExistsError):
        save_private_key(OTHER_KEY, path)
    assert public_key_b64(load_private_key(path)) == public


def test_loading_a_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="neither an Ed25519 nor an SM2 key"):
        load_private_key(path)
