"""YAML read as YAML 1.2 would read it, and the composed nodes inspected before construction.

PyYAML's safe loader follows YAML 1.1: ``yes``/``no``/``on``/``off`` are booleans, ``010`` is
octal, ``1:30`` is ninety and dates become ``datetime``. Scenario values are plain JSON, so the
loader here keeps only YAML 1.2's core scalars. :class:`NodeInspector` walks the composed nodes
once for what PyYAML would silently accept or choke on, and :func:`line_of` finds the line of any
place in a document, for the ``file:LINE: $.pointer: message`` problems.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from converge._schema_errors import PathSegments

MAX_VALUES = 100_000  # values after expanding aliases; beyond this a file is hostile, not a test

_TAG = "tag:yaml.org,2002:"
_BOOL, _INT, _FLOAT, _NULL, _STR = (_TAG + t for t in ("bool", "int", "float", "null", "str"))
_SEQ, _MAP, _MERGE = _TAG + "seq", _TAG + "map", _TAG + "merge"
_PLAIN_TAGS = frozenset({_BOOL, _INT, _FLOAT, _NULL, _STR, _SEQ, _MAP})


# libyaml's parser (shipped in PyYAML's wheels) is about four times faster than the pure-Python
# one, which dominates loading time; both build the same nodes with the same marks.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_SafeLoader):  # type: ignore[valid-type,misc]  # chosen at import time
    """PyYAML's safe loader, minus the YAML 1.1 scalar surprises (see the module docstring)."""


# Dropped: 1.1 booleans (yes/no/on/off), 1.1 numbers (010 octal, 1:30 sexagesimal, 1_000),
# timestamps (not JSON), and the "=" / "!" value and yaml tags, which have no safe constructor.
Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {_BOOL, _INT, _FLOAT, _TAG + "timestamp", _TAG + "value", _TAG + "yaml"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)

Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)

# What each plain tag accepts, checked on every scalar before construction: an explicit tag with
# a malformed value (``!!float abc``, ``!!bool maybe``) would fail inside PyYAML with a bare
# IndexError or KeyError and no line.
_SCALAR_TEXT = {
    _INT: re.compile(r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)"),
    _FLOAT: re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"),
    _BOOL: re.compile(r"true|True|TRUE|false|False|FALSE"),
}


def _construct_int(loader: yaml.SafeLoader, node: Node) -> int:
    assert isinstance(node, ScalarNode)
    return _int(str(loader.construct_scalar(node)))


Loader.add_constructor(_INT, _construct_int)


def _int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = {"0x": 16, "0o": 8}.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def construct_plain(node: Node) -> Any:
    """The value of nodes :class:`NodeInspector` passed with nothing shared and nothing merged,
    built directly: the same values PyYAML's constructor builds from them (the inspector has
    checked every tag and scalar's text), at a fraction of its cost (it was a quarter of
    loading a scenario). Aliases and merge keys go through PyYAML's constructor."""
    if isinstance(node, ScalarNode):
        tag = node.tag
        text: str = node.value
        if tag == _STR:
            return text
        if tag == _INT:
            return _int(text)
        if tag == _FLOAT:
            return float(text)
        if tag == _BOOL:
            return text.lower() == "true"
        return None  # _NULL: the inspector let no other tag through
    if isinstance(node, MappingNode):
        return {key.value: construct_plain(value) for key, value in node.value}
    return [construct_plain(item) for item in node.value]



# --- finding a place's line -------------------------------------------------------------------


def line_of(root: Node | None, where: PathSegments, key: str | None = None) -> int:
    """The 1-based line of ``where`` in the document (or of the key ``key`` of the mapping
    there); the nearest existing ancestor's line when the place is not in the document."""
    node = root
    if node is None:
        return 1
    for segment in where:
        child = _child(node, segment)
        if child is None:
            break
        node = child
    if key is not None and isinstance(node, MappingNode):
        key_node = _key_node(node, key)
        if key_node is not None:
            node = key_node
    return int(node.start_mark.line) + 1


# --- inspecting the composed nodes ------------------------------------------------------------

Report = Callable[[int, PathSegments, str], None]
"""Where an inspector's problems go: (line, where, message)."""

