"""Cross-region direct settlement (异地就医直接结算), docs/cross-region.md.

A person insured in region A (``insuplc_admdvs``) treated at an institution of region B
(``mdtrtarea_admvs``): A's insurer files the person for care in B (:mod:`.filings`), B's
institution settles the visit by B's catalogue under A's policy against A's accumulators
(``claims.settlement``), and each month B's agency claims the fund share of those settlements from
A's agency, which reconciles the claim against its own record (:mod:`.interregion`).
"""
