"""The HIS's own figures in a national input, checked against what the engine holds.

A HIS sends what it believes (the visit's fee total, the person, the medical category) with
the transaction; where it differs from the engine's record the two systems disagree about the
claim, and the transaction is refused rather than settled on either side's word.
"""

from __future__ import annotations

from engine.errors import Conflict


class FigureMismatch(Conflict):
    """A figure the HIS sent differs from the engine's: code ``<member>_mismatch``."""

    def __init__(self, member: str, his: object, engine: object, *, field: str) -> None:
        super().__init__(
            f"{member} is {his} here but {engine} in the engine's record",
            code=f"{member}_mismatch",
            field=field,
        )


def agree(member: str, his: object, engine: object, *, under: str) -> None:
    """Refuse unless the HIS's ``his`` equals the engine's ``engine``; None (the HIS sent
    nothing) agrees with anything."""
    if his is not None and his != engine:
        raise FigureMismatch(member, his, engine, field=f"{under}.{member}")
