"""HTTP endpoints of the tariffs domain: the registry (/v1/registry) and the catalogue
(/v1/tariffs). Parse, authorise, call the service, render.

Who may do what (the operator's keys manage organisations and keys only, so they do none of this):

- registry writes: insurers in their own region;
- registry reads: insurers (own region), a hospital its own record and practitioners, a pharmacy
  its own record; anything else reads exactly as an unknown code;
- catalogue imports: insurers (own region); catalogue and price queries: insurers, hospitals and
  pharmacies, in their own region.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role, require_role
from engine.db import UnitOfWorkRoute, get_session
from engine.errors import InvalidRequest
from engine.openapi import documented
from engine.uploads import csv_file_body, read_csv
from engine.wire import Admdvs, CalendarDate, ParameterInt, Quantity, RangeTime, UnitPrice
from tariffs import catalogue, csv_format, pricing, refusals, registry, sync
from tariffs.codes import DrTitle, Grade, InstitutionKind, ItemKind
from tariffs.schemas import (
    CatalogueOut,
    CatalogueVersionOut,
    ClosureOut,
    ImportOut,
    ImportRejectedOut,
    InstitutionIn,
    InstitutionOut,
    InstitutionPatch,
    ItemHistoryOut,
    PractitionerIn,
    PractitionerOut,
    PractitionerPatch,
    PricedItemOut,
    RegionIn,
    RegionOut,
    RegionPatch,
)

Session = Annotated[AsyncSession, Depends(get_session)]
Writer = Annotated[Principal, require_role(Role.insurer)]
RegistryReader = Annotated[Principal, require_role(Role.insurer, Role.hospital)]
Reader = Annotated[Principal, require_role(Role.insurer, Role.hospital, Role.pharmacy)]
AdmdvsPath = Annotated[Admdvs, Path()]

registry_router = APIRouter(prefix="/registry", tags=["registry"], route_class=UnitOfWorkRoute)
tariffs_router = APIRouter(prefix="/tariffs", tags=["tariffs"], route_class=UnitOfWorkRoute)


def _own_region(principal: Principal, admdvs: str | None) -> str | None:
    """The region a listing is limited to: the insurer's own, asked or not."""
    if admdvs is not None:
        principal.require_region(admdvs)
    return principal.admdvs


# --- regions -------------------------------------------------------------------------------------


@registry_router.post(
    "/regions",
    status_code=201,
    operation_id="create_region",
    summary="Create a pooling region",
    responses=documented(refusals.DUPLICATE_REGION),
)
async def create_region(body: RegionIn, principal: Writer, session: Session) -> RegionOut:
    """Create a pooling region (an insurer of that region only)."""
    info = await registry.create_region(session, principal, admdvs=body.admdvs, name=body.name)
    return RegionOut.model_validate(info, from_attributes=True)


@registry_router.patch(
    "/regions/{admdvs}",
    operation_id="update_region",
    summary="Update a pooling region",
    responses=documented(refusals.UNKNOWN_REGION),
)
async def update_region(
    admdvs: AdmdvsPath, body: RegionPatch, principal: Writer, session: Session
) -> RegionOut:
    """Rename a pooling region of the caller's."""
    info = await registry.update_region(session, principal, admdvs, name=body.name)
    return RegionOut.model_validate(info, from_attributes=True)


@registry_router.get("/regions", operation_id="list_regions", summary="List pooling regions")
async def list_regions(principal: Writer, session: Session) -> list[RegionOut]:
    """The pooling regions the insurer may see: its own."""
    regions = await registry.list_regions(session, _own_region(principal, None))
    return [RegionOut.model_validate(info, from_attributes=True) for info in regions]


# --- institutions --------------------------------------------------------------------------------


def _institution_out(info: registry.InstitutionInfo) -> InstitutionOut:
    return InstitutionOut.model_validate(info, from_attributes=True)


