"""The registry: pooling regions, designated institutions and practitioners (domain.md sections 1,
3, 6 and 9).

Other domains read it through :func:`get_institution` and :func:`get_practitioner`, which return
frozen values, never rows. Writes are the insurer's (its own region only) or the CLI's on the
server (no actor), and every one is audited with what changed. What a caller may not see is
refused with exactly the error an unknown code gets (:func:`visible_institution`,
:func:`visible_practitioner`), so the registry answers no question about other regions.

- An institution is tied to the organisation whose key acts for it: the organisation with the same
  institution code, whose role matches the institution's kind and whose region is the
  institution's (docs/domain.md section 1: "a hospital acts only for its own institution code").
- A practitioner is registered at a hospital, with a title (consultation tariffs depend on it), the
  start of independent practice and an internet-practice flag (互联网诊疗管理办法（试行）: internet
  practice needs at least 3 years of independent practice, checked when prescribing) and the
  public key prescriptions are verified against (Ed25519 or SM2, engine/signatures.py), refused at
  registration unless it is a key of its scheme.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.auth import Principal, Role
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.signatures import SignatureScheme, check_public_key
from tariffs import repository
from tariffs.codes import InstitutionKind
from tariffs.models import Institution, PoolingRegion, Practitioner

__all__ = [
    "InstitutionInfo",
    "PractitionerInfo",
    "RegionInfo",
    "create_region",
    "get_institution",
    "get_practitioner",
    "list_institutions",
    "list_practitioners",
    "list_regions",
    "register_institution",
    "register_practitioner",
    "update_institution",
    "update_practitioner",
    "update_region",
    "visible_institution",
    "visible_practitioner",
]


@dataclass(frozen=True, slots=True)
class RegionInfo:
    admdvs: str
    name: str
    catalogue_version: str


@dataclass(frozen=True, slots=True)
class InstitutionInfo:
    fixmedins_code: str
    fixmedins_name: str
    admdvs: str
    kind: str
    hosp_lv: int | None
    hosp_grade: str | None
    internet_hospital: bool
    org_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PractitionerInfo:
    dr_code: str
    dr_name: str
    prac_cert_no: str
    dr_title: str
    fixmedins_code: str
    indep_prac_start: date
    internet_practice: bool
    licensed: bool
    public_key: str
    key_scheme: str


def _region_info(row: PoolingRegion) -> RegionInfo:
    return RegionInfo(admdvs=row.admdvs, name=row.name, catalogue_version=row.catalogue_version)


def _institution_info(row: Institution) -> InstitutionInfo:
    return InstitutionInfo(
        fixmedins_code=row.fixmedins_code,
        fixmedins_name=row.fixmedins_name,
        admdvs=row.admdvs,
        kind=row.kind,
        hosp_lv=row.hosp_lv,
        hosp_grade=row.hosp_grade,
        internet_hospital=row.internet_hospital,
        org_id=row.org_id,
    )


def _practitioner_info(row: Practitioner) -> PractitionerInfo:
    return PractitionerInfo(
        dr_code=row.dr_code,
        dr_name=row.dr_name,
        prac_cert_no=row.prac_cert_no,
        dr_title=row.dr_title,
        fixmedins_code=row.fixmedins_code,
        indep_prac_start=row.indep_prac_start,
        internet_practice=row.internet_practice,
        licensed=row.licensed,
        public_key=row.public_key,
        key_scheme=row.key_scheme,
    )


def _in_scope(actor: Principal | None, admdvs: str) -> bool:
    """Insurers write only in their own region; the CLI (no actor) anywhere."""
    return actor is None or actor.in_region(admdvs)


def _authorise(actor: Principal | None, admdvs: str) -> None:
    """Refuse a write in a region the request names and the actor is not bound to (403: it
    depends on the region asked for, not on what exists there)."""
    if actor is not None:
        actor.require_region(admdvs)


def _unknown_institution() -> NotFound:
    return NotFound("no such institution", code="unknown_institution", field="fixmedins_code")


def _unknown_practitioner() -> NotFound:
    return NotFound("no such practitioner", code="unknown_practitioner", field="dr_code")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _json(value: Any) -> Any:
    """Audit payloads are JSON: dates as ISO text, ids as text."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


