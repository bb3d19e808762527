"""E-prescription circulation (医保电子处方流转), docs/domain.md sections 6 and 9.

The pure core: :mod:`prescriptions.signing` (the doctor's signature over the RFC 8785 canonical
JSON of the prescription) and :mod:`prescriptions.rules` (处方管理办法, 长期处方管理规范,
互联网诊疗管理办法 checks); :mod:`prescriptions.cli` is the hospital's ``sanyi rx`` client helper.
The service: :mod:`~prescriptions.upload` (upload, review, revocation),
:mod:`~prescriptions.circulation` (visibility, presentation, lock, expiry) and
:mod:`~prescriptions.dispensing` (dispense and settle), over :mod:`~prescriptions.documents` (the
stored signed document) and :mod:`~prescriptions.records` (states, audit, events).
docs/prescriptions.md describes all of it.
"""
