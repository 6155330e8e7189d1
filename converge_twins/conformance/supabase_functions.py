"""The Python side of the conformance project's functions (supabase_project.yaml), for the twin.

Each does what its SQL twin in supabase_schema.sql does in a real project.
"""

from __future__ import annotations

from converge_twins.mock_supabase.functions import Database


def add(db: Database, a: int | str, b: int | str) -> int:
    return int(a) + int(b)


def touch(db: Database, p_run: str) -> None:
    """A volatile function: it writes, so even a read-only (GET) call that changes no row fails."""
    db.update("conformance_items", {"run": p_run}, run=f"eq.{p_run}")
