"""Settlement's door: all that the other domains may ask of settlement (docs/architecture.md).

It has two modules because its callers sit on both sides of settlement's services:

* :mod:`~claims.settlement.door.reads` — what funding, clearing and vouchers read (the settlement
  table, who is insured in a region, which institutions a caller may see). It imports no service
  of settlement's, since those services ask funding's and vouchers' doors in turn.
* :mod:`~claims.settlement.door.visits` — what prescriptions ask of settlement's services: the
  visit a prescription is written in, whether a presented ID is the patient's, and a pharmacy
  purchase registered, priced and settled as any visit is.
"""
