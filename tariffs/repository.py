"""Every query of the tariffs domain; nothing else in it talks SQL.

Catalogue reads select plain columns (no ORM identity map) and hand back
:class:`~tariffs.versions.CatalogueVersion` values, turning the stored "any" markers (0 / '') into
``None``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Organisation
from engine.db import table_of
from tariffs.models import (
    CatalogueEntry,
    Institution,
    PoolingRegion,
    Practitioner,
    new_catalogue_version,
)
from tariffs.versions import CatalogueRow, CatalogueVersion

_ENTRY = table_of(CatalogueEntry)
# Keeps each IN list well below every driver's bind-parameter limit.
_CHUNK = 500


# --- registry ------------------------------------------------------------------------------------


async def get_region(session: AsyncSession, admdvs: str) -> PoolingRegion | None:
    return await session.get(PoolingRegion, admdvs)


async def list_regions(session: AsyncSession, admdvs: str | None) -> Sequence[PoolingRegion]:
    query = select(PoolingRegion).order_by(PoolingRegion.admdvs)
    if admdvs is not None:
        query = query.where(PoolingRegion.admdvs == admdvs)
    return (await session.scalars(query)).all()


async def get_institution(session: AsyncSession, fixmedins_code: str) -> Institution | None:
    return await session.get(Institution, fixmedins_code)


async def list_institutions(
    session: AsyncSession, *, admdvs: str | None, kind: str | None
) -> Sequence[Institution]:
    query = select(Institution).order_by(Institution.fixmedins_code)
    if admdvs is not None:
        query = query.where(Institution.admdvs == admdvs)
    if kind is not None:
        query = query.where(Institution.kind == kind)
    return (await session.scalars(query)).all()


async def organisation_for_institution(
    session: AsyncSession, fixmedins_code: str
) -> Organisation | None:
    return await session.scalar(
        select(Organisation).where(Organisation.institution_code == fixmedins_code)
    )


async def get_practitioner(session: AsyncSession, dr_code: str) -> Practitioner | None:
    return await session.get(Practitioner, dr_code)


async def list_practitioners(
    session: AsyncSession, *, admdvs: str | None, fixmedins_code: str | None
) -> Sequence[Practitioner]:
    query = select(Practitioner).order_by(Practitioner.dr_code)
    if fixmedins_code is not None:
        query = query.where(Practitioner.fixmedins_code == fixmedins_code)
    if admdvs is not None:
        query = query.join(
            Institution, Institution.fixmedins_code == Practitioner.fixmedins_code
        ).where(Institution.admdvs == admdvs)
    return (await session.scalars(query)).all()


# --- catalogue -----------------------------------------------------------------------------------


async def catalogue_version(session: AsyncSession, admdvs: str) -> str | None:
    """The region's catalogue version token (the one query of a warm pricing call)."""
    return await session.scalar(
        select(PoolingRegion.catalogue_version).where(PoolingRegion.admdvs == admdvs)
    )


async def lock_and_bump_catalogue_version(session: AsyncSession, admdvs: str) -> bool:
    """Give the region a new catalogue version, holding its row lock until the transaction ends.

    Every import of a region starts here, so imports of one region run one at a time and each
    checks overlaps against committed versions only. False when the region does not exist.
    """
    result = await session.execute(
        update(PoolingRegion)
        .where(PoolingRegion.admdvs == admdvs)
        .values(catalogue_version=new_catalogue_version())
        .returning(PoolingRegion.admdvs)
    )
    return result.first() is not None


def _version(row: RowMapping) -> CatalogueVersion:
    return CatalogueVersion(
        version_id=str(row["id"]),
        med_list_codg=row["med_list_codg"],
        hosp_lv=row["hosp_lv"] or None,
        hosp_grade=row["hosp_grade"] or None,
        dr_title=row["dr_title"] or None,
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        kind=row["kind"],
        name=row["name"],
        spec=row["spec"],
        unit=row["unit"],
        chrgitm_lv=row["chrgitm_lv"],
        selfpay_prop=row["selfpay_prop"],
        pric_uplmt_amt=row["pric_uplmt_amt"],
        pric=row["pric"],
        controlled_class=row["controlled_class"],
        long_term_excluded=row["long_term_excluded"],
        antimicrobial=row["antimicrobial"],
        rx_only=row["rx_only"],
        essential=row["essential"],
        non_medical=row["non_medical"],
    )


