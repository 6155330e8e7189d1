"""The subscription tiers, in order, and what each one is allowed."""

from __future__ import annotations

from typing import Literal

Tier = Literal["free", "pro", "quality", "enterprise"]
TIERS: tuple[Tier, ...] = ("free", "pro", "quality", "enterprise")

# Tiers a user can buy through checkout; enterprise goes through sales.
PURCHASABLE: tuple[Tier, ...] = ("pro", "quality")

# Monthly price in cents for the tiers sold through checkout.
PRICES: dict[Tier, int] = {"pro": 2900, "quality": 9900}

# How many product matches one query returns.
MATCH_LIMITS: dict[Tier, int] = {"free": 3, "pro": 10, "quality": 10, "enterprise": 25}

BATCH_LIMIT = 10  # texts per batch analysis (quality and enterprise only)


def parse_tier(value: object) -> Tier | None:
    for tier in TIERS:
        if value == tier:
            return tier
    return None


def rank(tier: Tier) -> int:
    return TIERS.index(tier)


def highest(*tiers: Tier | None) -> Tier:
    known = [tier for tier in tiers if tier is not None]
    return max(known, key=rank) if known else "free"
