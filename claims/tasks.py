"""Dramatiq actors of the claims domain; ``workers`` imports this module to register them."""

from claims import budget_tasks, recon_tasks

__all__ = ["budget_tasks", "recon_tasks"]