def _apply(row: object, changes: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """Set the changed attributes; returns {field: [old, new]} for the audit entry."""
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    diff: dict[str, Any] = {}
    for name, raw in changes.items():
        value, old = _plain(raw), getattr(row, name)
        if value != old:
            setattr(row, name, value)
            diff[name] = [_json(old), _json(value)]
    return diff


# --- regions -------------------------------------------------------------------------------------


async def create_region(
    session: AsyncSession, actor: Principal | None, *, admdvs: str, name: str
) -> RegionInfo:
    _authorise(actor, admdvs)
    if await repository.get_region(session, admdvs) is not None:
        raise Conflict("pooling region already registered", code="duplicate_region", field="admdvs")
    region = PoolingRegion(admdvs=admdvs, name=name)
    session.add(region)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="region.created",
        object_type="pooling_region",
        object_id=admdvs,
        payload={"admdvs": admdvs, "name": name},
    )
    return _region_info(region)


async def _region_row(session: AsyncSession, admdvs: str) -> PoolingRegion:
    region = await repository.get_region(session, admdvs)
    if region is None:
        raise NotFound("no such pooling region", code="unknown_region", field="admdvs")
    return region


async def update_region(
    session: AsyncSession, actor: Principal | None, admdvs: str, *, name: str
) -> RegionInfo:
    _authorise(actor, admdvs)
    region = await _region_row(session, admdvs)
    diff = _apply(region, {"name": name}, frozenset({"name"}))
    if diff:
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="region.updated",
            object_type="pooling_region",
            object_id=admdvs,
            payload={"changed": diff},
        )
    return _region_info(region)


async def list_regions(session: AsyncSession, admdvs: str | None) -> list[RegionInfo]:
    return [_region_info(row) for row in await repository.list_regions(session, admdvs)]


# --- institutions --------------------------------------------------------------------------------

_INSTITUTION_FIELDS = frozenset({"fixmedins_name", "hosp_lv", "hosp_grade", "internet_hospital"})


def _check_institution_shape(row: Institution) -> None:
    """A hospital has a level (一级/二级/三级); a retail pharmacy has no level, grade or
    internet-hospital licence."""
    if row.kind == InstitutionKind.hospital and row.hosp_lv is None:
        raise InvalidRequest("a hospital needs its level", code="hosp_lv_required", field="hosp_lv")
    if row.kind == InstitutionKind.pharmacy:
        for name in ("hosp_lv", "hosp_grade"):
            if getattr(row, name) is not None:
                raise InvalidRequest(
                    f"a pharmacy has no {name}", code="not_for_pharmacy", field=name
                )
        if row.internet_hospital:
            raise InvalidRequest(
                "a pharmacy holds no internet-hospital licence",
                code="not_for_pharmacy",
                field="internet_hospital",
            )


async def register_institution(
    session: AsyncSession,
    actor: Principal | None,
    *,
    fixmedins_code: str,
    fixmedins_name: str,
    admdvs: str,
    kind: InstitutionKind,
    hosp_lv: int | None,
    hosp_grade: str | None,
    internet_hospital: bool,
) -> InstitutionInfo:
    _authorise(actor, admdvs)
    if await repository.get_region(session, admdvs) is None:
        raise InvalidRequest("no such pooling region", code="unknown_region", field="admdvs")
    if await repository.get_institution(session, fixmedins_code) is not None:
        raise Conflict(
            "institution already registered",
            code="duplicate_institution",
            field="fixmedins_code",
        )
    org = await repository.organisation_for_institution(session, fixmedins_code)
    if org is None:
        raise InvalidRequest(
            "no organisation holds this institution code: create it first",
            code="unknown_organisation",
            field="fixmedins_code",
        )
    if org.role != Role(kind.value):
        raise InvalidRequest(
            f"the organisation with this code is a {org.role}, not a {kind.value}",
            code="organisation_role_mismatch",
            field="kind",
        )
    if org.admdvs != admdvs:
        raise InvalidRequest(
            "the organisation with this code belongs to another region",
            code="organisation_region_mismatch",
            field="admdvs",
        )
    row = Institution(
        fixmedins_code=fixmedins_code,
        fixmedins_name=fixmedins_name,
        admdvs=admdvs,
        kind=kind.value,
        hosp_lv=hosp_lv,
        hosp_grade=_plain(hosp_grade),
        internet_hospital=internet_hospital,
        org_id=org.id,
    )
    _check_institution_shape(row)
    session.add(row)
    await session.flush()
    info = _institution_info(row)
    await audit.record(
        session,
        actor=actor,
        action="institution.registered",
        object_type="institution",
        object_id=fixmedins_code,
        payload={k: _json(v) for k, v in dataclasses.asdict(info).items()},
    )
    return info


