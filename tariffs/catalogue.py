"""Catalogue versioning, import and export (docs/domain.md section 3).

Rules of versioning, per key (region, item code, institution level, grade, doctor title):

- versions never overlap in time; a file that would make two overlap is refused
  (409 ``overlapping_version``), whether the other version is stored or in the same file;
- the one exception: a version starting after the start of the key's open-ended latest version
  closes that version the day before it starts. Setting an open end is not rewriting history: no
  price, class or date that was in force ever changes, and no version is updated in place.

An import is all-or-nothing: every row is checked (cells, row rules, item kind, overlaps), every
problem is reported with its line number, and a file with any problem loads nothing
(400 ``invalid_rows``, or 409 ``overlapping_version`` when overlaps are the only problem).
Imports of one region run one at a time: each starts by replacing the region's catalogue version
under its row lock (:func:`tariffs.repository.lock_and_bump_catalogue_version`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.auth import Principal
from engine.errors import Conflict, InvalidRequest, NotFound
from tariffs import repository
from tariffs.csv_format import RowError, parse_catalogue
from tariffs.models import CatalogueImport
from tariffs.versions import CatalogueRow, CatalogueVersion, VersionKey, periods_overlap


@dataclass(frozen=True, slots=True)
class Closure:
    """An open-ended version given an end because a later version of its key starts."""

    version_id: str
    med_list_codg: str
    valid_to: date


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: str
    admdvs: str
    rows: int
    closed: list[Closure]
    sha256: str
    ignored_columns: list[str]


class InvalidCatalogue(InvalidRequest):
    """A file with bad rows: nothing was imported; ``errors`` lists every problem."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(
            f"{len(errors)} problem(s) in the file; nothing was imported", code="invalid_rows"
        )
        self.errors = errors


class OverlappingVersions(Conflict):
    """A file whose only problem is versions overlapping others of the same key."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(
            f"{len(errors)} row(s) overlap versions of the same key; nothing was imported",
            code="overlapping_version",
        )
        self.errors = errors


def _describe(key: VersionKey) -> str:
    code, level, grade, title = key
    named = [
        code,
        level and f"level {level}",
        grade and f"grade {grade}",
        title and f"title {title}",
    ]
    return " ".join(str(part) for part in named if part)


def _span(valid_from: date, valid_to: date | None) -> str:
    return f"{valid_from.isoformat()}..{valid_to.isoformat() if valid_to else 'open'}"


def check_kinds(
    existing: Sequence[CatalogueVersion], incoming: Sequence[tuple[int, CatalogueRow]]
) -> list[RowError]:
    """An item code is a service, a drug or a consumable for good: a version never changes it."""
    kinds = {version.med_list_codg: version.kind for version in existing}
    errors: list[RowError] = []
    for line, row in incoming:
        kind = kinds.setdefault(row.med_list_codg, row.kind)
        if kind != row.kind:
            errors.append(
                RowError(line, "kind", f"{row.med_list_codg} is a {kind} here", row.med_list_codg)
            )
    return errors


def plan_versions(
    existing: Sequence[CatalogueVersion], incoming: Sequence[tuple[int, CatalogueRow]]
) -> tuple[list[Closure], list[RowError]]:
    """The closures an import makes and the rows that overlap, by the rules in the module
    docstring. Pure: ``existing`` is every stored version of the codes.

    A row overlapping earlier rows of its key in the file names one of them, the one reaching
    furthest: linear in the file's rows, and a short report, whatever the file repeats."""
    errors: list[RowError] = []
    stored: dict[VersionKey, list[CatalogueVersion]] = {}
    for version in existing:
        stored.setdefault(version.key, []).append(version)
    arriving: dict[VersionKey, list[tuple[int, CatalogueRow]]] = {}
    for line, row in incoming:
        arriving.setdefault(row.key, []).append((line, row))

    closures: list[Closure] = []
    for key, rows in arriving.items():
        rows.sort(key=lambda item: item[1].valid_from)
        spans = {v.version_id: (v.valid_from, v.valid_to) for v in stored.get(key, [])}
        if key in stored:
            latest = max(stored[key], key=lambda v: v.valid_from)
            start = rows[0][1].valid_from
            if latest.valid_to is None and start > latest.valid_from:
                closure = Closure(latest.version_id, key[0], start - timedelta(days=1))
                closures.append(closure)
                spans[latest.version_id] = (latest.valid_from, closure.valid_to)
        reach: tuple[int, CatalogueRow] | None = None  # the earlier row ending last
        for line, row in rows:
            clashes = [
                f"version {version_id} ({_span(*span)})"
                for version_id, span in spans.items()
                if periods_overlap(row.valid_from, row.valid_to, *span)
            ]
            if reach is not None:
                other_line, other = reach
                if periods_overlap(row.valid_from, row.valid_to, other.valid_from, other.valid_to):
                    clashes.append(f"line {other_line} ({_span(other.valid_from, other.valid_to)})")
                if other.valid_to is not None and (
                    row.valid_to is None or row.valid_to > other.valid_to
                ):
                    reach = (line, row)
            else:
                reach = (line, row)
            if clashes:
                errors.append(
                    RowError(
                        line,
                        "valid_from",
                        f"{_span(row.valid_from, row.valid_to)} overlaps {', '.join(clashes)} "
                        f"of {_describe(key)}",
                        row.med_list_codg,
                    )
                )
    return closures, errors


