"""The ``profiles`` table: what the API itself knows about a user beyond the JWT.

A token's ``app_metadata.tier`` is what the user had when it was issued; an upgrade paid through
Stripe is recorded here at once, so the user's effective tier is the higher of the two without
waiting for a new token.
"""

from __future__ import annotations

from datetime import UTC, datetime

from converge_gravix.supabase_client import Row, SupabaseClient
from converge_gravix.tiers import Tier, parse_tier

TABLE = "profiles"
EMPTY_PROFILE: Row = {
    "user_id": None,
    "email": None,
    "tier": None,
    "stripe_customer_id": None,
    "stripe_subscription_id": None,
    "updated_at": None,
}


async def load(db: SupabaseClient, user_id: str) -> Row | None:
    rows = await db.select(TABLE, {"user_id": f"eq.{user_id}"}, limit=1)
    return rows[0] if rows else None


def stored_tier(profile: Row | None) -> Tier | None:
    return parse_tier(profile.get("tier")) if profile else None


async def save(db: SupabaseClient, user_id: str, **values: object) -> Row:
    """Update the user's profile with ``values``, creating it the first time."""
    values = {**values, "updated_at": datetime.now(UTC).isoformat()}
    updated = await db.update(TABLE, {"user_id": f"eq.{user_id}"}, values)
    if updated:
        return updated[0]
    # Every column from the first row on: PostgREST refuses a filter on a column it lacks.
    return await db.insert(TABLE, {**EMPTY_PROFILE, "user_id": user_id, **values})


async def find_by_customer(db: SupabaseClient, customer_id: str) -> Row | None:
    rows = await db.select(TABLE, {"stripe_customer_id": f"eq.{customer_id}"}, limit=1)
    return rows[0] if rows else None
