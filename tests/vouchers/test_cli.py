"""``sanyi voucher`` against the test database: a key made and registered, a token issued for a
person of the region and redeemed, and none for anyone else."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from claims.settlement.models import Person
from engine.cli import app
from engine.db import run_in_unit_of_work, utcnow
from vouchers import service, tokens

runner = CliRunner()


def _person(region: str) -> str:
    psn_no = f"P{secrets.token_hex(8).upper()}"

    async def work(session: AsyncSession) -> None:
        session.add(
            Person(
                psn_no=psn_no,
                admdvs=region,
                psn_name="张三",
                certno_masked="230102********1234",
                certno_hash=secrets.token_hex(32),
                insutype="310",
            )
        )

    run_in_unit_of_work(work)
    return psn_no


def test_keygen_register_and_issue_make_a_token_the_engine_redeems(
    configured: None, tmp_path: Path
) -> None:
    region = f"7{secrets.randbelow(10**5):05d}"
    psn_no = _person(region)
    pem = tmp_path / "issuer.pem"
    made = runner.invoke(app, ["voucher", "keygen", "--out", str(pem)])
    assert made.exit_code == 0, made.output
    public_key = made.stdout.strip()
    registered = runner.invoke(
        app, ["voucher", "register-key", "--region", region, "--public-key", public_key]
    )
    assert registered.exit_code == 0, registered.output
    issued = runner.invoke(
        app, ["voucher", "issue", "--region", region, "--key", str(pem), "--psn-no", psn_no]
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    payload, _, _ = tokens.parse(token)
    assert (payload.insuplc_admdvs, payload.psn_no) == (region, psn_no)

    async def redeem(session: AsyncSession) -> service.Holder:
        return await service.redeem(session, token, used_for="test", used_by="cli", now=utcnow())

    assert run_in_unit_of_work(redeem).psn_no == psn_no

    # Another region's insurer cannot vouch for the person: as unknown as nobody.
    for other_region, person in (("110100", psn_no), (region, "P0")):
        refused = runner.invoke(
            app,
            ["voucher", "issue", "--region", other_region, "--key", str(pem), "--psn-no", person],
        )
        assert refused.exit_code == 1
        assert "unknown_person" in refused.output
    stray = tmp_path / "stray.pem"
    assert runner.invoke(app, ["voucher", "keygen", "--out", str(stray)]).exit_code == 0
    unregistered = runner.invoke(
        app, ["voucher", "issue", "--region", region, "--key", str(stray), "--psn-no", psn_no]
    )
    assert unregistered.exit_code == 1
    assert "unknown_voucher_key" in unregistered.output


def test_retire_key_retires_a_regions_key_once(configured: None, tmp_path: Path) -> None:
    region = f"7{secrets.randbelow(10**5):05d}"
    psn_no = _person(region)
    pem = tmp_path / "issuer.pem"
    public_key = runner.invoke(app, ["voucher", "keygen", "--out", str(pem)]).stdout.strip()
    registered = runner.invoke(
        app, ["voucher", "register-key", "--region", region, "--public-key", public_key]
    )
    assert registered.exit_code == 0, registered.output
    issued = runner.invoke(
        app, ["voucher", "issue", "--region", region, "--key", str(pem), "--psn-no", psn_no]
    )
    token = issued.stdout.strip()
    payload, _, _ = tokens.parse(token)

    retire = ["voucher", "retire-key", "--region", region, "--key-id", payload.key_id]
    retired = runner.invoke(app, retire)
    assert retired.exit_code == 0, retired.output
    twice = runner.invoke(app, retire)
    assert (twice.exit_code, "voucher_key_retired" in twice.output) == (1, True)
    elsewhere = runner.invoke(
        app, ["voucher", "retire-key", "--region", "110100", "--key-id", payload.key_id]
    )
    assert (elsewhere.exit_code, "unknown_voucher_key" in elsewhere.output) == (1, True)

    async def redeem(session: AsyncSession) -> service.Holder:
        return await service.redeem(session, token, used_for="test", used_by="cli", now=utcnow())

    with pytest.raises(service.VoucherRefused) as refused:
        run_in_unit_of_work(redeem)
    assert refused.value.code == "voucher_unknown_issuer"
    again = runner.invoke(
        app, ["voucher", "issue", "--region", region, "--key", str(pem), "--psn-no", psn_no]
    )
    assert (again.exit_code, "unknown_voucher_key" in again.output) == (1, True)
