"""Vouchers' door: what other domains use of vouchers (docs/vouchers.md, docs/architecture.md).

* :func:`redeem` — verify a token (``mdtrt_cert_type`` 01) and use it up, answering the
  :class:`Holder` it names, or a :class:`VoucherRefused` that says why not;
* :data:`REDEEM_REFUSALS` — those refusals, for the contract of every operation that redeems.
"""

from __future__ import annotations

from typing import Final

from vouchers.refusals import REDEEM as REDEEM_REFUSALS
from vouchers.service import Holder, VoucherRefused, VoucherReused, redeem

__all__ = ["REDEEM_REFUSALS", "VOUCHER", "Holder", "VoucherRefused", "VoucherReused", "redeem"]

#: ``mdtrt_cert_type`` 01, the electronic insurance voucher token (docs/domain.md section 16).
VOUCHER: Final = "01"
