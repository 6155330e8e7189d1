"""converge: run holdout scenarios against an API and decide whether a change may merge."""

from __future__ import annotations

__version__ = "0.1.0"