@registry_router.post(
    "/institutions",
    status_code=201,
    operation_id="register_institution",
    responses=documented(
        refusals.HOSP_LV_REQUIRED,
        refusals.NOT_FOR_PHARMACY,
        refusals.ORGANISATION_REGION_MISMATCH,
        refusals.ORGANISATION_ROLE_MISMATCH,
        refusals.UNKNOWN_ORGANISATION,
        refusals.REGION_NOT_REGISTERED,
        refusals.DUPLICATE_INSTITUTION,
    ),
    summary="Register a designated institution",
)
async def register_institution(
    body: InstitutionIn, principal: Writer, session: Session
) -> InstitutionOut:
    """Register a designated institution (hospital or pharmacy) in the insurer's region, bound
    to its organisation."""
    info = await registry.register_institution(
        session,
        principal,
        fixmedins_code=body.fixmedins_code,
        fixmedins_name=body.fixmedins_name,
        admdvs=body.admdvs,
        kind=body.kind,
        hosp_lv=body.hosp_lv,
        hosp_grade=body.hosp_grade,
        internet_hospital=body.internet_hospital,
    )
    return _institution_out(info)


@registry_router.patch(
    "/institutions/{fixmedins_code}",
    operation_id="update_institution",
    responses=documented(
        refusals.HOSP_LV_REQUIRED, refusals.NOT_FOR_PHARMACY, refusals.UNKNOWN_INSTITUTION
    ),
    summary="Update an institution",
)
async def update_institution(
    fixmedins_code: str, body: InstitutionPatch, principal: Writer, session: Session
) -> InstitutionOut:
    """Change an institution's registration (name, level, grade, internet hospital...)."""
    info = await registry.update_institution(session, principal, fixmedins_code, body.changes())
    return _institution_out(info)


@registry_router.get("/institutions", operation_id="list_institutions", summary="List institutions")
async def list_institutions(
    principal: Writer,
    session: Session,
    admdvs: Annotated[Admdvs | None, Query()] = None,
    kind: InstitutionKind | None = None,
) -> list[InstitutionOut]:
    """The institutions of the insurer's region, optionally of one kind."""
    infos = await registry.list_institutions(
        session, admdvs=_own_region(principal, admdvs), kind=kind
    )
    return [_institution_out(info) for info in infos]


@registry_router.get(
    "/institutions/{fixmedins_code}",
    operation_id="get_institution",
    summary="Get an institution",
    responses=documented(refusals.UNKNOWN_INSTITUTION),
)
async def get_institution(
    fixmedins_code: str, principal: Reader, session: Session
) -> InstitutionOut:
    """An institution's registration: an insurer its region's, a hospital or pharmacy its
    own."""
    return _institution_out(await registry.visible_institution(session, principal, fixmedins_code))


# --- practitioners -------------------------------------------------------------------------------


def _practitioner_out(info: registry.PractitionerInfo) -> PractitionerOut:
    return PractitionerOut.model_validate(info, from_attributes=True)


@registry_router.post(
    "/practitioners",
    status_code=201,
    operation_id="register_practitioner",
    responses=documented(
        refusals.INVALID_PUBLIC_KEY,
        refusals.UNSUPPORTED_KEY_SCHEME,
        refusals.NOT_A_HOSPITAL,
        refusals.INSTITUTION_NOT_REGISTERED,
        refusals.DUPLICATE_PRACTITIONER,
    ),
    summary="Register a practitioner",
)
async def register_practitioner(
    body: PractitionerIn, principal: Writer, session: Session
) -> PractitionerOut:
    """Register a practitioner (doctor or pharmacist) at a hospital of the insurer's region,
    with the public key prescriptions are verified with."""
    info = await registry.register_practitioner(session, principal, **body.model_dump())
    return _practitioner_out(info)


@registry_router.patch(
    "/practitioners/{dr_code}",
    operation_id="update_practitioner",
    summary="Update a practitioner",
    responses=documented(
        refusals.INVALID_PUBLIC_KEY,
        refusals.UNSUPPORTED_KEY_SCHEME,
        refusals.NOT_A_HOSPITAL,
        refusals.INSTITUTION_NOT_REGISTERED,
        refusals.UNKNOWN_PRACTITIONER,
    ),
)
async def update_practitioner(
    dr_code: str, body: PractitionerPatch, principal: Writer, session: Session
) -> PractitionerOut:
    """Change a practitioner's registration (title, practice site, key...)."""
    info = await registry.update_practitioner(session, principal, dr_code, body.changes())
    return _practitioner_out(info)


