"""What a response looks like, independent of its values: the shape two services are compared by.

A JSON body becomes a flat mapping from a path to the JSON type found there: ``{"usage":
{"input_tokens": 3}}`` is ``{"": "object", "usage": "object", "usage.input_tokens": "integer"}``.
The items of a list share one path (``content[]``), so lists of different lengths compare equal
while a field missing from every item, or of another type, does not. A server-sent event stream
is its sequence of event names (repeats folded into ``name*``) plus the merged shape of each kind
of event under ``event:NAME``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Shape = dict[str, str]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _merge(into: Shape, path: str, kind: str) -> None:
    known = into.get(path)
    if known is None or known == kind:
        into[path] = kind
        return
    into[path] = "|".join(sorted(set(known.split("|")) | {kind}))


def shape_of(value: Any, prefix: str = "") -> Shape:
    """The flattened shape of a decoded JSON value (no recursion: bodies may be deep)."""
    shape: Shape = {}
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, item = stack.pop()
        _merge(shape, path, json_type(item))
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(item, list):
            stack.extend((f"{path}[]", child) for child in item)
    return shape


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """The events of a ``text/event-stream`` body as ``(event name, decoded data)``."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if not data and name == "message":
            continue
        raw = "\n".join(data)
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw
        events.append((name, decoded))
    return events


def fold(names: Iterable[str]) -> list[str]:
    """Event names with each run of repeats folded into one ``name*``."""
    folded: list[str] = []
    for name in names:
        if folded and folded[-1] in (name, f"{name}*"):
            folded[-1] = f"{name}*"
        else:
            folded.append(name)
    return folded


def stream_shape(events: list[tuple[str, Any]]) -> tuple[list[str], Shape]:
    """The folded event sequence, and the merged shape of each kind of event."""
    shape: Shape = {}
    for name, data in events:
        for path, kind in shape_of(data, f"event:{name}").items():
            _merge(shape, path, kind)
    return fold(name for name, _ in events), shape
