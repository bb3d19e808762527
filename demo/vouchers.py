"""The demo insurer's e-vouchers: it registers an SM2 voucher key for the region and issues a
token each time a patient shows their voucher QR code instead of an ID card (docs/vouchers.md).
The private key stays here, as at a real fund agency: the API prepares the token, the insurer
signs it."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from demo.client import Client
from engine import signatures
from engine.signatures import PrivateKey, SignatureScheme
from vouchers import tokens


@dataclass
class DemoVouchers:
    insurer: Client
    private_key: PrivateKey
    key_id: str
    #: Tokens issued, by what they were shown for ("visit", "presentation").
    issued: dict[str, int] = field(default_factory=dict)

    def token(self, psn_no: str, used_for: str) -> str:
        """A fresh token for ``psn_no``: prepared by the insurer API, signed with the key."""
        draft = self.insurer.post(
            "/v1/vouchers/tokens", json={"psn_no": psn_no, "key_id": self.key_id}, expect=201
        )
        segment = draft["payload"]
        signed = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        self.issued[used_for] = self.issued.get(used_for, 0) + 1
        return tokens.compact(signed, signatures.sign(self.private_key, signed))


def setup_vouchers(insurer: Client) -> DemoVouchers:
    """Register a new SM2 voucher key for the insurer's region."""
    private_key = signatures.generate_private_key(SignatureScheme.sm2)
    public = base64.b64encode(signatures.public_key_bytes(private_key)).decode()
    registered = insurer.post(
        "/v1/vouchers/keys",
        json={"key_scheme": "sm2", "public_key": public},
        expect=201,
        idempotent=True,
    )
    return DemoVouchers(insurer, private_key, registered["key_id"])
