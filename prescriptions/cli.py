"""``sanyi rx``: the hospital's client helper for doctors' signing keys and signatures.

``sanyi rx keygen --out doctor.pem [--scheme sm2]`` makes a doctor's Ed25519 (default) or SM2 key
and prints the public key to register for them; ``sanyi rx sign --key doctor.pem --rx
prescription.json`` prints the signature envelope to upload with the prescription
(docs/prescriptions.md). Neither touches the database.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from engine.signatures import SignatureScheme

app = typer.Typer(no_args_is_help=True)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse a JSON object with a repeated key: parsers disagree on which one wins, so the
    signer and the engine could read different prescriptions from the same bytes."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_prescription(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(
            path.read_text(encoding="utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            # Decimals, not floats: canonical_bytes then refuses them with the member's path.
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--rx") from exc
    if not isinstance(doc, dict):
        raise typer.BadParameter(f"{path} must hold one JSON object", param_hint="--rx")
    return doc


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM PKCS#8)")],
    scheme: Annotated[
        SignatureScheme, typer.Option(help="ed25519, or sm2 (GB/T 32918, the national algorithm)")
    ] = SignatureScheme.ed25519,
) -> None:
    """Make a doctor's signing key; print the base64 public key to register for the doctor
    (with ``key_scheme`` the scheme chosen here)."""
    from prescriptions.signing import generate_key_pair, save_private_key

    private_key, public_key = generate_key_pair(scheme)
    try:
        save_private_key(private_key, out)
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {out}: {exc}", param_hint="--out") from exc
    print(public_key)


@app.command(name="sign")
def sign_command(
    key: Annotated[Path, typer.Option(help="the doctor's private key (PEM PKCS#8)")],
    rx: Annotated[Path, typer.Option(help="the prescription document (JSON)")],
) -> None:
    """Sign a prescription with the key's scheme (Ed25519 or SM2); print the signature envelope
    JSON to upload with it."""
    from engine.errors import SanyiError
    from prescriptions.signing import load_private_key, sign

    try:
        private_key = load_private_key(key)
    except (OSError, ValueError, TypeError) as exc:
        raise typer.BadParameter(f"cannot load {key}: {exc}", param_hint="--key") from exc
    try:
        signature = sign(_read_prescription(rx), private_key)
    except SanyiError as exc:
        raise typer.BadParameter(exc.message, param_hint="--rx") from exc
    print(signature.model_dump_json(exclude_none=True))
