"""The voucher endpoints' wire contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from engine.signatures import SignatureScheme
from engine.wire import Code, WireModel

KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$", description="the key's id in tokens")]


class VoucherKeyIn(WireModel):
    """A public key the insurer signs its region's tokens with."""

    key_scheme: SignatureScheme = SignatureScheme.sm2
    public_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="base64: Ed25519 the raw 32 bytes; SM2 the 65-byte point 04 || x || y",
        ),
    ]


class VoucherKeyOut(BaseModel):
    admdvs: str
    key_id: str
    key_scheme: SignatureScheme
    public_key: str
    created_at: datetime
    retired_at: datetime | None = Field(
        description="when the insurer retired the key: from then on it verifies no token"
    )


class VoucherKeyList(BaseModel):
    items: list[VoucherKeyOut]


class TokenIn(WireModel):
    """Prepare a token for a person insured in the caller's region."""

    psn_no: Code
    key_id: KeyId


class TokenDraftOut(BaseModel):
    """The token to sign: ``payload`` is the base64url of the bytes to sign; the token is
    ``payload + "." + base64url(signature)`` (docs/vouchers.md)."""

    token_id: str
    insuplc_admdvs: str
    key_id: str
    psn_no: str
    issued_at: datetime
    expires_at: datetime
    payload: str
