"""The system's OpenSSL 3 as an independent SM2 implementation (skips when it has no SM2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

#: DER SubjectPublicKeyInfo of an SM2 key up to its 65-byte point: {id-ecPublicKey, sm2p256v1}.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
DEFAULT_ID = "distid:1234567812345678"


def openssl() -> str:
    """The openssl binary, or skip the test."""
    binary = shutil.which("openssl")
    if binary is None:
        pytest.skip("no openssl CLI")
    listed = subprocess.run(
        [binary, "list", "-public-key-algorithms"], capture_output=True, text=True, check=False
    )
    if "SM2" not in listed.stdout:
        pytest.skip("this openssl has no SM2")
    return binary


def run(*args: str) -> bytes:
    return subprocess.run(args, capture_output=True, check=True).stdout


def sm2_key(directory: Path) -> tuple[Path, bytes]:
    """A new SM2 key made by OpenSSL: its PEM file and its public point."""
    key = directory / "openssl-sm2.pem"
    run(openssl(), "genpkey", "-algorithm", "SM2", "-out", str(key))
    spki = run(openssl(), "pkey", "-in", str(key), "-pubout", "-outform", "DER")
    assert spki.startswith(SM2_SPKI_PREFIX)
    return key, spki[len(SM2_SPKI_PREFIX) :]


def sm2_sign(key: Path, message: bytes, directory: Path) -> bytes:
    """OpenSSL's SM2 signature (SM3, default ID, DER) of ``message``."""
    source, signature = directory / "message", directory / "message.sig"
    source.write_bytes(message)
    run(
        openssl(), "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key),
        "-pkeyopt", DEFAULT_ID, "-in", str(source), "-out", str(signature),
    )  # fmt: skip
    return signature.read_bytes()


def sm2_verifies(key: Path, message: bytes, signature: bytes, directory: Path) -> bool:
    """Whether OpenSSL accepts ``signature`` of ``message`` by ``key``."""
    source, sig = directory / "message", directory / "message.sig"
    source.write_bytes(message)
    sig.write_bytes(signature)
    result = subprocess.run(
        [
            openssl(), "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-inkey", str(key),
            "-pkeyopt", DEFAULT_ID, "-in", str(source), "-sigfile", str(sig),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0 and "Verified Successfully" in result.stdout
