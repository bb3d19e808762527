"""What other domains use of vouchers: redeem a token (``mdtrt_cert_type`` 01) to the person it
names, or the refusal that says why not (docs/vouchers.md)."""

from __future__ import annotations

from typing import Final

from vouchers.service import Holder, VoucherRefused, VoucherReused, redeem

__all__ = ["VOUCHER", "Holder", "VoucherRefused", "VoucherReused", "redeem"]

#: ``mdtrt_cert_type`` 01, the electronic insurance voucher token (docs/domain.md section 16).
VOUCHER: Final = "01"
