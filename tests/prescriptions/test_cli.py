"""``sanyi rx keygen`` and ``sanyi rx sign``, run through the real ``sanyi`` command tree."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from prescriptions.signing import Signature, verify
from tests.prescriptions.factories import rx_doc

runner = CliRunner()


def _keygen(path: Path) -> str:
    result = runner.invoke(app, ["rx", "keygen", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_keygen_writes_a_private_pem_and_prints_the_key_to_register(tmp_path: Path) -> None:
    pem = tmp_path / "doctor.pem"
    public_key = _keygen(pem)
    assert len(base64.b64decode(public_key, validate=True)) == 32
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in pem.read_bytes()


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    pem = tmp_path / "doctor.pem"
    _keygen(pem)
    before = pem.read_bytes()
    result = runner.invoke(app, ["rx", "keygen", "--out", str(pem)])
    assert result.exit_code == 2
    assert pem.read_bytes() == before


def test_sign_prints_an_envelope_the_engine_verifies(tmp_path: Path) -> None:
    pem = tmp_path / "doctor.pem"
    public_key = _keygen(pem)
    doc = rx_doc()
    rx_file = tmp_path / "prescription.json"
    rx_file.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    result = runner.invoke(app, ["rx", "sign", "--key", str(pem), "--rx", str(rx_file)])
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert set(envelope) == {"scheme", "key_id", "value"}
    assert envelope["scheme"] == "ed25519"
    verify(doc, Signature.model_validate(envelope), public_key, "ed25519")

    # Key order and layout of the file do not change the signature (Ed25519 is deterministic).
    reordered = dict(reversed(list(doc.items())))
    rx_file.write_text(json.dumps(reordered, separators=(",", ":")), encoding="utf-8")
    again = runner.invoke(app, ["rx", "sign", "--key", str(pem), "--rx", str(rx_file)])
    assert json.loads(again.stdout) == envelope


def _sign_text(tmp_path: Path, text: str) -> tuple[int, str]:
    pem = tmp_path / "doctor.pem"
    if not pem.exists():
        _keygen(pem)
    rx_file = tmp_path / "prescription.json"
    rx_file.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["rx", "sign", "--key", str(pem), "--rx", str(rx_file)])
    return result.exit_code, " ".join(result.output.split())


def test_sign_refuses_fractional_numbers_with_the_member_path(tmp_path: Path) -> None:
    doc = rx_doc()
    doc["rxdrugdetail"][1]["drug_cnt"] = 3.5
    code, output = _sign_text(tmp_path, json.dumps(doc))
    assert code == 2
    assert "rxdrugdetail.1.drug_cnt" in output


def test_sign_refuses_ambiguous_json(tmp_path: Path) -> None:
    code, output = _sign_text(tmp_path, '{"hosp_rxno": "A", "hosp_rxno": "B"}')
    assert code == 2 and "duplicate key" in output
    code, output = _sign_text(tmp_path, '{"vali_days": NaN}')
    assert code == 2 and "NaN" in output
    code, output = _sign_text(tmp_path, "[1, 2]")
    assert code == 2 and "one JSON object" in output


def test_sign_refuses_a_key_that_is_not_a_doctor_key(tmp_path: Path) -> None:
    rx_file = tmp_path / "prescription.json"
    rx_file.write_text("{}", encoding="utf-8")
    not_a_key = tmp_path / "x.pem"
    not_a_key.write_text("hello", encoding="utf-8")
    result = runner.invoke(app, ["rx", "sign", "--key", str(not_a_key), "--rx", str(rx_file)])
    assert result.exit_code == 2
    assert "--key" in result.output


def test_an_sm2_key_from_keygen_signs_envelopes_the_engine_verifies(tmp_path: Path) -> None:
    pem = tmp_path / "doctor-sm2.pem"
    result = runner.invoke(app, ["rx", "keygen", "--out", str(pem), "--scheme", "sm2"])
    assert result.exit_code == 0, result.output
    public_key = result.stdout.strip()
    assert base64.b64decode(public_key, validate=True)[0] == 0x04  # the uncompressed point
    doc = rx_doc()
    rx_file = tmp_path / "prescription.json"
    rx_file.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    signed = runner.invoke(app, ["rx", "sign", "--key", str(pem), "--rx", str(rx_file)])
    assert signed.exit_code == 0, signed.output
    envelope = Signature.model_validate(json.loads(signed.stdout))
    assert envelope.scheme == "sm2"
    verify(doc, envelope, public_key, "sm2")