async def _institution_row(
    session: AsyncSession, fixmedins_code: str, actor: Principal | None = None
) -> Institution:
    """The institution, if it exists and is in the actor's region (no actor: any region)."""
    row = await repository.get_institution(session, fixmedins_code)
    if row is None or not _in_scope(actor, row.admdvs):
        raise _unknown_institution()
    return row


async def update_institution(
    session: AsyncSession, actor: Principal | None, fixmedins_code: str, changes: Mapping[str, Any]
) -> InstitutionInfo:
    """Change the name, level, grade or internet-hospital licence (not the code, region or
    kind, which identify it)."""
    row = await _institution_row(session, fixmedins_code, actor)
    diff = _apply(row, changes, _INSTITUTION_FIELDS)
    _check_institution_shape(row)
    if diff:
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="institution.updated",
            object_type="institution",
            object_id=fixmedins_code,
            payload={"changed": diff},
        )
    return _institution_info(row)


async def get_institution(session: AsyncSession, fixmedins_code: str) -> InstitutionInfo:
    """The institution, or NotFound ``unknown_institution``."""
    return _institution_info(await _institution_row(session, fixmedins_code))


def _sees(principal: Principal, fixmedins_code: str, admdvs: str) -> bool:
    """A hospital or pharmacy sees its own institution; an insurer those of its region."""
    if principal.role in (Role.hospital, Role.pharmacy):
        return principal.institution_code == fixmedins_code
    return principal.in_region(admdvs)


async def visible_institution(
    session: AsyncSession, principal: Principal, fixmedins_code: str
) -> InstitutionInfo:
    """The institution if the caller may see it; else NotFound ``unknown_institution``, the same
    error as for a code nobody registered."""
    row = await repository.get_institution(session, fixmedins_code)
    if row is None or not _sees(principal, row.fixmedins_code, row.admdvs):
        raise _unknown_institution()
    return _institution_info(row)


async def list_institutions(
    session: AsyncSession, *, admdvs: str | None, kind: str | None = None
) -> list[InstitutionInfo]:
    rows = await repository.list_institutions(session, admdvs=admdvs, kind=kind)
    return [_institution_info(row) for row in rows]


# --- practitioners -------------------------------------------------------------------------------

_PRACTITIONER_FIELDS = frozenset(
    {
        "dr_name",
        "prac_cert_no",
        "dr_title",
        "fixmedins_code",
        "indep_prac_start",
        "internet_practice",
        "licensed",
        "public_key",
        "key_scheme",
    }
)


def _check_public_key(scheme: str, public_key: str) -> None:
    """A practitioner's key must be one the prescription signature can be verified with."""
    try:
        key_scheme = SignatureScheme(scheme)
    except ValueError:
        raise InvalidRequest(
            f"{scheme} keys are not supported", code="unsupported_key_scheme", field="key_scheme"
        ) from None
    try:
        check_public_key(key_scheme, base64.b64decode(public_key, validate=True))
    except ValueError:
        raise InvalidRequest(
            "public_key must be the raw public key in base64 (Ed25519: 32 bytes; SM2: the "
            "65-byte uncompressed point 04 || x || y)",
            code="invalid_public_key",
            field="public_key",
        ) from None


