"""The dotted field-path language used by ``body_matches``, ``body_equals`` and ``capture``.

``items.0.id`` and ``items[0].id`` name the same field. A numeric segment indexes a list (negative
numbers count from the end) and is an ordinary key on an object, so ``{"0": x}`` stays reachable.
A key that holds ``.``, ``[`` or ``]`` is quoted in brackets, with double or single quotes:
``args["filter[status]"]``, ``args['a.b']`` (a backslash escapes the quote or itself inside). A
quoted key is always a key, never a list index. Paths are parsed once, when a scenario is loaded;
resolving one is a short loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_INDEX = re.compile(r"-?[0-9]+")
_KEY = re.compile(r"[^.\[\]]+")  # a plain key: anything but the separators
_BRACKETED_INDEX = re.compile(r"\[(-?[0-9]+)\]")  # ASCII digits only, unlike \d


class PathSyntaxError(ValueError):
    """The text is not a field path; the message says where it goes wrong."""


class PathMissing(LookupError):
    """The path does not exist in the document; the message says which segment is missing."""


@dataclass(frozen=True)
class FieldPath:
    text: str
    segments: tuple[str, ...]
    quoted: frozenset[int] = frozenset()  # positions of quoted segments: keys, never indexes

    def resolve(self, document: Any) -> Any:
        """The value at this path, or :class:`PathMissing` naming the first missing segment."""
        value = document
        for depth, segment in enumerate(self.segments):
            if isinstance(value, dict):
                if segment not in value:
                    raise PathMissing(f"no field {segment!r} at {self._prefix(depth)}")
                value = value[segment]
            elif isinstance(value, list):
                if depth in self.quoted:
                    raise PathMissing(
                        f"{self._prefix(depth)} is a list; {segment!r} is a quoted key, "
                        "not an index"
                    )
                # int() alone would also take "+1", "1_0" and non-ASCII digits as indexes.
                if not _INDEX.fullmatch(segment):
                    raise PathMissing(
                        f"{self._prefix(depth)} is a list; {segment!r} is not an index"
                    )
                try:
                    value = value[int(segment)]
                except IndexError:
                    raise PathMissing(
                        f"index {segment} is out of range at {self._prefix(depth)} "
                        f"(a list of {len(value)})"
                    ) from None
            else:
                kind = _json_kind(value)
                raise PathMissing(f"{self._prefix(depth)} is {kind}, not an object or a list")
        return value

    def exists(self, document: Any) -> bool:
        try:
            self.resolve(document)
        except PathMissing:
            return False
        return True

    def _prefix(self, depth: int) -> str:
        return ".".join(self.segments[:depth]) or "the top level"

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> FieldPath:
    """Parse ``a.b.0.c`` / ``a.b[0].c`` / ``a["b.c"]`` into a :class:`FieldPath`.

    The empty path is the root. A malformed path raises :class:`PathSyntaxError` saying in words
    what is wrong and at which character (counted from 1).
    """
    segments: list[str] = []
    quoted: set[int] = set()
    position = 0
    after_segment = False  # a segment was just read: a separator must come next
    while position < len(text):
        char = text[position]
        if char == "[":
            segment, position, is_quoted = _bracket(text, position)
            if is_quoted:
                quoted.add(len(segments))
            segments.append(segment)
            after_segment = True
        elif after_segment:
            if char != ".":
                raise _syntax(text, position, f"expected '.' or '[' before {char!r}")
            if position + 1 == len(text):
                raise _syntax(text, position, "the path ends with '.'")
            if text[position + 1] == ".":
                raise _syntax(text, position + 1, "two dots in a row (an empty key)")
            position += 1
            after_segment = False
        elif char == "]":
            raise _syntax(text, position, "']' without a '[' before it")
        elif char == ".":
            raise _syntax(text, position, "the path starts with '.'")
        else:
            match = _KEY.match(text, position)
            assert match is not None  # char is none of ".[]"
            segment = match.group().strip()
            if not segment:
                raise _syntax(text, position, "a key of only spaces")
            segments.append(segment)
            position = match.end()
            after_segment = True
    return FieldPath(text=text, segments=tuple(segments), quoted=frozenset(quoted))


def _bracket(text: str, position: int) -> tuple[str, int, bool]:
    """The segment in the brackets at ``position``: (segment, position after it, quoted)."""
    index = _BRACKETED_INDEX.match(text, position)
    if index is not None:
        return index.group(1), index.end(), False
    quote = text[position + 1 : position + 2]
    if quote not in ('"', "'"):
        inside = text[position + 1 :].split("]", 1)[0]
        if "]" not in text[position:]:
            problem = "'[' is never closed"
        elif not inside:
            problem = "empty brackets '[]'"
        else:
            problem = (
                f"[{inside}] is neither a list index like [0] "
                f"nor a quoted key like [\"{inside}\"]"
            )
        raise _syntax(text, position, problem)
    chars: list[str] = []
    cursor = position + 2
    while cursor < len(text):
        char = text[cursor]
        if char == "\\" and cursor + 1 < len(text) and text[cursor + 1] in (quote, "\\"):
            chars.append(text[cursor + 1])
            cursor += 2
            continue
        if char == quote:
            break
        chars.append(char)
        cursor += 1
    else:
        raise _syntax(text, position + 1, f"the quoted key is never closed (no ending {quote})")
    if cursor + 1 >= len(text) or text[cursor + 1] != "]":
        raise _syntax(text, cursor + 1, "expected ']' after the quoted key")
    if not chars:
        raise _syntax(text, position + 1, "an empty quoted key")
    return "".join(chars), cursor + 2, True


def _syntax(text: str, position: int, problem: str) -> PathSyntaxError:
    return PathSyntaxError(f"field path {text!r}: {problem} (at character {position + 1})")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
