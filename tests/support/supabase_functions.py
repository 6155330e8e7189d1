"""Python database functions for the rpc tests, loaded by a project file as mock-supabase does."""

from __future__ import annotations

from typing import Any

from converge_twins.mock_supabase.functions import Database, Raise


def increment_usage(db: Database, user_id: str, month: str) -> Any:
    """Atomically count one more use, as a plpgsql ``insert ... on conflict do update`` would."""
    found = db.select("usage", user_id=f"eq.{user_id}", month=f"eq.{month}")
    if found:
        return db.update(
            "usage", {"count": found[0]["count"] + 1}, user_id=f"eq.{user_id}", month=f"eq.{month}"
        )[0]["count"]
    return db.insert("usage", {"user_id": user_id, "month": month, "count": 1})[0]["count"]


def reset_usage(db: Database, user_id: str) -> None:
    db.delete("usage", user_id=f"eq.{user_id}")


def quota_left(db: Database, user_id: str, quota: int = 3) -> int:
    used = sum(row["count"] for row in db.select("usage", user_id=f"eq.{user_id}"))
    if used > int(quota):
        raise Raise("PT402", "Payment Required", "Quota exceeded", "Upgrade your plan")
    return int(quota) - used


def count_then_refuse(db: Database, user_id: str) -> None:
    """Writes, then fails: the call must leave no trace, as a rolled-back transaction."""
    db.insert("usage", {"user_id": user_id, "month": "2025-01", "count": 1})
    raise Raise("P0001", "refused after writing")
