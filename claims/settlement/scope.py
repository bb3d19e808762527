"""Which institutions' claims a caller may see: the one place the claims domain decides it.

A hospital or pharmacy sees its own institution's visits, settlements, reconciliations and
clearing batches; an insurer those of the institutions of its pooling region. An institution the
caller may not see is answered exactly as one nobody registered (404 ``unknown_institution``), so
no request tells a caller what exists outside its scope.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal, Role
from tariffs.registry import visible_institution


def is_institution(principal: Principal) -> bool:
    return principal.role in (Role.hospital, Role.pharmacy)


async def institution_filter(
    session: AsyncSession, principal: Principal, fixmedins_code: str | None
) -> str | None:
    """The institution a listing or reconciliation is limited to: a hospital's or pharmacy's
    own (asked or not), or the one an insurer names in its region (None: the whole region)."""
    if is_institution(principal) and fixmedins_code in (None, principal.institution_code):
        return principal.institution_code
    if fixmedins_code is not None:
        await visible_institution(session, principal, fixmedins_code)
    return fixmedins_code
