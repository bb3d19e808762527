"""The closed vocabularies of the tariffs domain, as they appear on the wire and in the database.

Each is a ``StrEnum`` so the values are the wire values (domain.md section 2 and 3), and the check
constraints in :mod:`tariffs.models` are built from the same lists.
"""

from __future__ import annotations

import enum


class InstitutionKind(enum.StrEnum):
    """A designated institution (定点机构) is a hospital or a retail pharmacy; it must match the
    role of the organisation whose key acts for it."""

    hospital = "hospital"
    pharmacy = "pharmacy"


class Grade(enum.StrEnum):
    """Institution grade within a level: A = 甲, B = 乙."""

    A = "A"
    B = "B"


class DrTitle(enum.StrEnum):
    """Doctor titles that consultation tariffs depend on (主任 / 副主任 / 主治 / 医师)."""

    chief = "chief"
    associate_chief = "associate_chief"
    attending = "attending"
    physician = "physician"


class KeyScheme(enum.StrEnum):
    """Signature schemes of a practitioner's registered public key (docs/domain.md section 9).
    The wire names of engine.signatures.SignatureScheme: Ed25519, and SM2 the national one."""

    ed25519 = "ed25519"
    sm2 = "sm2"


class ItemKind(enum.StrEnum):
    """Service items are priced by the tariff; drugs and consumables at the institution's own
    price against the catalogue's payment standard (docs/domain.md section 3)."""

    service = "service"
    drug = "drug"
    consumable = "consumable"


class ControlledClass(enum.StrEnum):
    """Specially controlled drug classes (处方管理办法; 长期处方管理规范（试行）)."""

    none = "none"
    narcotic = "narcotic"
    psychotropic_1 = "psychotropic_1"
    psychotropic_2 = "psychotropic_2"
    toxic = "toxic"
    radioactive = "radioactive"


#: ``chrgitm_lv`` (docs/domain.md section 2): 1 class A (甲), 2 class B (乙), 3 self-paid (丙).
CHRGITM_LEVELS = (1, 2, 3)
CLASS_B = 2
SELF_PAID = 3


def sql_in(column: str, values: type[enum.StrEnum] | tuple[int, ...]) -> str:
    """A CHECK constraint body ``column IN (...)`` over a vocabulary."""
    if isinstance(values, tuple):
        listed = ",".join(str(v) for v in values)
    else:
        listed = ",".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({listed})"