@registry_router.get(
    "/practitioners",
    operation_id="list_practitioners",
    summary="List practitioners",
    responses=documented(refusals.UNKNOWN_INSTITUTION),
)
async def list_practitioners(
    principal: RegistryReader,
    session: Session,
    fixmedins_code: str | None = None,
) -> list[PractitionerOut]:
    """A hospital lists its own practitioners; an insurer those of its region (or of one of its
    hospitals). Naming an institution the caller may not see reads as naming an unknown one."""
    admdvs: str | None = None
    if principal.role is Role.hospital and fixmedins_code in (None, principal.institution_code):
        fixmedins_code = principal.institution_code
    elif fixmedins_code is not None:
        await registry.visible_institution(session, principal, fixmedins_code)
    else:
        admdvs = _own_region(principal, None)
    infos = await registry.list_practitioners(session, admdvs=admdvs, fixmedins_code=fixmedins_code)
    return [_practitioner_out(info) for info in infos]


@registry_router.get(
    "/practitioners/{dr_code}",
    operation_id="get_practitioner",
    summary="Get a practitioner",
    responses=documented(refusals.UNKNOWN_PRACTITIONER),
)
async def get_practitioner(
    dr_code: str, principal: RegistryReader, session: Session
) -> PractitionerOut:
    """A practitioner: an insurer its region's, a hospital its own."""
    return _practitioner_out(await registry.visible_practitioner(session, principal, dr_code))


# --- catalogue -----------------------------------------------------------------------------------

_CSV_BODY = csv_file_body(
    "a price bureau's sheet (columns as in the tariffs guide), as a `text/csv` body (its "
    "`charset` parameter names the encoding) or the `file` part of a form"
)


@tariffs_router.post(
    "/{admdvs}/imports",
    operation_id="import_catalogue",
    summary="Import a catalogue CSV",
    status_code=201,
    response_model=ImportOut,
    openapi_extra=_CSV_BODY,
    responses=documented(
        refusals.INVALID_UPLOAD,
        refusals.INVALID_ENCODING,
        refusals.INVALID_ROWS,
        refusals.UNKNOWN_REGION,
        refusals.OVERLAPPING_VERSION,
        models={400: ImportRejectedOut, 409: ImportRejectedOut},
    ),
)
async def import_catalogue(
    admdvs: AdmdvsPath,
    request: Request,
    principal: Writer,
    session: Session,
    source: Annotated[str, Query(max_length=200, description="file name, for the record")] = "api",
) -> ImportOut | JSONResponse:
    """Import a catalogue CSV: all rows or none. A refused file answers 400 ``invalid_rows`` (or
    409 ``overlapping_version``) with ``errors`` naming every bad row by line number."""
    principal.require_region(admdvs)
    data, content_type = await read_csv(request)
    text = csv_format.decode(data, csv_format.charset_of(content_type))
    try:
        result = await catalogue.import_catalogue(
            session, admdvs=admdvs, text=text, source=source, actor=principal
        )
    except (catalogue.InvalidCatalogue, catalogue.OverlappingVersions) as refused:
        body = ImportRejectedOut(
            **refused.as_dict(), errors=[dataclasses.asdict(e) for e in refused.errors]
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=refused.status)
    return ImportOut(
        import_id=result.import_id,
        admdvs=result.admdvs,
        rows=result.rows,
        closed=[ClosureOut.model_validate(c, from_attributes=True) for c in result.closed],
        sha256=result.sha256,
        ignored_columns=result.ignored_columns,
    )


