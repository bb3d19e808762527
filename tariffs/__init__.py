"""Tariffs, catalogues and the registry (docs/domain.md sections 2, 3 and 6).

What other domains call (never this domain's tables):

- :mod:`tariffs.pricing`: ``price_lines``, ``get_drugs`` / ``get_drug`` (catalogue facts in force);
- :mod:`tariffs.registry`: ``get_institution``, ``get_practitioner``.
"""