class NodeInspector:
    """One walk over the composed nodes for what PyYAML would silently accept or choke on:
    duplicate keys (PyYAML keeps the last), non-text keys, non-JSON tags and values, recursive
    aliases, and alias bombs. Shared (aliased) nodes are inspected once."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.sizes: dict[int, int] = {}  # node id -> values it expands to
        self.open: set[int] = set()  # nodes being walked: meeting one again is a cycle
        self.aliased = False  # a node was met again: an alias made the document bigger
        self.merged = False  # a merge key (<<) was met
        self.fatal = False  # a problem that makes the document unsafe to construct or validate

    def inspect(self, node: Node) -> bool:
        total = self.walk(node, ())
        if total > MAX_VALUES:
            how = "aliases expand to" if self.aliased else "the file holds"
            self.report(node, (), f"too large: {how} more than {MAX_VALUES} values")
        return not self.fatal

    def report(self, node: Node, where: PathSegments, message: str, fatal: bool = True) -> None:
        self.fatal = self.fatal or fatal
        self._report(node.start_mark.line + 1, where, message)

    def walk(self, node: Node, where: PathSegments) -> int:
        key = id(node)
        if key in self.sizes:
            self.aliased = True
            return self.sizes[key]
        if key in self.open:
            self.report(node, where, "recursive alias: a value cannot contain itself")
            return 1
        self.open.add(key)
        size = 1
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in {_MAP, _SEQ}:
            self.report(node, where, f"YAML tag {_short_tag(node.tag)} is not supported here")
        elif isinstance(node, MappingNode):
            size += self.walk_mapping(node, where)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                size += self.walk(item, (*where, index))
                if size > MAX_VALUES:
                    break
        else:
            self.check_scalar(node, where)
        self.open.discard(key)
        self.sizes[key] = size
        return size

    def walk_mapping(self, node: MappingNode, where: PathSegments) -> int:
        size = 0
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merged = True
                size += self.walk(value_node, where)
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.report(
                    key_node,
                    where,
                    f"key {shown!r} is not text; put it in quotes (JSON keys are strings)",
                )
                continue
            name = key_node.value
            line = key_node.start_mark.line + 1
            if name in seen:
                self.report(
                    key_node,
                    where,
                    f"duplicate key {name!r} (first at line {seen[name]}); "
                    "YAML would silently keep only the last one",
                    fatal=False,  # the rest of the file is still worth checking
                )
            seen.setdefault(name, line)
            size += self.walk(value_node, (*where, name))
            if size > MAX_VALUES:
                break
        return size

    def check_scalar(self, node: Node, where: PathSegments) -> None:
        if node.tag not in _PLAIN_TAGS:
            self.report(
                node,
                where,
                f"YAML tag {_short_tag(node.tag)} is not supported: scenario values are plain "
                "JSON (text, numbers, true/false, null, lists, mappings)",
            )
            return
        text = str(node.value)
        if node.tag == _FLOAT and re.search(r"inf|nan", text, re.IGNORECASE):
            self.report(node, where, f"{text} is not a JSON number")
            return
        pattern = _SCALAR_TEXT.get(node.tag)
        if pattern is not None and not pattern.fullmatch(text):
            self.report(node, where, f"{_clipped(text)!r} is not a valid {_short_tag(node.tag)}")
        elif node.tag == _FLOAT and math.isinf(float(text)):
            # 1e999 reads as infinity, which JSON cannot send.
            self.report(node, where, f"{_clipped(text)} is out of the range of JSON numbers")
        elif node.tag == _INT and _beyond_double(text):
            # Nor an integer no double can hold (a 5,000-digit one, 0xfff... of 4,000 digits):
            # Python would read it, then fail to write it anywhere (its 4,300-digit limit).
            self.report(node, where, f"{_clipped(text)} is out of the range of JSON numbers")


def _beyond_double(text: str) -> bool:
    """Whether an integer's text (decimal, 0x or 0o) is beyond the largest double (~1.8e308)."""
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0o"):
        return int(digits[2:], 16 if digits[1] == "x" else 8).bit_length() > 1024
    return len(digits.lstrip("0")) > 309


def _clipped(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _short_tag(tag: str) -> str:
    return tag.replace(_TAG, "!!")


def _child(node: Node, segment: str | int) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(segment, str):
        key_node = _key_node(node, segment)
        if key_node is None:
            return None
        # The last occurrence is the value YAML keeps (after merges, overrides come last).
        for candidate_key, value in reversed(node.value):
            if candidate_key is key_node:
                return value  # type: ignore[no-any-return]
    if isinstance(node, SequenceNode) and isinstance(segment, int):
        return node.value[segment] if 0 <= segment < len(node.value) else None
    return None


def _key_node(node: MappingNode, key: str) -> Node | None:
    for key_node, _value in reversed(node.value):
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node
    return None
