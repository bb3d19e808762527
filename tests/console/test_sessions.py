"""Console sign-in, sessions and their refusals, through the app on the test database: what the
cookie carries, the CSRF checks, one-time links, revocation, roles and the operator's read-only
view."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from console import sessions
from console.models import ConsoleSession, SignInLink
from engine.auth import Role, revoke_api_key
from engine.db import utcnow
from tests.support.factories.orgs import make_key, make_org


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _key(session: AsyncSession, role: Role = Role.insurer) -> str:
    """A new key of a new organisation of ``role`` (in region 230100)."""
    return _token(await make_key(session, await make_org(session, role=role)))


async def _sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/console/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    return await client.post("/console/sign-in", data={"csrf_token": csrf.group(1), "api_key": key})


async def _sessions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


async def test_sign_in_sets_a_strict_http_only_cookie_of_a_random_id(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    key = await _key(session)
    response = await _sign_in(client, key)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("sanyi_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is Secure
    assert key not in cookie
    page = await client.get("/console")
    assert page.status_code == 200 and "230100" in page.text
    assert key not in page.text


async def test_the_cookie_is_secure_over_tls(app: object, session: AsyncSession) -> None:
    key = await _key(session)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://sanyi.test") as tls:
        response = await _sign_in(tls, key)
    assert "Secure" in response.headers["set-cookie"]


async def test_a_sign_in_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    key = await _key(session)
    before = await _sessions(session)
    response = await client.post("/console/sign-in", data={"api_key": key})
    assert response.status_code == 403
    assert "csrf_refused" in response.text
    assert await _sessions(session) == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(Role.hospital, 403, "console_role"), (None, 401, "unauthenticated")],
)
async def test_only_insurer_and_operator_keys_sign_in(
    client: httpx.AsyncClient, session: AsyncSession, role: Role | None, status: int, code: str
) -> None:
    key = "sk_000000000000_unknown"
    if role is not None:
        key = await _key(session, role)
    response = await _sign_in(client, key)
    assert response.status_code == status
    assert code in response.text
    assert "sanyi_console=" not in response.headers.get("set-cookie", "")


async def test_signed_out_pages_redirect_and_posts_are_refused(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/clearing")
    assert page.status_code == 303 and page.headers["location"] == "/console/sign-in"
    post = await client.post("/console/clearing/C1/approval", data={"csrf_token": "x"})
    assert post.status_code == 401


async def test_a_sign_in_link_works_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    token = await sessions.create_link(session, await _key(session))
    first = await client.get(f"/console/link/{token}")
    assert first.status_code == 303
    assert (await client.get("/console")).status_code == 200
    client.cookies.clear()
    again = await client.get(f"/console/link/{token}")
    assert again.status_code == 404 and "signin_link_spent" in again.text


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    token = await sessions.create_link(session, await _key(session))
    await session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.get(f"/console/link/{token}")
    assert response.status_code == 404 and "signin_link_spent" in response.text


async def test_revoking_the_key_ends_its_console_sessions(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    key = await _key(session)
    await _sign_in(client, key)
    assert (await client.get("/console")).status_code == 200
    await revoke_api_key(session, key.split("_")[1])
    response = await client.get("/console")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _sign_in(client, await _key(session))
    page = (await client.get("/console")).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    refused = await client.post("/console/sign-out", data={})
    assert refused.status_code == 403
    assert (await client.get("/console")).status_code == 200
    cookie = client.cookies["sanyi_console"]
    done = await client.post("/console/sign-out", data={"csrf_token": csrf.group(1)})
    assert done.status_code == 303
    client.cookies.set("sanyi_console", cookie, path="/console")  # a copied cookie is dead
    assert (await client.get("/console")).status_code == 303


async def test_the_operator_reads_a_named_region_and_approves_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _sign_in(client, await _key(session, Role.admin))
    unnamed = await client.get("/console")
    assert unnamed.status_code == 400 and "region_required" in unnamed.text
    named = await client.get("/console/clearing", params={"admdvs": "230100"})
    assert named.status_code == 200 and "read-only" in named.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', named.text)
    assert csrf is not None
    approval = await client.post(
        "/console/clearing/C1/approval", data={"csrf_token": csrf.group(1)}
    )
    assert approval.status_code == 403 and "console_read_only" in approval.text
