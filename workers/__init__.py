"""Dramatiq workers: ``sanyi worker`` runs ``dramatiq workers``, which imports this package.

The broker is set up first, because an actor binds to the current broker when its module is
imported; then the engine's own actors and every domain's ``tasks`` module are imported, which
also registers their periodic jobs with engine/scheduler.py.
"""

from engine.broker import setup_broker
from engine.domains import domain_modules
from engine.settings import get_settings

broker = setup_broker(get_settings())

from workers import audit_seal, housekeeping, relay  # noqa: E402

domain_tasks = list(domain_modules("tasks"))

__all__ = ["audit_seal", "broker", "domain_tasks", "housekeeping", "relay"]
