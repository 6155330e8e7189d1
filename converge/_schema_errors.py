"""jsonschema's validation errors, turned into one short human line each.

jsonschema's own messages repeat the whole offending value and, for ``oneOf``, every branch; a
scenario author needs "what is wrong, here" in one line: the allowed keys of a mapping, a
did-you-mean for typos, the shapes a value could have taken.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where an error is described: a valid file never needs jsonschema
    from jsonschema.exceptions import ValidationError

PathSegments = tuple[str | int, ...]

_TYPE_NAMES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
    "null": "null",
}


def describe(error: ValidationError) -> list[tuple[PathSegments, str | None, str]]:
    """(where, key or None, message) for each problem one schema error stands for."""
    where: PathSegments = tuple(error.absolute_path)
    keyword = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}

    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        # jsonschema reports a bad key at its mapping; point at the key itself.
        if keyword == "minLength":
            return [(where, instance, "an empty key is not allowed here")]
        hint = schema.get("x-message", f"does not match {schema.get('pattern')!r}")
        return [(where, instance, f"{instance!r} {hint}")]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        return [
            (where, extra, _unknown_key(extra, allowed))
            for extra in instance
            if extra not in allowed
        ]
    if keyword == "required" and isinstance(instance, dict):
        return [
            (where, None, f"missing required key {name!r}")
            for name in _validator_value(error)
            if name not in instance
        ]
    if keyword in {"oneOf", "anyOf"} and error.context:
        return _describe_alternatives(error)
    return [(where, None, _message(error))]


def _describe_alternatives(error: ValidationError) -> list[tuple[PathSegments, str | None, str]]:
    context = list(error.context or [])
    type_errors = [e for e in context if e.validator == "type" and not e.relative_path]
    if len(type_errors) == len(context):
        # The value fits none of the shapes: say which shapes would do.
        expected = " or ".join(_type_phrase(e.validator_value) for e in type_errors)
        return [(tuple(error.absolute_path), None, f"expected {expected}, {_got(error.instance)}")]
    # Some shape had the right type: its complaint is the useful one.
    relevant = [e for e in context if e not in type_errors]
    from jsonschema.exceptions import best_match

    best = best_match(relevant)
    return describe(best) if best is not None else [(tuple(error.absolute_path), None, "")]


def _message(error: ValidationError) -> str:
    keyword = error.validator
    value = _validator_value(error)
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "type":
        message = f"expected {_type_phrase(value)}, {_got(instance)}"
        if value == "string" and isinstance(instance, int | float):
            message += " (put it in quotes)"
        return message
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in value)
        close = [c for c in value if str(c).lower() == str(instance).lower()]
        close = close or difflib.get_close_matches(str(instance), [str(c) for c in value], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{_short(instance)} is not one of: {choices}{hint}"
    if keyword == "minimum":
        return f"{_short(instance)} is below the minimum {value}"
    if keyword == "maximum":
        return f"{_short(instance)} is above the maximum {value}"
    if keyword == "exclusiveMinimum":
        return f"{_short(instance)} must be greater than {value}"
    if keyword in {"minItems", "minProperties", "minLength"}:
        return "must not be empty" if value == 1 else f"needs at least {value} entries"
    if keyword in {"maxItems", "maxProperties", "maxLength"} and isinstance(
        instance, list | dict | str
    ):
        # jsonschema's own message quotes the whole value first, and a long one was cut off
        # before its reason: "[{'i': 0}, {'i': 1}, ... {'i':...".
        what = "characters" if isinstance(instance, str) else "entries"
        return f"{len(instance)} {what}, at most {value} allowed"
    if keyword == "pattern":
        hint = schema.get("x-message", f"does not match {value!r}")
        return f"{_short(instance)} {hint}"
    message = str(error.message)
    return message if len(message) <= 120 else message[:117] + "..."


def _unknown_key(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"{key!r} is not allowed here (did you mean {close[0]!r}?)"
    return f"{key!r} is not allowed here (expected one of: {', '.join(allowed)})"


def _type_phrase(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    return " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in names)


def _got(instance: Any) -> str:
    if instance is None:
        return "got null"
    if isinstance(instance, dict | list):
        return f"got {kind_of(instance)}"
    return f"got {kind_of(instance)} ({_short(instance)})"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _validator_value(error: ValidationError) -> Any:
    # The stubs type it "Any | Unset"; it is always set on errors that come out of a validation.
    return error.validator_value
