"""Patterns written in scenarios and in their schemas: compiled by the ``regex`` package (in its
``re``-compatible mode), because it can bound a search in time and ``re`` cannot, and refused
when compiling them would take the machine's memory.

The ``regex`` package unrolls a counted repeat of a fixed count: ``(a{1000}){1000}`` is a
million copies (about 280 MB), and one more level exhausts any machine before a search begins.
So a pattern's fixed counts are multiplied along their nesting first, with ``re``'s own parser;
a range (``{0,1000}``) is not unrolled and costs nothing here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import regex

MAX_UNROLLED = 100_000  # copies of a pattern's pieces its fixed counts make (about 30 MB)
# How long a pattern may take when no step deadline is known (a check evaluated on its own).
MATCH_TIMEOUT = 10.0
# The least a pattern is given even when its step's deadline has (almost) passed: an answer
# that came in time deserves to be checked.
MIN_MATCH_SECONDS = 0.05

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``pattern`` as converge searches with it; ``regex.error`` when it is not valid, or when its
    nested fixed counts would unroll into more than :data:`MAX_UNROLLED` pieces."""
    unrolled = _unrolled(pattern)
    if unrolled > MAX_UNROLLED:
        raise regex.error(
            f"its counted repeats nest into {unrolled:,} copies, at most {MAX_UNROLLED:,} "
            "(write a range such as {0,1000}, which is not unrolled)"
        )
    return regex.compile(pattern, regex.VERSION0)


@lru_cache(maxsize=1024)  # scenario files repeat their patterns: each is measured once
def _unrolled(pattern: str) -> int:
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return 0  # not re's syntax (a construct of regex only): regex judges it alone
    return _weight(list(parsed))


def _weight(items: list[tuple[Any, Any]]) -> int:
    total = 0
    for op, argument in items:
        if op in _REPEATS:
            low, high, inner = argument
            fixed = low if high in (sre.MAXREPEAT, low) else 1
            total += max(fixed, 1) * _weight(list(inner))
        elif op is sre.SUBPATTERN:
            total += _weight(list(argument[-1]))
        elif op is sre.BRANCH:
            total += sum(_weight(list(branch)) for branch in argument[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += _weight(list(argument[1]))
        elif op is sre.ATOMIC_GROUP:
            total += _weight(list(argument))
        else:
            total += 1
        if total > MAX_UNROLLED:
            return total  # enough to refuse it; the rest could be astronomical
    return total
