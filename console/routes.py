"""The console's pages under /console: server-rendered HTML, one unit of work per request.

A page needs a session cookie (:mod:`console.sessions`); without one it redirects to the
sign-in form. Every refusal is shown as a page with the engine's status, ``code`` and message.
Every POST checks a CSRF token: the session's, or for the sign-in form (before a session
exists) a double-submit cookie.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from console import charts, sessions
from console.pages import circulation, clearing, overview, provider, reconciliation, schemes
from console.sessions import COOKIE, Viewer
from engine.auth import Principal, Role
from engine.db import UnitOfWorkRoute, get_session
from engine.errors import Forbidden, InvalidRequest, NotFound, SanyiError, Unauthenticated
from engine.terminal import money
from engine.wire import Admdvs, Code

SIGNIN_COOKIE = "sanyi_console_signin"
#: A sign-in form is a few hundred bytes; anything larger is not one.
FORM_MAX_BYTES = 4096
STATIC = {"console.css": "text/css; charset=utf-8"}

#: Strict: a field a template names that the page does not have is an error, not a blank cell.
_env = Environment(
    loader=PackageLoader("console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
_env.filters["money"] = lambda amount: "–" if amount is None else money(amount)
_env.filters["percent"] = lambda ratio: f"{ratio * 100:.1f}%"
_env.filters["points"] = lambda points: f"{points.normalize():,f}"
templates = Jinja2Templates(env=_env)


class ConsoleRoute(UnitOfWorkRoute):
    """A unit of work whose refusals are pages: a signed-out caller is sent to sign in, any
    other :class:`SanyiError` is rendered with its status and code (and rolls back)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthenticated as signed_out:
                if signed_out.code == "console_signed_out" and request.method == "GET":
                    return RedirectResponse("/console/sign-in", status_code=303)
                return _refusal(request, signed_out)
            except SanyiError as refused:
                return _refusal(request, refused)

        return console_handler


def _refusal(request: Request, exc: SanyiError) -> Response:
    return templates.TemplateResponse(
        request, "refused.html", {"error": exc, "viewer": None}, status_code=exc.status
    )


router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[AsyncSession, Depends(get_session)]


async def current_viewer(request: Request) -> Viewer:
    viewer = await sessions.viewer(request.state.session, request.cookies.get(COOKIE))
    request.state.principal = viewer.principal  # for the access line
    return viewer


Signed = Annotated[Viewer, Depends(current_viewer)]
RegionQuery = Annotated[Admdvs | None, Query(description="the operator's region to read")]


def reader(viewer: Viewer, admdvs: str | None) -> tuple[Principal, str]:
    """The principal a page reads as, and its region: an insurer its own region (whatever it
    asks), the operator the region it names, with an insurer's scope there but no approval."""
    own = viewer.principal
    if own.role is Role.insurer:
        assert own.admdvs is not None
        return own, own.admdvs
    if admdvs is None:
        raise InvalidRequest(
            "name the pooling region to read", code="region_required", field="admdvs"
        )
    return (
        Principal(
            org_id=own.org_id,
            key_id=own.key_id,
            role=Role.insurer,
            institution_code=None,
            admdvs=admdvs,
        ),
        admdvs,
    )


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (first value of each), refused when oversized."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise InvalidRequest("the form is too large", code="form_too_large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _page(
    request: Request, name: str, viewer: Viewer, admdvs: str, **context: object
) -> HTMLResponse:
    region_query = "" if viewer.principal.role is Role.insurer else f"?admdvs={admdvs}"
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "admdvs": admdvs, "q": region_query, "charts": charts, **context},
    )


def _set_cookie(request: Request, response: Response, name: str, value: str, path: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
        path=path,
    )


# --- sign-in -------------------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> Response:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, "sign_in.html", {"viewer": None, "csrf_token": token}
    )
    _set_cookie(request, response, SIGNIN_COOKIE, token, "/console/sign-in")
    return response


@router.post("/sign-in")
async def sign_in(request: Request, session: Session) -> Response:
    fields = await form_fields(request)
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not secrets.compare_digest(fields.get("csrf_token", ""), expected):
        raise sessions.CsrfRefused()
    token = await sessions.sign_in(session, fields.get("api_key", "").strip())
    return _signed_in(request, token)


def _signed_in(request: Request, token: str) -> Response:
    response = RedirectResponse("/console", status_code=303)
    _set_cookie(request, response, COOKIE, token, "/console")
    response.delete_cookie(SIGNIN_COOKIE, path="/console/sign-in")
    return response


