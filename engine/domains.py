"""Assembly of the domain packages: the one place ``engine`` knows they exist.

Each domain may provide ``models`` (tables, for Alembic), ``routes.router`` (mounted under /v1)
and ``tasks`` (dramatiq actors). Its command groups are named in ``engine.cli.LAZY_GROUPS``
instead, so that ``sanyi --help`` imports no domain.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

#: In routing order: FastAPI matches a request against the routes one by one, at every level of
#: included routers, so settlement's (2207, the hot path) come first. No two domains' paths
#: overlap, so the order decides nothing else.
DOMAINS = (
    "claims.settlement",
    "tariffs",
    "claims.funding",
    "claims.clearing",
    "prescriptions",
    "vouchers",
    "fhir_export",
)


def domain_modules(part: str) -> Iterator[ModuleType]:
    for domain in DOMAINS:
        name = f"{domain}.{part}"
        if importlib.util.find_spec(domain) and importlib.util.find_spec(name):
            yield importlib.import_module(name)


def load_models() -> None:
    """Import every domain's models so ``Base.metadata`` knows all tables."""
    import console.models  # noqa: F401
    import engine.audit
    import engine.auth
    import engine.idempotency
    import engine.inbox
    import engine.outbox  # noqa: F401

    for _ in domain_modules("models"):
        pass
