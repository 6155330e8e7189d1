"""The dotted field-path language used by ``body_matches``, ``body_equals`` and ``capture``.

``items.0.id`` and ``items[0].id`` name the same field. A numeric segment indexes a list (negative
numbers count from the end) and is an ordinary key on an object, so ``{"0": x}`` stays reachable.
Paths are parsed once, when a scenario is loaded; resolving one is a short loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_INDEX = re.compile(r"-?[0-9]+")
_SEGMENT = re.compile(r"""
    (?P<key>[^.\[\]]+)        # a plain key: anything but the separators
  | \[(?P<index>-?[0-9]+)\]   # a bracketed list index (ASCII digits only, unlike \d)
""", re.VERBOSE)


class PathSyntaxError(ValueError):
    """The text is not a field path; the message says where it goes wrong."""


class PathMissing(LookupError):
    """The path does not exist in the document; the message says which segment is missing."""


@dataclass(frozen=True)
class FieldPath:
    text: str
    segments: tuple[str, ...]

    def resolve(self, document: Any) -> Any:
        """The value at this path, or :class:`PathMissing` naming the first missing segment."""
        value = document
        for depth, segment in enumerate(self.segments):
            if isinstance(value, dict):
                if segment not in value:
                    raise PathMissing(f"no field {segment!r} at {self._prefix(depth)}")
                value = value[segment]
            elif isinstance(value, list):
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
    """Parse ``a.b.0.c`` / ``a.b[0].c`` into a :class:`FieldPath`. The empty path is the root."""
    segments: list[str] = []
    position = 0
    expect_separator = False
    while position < len(text):
        char = text[position]
        if expect_separator and char == ".":
            position += 1
            if position == len(text):
                raise PathSyntaxError(f"field path {text!r} ends with '.'")
            expect_separator = False
            continue
        if expect_separator and char != "[":
            raise PathSyntaxError(f"field path {text!r}: unexpected {char!r} at {position}")
        match = _SEGMENT.match(text, position)
        if match is None:
            raise PathSyntaxError(f"field path {text!r}: empty or malformed segment at {position}")
        if match.group("key") is not None:
            segment = match.group("key").strip()
            if not segment:
                raise PathSyntaxError(f"field path {text!r}: empty segment at {position}")
        else:
            segment = match.group("index")
        segments.append(segment)
        position = match.end()
        expect_separator = True
    return FieldPath(text=text, segments=tuple(segments))


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
