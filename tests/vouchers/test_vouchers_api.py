"""The e-voucher through the real API (docs/domain.md section 16): insurers' keys, tokens
prepared and signed, and 2201 accepting ``mdtrt_cert_type`` 01 once per token; every forgery
refused with its one code, never telling whether a person exists."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Visit
from engine import signatures
from engine.audit import AuditEntry
from engine.db import utcnow
from engine.signatures import SignatureScheme
from tests.support import openssl
from tests.support.factories.crossregion import INSURED, TREATMENT, CrossRegion, treatment_world
from tests.support.factories.world import World, build_world
from tests.vouchers.factories import altered, forge, issue, key_id, register_voucher_key
from vouchers import tokens
from vouchers.models import RedeemedVoucher

HOME = "230100"
OTHER = "230200"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, admdvs=HOME)


@pytest.fixture
async def other(client: httpx.AsyncClient, session: AsyncSession, world: World) -> World:
    return await build_world(client, session, admdvs=OTHER)


async def visit_01(
    world: World, psn_no: str, token: str, *, expect: int = 201, **extra: Any
) -> dict[str, Any]:
    return await world.visit(
        psn_no, "", mdtrt_cert_type="01", mdtrt_cert_no=token, expect=expect, **extra
    )


@pytest.mark.parametrize("scheme", list(SignatureScheme))
async def test_a_voucher_registers_a_visit_once(
    world: World, session: AsyncSession, scheme: SignatureScheme
) -> None:
    key = await register_voucher_key(world, scheme)
    psn_no, _ = await world.enrol()
    token = await issue(world, key, psn_no)
    visit = await visit_01(world, psn_no, token)
    assert visit["psn_no"] == psn_no
    used = await session.scalar(
        select(func.count()).select_from(RedeemedVoucher).where(RedeemedVoucher.psn_no == psn_no)
    )
    assert used == 1

    again = await visit_01(world, psn_no, token, expect=409)
    assert (again["code"], again["field"]) == ("voucher_reused", "mdtrt_cert_no")


async def test_a_replay_answers_the_stored_visit_and_uses_nothing_more(
    world: World, session: AsyncSession
) -> None:
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    token = await issue(world, key, psn_no)
    code, headers = world.hospital()
    idempotent = headers | {"Idempotency-Key": f"v-{uuid.uuid4().hex}"}
    body = {
        "psn_no": psn_no,
        "mdtrt_cert_type": "01",
        "mdtrt_cert_no": token,
        "fixmedins_code": code,
        "med_type": "11",
        "biz_type_code": "01",
        "begntime": "2026-03-02T09:30:00+08:00",
        "dr_code": world.doctors["chief"],
        "diseinfo": [{"diag_code": "I10.x00", "diag_name": "诊断", "maindiag_flag": "1"}],
        "ipt_otp_no": f"OP{uuid.uuid4().hex[:10]}",
    }
    first = await world.client.post("/v1/visits", json=body, headers=idempotent)
    replay = await world.client.post("/v1/visits", json=body, headers=idempotent)
    by_number = await world.client.post("/v1/visits", json=body, headers=headers)
    assert first.status_code == replay.status_code == by_number.status_code == 201, replay.text
    assert first.json() == replay.json() == by_number.json()
    visits = select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no)
    assert await session.scalar(visits) == 1


async def test_forged_altered_and_expired_tokens_are_refused(
    world: World, session: AsyncSession
) -> None:
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    other_psn, _ = await world.enrol()
    stranger = signatures.generate_private_key(SignatureScheme.sm2)
    now = utcnow()
    cases = {
        # Signed by a key the region never registered, claiming the registered key's id.
        "forged": (forge(stranger, admdvs=HOME, psn_no=psn_no, key=key), "voucher_invalid"),
        # A genuine token whose person was changed afterwards.
        "altered": (altered(await issue(world, key, other_psn), psn_no=psn_no), "voucher_invalid"),
        "lifetime stretched": (
            altered(await issue(world, key, psn_no), exp=int(now.timestamp()) + 3600),
            "voucher_invalid",
        ),
        "longer than five minutes": (
            forge(key, admdvs=HOME, psn_no=psn_no, lifetime=3600),
            "voucher_invalid",
        ),
        "undecodable": ("not-a-token", "voucher_invalid"),
        "expired": (
            forge(key, admdvs=HOME, psn_no=psn_no, issued=now - timedelta(minutes=4)),
            "voucher_expired",
        ),
        "unregistered key id": (
            forge(stranger, admdvs=HOME, psn_no=psn_no),
            "voucher_unknown_issuer",
        ),
    }
    for name, (token, code) in cases.items():
        refused = await visit_01(world, psn_no, token, expect=400)
        assert (refused["code"], refused["field"]) == (code, "mdtrt_cert_no"), name
    visits = select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no)
    assert await session.scalar(visits) == 0


async def test_a_token_signed_by_openssl_registers_a_visit(world: World, tmp_path: Path) -> None:
    """An insurer whose signing runs on OpenSSL (an independent SM2 implementation): its key
    registered, the prepared payload signed by OpenSSL, the token accepted once."""
    key, public = openssl.sm2_key(tmp_path)
    registered = await world.client.post(
        "/v1/vouchers/keys",
        json={"key_scheme": "sm2", "public_key": base64.b64encode(public).decode()},
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert registered.status_code == 201, registered.text
    psn_no, _ = await world.enrol()
    draft = await world.client.post(
        "/v1/vouchers/tokens",
        json={"psn_no": psn_no, "key_id": registered.json()["key_id"]},
        headers=world.insurer,
    )
    assert draft.status_code == 201, draft.text
    segment = draft.json()["payload"]
    signed = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    token = tokens.compact(signed, openssl.sm2_sign(key, signed, tmp_path))
    assert (await visit_01(world, psn_no, token))["psn_no"] == psn_no
    again = await visit_01(world, psn_no, token, expect=409)
    assert again["code"] == "voucher_reused"


async def test_a_token_for_someone_else_registers_nobody(world: World) -> None:
    key = await register_voucher_key(world)
    psn_no, _ = await world.enrol()
    other_psn, _ = await world.enrol()
    refused = await visit_01(world, other_psn, await issue(world, key, psn_no), expect=404)
    assert (refused["code"], refused["field"]) == ("unknown_person", "psn_no")


async def test_an_insurer_issues_only_for_its_own_region(world: World, other: World) -> None:
    """The insurer of 230200 cannot vouch for a person insured in 230100: asked through the API,
    the person is as unknown as one nobody enrolled; a token it makes itself is refused exactly
    like one naming nobody, and one claiming 230100 as issuer names no 230100 key."""
    home_key = await register_voucher_key(world)
    other_key = await register_voucher_key(other)
    psn_no, _ = await world.enrol()

    answers = []
    for person in (psn_no, "P" + "0" * 16):
        response = await other.client.post(
            "/v1/vouchers/tokens",
            json={"psn_no": person, "key_id": key_id(other_key)},
            headers=other.insurer,
        )
        assert response.status_code == 404, response.text
        answers.append(response.json())
    assert answers[0] == answers[1]
    assert (answers[0]["code"], answers[0]["field"]) == ("unknown_person", "psn_no")

    claims_other = forge(other_key, admdvs=OTHER, psn_no=psn_no)
    names_nobody = forge(other_key, admdvs=OTHER, psn_no="P" + "0" * 16)
    refusals = [await visit_01(world, psn_no, t, expect=400) for t in (claims_other, names_nobody)]
    assert refusals[0] == refusals[1]
    assert refusals[0]["code"] == "voucher_invalid"

    posing = forge(other_key, admdvs=HOME, psn_no=psn_no)
    refused = await visit_01(world, psn_no, posing, expect=400)
    assert refused["code"] == "voucher_unknown_issuer"
    # The home insurer's own token for the person still works.
    await visit_01(world, psn_no, await issue(world, home_key, psn_no))


async def test_voucher_keys_are_the_insurers_of_their_region_and_audited(
    world: World, other: World, session: AsyncSession
) -> None:
    key = await register_voucher_key(world, SignatureScheme.ed25519)
    public = signatures.public_key_bytes(key)
    body = {"key_scheme": "ed25519", "public_key": base64.b64encode(public).decode()}
    insurer = world.insurer | {"Idempotency-Key": uuid.uuid4().hex}
    twice = await world.client.post("/v1/vouchers/keys", json=body, headers=insurer)
    assert (twice.status_code, twice.json()["code"]) == (409, "voucher_key_exists")
    as_sm2 = await world.client.post(
        "/v1/vouchers/keys",
        json=body | {"key_scheme": "sm2"},
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (as_sm2.status_code, as_sm2.json()["code"]) == (400, "invalid_public_key")
    hospital = await world.client.post(
        "/v1/vouchers/keys",
        json=body,
        headers=world.hospital()[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert hospital.status_code == 403

    listed = await world.client.get("/v1/vouchers/keys", headers=world.insurer)
    assert [k["key_id"] for k in listed.json()["items"]] == [key_id(key)]
    assert (await other.client.get("/v1/vouchers/keys", headers=other.insurer)).json() == {
        "items": []
    }
    entries = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == "voucher_key.registered")
    )
    assert any(e.payload.get("key_id") == key_id(key) for e in entries)


async def test_a_token_is_prepared_only_with_a_key_of_the_region(
    world: World, other: World
) -> None:
    other_key = await register_voucher_key(other)
    psn_no, _ = await world.enrol()
    response = await world.client.post(
        "/v1/vouchers/tokens",
        json={"psn_no": psn_no, "key_id": key_id(other_key)},
        headers=world.insurer,
    )
    assert (response.status_code, response.json()["code"]) == (400, "unknown_voucher_key")


async def test_a_token_of_the_insured_place_registers_a_visit_elsewhere(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Cross-region care (docs/domain.md section 15): the token is issued by the insurer of the
    person's region and verified against that region's key at an institution of another."""
    xr = CrossRegion(
        home=await build_world(client, session, admdvs=INSURED),
        away=await treatment_world(client, session),
    )
    key = await register_voucher_key(xr.home)
    psn_no, _ = await xr.insured("temporary_travel")
    token = await issue(xr.home, key, psn_no)
    visit = await visit_01(xr.away, psn_no, token, dr=None)
    assert visit["psn_no"] == psn_no
    again = await visit_01(xr.away, psn_no, token, expect=409, dr=None)
    assert again["code"] == "voucher_reused"
    # The treatment place's insurer cannot vouch for the person: it does not insure them.
    away_key = await register_voucher_key(xr.away)
    forged = forge(away_key, admdvs=TREATMENT, psn_no=psn_no)
    refused = await visit_01(xr.away, psn_no, forged, expect=400, dr=None)
    assert refused["code"] == "voucher_invalid"
