"""JSON made to fit a JSON Schema: what mock-anthropic answers when a schema says what to answer.

A forced tool call must come back with input valid against the tool's ``input_schema``, and
structured output (``output_config.format``) with JSON valid against its schema, as the real
API guarantees. :func:`instance` builds such a value from the schema: every required property
(and the optional ones it knows something about), enums and consts respected, numbers inside
their bounds, strings of the right format and length, arrays of the right size. Where the
caller knows better values (the analysis the twin computed for the prompt), ``hints`` supplies
them by property name, and they are used when they fit.

It covers the subset of JSON Schema that structured outputs and tool schemas use (``type``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``const``,
``anyOf``/``oneOf``/``allOf``, ``$ref`` to ``$defs``/``definitions``, string ``format``,
``minLength``/``maxLength``/``pattern``, numeric bounds and ``multipleOf``, ``minItems``/
``maxItems``); the result is checked with ``jsonschema`` by the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
MAX_DEPTH = 12


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        seen += 1
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            return {}
        node: Any = root
        for part in ref[2:].split("/"):
            node = (
                node.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(node, dict)
                else {}
            )
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        kinds = [kind for kind in declared if kind != "null"]
        return str(kinds[0]) if kinds else "null"
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _fits(value: Any, schema: Any, root: Mapping[str, Any]) -> bool:
    try:
        jsonschema.validate(
            value, {**schema, **{k: v for k, v in root.items() if k in ("$defs", "definitions")}}
        )
    except (jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return True


def _string(schema: Mapping[str, Any], name: str) -> str:
    fmt = schema.get("format")
    text = FORMATS.get(str(fmt), f"{name or 'value'}") if fmt else (name or "value")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        for candidate in (text, "a", "A", "0", "abc", "a1", "example", "x" * 8):
            if re.search(pattern, candidate):
                text = candidate
                break
    low = int(schema.get("minLength", 0) or 0)
    high = schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    exclusive_low = schema.get("exclusiveMinimum")
    exclusive_high = schema.get("exclusiveMaximum")
    value: float = 0
    if isinstance(low, int | float):
        value = low
    elif isinstance(exclusive_low, int | float):
        value = exclusive_low + (1 if integer else 0.5)
    elif isinstance(high, int | float) and high < 0:
        value = high
    elif isinstance(exclusive_high, int | float) and exclusive_high <= 0:
        value = exclusive_high - 1
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
    if integer:
        return math.ceil(value)
    return float(value)


def instance(
    schema: Any,
    hints: Mapping[str, Any] | None = None,
    root: Mapping[str, Any] | None = None,
    name: str = "",
    depth: int = 0,
) -> Any:
    """A value valid against ``schema`` (as far as this subset goes)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _resolve(schema, root)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if name and hints and name in hints and _fits(hints[name], schema, root):
        return hints[name]
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next(
                (o for o in options if _resolve(o, root).get("type") != "null"), options[0]
            )
            merged = {k: v for k, v in schema.items() if k != key}
            return instance({**merged, **_resolve(chosen, root)}, hints, root, name, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for item in schema["allOf"]:
            part = _resolve(item, root)
            if isinstance(part, dict):
                merged = {
                    **merged,
                    **part,
                    "properties": {
                        **merged.get("properties", {}),
                        **part.get("properties", {}),
                    },
                    "required": [*merged.get("required", []), *part.get("required", [])],
                }
        return instance(merged, hints, root, name, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = [key for key in schema.get("required") or [] if isinstance(key, str)]
        wanted = list(dict.fromkeys([*required, *(k for k in properties if hints and k in hints)]))
        value: dict[str, Any] = {}
        for key in wanted:
            value[key] = instance(properties.get(key, {}), hints, root, key, depth + 1)
        return value
    if kind == "array":
        low = int(schema.get("minItems", 0) or 0)
        count = max(low, 1)
        high = schema.get("maxItems")
        if isinstance(high, int):
            count = min(count, high)
        items = schema.get("items", {})
        return [instance(items, hints, root, name, depth + 1) for _ in range(count)]
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)
