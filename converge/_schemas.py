"""The JSON Schemas converge ships, read from inside the installed package.

The top-level ``schemas/`` folder of the repository is the one copy (the design card's place for
them); ``converge/schemas`` is a link to it, so an editable install reads the same files and a
wheel carries them as package data. Reading through :mod:`importlib.resources` works for both,
where a path computed from ``__file__`` looked for ``site-packages/schemas/`` in a wheel install.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCENARIO = "scenario.schema.json"
REPORT = "report.schema.json"
SPEC_VERDICT = "spec-verdict.schema.json"
SPEC_REVIEW = "spec-review.schema.json"
GATES = "gates.schema.json"


def text(name: str) -> str:
    """The schema's JSON text."""
    return resources.files("converge").joinpath("schemas", name).read_text(encoding="utf-8")


@cache
def load(name: str) -> dict[str, Any]:
    """The schema as data, parsed once per process (callers must not change it)."""
    schema: dict[str, Any] = json.loads(text(name))
    return schema
