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
import time
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import regex

MAX_UNROLLED = 100_000  # copies of a pattern's pieces its fixed counts make (about 30 MB)
MATCH_TIMEOUT = 10.0  # seconds a search may take when no step deadline is known
MIN_MATCH_SECONDS = 0.05  # the least a search is given, even past the step's deadline

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


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> regex.Pattern[str]:
    """:func:`compile_pattern`, once per pattern: static patterns hit this cache from the second
    request on; templated ones per rendered text, so ``--runs`` pays a compile once per value."""
    return compile_pattern(pattern)


def search(pattern: str, subject: str, deadline: float | None) -> bool:
    """Whether ``pattern`` matches somewhere in ``subject``, searching until ``deadline``
    (``time.monotonic()`` seconds; None: :data:`MATCH_TIMEOUT`), and at least
    :data:`MIN_MATCH_SECONDS`: an answer that came in time deserves to be checked. A pattern that
    backtracks catastrophically (``^(a|a)*$``) would otherwise hold the step for hours: it raises
    TimeoutError instead. The GIL is released while it searches, so other workers go on."""
    seconds = (
        MATCH_TIMEOUT if deadline is None else max(deadline - time.monotonic(), MIN_MATCH_SECONDS)
    )
    return compiled(pattern).search(subject, timeout=seconds, concurrent=True) is not None
