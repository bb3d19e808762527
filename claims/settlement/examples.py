"""Worked example A of the settlement guide (an employee's tier-3 internet follow-up with a chief
physician: 211.40 of fees, 58.00 from the pooled fund, 100.00 from the personal account, 53.40 in
cash) as the API answered it, request by request: the examples of the published contract."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

EXAMPLE_A: dict[str, dict[str, Any]] = json.loads(
    files("claims.settlement").joinpath("example_a.json").read_text(encoding="utf-8")
)
