"""Stripe API versions: which ``Stripe-Version`` values the twin accepts.

A version is a release date, ``YYYY-MM-DD``; since 2024-09-30 every release also carries the name
of its major release (``2024-09-30.acacia``, ``2025-03-31.basil``). Stripe refuses anything else
with a 400 ``Invalid Stripe API version: <value>``. The twin accepts a real calendar date from
Stripe's first version to its own newest one, named when (and only when) the date is one of the
named era, with a known release name; it renders every version in today's shape (the objects of
the newest version), as documented in the README.
"""

from __future__ import annotations

import re
from datetime import date

from converge_twins.mock_stripe.errors import StripeError

# The version the current official SDK pins (stripe-python 16); the twin's default.
NEWEST = "2026-10-28.endive"
FIRST = date(2011, 1, 1)
NAMED_SINCE = date(2024, 9, 30)
RELEASE_NAMES = frozenset({"acacia", "basil", "clover", "dahlia", "endive"})
SHAPE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?$")


def _newest_date() -> date:
    return date.fromisoformat(NEWEST.partition(".")[0])


def is_valid(version: str) -> bool:
    match = SHAPE.match(version)
    if match is None:
        return False
    year, month, day, name = match.groups()
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        return False
    if not FIRST <= when <= _newest_date():
        return False
    if when >= NAMED_SINCE:
        return name in RELEASE_NAMES
    return name is None


def checked(version: str) -> str:
    """``version`` when Stripe would accept it, else Stripe's 400."""
    value = version.strip()
    if not is_valid(value):
        raise StripeError(400, f"Invalid Stripe API version: {version}")
    return value
