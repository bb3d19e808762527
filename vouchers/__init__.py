"""The electronic insurance voucher (医保电子凭证, ``mdtrt_cert_type`` 01; docs/vouchers.md).

An insurer registers a signing key for its region and issues short-lived signed tokens naming a
person it insures; visits (2201), the person query (1101) and prescription presentation redeem a
token through :mod:`vouchers.door`, once.
"""
