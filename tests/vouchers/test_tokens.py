"""The token format alone: one spelling per token, and no changed character that still verifies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import signatures
from engine.signatures import SignatureScheme
from vouchers import service, tokens
from vouchers.tokens import Malformed, Payload

KEY = signatures.generate_private_key(SignatureScheme.ed25519)
PUBLIC = signatures.public_key_bytes(KEY)
PAYLOAD = Payload(
    insuplc_admdvs="230100",
    key_id=service.key_id(PUBLIC),
    psn_no="P2301000001",
    token_id="0123456789abcdef0123456789abcdef",
    iat=1_780_000_000,
    exp=1_780_000_180,
)
TOKEN = service.sign(PAYLOAD, KEY)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "


def test_a_token_reads_back_as_signed() -> None:
    payload, signed, signature = tokens.parse(TOKEN)
    assert payload == PAYLOAD
    signatures.verify(SignatureScheme.ed25519, PUBLIC, signed, signature)


@pytest.mark.parametrize(
    "token",
    [
        "",
        TOKEN + ".x",
        TOKEN.replace(".", ""),
        TOKEN + "=",
        "e30." + TOKEN.split(".")[1],  # {} as the payload
        tokens.segment(b'{"psn_no": "P1"}') + "." + TOKEN.split(".")[1],
        tokens.segment(tokens.payload_bytes(PAYLOAD) + b" ") + "." + TOKEN.split(".")[1],
        "A" * (tokens.MAX_TOKEN_CHARS + 1),
    ],
)
def test_what_is_not_one_spelling_of_a_token_is_malformed(token: str) -> None:
    with pytest.raises(Malformed):
        tokens.parse(token)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(TOKEN) - 1), char=st.sampled_from(ALPHABET))
def test_no_changed_character_verifies(position: int, char: str) -> None:
    changed = TOKEN[:position] + char + TOKEN[position + 1 :]
    if changed == TOKEN:
        return
    try:
        payload, signed, signature = tokens.parse(changed)
    except Malformed:
        return
    with pytest.raises(signatures.SignatureFailed):
        signatures.verify(SignatureScheme.ed25519, PUBLIC, signed, signature)
    assert payload != PAYLOAD or signature != tokens.parse(TOKEN)[2]
