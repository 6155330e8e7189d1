"""Values shown so that what differs can be seen, even when it is invisible.

A failed comparison that prints ``expected "a b", got "a b"`` helps nobody: the actual value had
two spaces, a tab, a no-break space or a Cyrillic letter that looks Latin. :func:`show` writes a
value as JSON would, with every character that does not show itself escaped (controls, no-break
and zero-width spaces, direction marks), and :func:`mismatch` says "expected X, got Y" and, where
the two could still be mistaken for each other or are long, points at the first difference.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

LIMIT = 200  # characters of a shown string; past it the shown part is a window around a change
_CONTEXT = 30  # characters shown before the first difference in a long string

# Categories whose characters show nothing, or something that passes for a space: controls,
# formats (zero-width spaces, direction marks, BOM), separators other than the plain space,
# private-use, unassigned and surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp", "Zs"})
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def show(value: Any, *, ascii_only: bool = False) -> str:
    """A value as JSON text on one line, hidden characters escaped (``\\u00a0``), long ones cut.

    ``ascii_only`` escapes every non-ASCII character too, for look-alikes (Latin and Cyrillic a).
    """
    if isinstance(value, str):
        return _quoted(value, ascii_only)
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    text = "".join(_escape_hidden(char) for char in text)
    if len(text) <= LIMIT:
        return text
    _start, end = whole_words(text, 0, LIMIT)
    return f"{text[:end]}... ({len(text)} characters)"


def mismatch(expected: Any, actual: Any) -> str:
    """``expected X, got Y``; for two texts, also where they first differ when that helps."""
    if not (isinstance(expected, str) and isinstance(actual, str)):
        return f"expected {show(expected)}, got {show(actual)}"
    at = first_difference(expected, actual)
    differing = expected[at : at + 1] + actual[at : at + 1]
    # Latin and Cyrillic "a", or "é" and "e" + U+0301, look alike: escape what is not ASCII.
    lookalike = not differing.isascii()
    shown_expected = show(expected, ascii_only=lookalike)
    shown_actual = show(actual, ascii_only=lookalike)
    long = max(len(expected), len(actual)) > LIMIT
    if long:
        shown_expected = _window(expected, at, lookalike)
        shown_actual = _window(actual, at, lookalike)
    message = f"expected {shown_expected}, got {shown_actual}"
    if lookalike or long or at > 0:
        message += f" (first difference at character {at + 1}: {_describe(expected, actual, at)})"
    return message


def first_difference(left: str, right: str) -> int:
    """The index of the first character where the two texts differ (the shorter's length when
    one is the start of the other)."""
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return index
    return min(len(left), len(right))


def describe_char(char: str) -> str:
    """``'a' U+0061 LATIN SMALL LETTER A``; hidden characters escaped."""
    name = unicodedata.name(char, "")
    return f"'{_quoted(char, False)[1:-1]}' U+{ord(char):04X}{' ' + name if name else ''}"


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` narrowed so that it cuts no word in half.

    Half a token is still half a secret, and the redactor recognises whole ones only: a word cut
    at either end is left out entirely.
    """
    if 0 < start < len(text) and _WORDISH.match(text[start - 1]) and _WORDISH.match(text[start]):
        while start < end and _WORDISH.match(text[start]):
            start += 1
    if 0 < end < len(text) and _WORDISH.match(text[end - 1]) and _WORDISH.match(text[end]):
        while end > start and _WORDISH.match(text[end - 1]):
            end -= 1
    return start, end


_WORDISH = re.compile(r"[\w\-.+/=~%]")


def _describe(expected: str, actual: str, at: int) -> str:
    wanted = describe_char(expected[at]) if at < len(expected) else "the end of the text"
    found = describe_char(actual[at]) if at < len(actual) else "the end of the text"
    return f"expected {wanted}, got {found}"


def _window(text: str, at: int, ascii_only: bool) -> str:
    """The part of a long text around ``at``, as whole words; the count says it is a part."""
    start, end = whole_words(text, max(0, at - _CONTEXT), min(len(text), at + LIMIT // 2))
    if start >= end:
        return f"({len(text)} characters; the part around the difference is one long word)"
    shown = _quoted(text[start:end], ascii_only)
    before = "..." if start > 0 else ""
    after = "..." if end < len(text) else ""
    return f"{before}{shown}{after} ({len(text)} characters)"


def _quoted(text: str, ascii_only: bool) -> str:
    if len(text) > LIMIT:
        _start, end = whole_words(text, 0, LIMIT)
        return f"{_quoted(text[:end], ascii_only)}... ({len(text)} characters)"
    out = ['"']
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ascii_only and not char.isascii():
            out.append(_unicode_escape(char))
        else:
            out.append(_escape_hidden(char))
    out.append('"')
    return "".join(out)


def _escape_hidden(char: str) -> str:
    if char == " " or (char.isascii() and char.isprintable()):
        return char
    if unicodedata.category(char) in _HIDDEN:
        return _unicode_escape(char)
    return char


def _unicode_escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:
        return f"\\U{code:08x}"
    return f"\\u{code:04x}"
