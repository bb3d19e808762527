"""Settlement's door, what the other claims domains and vouchers read (docs/architecture.md).

* :data:`SETTLEMENTS` — the settlement table, to read: reconciliation compares an institution's
  records with it, clearing freezes a month of it into a batch, funding splits a month's fund
  share by its ``clr_type``. It is an alias, so no statement can write through it.
* :func:`insured_in` — which people are insured in a pooling region (funding signs them to
  bundles, vouchers check that a token's holder is insured where it was issued).
* :func:`institution_filter`, :func:`is_institution` and :data:`UNKNOWN_INSTITUTION` — which
  institutions' claims a caller may see, decided in one place for the whole claims domain.
"""

from __future__ import annotations

from sqlalchemy import FromClause

from claims.settlement.models import Settlement
from claims.settlement.refusals import UNKNOWN_INSTITUTION
from claims.settlement.repository import insured_in
from claims.settlement.scope import institution_filter, is_institution
from engine.db import table_of

__all__ = [
    "SETTLEMENTS",
    "UNKNOWN_INSTITUTION",
    "institution_filter",
    "insured_in",
    "is_institution",
]

#: The settlement table, read-only: read its columns as ``SETTLEMENTS.c``.
SETTLEMENTS: FromClause = table_of(Settlement).alias("settlement")
