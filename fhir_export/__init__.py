"""FHIR R4 export (read-only): settlements, prescriptions, dispensations and clearing batches as
FHIR resources, for integrators whose systems speak FHIR rather than the national field names.

Every resource is built from the answer of the domain's own scoped read (the one its /v1 GET
route calls), never from its tables, so a caller sees in FHIR exactly what it sees under /v1 and
gets the same 404 for anything else. The package is not named ``fhir``: that name belongs to the
``fhir.resources`` distribution the tests validate the resources with.
"""
