"""PostgreSQL's range types for the range operators: ``sl``, ``sr``, ``nxr``, ``nxl``, ``adj``.

A range literal is ``[lower,upper)`` with ``[``/``]`` inclusive, ``(``/``)`` exclusive, an empty
bound unbounded, or ``empty``. Discrete ranges (``int4range``, ``int8range``, ``daterange``) are
kept in PostgreSQL's canonical ``[)`` form, so ``(1,5]`` is ``[2,6)``. A column of no declared
type gets the element kind its literal reads as: integers, then numbers, then dates and times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from converge_twins.mock_supabase.errors import PostgrestError

DISCRETE = frozenset({"int4range", "int8range", "daterange"})
_LITERAL = re.compile(
    r'^\s*([\[(])\s*("(?:[^"\\]|\\.)*"|[^,]*?)\s*,\s*("(?:[^"\\]|\\.)*"|[^,]*?)\s*([\])])\s*$'
)


def _element(text: str, kind: str | None) -> Any:
    text = text.strip().strip('"')
    if kind in ("int4range", "int8range"):
        return int(text)
    if kind == "numrange":
        return Decimal(text)
    if kind == "daterange":
        return date.fromisoformat(text)
    if kind in ("tsrange", "tstzrange"):
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    for reader in (int, Decimal, date.fromisoformat):
        try:
            return reader(text)
        except (ValueError, InvalidOperation):
            pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return text


@dataclass(frozen=True)
class Range:
    lower: Any  # None: unbounded
    upper: Any
    lower_inc: bool
    upper_inc: bool
    empty: bool = False
    kind: str | None = None

    @classmethod
    def parse(cls, text: str, kind: str | None = None) -> Range:
        if text.strip().lower() == "empty":
            return cls(None, None, False, False, True, kind)
        match = _LITERAL.match(text)
        if match is None:
            raise PostgrestError(400, "22P02", f'malformed range literal: "{text}"')
        opening, low, high, closing = match.groups()
        try:
            lower = _element(low, kind) if low.strip() else None
            upper = _element(high, kind) if high.strip() else None
        except (ValueError, InvalidOperation):
            raise PostgrestError(400, "22P02", f'malformed range literal: "{text}"') from None
        found = cls(
            lower,
            upper,
            opening == "[" and lower is not None,
            closing == "]" and upper is not None,
            False,
            kind,
        )
        return found.canonical()

    def canonical(self) -> Range:
        lower, upper, low_inc, up_inc = self.lower, self.upper, self.lower_inc, self.upper_inc
        discrete = self.kind in DISCRETE or (
            self.kind is None
            and isinstance(lower or upper, int | date)
            and not isinstance(lower or upper, datetime)
        )
        if discrete:
            step: Any = timedelta(days=1) if isinstance(lower or upper, date) else 1
            if lower is not None and not low_inc:
                lower, low_inc = lower + step, True
            if upper is not None and up_inc:
                upper, up_inc = upper + step, False
        if (
            lower is not None
            and upper is not None
            and (lower > upper or (lower == upper and not (low_inc and up_inc)))
        ):
            return Range(None, None, False, False, True, self.kind)
        return Range(lower, upper, low_inc, up_inc, False, self.kind)

    def text(self) -> str:
        if self.empty:
            return "empty"
        low = "" if self.lower is None else _show(self.lower)
        high = "" if self.upper is None else _show(self.upper)
        return f"{'[' if self.lower_inc else '('}{low},{high}{']' if self.upper_inc else ')'}"

    # bound comparisons: each returns negative, zero or positive ----------------------------

    def _lower_vs_lower(self, other: Range) -> int:
        if self.lower is None or other.lower is None:
            return (self.lower is not None) - (other.lower is not None)
        if self.lower != other.lower:
            return -1 if self.lower < other.lower else 1
        return (not self.lower_inc) - (not other.lower_inc)

    def _upper_vs_upper(self, other: Range) -> int:
        if self.upper is None or other.upper is None:
            return (self.upper is None) - (other.upper is None)
        if self.upper != other.upper:
            return -1 if self.upper < other.upper else 1
        return self.upper_inc - other.upper_inc

    def _before(self, other: Range) -> bool:
        """Every point of self is below every point of ``other``."""
        if self.upper is None or other.lower is None:
            return False
        if self.upper != other.lower:
            return bool(self.upper < other.lower)
        return not (self.upper_inc and other.lower_inc)

    # the operators ------------------------------------------------------------------------

    def contains(self, other: Range) -> bool:
        if other.empty:
            return True
        if self.empty:
            return False
        return self._lower_vs_lower(other) <= 0 and self._upper_vs_upper(other) >= 0

    def contains_element(self, value: Any) -> bool:
        return self.contains(Range(value, value, True, True, False, self.kind))

    def overlaps(self, other: Range) -> bool:
        if self.empty or other.empty:
            return False
        return not self._before(other) and not other._before(self)

    def strictly_left(self, other: Range) -> bool:
        return not self.empty and not other.empty and self._before(other)

    def strictly_right(self, other: Range) -> bool:
        return not self.empty and not other.empty and other._before(self)

    def not_extend_right(self, other: Range) -> bool:
        return not self.empty and not other.empty and self._upper_vs_upper(other) <= 0

    def not_extend_left(self, other: Range) -> bool:
        return not self.empty and not other.empty and self._lower_vs_lower(other) >= 0

    def adjacent(self, other: Range) -> bool:
        if self.empty or other.empty:
            return False

        def meets(left: Range, right: Range) -> bool:
            return (
                left.upper is not None
                and right.lower is not None
                and left.upper == right.lower
                and left.upper_inc != right.lower_inc
            )

        return meets(self, other) or meets(other, self)


def _show(value: Any) -> str:
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return f'"{text}"' if " " in text or "," in text else text
