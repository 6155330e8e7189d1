"""A JSON Schema compiled once into plain Python predicates: is this document valid, yes or no.

jsonschema walks the schema again for every document, building a validator per level; for a
file that is valid (nearly every file, nearly always) that walk was 40% of loading a scenario.
:func:`compile_schema` turns the schema into nested closures that answer the same question in a
fraction of the time. It knows only the keywords the scenario schema uses, each with
jsonschema's own meaning (the tests compare the two on generated documents); a schema with any
other keyword compiles to None, and then jsonschema alone is used. A document the predicate
calls invalid is handed to jsonschema all the same, for its messages: the predicate only ever
spares the walk over a document that has nothing to report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

Predicate = Callable[[Any], bool]

# Keywords that only annotate: they never make a document invalid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
)


class _Unsupported(Exception):
    """A keyword (or a form of one) this compiler does not know: use jsonschema."""


def compile_schema(schema: Any) -> Predicate | None:
    """The predicate of ``schema`` (True: valid), or None when it uses what is not known here."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


# What each type name accepts, as jsonschema's draft 2020-12 type checker says: a bool is not a
# number, and a float with an integral value is an integer.
_TYPES: Mapping[str, Predicate] = {
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compile(schema: Any) -> Predicate:
    if schema is True:
        return lambda _value: True
    if schema is False:
        return lambda _value: False
    if not isinstance(schema, dict):
        raise _Unsupported
    checks: list[Predicate] = []
    for keyword, argument in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        compiler = _KEYWORDS.get(keyword)
        if compiler is None:
            raise _Unsupported(keyword)
        checks.append(compiler(argument, schema))
    if not checks:
        return lambda _value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _type(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    names = argument if isinstance(argument, list) else [argument]
    if not all(isinstance(name, str) and name in _TYPES for name in names):
        raise _Unsupported("type")
    accepted = [_TYPES[name] for name in names]
    if len(accepted) == 1:
        return accepted[0]
    return lambda value: any(accepts(value) for accepts in accepted)


def _properties(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    compiled = {name: _compile(sub) for name, sub in argument.items()}

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        return all(valid(value[name]) for name, valid in compiled.items() if name in value)

    return check


def _additional(argument: Any, schema: Mapping[str, Any]) -> Predicate:
    if "patternProperties" in schema:
        raise _Unsupported("patternProperties")
    known = frozenset(schema.get("properties", {}))
    if argument is False:
        return lambda value: not isinstance(value, dict) or all(key in known for key in value)
    valid = _compile(argument)
    return lambda value: not isinstance(value, dict) or all(
        valid(item) for key, item in value.items() if key not in known
    )


def _property_names(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    valid = _compile(argument)
    return lambda value: not isinstance(value, dict) or all(valid(key) for key in value)


def _required(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    names = tuple(argument)
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


def _items(argument: Any, schema: Mapping[str, Any]) -> Predicate:
    if "prefixItems" in schema:
        raise _Unsupported("prefixItems")
    valid = _compile(argument)
    return lambda value: not isinstance(value, list) or all(valid(item) for item in value)


def _enum(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    # Texts only: jsonschema's equality of other values (1 vs 1.0 vs True) is not copied here.
    if not all(isinstance(item, str) for item in argument):
        raise _Unsupported("enum")
    allowed = frozenset(argument)
    return lambda value: isinstance(value, str) and value in allowed


def _pattern(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    search = re.compile(argument).search  # jsonschema: re.search(pattern, instance)
    return lambda value: not isinstance(value, str) or search(value) is not None


def _one_of(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
    compiled = [_compile(sub) for sub in argument]
    return lambda value: sum(1 for valid in compiled if valid(value)) == 1


def _sized(kind: type[Sized], compare: Callable[[int, int], bool]) -> Callable[..., Predicate]:
    def keyword(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
        if not isinstance(argument, int) or isinstance(argument, bool):
            raise _Unsupported
        return lambda value: not isinstance(value, kind) or compare(len(value), argument)

    return keyword


def _bound(compare: Callable[[Any, Any], bool]) -> Callable[..., Predicate]:
    def keyword(argument: Any, _schema: Mapping[str, Any]) -> Predicate:
        if not _number(argument):
            raise _Unsupported
        return lambda value: not _number(value) or compare(value, argument)

    return keyword


_KEYWORDS: Mapping[str, Callable[[Any, Mapping[str, Any]], Predicate]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "required": _required,
    "items": _items,
    "enum": _enum,
    "pattern": _pattern,
    "oneOf": _one_of,
    "minLength": _sized(str, lambda size, limit: size >= limit),
    "maxLength": _sized(str, lambda size, limit: size <= limit),
    "minItems": _sized(list, lambda size, limit: size >= limit),
    "maxItems": _sized(list, lambda size, limit: size <= limit),
    "minProperties": _sized(dict, lambda size, limit: size >= limit),
    "maxProperties": _sized(dict, lambda size, limit: size <= limit),
    "minimum": _bound(lambda value, limit: value >= limit),
    "maximum": _bound(lambda value, limit: value <= limit),
    "exclusiveMinimum": _bound(lambda value, limit: value > limit),
    "exclusiveMaximum": _bound(lambda value, limit: value < limit),
}