async def _practice_site(
    session: AsyncSession, actor: Principal | None, fixmedins_code: str
) -> Institution:
    """The hospital a practitioner is registered at, in the actor's region (one outside it is
    as unknown as a code nobody registered)."""
    row = await repository.get_institution(session, fixmedins_code)
    if row is None or not _in_scope(actor, row.admdvs):
        raise InvalidRequest(
            "no such institution", code="unknown_institution", field="fixmedins_code"
        )
    if row.kind != InstitutionKind.hospital:
        raise InvalidRequest(
            "practitioners are registered at hospitals",
            code="not_a_hospital",
            field="fixmedins_code",
        )
    return row


async def register_practitioner(
    session: AsyncSession,
    actor: Principal | None,
    *,
    dr_code: str,
    dr_name: str,
    prac_cert_no: str,
    dr_title: str,
    fixmedins_code: str,
    indep_prac_start: date,
    internet_practice: bool,
    licensed: bool,
    public_key: str,
    key_scheme: str,
) -> PractitionerInfo:
    await _practice_site(session, actor, fixmedins_code)
    if await repository.get_practitioner(session, dr_code) is not None:
        raise Conflict(
            "practitioner already registered", code="duplicate_practitioner", field="dr_code"
        )
    _check_public_key(_plain(key_scheme), public_key)
    row = Practitioner(
        dr_code=dr_code,
        dr_name=dr_name,
        prac_cert_no=prac_cert_no,
        dr_title=_plain(dr_title),
        fixmedins_code=fixmedins_code,
        indep_prac_start=indep_prac_start,
        internet_practice=internet_practice,
        licensed=licensed,
        public_key=public_key,
        key_scheme=_plain(key_scheme),
    )
    session.add(row)
    await session.flush()
    info = _practitioner_info(row)
    await audit.record(
        session,
        actor=actor,
        action="practitioner.registered",
        object_type="practitioner",
        object_id=dr_code,
        payload={k: _json(v) for k, v in dataclasses.asdict(info).items()},
    )
    return info


async def _practitioner_row(session: AsyncSession, dr_code: str) -> Practitioner:
    row = await repository.get_practitioner(session, dr_code)
    if row is None:
        raise _unknown_practitioner()
    return row


async def _visible_practitioner_row(
    session: AsyncSession, principal: Principal | None, dr_code: str
) -> Practitioner:
    """The practitioner if the caller may see it (no principal: the CLI, any); else NotFound
    ``unknown_practitioner``, the same error as for a code nobody registered."""
    row = await repository.get_practitioner(session, dr_code)
    site = None if row is None else await repository.get_institution(session, row.fixmedins_code)
    if row is None or site is None:
        raise _unknown_practitioner()
    if principal is not None and not _sees(principal, site.fixmedins_code, site.admdvs):
        raise _unknown_practitioner()
    return row


async def visible_practitioner(
    session: AsyncSession, principal: Principal, dr_code: str
) -> PractitionerInfo:
    """A hospital sees its own practitioners, an insurer those of its region's hospitals."""
    return _practitioner_info(await _visible_practitioner_row(session, principal, dr_code))


async def update_practitioner(
    session: AsyncSession, actor: Principal | None, dr_code: str, changes: Mapping[str, Any]
) -> PractitionerInfo:
    """Change anything but the national doctor code; a move to another hospital must stay in the
    insurer's region, and a new key is checked like a first one."""
    row = await _visible_practitioner_row(session, actor, dr_code)
    if "fixmedins_code" in changes:
        await _practice_site(session, actor, changes["fixmedins_code"])
    diff = _apply(row, changes, _PRACTITIONER_FIELDS)
    if {"public_key", "key_scheme"} & diff.keys():
        _check_public_key(row.key_scheme, row.public_key)
    if diff:
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="practitioner.updated",
            object_type="practitioner",
            object_id=dr_code,
            payload={"changed": diff},
        )
    return _practitioner_info(row)


async def get_practitioner(session: AsyncSession, dr_code: str) -> PractitionerInfo:
    """The practitioner, or NotFound ``unknown_practitioner``."""
    return _practitioner_info(await _practitioner_row(session, dr_code))


async def list_practitioners(
    session: AsyncSession, *, admdvs: str | None, fixmedins_code: str | None
) -> Sequence[PractitionerInfo]:
    rows = await repository.list_practitioners(
        session, admdvs=admdvs, fixmedins_code=fixmedins_code
    )
    return [_practitioner_info(row) for row in rows]