@router.get("/link/{token}")
async def sign_in_by_link(
    request: Request, session: Session, token: Annotated[str, Path(max_length=100)]
) -> Response:
    """A one-time link (``make demo`` prints one): spent on first use."""
    return _signed_in(request, await sessions.redeem_link(session, token))


@router.post("/sign-out")
async def sign_out(request: Request, session: Session, viewer: Signed) -> Response:
    sessions.check_csrf(viewer, (await form_fields(request)).get("csrf_token"))
    await sessions.sign_out(session, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/static/{name}")
async def static(name: Annotated[str, Path(max_length=40)]) -> Response:
    """The console's stylesheet, shipped inside the package: pages need nothing from outside."""
    if name not in STATIC:
        raise NotFound("no such asset")
    body = files("console").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


# --- pages ---------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def overview_page(
    request: Request, session: Session, viewer: Signed, admdvs: RegionQuery = None
) -> Response:
    principal, region = reader(viewer, admdvs)
    view = await overview.overview(session, principal, region)
    return _page(request, "overview.html", viewer, region, view=view)


@router.get("/providers/{fixmedins_code}", response_class=HTMLResponse)
async def provider_view(
    request: Request,
    session: Session,
    viewer: Signed,
    fixmedins_code: Annotated[Code, Path()],
    admdvs: RegionQuery = None,
) -> Response:
    principal, region = reader(viewer, admdvs)
    view = await provider.provider_page(session, principal, fixmedins_code)
    return _page(request, "provider.html", viewer, region, view=view)


@router.get("/dip", response_class=HTMLResponse)
async def dip_view(
    request: Request, session: Session, viewer: Signed, admdvs: RegionQuery = None
) -> Response:
    principal, region = reader(viewer, admdvs)
    view = await schemes.dip_page(session, principal, region)
    return _page(request, "dip.html", viewer, region, view=view)


@router.get("/bundles", response_class=HTMLResponse)
async def bundles_view(
    request: Request, session: Session, viewer: Signed, admdvs: RegionQuery = None
) -> Response:
    principal, region = reader(viewer, admdvs)
    held = await schemes.bundles_page(session, principal, region)
    return _page(request, "bundles.html", viewer, region, bundles=held)


@router.get("/clearing", response_class=HTMLResponse)
async def clearing_view(
    request: Request,
    session: Session,
    viewer: Signed,
    admdvs: RegionQuery = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    principal, region = reader(viewer, admdvs)
    view = await clearing.clearing_page(session, principal)
    return _page(request, "clearing.html", viewer, region, view=view, done=done)


@router.post("/clearing/{clr_appy_evt_id}/approval")
async def approve_batch(
    request: Request,
    session: Session,
    viewer: Signed,
    clr_appy_evt_id: Annotated[str, Path(max_length=40)],
) -> Response:
    """Approve from the page: CSRF-checked, audited by the clearing service, idempotent."""
    sessions.check_csrf(viewer, (await form_fields(request)).get("csrf_token"))
    if not viewer.may_approve:
        raise Forbidden("the operator's console is read-only", code="console_read_only")
    approved = await clearing.approve(session, viewer.principal, clr_appy_evt_id)
    outcome = "approved" if approved else "already_approved"
    return RedirectResponse(f"/console/clearing?done={outcome}", status_code=303)


@router.get("/clearing/{clr_appy_evt_id}/lines.csv")
async def batch_csv(
    session: Session,
    viewer: Signed,
    clr_appy_evt_id: Annotated[str, Path(max_length=40)],
    admdvs: RegionQuery = None,
) -> Response:
    principal, _ = reader(viewer, admdvs)
    body = await clearing.lines_csv(session, principal, clr_appy_evt_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="clearing-{clr_appy_evt_id}.csv"'},
    )


@router.get("/reconciliation", response_class=HTMLResponse)
async def reconciliation_view(
    request: Request, session: Session, viewer: Signed, admdvs: RegionQuery = None
) -> Response:
    principal, region = reader(viewer, admdvs)
    view = await reconciliation.reconciliation_page(session, principal, region)
    return _page(request, "reconciliation.html", viewer, region, view=view)


@router.get("/prescriptions", response_class=HTMLResponse)
async def circulation_view(
    request: Request, session: Session, viewer: Signed, admdvs: RegionQuery = None
) -> Response:
    _, region = reader(viewer, admdvs)
    view = await circulation.circulation(session, region)
    return _page(request, "circulation.html", viewer, region, view=view)
