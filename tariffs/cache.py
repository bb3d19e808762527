"""In-process cache of catalogue versions, keyed by the region's catalogue version.

Reference data is read-mostly (STYLE.md, "The hot path"): a warm pricing call costs one tiny query,
the region's ``catalogue_version`` token, which every import replaces. When the token read differs
from the cached one, the region's cache is dropped and refilled on demand, one query per call for
all the codes it is missing.

Why this is safe: a token names exactly one committed state of the region's catalogue. Tokens are
random and never reused, so data cached by a transaction that later rolled back sits under a token
no other transaction will ever read; and an import changes the token in the same transaction as
the versions, so a reader that sees the new token also sees the new versions. Codes absent from the
catalogue are not cached (an unknown code costs a query, and garbage codes cannot grow the cache).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import NotFound
from tariffs import repository
from tariffs.versions import CatalogueVersion


@dataclass(slots=True)
class _RegionCache:
    token: str
    items: dict[str, tuple[CatalogueVersion, ...]] = field(default_factory=dict)


_regions: dict[str, _RegionCache] = {}


async def versions_for(
    session: AsyncSession, admdvs: str, codes: Collection[str]
) -> dict[str, tuple[CatalogueVersion, ...]]:
    """Every version of each code in the region (empty for a code the region never had)."""
    token = await repository.catalogue_version(session, admdvs)
    if token is None:
        raise NotFound("no such pooling region", code="unknown_region", field="admdvs")
    cache = _regions.get(admdvs)
    if cache is None or cache.token != token:
        cache = _regions[admdvs] = _RegionCache(token)
    missing = {code for code in codes if code not in cache.items}
    found: dict[str, list[CatalogueVersion]] = {}
    if missing:
        for version in await repository.versions_of(session, admdvs, missing):
            found.setdefault(version.med_list_codg, []).append(version)
        for code, versions in found.items():
            cache.items[code] = tuple(versions)
    return {code: cache.items.get(code, ()) for code in codes}