def _values(admdvs: str, import_id: uuid.UUID, row: CatalogueRow) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "admdvs": admdvs,
        "import_id": import_id,
        "med_list_codg": row.med_list_codg,
        "hosp_lv": row.hosp_lv or 0,
        "hosp_grade": row.hosp_grade or "",
        "dr_title": row.dr_title or "",
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "kind": row.kind,
        "name": row.name,
        "spec": row.spec,
        "unit": row.unit,
        "chrgitm_lv": row.chrgitm_lv,
        "selfpay_prop": row.selfpay_prop,
        "pric_uplmt_amt": row.pric_uplmt_amt,
        "pric": row.pric,
        "controlled_class": row.controlled_class,
        "long_term_excluded": row.long_term_excluded,
        "antimicrobial": row.antimicrobial,
        "rx_only": row.rx_only,
        "essential": row.essential,
        "non_medical": row.non_medical,
    }


_ORDER = (
    _ENTRY.c.med_list_codg,
    _ENTRY.c.hosp_lv,
    _ENTRY.c.hosp_grade,
    _ENTRY.c.dr_title,
    _ENTRY.c.valid_from,
)


async def versions_of(
    session: AsyncSession, admdvs: str, codes: Collection[str]
) -> list[CatalogueVersion]:
    """Every version (all dates, all levels) of the given item codes in the region."""
    wanted = sorted(set(codes))
    found: list[CatalogueVersion] = []
    for start in range(0, len(wanted), _CHUNK):
        rows = await session.execute(
            select(_ENTRY)
            .where(
                _ENTRY.c.admdvs == admdvs,
                _ENTRY.c.med_list_codg.in_(wanted[start : start + _CHUNK]),
            )
            .order_by(*_ORDER)
        )
        found.extend(_version(row) for row in rows.mappings())
    return found


#: A catalogue row's place in :data:`_ORDER`: (code, level, grade, title, valid_from), with 0 and
#: '' for "any" as stored. Keyset paging resumes after one.
OrderKey = tuple[str, int, str, str, date]


def order_key(version: CatalogueVersion) -> OrderKey:
    return (
        version.med_list_codg,
        version.hosp_lv or 0,
        version.hosp_grade or "",
        version.dr_title or "",
        version.valid_from,
    )


async def versions_in_force(
    session: AsyncSession,
    admdvs: str,
    on: date,
    kind: str | None = None,
    *,
    changed_since: datetime | None = None,
    after: OrderKey | None = None,
    limit: int | None = None,
) -> list[CatalogueVersion]:
    """The region's catalogue in force on a date, in a stable order (code, level, grade, title);
    only rows stored after ``changed_since``, only rows after ``after``, at most ``limit``."""
    query = (
        select(_ENTRY)
        .where(
            _ENTRY.c.admdvs == admdvs,
            _ENTRY.c.valid_from <= on,
            (_ENTRY.c.valid_to.is_(None)) | (_ENTRY.c.valid_to >= on),
        )
        .order_by(*_ORDER)
        .limit(limit)
    )
    if kind is not None:
        query = query.where(_ENTRY.c.kind == kind)
    if changed_since is not None:
        query = query.where(_ENTRY.c.created_at > changed_since)
    if after is not None:
        query = query.where(tuple_(*_ORDER) > tuple_(*after))
    return [_version(row) for row in (await session.execute(query)).mappings()]


async def insert_versions(
    session: AsyncSession, admdvs: str, import_id: uuid.UUID, rows: Iterable[CatalogueRow]
) -> list[str]:
    """Insert new versions in one executemany; returns their ids in order."""
    values = [_values(admdvs, import_id, row) for row in rows]
    if values:
        await session.execute(_ENTRY.insert(), values)
    return [str(v["id"]) for v in values]


async def close_versions(session: AsyncSession, closures: Iterable[tuple[str, date]]) -> None:
    """Set ``valid_to`` on open-ended versions superseded by a later one (never anything else)."""
    params = [{"version_id": uuid.UUID(v), "new_valid_to": end} for v, end in closures]
    if params:
        stmt = (
            _ENTRY.update()
            .where(_ENTRY.c.id == bindparam("version_id"), _ENTRY.c.valid_to.is_(None))
            .values(valid_to=bindparam("new_valid_to"))
        )
        await session.execute(stmt, params)
