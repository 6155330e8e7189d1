"""The monthly analysis quota: counted from the ``analyses`` table, per user per calendar month.

Each analysis row carries its month (``"2025-11"``) so counting needs only an equality filter.
Only the free tier is limited; the paid tiers are not metered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from converge_gravix.auth import User
from converge_gravix.config import Settings
from converge_gravix.errors import ApiError
from converge_gravix.supabase_client import SupabaseClient

ANALYSES = "analyses"


@dataclass(frozen=True)
class Usage:
    month: str
    used: int
    limit: int | None  # None: unlimited

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def counting(self, more: int) -> Usage:
        return Usage(self.month, self.used + more, self.limit)

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
        }


def current_month(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m")


def monthly_limit(user: User, settings: Settings) -> int | None:
    return settings.free_monthly_quota if user.tier == "free" and not user.is_admin else None


async def usage_of(db: SupabaseClient, user: User, settings: Settings) -> Usage:
    month = current_month()
    rows = await db.select(
        ANALYSES, {"user_id": f"eq.{user.id}", "month": f"eq.{month}"}, columns="id"
    )
    return Usage(month=month, used=len(rows), limit=monthly_limit(user, settings))


def ensure_room(usage: Usage, wanted: int = 1) -> None:
    if usage.limit is not None and usage.used + wanted > usage.limit:
        error = ApiError(
            429,
            "quota_exceeded",
            f"the free tier allows {usage.limit} analyses per month and "
            f"{usage.used} were used in {usage.month}; upgrade to pro for unlimited analyses",
            usage=usage.to_json(),
            upgrade={"method": "POST", "path": "/v1/billing/checkout", "tier": "pro"},
        )
        error.headers["Retry-After"] = str(_seconds_to_next_month())
        raise error


def _seconds_to_next_month(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    start = datetime(year, month, 1, tzinfo=UTC)
    return max(int((start - now).total_seconds()), 1)