@tariffs_router.get(
    "/{admdvs}/catalogue",
    operation_id="get_catalogue",
    summary="Get the catalogue in force on a date",
    response_model=CatalogueOut,
    responses=documented(refusals.UNKNOWN_REGION, refusals.INVALID_CURSOR, refusals.CSV_NOT_PAGED)
    | {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        304: {"description": "Not modified: the `If-None-Match` ETag is the catalogue's now"},
    },
)
async def get_catalogue(
    admdvs: AdmdvsPath,
    request: Request,
    principal: Reader,
    session: Session,
    on: Annotated[CalendarDate, Query(description="the date the catalogue is in force")],
    kind: ItemKind | None = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="default: by the Accept header")
    ] = None,
    changed_since: Annotated[
        RangeTime | None, Query(description="only rows stored (imported) after this time")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[
        ParameterInt | None,
        Query(ge=1, le=sync.MAX_PAGE, description=f"page size (default {sync.DEFAULT_PAGE})"),
    ] = None,
) -> CatalogueOut | Response:
    """The catalogue in force on a date, as JSON or as the import CSV (which imports back).

    Without ``cursor`` or ``limit`` the answer is the whole catalogue; with either, a page of
    JSON with ``next_cursor``. The ``ETag`` changes with every import: send it back in
    ``If-None-Match`` for 304 without a body. gzip when the client accepts it."""
    principal.require_region(admdvs)
    as_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    paged = cursor is not None or limit is not None
    if as_csv and paged:
        raise InvalidRequest(
            "the CSV export is the whole catalogue; page the JSON answer",
            code="csv_not_paged",
            field="cursor" if cursor is not None else "limit",
        )
    tag = sync.etag(
        await catalogue.catalogue_version(session, admdvs),
        on,
        kind,
        as_csv,
        changed_since,
        cursor,
        limit,
    )
    gzipped = sync.accepts_gzip(request.headers.get("accept-encoding"))
    headers = {
        "ETag": sync.gzip_etag(tag) if gzipped else tag,
        "Vary": "Accept-Encoding",
        "Cache-Control": "private, no-cache",
    }
    if sync.not_modified(request.headers.get("if-none-match"), tag, sync.gzip_etag(tag)):
        return Response(status_code=304, headers=headers)
    page = (limit or sync.DEFAULT_PAGE) if paged else None
    versions = await catalogue.catalogue_on(
        session,
        admdvs,
        on,
        kind,
        changed_since=changed_since,
        after=sync.parse_cursor(cursor) if cursor is not None else None,
        limit=page + 1 if page is not None else None,
    )
    if as_csv:
        body = csv_format.write_catalogue(versions).encode()
        media_type = "text/csv; charset=utf-8"
        headers["Content-Disposition"] = f'attachment; filename="catalogue-{admdvs}-{on}.csv"'
    else:
        more = page is not None and len(versions) > page
        versions = versions[:page]
        next_cursor = sync.cursor_of(versions[-1]) if more else None
        answer = CatalogueOut(
            admdvs=admdvs,
            on=on,
            items=[CatalogueVersionOut.of(v) for v in versions],
            next_cursor=next_cursor,
        )
        body = answer.model_dump_json().encode()
        media_type = "application/json"
    if gzipped:
        body = await sync.compress(body)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=headers)


@tariffs_router.get(
    "/{admdvs}/items/{med_list_codg}/versions",
    operation_id="list_item_versions",
    responses=documented(refusals.UNKNOWN_REGION, refusals.UNKNOWN_ITEM),
    summary="List an item's versions",
)
async def item_versions(
    admdvs: AdmdvsPath, med_list_codg: str, principal: Reader, session: Session
) -> ItemHistoryOut:
    """Every version of an item: the history a new price never overwrites."""
    principal.require_region(admdvs)
    versions = await catalogue.item_history(session, admdvs, med_list_codg)
    return ItemHistoryOut(
        admdvs=admdvs,
        med_list_codg=med_list_codg,
        versions=[CatalogueVersionOut.of(v) for v in versions],
    )


@tariffs_router.get(
    "/{admdvs}/price",
    operation_id="price_item",
    summary="Price one item for a visit",
    responses=documented(*refusals.PRICING, refusals.UNKNOWN_REGION),
)
async def price_item(
    admdvs: AdmdvsPath,
    principal: Reader,
    session: Session,
    med_list_codg: Annotated[str, Query(min_length=1, max_length=50)],
    on: Annotated[CalendarDate, Query(description="visit date")],
    hosp_lv: Annotated[ParameterInt, Query(ge=1, le=3, description="institution level")],
    hosp_grade: Grade | None = None,
    dr_title: DrTitle | None = None,
    cnt: Annotated[Quantity, Query()] = Decimal(1),
    pric: Annotated[UnitPrice | None, Query(description="claimed unit price")] = None,
) -> PricedItemOut:
    """The price of one item for a visit context (section 3 pricing rules)."""
    principal.require_region(admdvs)
    context = pricing.PricingContext(
        admdvs=admdvs,
        on=on,
        hosp_lv=hosp_lv,
        grade=hosp_grade.value if hosp_grade else None,
        dr_title=dr_title.value if dr_title else None,
    )
    (item,) = await pricing.price_lines(
        session, context, [pricing.LineRequest(med_list_codg=med_list_codg, cnt=cnt, pric=pric)]
    )
    return PricedItemOut.of(item)


router = APIRouter()
router.include_router(registry_router)
router.include_router(tariffs_router)
