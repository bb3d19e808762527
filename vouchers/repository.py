"""Every query of the voucher domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import insert_or_ignore
from vouchers.models import RedeemedVoucher, VoucherKey


async def key(
    session: AsyncSession, admdvs: str, key_id: str, *, lock: bool = False
) -> VoucherKey | None:
    return await session.get(
        VoucherKey, (admdvs, key_id), with_for_update=lock, populate_existing=lock
    )


async def keys(session: AsyncSession, admdvs: str) -> list[VoucherKey]:
    query = (
        select(VoucherKey)
        .where(VoucherKey.admdvs == admdvs)
        .order_by(VoucherKey.created_at, VoucherKey.key_id)
    )
    return list((await session.scalars(query)).all())


async def add_key(session: AsyncSession, row: VoucherKey) -> bool:
    """Insert the key; False when the region already has one under its ``key_id``."""
    return await insert_or_ignore(
        session,
        VoucherKey,
        {
            "admdvs": row.admdvs,
            "key_id": row.key_id,
            "key_scheme": row.key_scheme,
            "public_key": row.public_key,
            "created_at": row.created_at,
        },
    )


async def mark_redeemed(session: AsyncSession, row: RedeemedVoucher) -> bool:
    """Record the token's use; False when it was used before (on PostgreSQL, a use not yet
    committed makes this wait for it, and then count as before)."""
    return await insert_or_ignore(
        session,
        RedeemedVoucher,
        {
            "token_id": row.token_id,
            "insuplc_admdvs": row.insuplc_admdvs,
            "psn_no": row.psn_no,
            "used_for": row.used_for,
            "used_by": row.used_by,
            "used_at": row.used_at,
        },
    )
