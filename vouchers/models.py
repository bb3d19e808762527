"""The voucher tables: each region's registered signing keys, and every token redeemed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, utcnow
from engine.signatures import SignatureScheme


class VoucherKey(Base):
    """A public key an insurer signs its region's tokens with. ``key_id`` names it in tokens; a
    region may hold several (a new one registered before the old stops being used). A retired key
    (``retired_at`` set) verifies no token from then on, whenever the token was signed: retiring
    is what an insurer does when the private half may be exposed."""

    __tablename__ = "voucher_key"
    __table_args__ = (
        CheckConstraint(
            "key_scheme IN ({})".format(",".join(f"'{s.value}'" for s in SignatureScheme)),
            name="key_scheme",
        ),
    )

    admdvs: Mapped[str] = mapped_column(String(6), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_scheme: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class RedeemedVoucher(Base):
    """A token used once. The primary key on ``token_id`` is the single-use guarantee: the row
    is written in the transaction of the use, so a second use of the token conflicts with it (and
    on PostgreSQL waits for the first to commit or roll back)."""

    __tablename__ = "redeemed_voucher"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    insuplc_admdvs: Mapped[str] = mapped_column(String(6))
    psn_no: Mapped[str] = mapped_column(String(30))
    used_for: Mapped[str] = mapped_column(String(16))
    used_by: Mapped[str] = mapped_column(String(30))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
