"""Voucher keys and tokens for tests: registered and prepared through the insurer API, signed
here as the insurer's own system does, or forged field by field."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import uuid
from datetime import datetime
from typing import Any

from engine import signatures
from engine.db import utcnow
from engine.signatures import PrivateKey, SignatureScheme
from tests.support.factories.world import World
from vouchers import service, tokens
from vouchers.tokens import Payload


async def register_voucher_key(
    world: World, scheme: SignatureScheme = SignatureScheme.sm2
) -> PrivateKey:
    """A new key of ``scheme``, registered for the world's region by its insurer."""
    private_key = signatures.generate_private_key(scheme)
    public = base64.b64encode(signatures.public_key_bytes(private_key)).decode()
    response = await world.client.post(
        "/v1/vouchers/keys",
        json={"key_scheme": scheme.value, "public_key": public},
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    assert response.json()["key_id"] == key_id(private_key)
    return private_key


def key_id(private_key: PrivateKey) -> str:
    return service.key_id(signatures.public_key_bytes(private_key))


async def issue(world: World, private_key: PrivateKey, psn_no: str) -> str:
    """A token for ``psn_no``: prepared by the insurer API, signed with ``private_key``."""
    response = await world.client.post(
        "/v1/vouchers/tokens",
        json={"psn_no": psn_no, "key_id": key_id(private_key)},
        headers=world.insurer,
    )
    assert response.status_code == 201, response.text
    segment = response.json()["payload"]
    signed = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return tokens.compact(signed, signatures.sign(private_key, signed))


def forge(
    signer: PrivateKey,
    *,
    admdvs: str,
    psn_no: str,
    key: PrivateKey | None = None,
    issued: datetime | None = None,
    lifetime: int = 180,
) -> str:
    """A token made outside the engine: payload naming ``key`` (default: the signer), signed
    by ``signer``."""
    iat = int((issued or utcnow()).timestamp())
    payload = Payload(
        insuplc_admdvs=admdvs,
        key_id=key_id(key or signer),
        psn_no=psn_no,
        token_id=secrets.token_hex(16),
        iat=iat,
        exp=iat + lifetime,
    )
    return service.sign(payload, signer)


def altered(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and its signature kept."""
    payload, _, signature = tokens.parse(token)
    changed = dataclasses.replace(payload, **changes)
    return tokens.compact(tokens.payload_bytes(changed), signature)
