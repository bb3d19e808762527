"""``sanyi voucher``: an insurer's voucher signing keys and tokens (docs/vouchers.md).

``keygen`` makes a key pair locally (the private key never reaches the engine);
``register-key`` registers its public half for a region, and ``retire-key`` retires one, as the
insurer's API does; ``issue`` makes a signed token for a person insured in the region, with the
private key file. The last three act on the database in one committed unit of work, audited as
the operator's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.signatures import SignatureScheme
from engine.terminal import Region, console, refuse, refused

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(no_args_is_help=True)

Scheme = Annotated[
    SignatureScheme, typer.Option(help="sm2 (GB/T 32918, the national algorithm) or ed25519")
]


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM PKCS#8)")],
    scheme: Scheme = SignatureScheme.sm2,
) -> None:
    """Make a voucher signing key; print the base64 public key to register for the region."""
    import base64
    import os

    from engine import signatures

    private_key = signatures.generate_private_key(scheme)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {out}: {exc}", param_hint="--out") from exc
    with os.fdopen(fd, "wb") as file:
        file.write(signatures.private_key_pem(private_key))
    print(base64.b64encode(signatures.public_key_bytes(private_key)).decode("ascii"))


@app.command("register-key")
def register_key(
    region: Region,
    public_key: Annotated[str, typer.Option(help="the public key keygen printed (base64)")],
    scheme: Scheme = SignatureScheme.sm2,
) -> None:
    """Register a region's voucher signing key (insurers do this through the API)."""
    from engine.db import run_in_unit_of_work
    from engine.errors import SanyiError
    from vouchers import service

    async def work(session: AsyncSession) -> str:
        row = await service.register_key(
            session, None, admdvs=region, key_scheme=scheme, public_key=public_key
        )
        return row.key_id

    try:
        key_id = run_in_unit_of_work(work)
    except SanyiError as error:
        raise refused(error) from None
    console.print(f"voucher key {key_id} registered for {region}")


@app.command("retire-key")
def retire_key(
    region: Region,
    key_id: Annotated[str, typer.Option(help="the key's id (sanyi voucher register-key printed)")],
) -> None:
    """Retire a region's voucher signing key: from now on it verifies no token, even one it
    signed before."""
    from engine.db import run_in_unit_of_work, utcnow
    from engine.errors import SanyiError
    from vouchers import service

    async def work(session: AsyncSession) -> None:
        await service.retire_key(session, None, admdvs=region, key_id=key_id, now=utcnow())

    try:
        run_in_unit_of_work(work)
    except SanyiError as error:
        raise refused(error) from None
    console.print(f"voucher key {key_id} of {region} retired")


@app.command()
def issue(
    region: Region,
    key: Annotated[Path, typer.Option(help="the region's private voucher key (PEM PKCS#8)")],
    psn_no: Annotated[str, typer.Option(help="the person's psn_no")],
) -> None:
    """Print a signed voucher token for a person insured in the region (valid three minutes,
    once)."""
    from engine import signatures
    from engine.db import run_in_unit_of_work, utcnow
    from engine.errors import SanyiError
    from vouchers import service

    try:
        private_key = signatures.load_private_key_pem(key.read_bytes())
    except (OSError, ValueError) as exc:
        raise refuse(f"cannot load {key}: {exc}") from None

    async def work(session: AsyncSession) -> str:
        _, token = await service.issue(
            session, None, admdvs=region, psn_no=psn_no, private_key=private_key, now=utcnow()
        )
        return token

    try:
        print(run_in_unit_of_work(work))
    except SanyiError as error:
        raise refused(error) from None
