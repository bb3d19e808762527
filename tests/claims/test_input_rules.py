"""The claims inputs that need data or relations to judge: each bad one is a 4xx with a stable
code and field, and changes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.models import Settlement
from tests.claims.world import CLASS_A_ITEM, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


async def _settlements(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Settlement)) or 0)


def _refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["code"], body["field"]


# --- the pre-settlement token --------------------------------------------------------------------


async def _presettled_visit(world: World) -> tuple[str, str]:
    """A visit with a fee line, and the token of its pre-settlement."""
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    _, headers = world.hospital()
    pre = await world.client.post(
        f"/v1/visits/{visit['mdtrt_id']}/pre-settlement", json={}, headers=headers
    )
    assert pre.status_code == 200, pre.text
    return visit["mdtrt_id"], pre.json()["presettle_token"]


@pytest.mark.parametrize(
    "forged",
    ["0" * 64, "not-a-token", "", "F" * 64],
    ids=["zeros", "garbage", "empty", "upper-hex"],
)
async def test_a_token_the_engine_did_not_issue_is_refused(
    world: World, session: AsyncSession, forged: str
) -> None:
    mdtrt_id, _ = await _presettled_visit(world)

    refused = await world.settle(mdtrt_id, presettle_token=forged)

    assert _refusal(refused) == (400, "unknown_presettle_token", "presettle_token")
    assert await _settlements(session) == 0


async def test_a_token_issued_for_another_visit_is_refused(
    world: World, session: AsyncSession
) -> None:
    first, token = await _presettled_visit(world)
    second, _ = await _presettled_visit(world)

    refused = await world.settle(second, presettle_token=token)

    assert _refusal(refused) == (400, "unknown_presettle_token", "presettle_token")
    assert await _settlements(session) == 0
    settled = await world.settle(first, presettle_token=token)
    assert settled.status_code == 201, settled.text
    assert settled.json()["accumulators_changed"] is False


async def test_a_tampered_state_digest_is_refused(world: World, session: AsyncSession) -> None:
    mdtrt_id, token = await _presettled_visit(world)
    flipped = ("1" if token[0] == "0" else "0") + token[1:]

    refused = await world.settle(mdtrt_id, presettle_token=flipped)

    assert _refusal(refused) == (400, "unknown_presettle_token", "presettle_token")
    assert await _settlements(session) == 0
