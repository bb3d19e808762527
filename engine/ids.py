"""Identifiers the engine issues (``setl_id``, ``mdtrt_id``, ``hi_rxno``, ...)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """``prefix`` and 20 random hex digits: ids are not sequential, so knowing one tells nothing
    about another and a client cannot guess others' objects."""
    return prefix + secrets.token_hex(10).upper()