async def import_catalogue(
    session: AsyncSession, *, admdvs: str, text: str, source: str, actor: Principal | None
) -> ImportResult:
    """Load a price bureau's CSV into the region's catalogue, all or nothing; audited."""
    parsed = parse_catalogue(text)
    if not await repository.lock_and_bump_catalogue_version(session, admdvs):
        raise NotFound("no such pooling region", code="unknown_region", field="admdvs")
    existing = await repository.versions_of(
        session, admdvs, {row.med_list_codg for _, row in parsed.rows}
    )
    invalid = [*parsed.errors, *check_kinds(existing, parsed.rows)]
    closures, overlaps = plan_versions(existing, parsed.rows)
    if invalid:
        raise InvalidCatalogue(sorted([*invalid, *overlaps], key=lambda e: e.line))
    if overlaps:
        raise OverlappingVersions(sorted(overlaps, key=lambda e: e.line))

    digest = hashlib.sha256(text.encode()).hexdigest()
    record = CatalogueImport(
        admdvs=admdvs,
        source=source[:200],
        sha256=digest,
        row_count=len(parsed.rows),
        closed_count=len(closures),
        actor_org_id=actor.org_id if actor else None,
    )
    session.add(record)
    await session.flush()
    await repository.close_versions(session, [(c.version_id, c.valid_to) for c in closures])
    await repository.insert_versions(session, admdvs, record.id, [row for _, row in parsed.rows])
    closed = [
        {"version_id": c.version_id, "med_list_codg": c.med_list_codg, "valid_to": str(c.valid_to)}
        for c in closures
    ]
    await audit.record(
        session,
        actor=actor,
        action="catalogue.imported",
        object_type="catalogue_import",
        object_id=str(record.id),
        payload={
            "admdvs": admdvs,
            "source": record.source,
            "sha256": digest,
            "rows": len(parsed.rows),
            "closed": closed,
        },
    )
    return ImportResult(
        import_id=str(record.id),
        admdvs=admdvs,
        rows=len(parsed.rows),
        closed=closures,
        sha256=digest,
        ignored_columns=parsed.ignored_columns,
    )


async def _require_region(session: AsyncSession, admdvs: str) -> None:
    if await repository.get_region(session, admdvs) is None:
        raise NotFound("no such pooling region", code="unknown_region", field="admdvs")


async def catalogue_version(session: AsyncSession, admdvs: str) -> str:
    """The region's catalogue version token: every import replaces it."""
    version = await repository.catalogue_version(session, admdvs)
    if version is None:
        raise NotFound("no such pooling region", code="unknown_region", field="admdvs")
    return version


async def catalogue_on(
    session: AsyncSession,
    admdvs: str,
    on: date,
    kind: str | None = None,
    *,
    changed_since: datetime | None = None,
    after: repository.OrderKey | None = None,
    limit: int | None = None,
) -> list[CatalogueVersion]:
    """The region's catalogue in force on a date (the export), or the part of it stored after
    ``changed_since``, a page at a time after ``after``."""
    await _require_region(session, admdvs)
    return await repository.versions_in_force(
        session, admdvs, on, kind, changed_since=changed_since, after=after, limit=limit
    )


async def item_history(
    session: AsyncSession, admdvs: str, med_list_codg: str
) -> list[CatalogueVersion]:
    """Every version of one item in the region, oldest first per key."""
    await _require_region(session, admdvs)
    versions = await repository.versions_of(session, admdvs, [med_list_codg])
    if not versions:
        raise NotFound(
            f"{med_list_codg} is not in this region's catalogue",
            code="unknown_item",
            field="med_list_codg",
        )
    return versions
