"""``body_schema``: a JSON Schema for a whole response body, compiled once and explained in words.

The schema is checked when the scenario is loaded (an invalid schema is a located problem, exit
2), and compiled into a validator then, so a run only validates. Draft 2020-12 unless the
schema's ``$schema`` names another draft that jsonschema knows (schemas copied from an OpenAPI
document are often draft-07). ``format`` is checked for the formats jsonschema can check without
extra packages (email, ipv4, ipv6, uuid, date, regex, ...); references must stay inside the
schema (``#/$defs/...``): converge fetches nothing.

A failing body gets one message naming the most relevant failing place and keyword, as
``$.items: 12 items, at most 10 allowed``, and how many other problems there were.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from converge._schema_errors import PathSegments, kind_of
from converge.visible import show

if TYPE_CHECKING:
    from jsonschema.exceptions import SchemaError, ValidationError
    from jsonschema.protocols import Validator

# jsonschema is imported where a body schema is compiled or applied, not with this module:
# most runs have no body_schema, and importing it is a tenth of converge's start-up.

_REF_KEYS = ("$ref", "$dynamicRef")


class SchemaProblem(ValueError):
    """The schema itself is wrong; ``where`` is the place inside it."""

    def __init__(self, where: PathSegments, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def compile_schema(schema: Any) -> Validator:
    """A validator for ``schema``, or :class:`SchemaProblem` saying where the schema is wrong."""
    for where, ref in _references(schema, ()):
        if not ref.startswith("#"):
            raise SchemaProblem(
                where,
                f"reference {ref!r} leaves the schema: only references inside it "
                "(#/$defs/...) are allowed, converge fetches nothing",
            )
        if ref.startswith("#/") and not _pointer_exists(schema, ref):
            raise SchemaProblem(where, f"reference {ref!r} points at nothing in the schema")
    import jsonschema
    from jsonschema.exceptions import SchemaError

    cls = (
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        if isinstance(schema, dict)
        else jsonschema.Draft202012Validator
    )
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        return _raise_schema_error(error)
    validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


def first_failure(validator: Validator, document: Any) -> str | None:
    """None when ``document`` satisfies the schema; else what fails, in one line."""
    # No type stubs for referencing; jsonschema's own are installed with the dev extra.
    import referencing.exceptions
    from jsonschema.exceptions import best_match

    try:
        errors = list(validator.iter_errors(document))
    except referencing.exceptions.Unresolvable as error:
        return f"the schema cannot be applied: unresolvable reference {error}"
    except RecursionError:
        return "the schema cannot be applied: the body or the schema nests too deeply"
    if not errors:
        return None
    best = best_match(errors)
    assert best is not None
    message = f"{pointer(tuple(best.absolute_path))}: {explain(best)}"
    others = len(errors) - 1
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return message


def explain(error: ValidationError) -> str:
    """One schema failure in words."""
    keyword = error.validator
    value: Any = error.validator_value
    instance = error.instance
    if keyword == "type":
        wanted = " or ".join(value) if isinstance(value, list) else str(value)
        return f"expected {wanted}, got {kind_of(instance)}"
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in value if name not in instance]
        return "missing required " + ", ".join(repr(name) for name in missing)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = [
            name
            for name in instance
            if name not in allowed and not any(p.search(name) for p in patterns)
        ]
        return "not allowed: " + ", ".join(repr(name) for name in extra[:5])
    if keyword in ("maxItems", "minItems") and isinstance(instance, list):
        bound = "at most" if keyword == "maxItems" else "at least"
        return f"{len(instance)} items, {bound} {value} allowed"
    if keyword in ("maxLength", "minLength") and isinstance(instance, str):
        bound = "at most" if keyword == "maxLength" else "at least"
        return f"{len(instance)} characters, {bound} {value} allowed"
    if keyword in ("maxProperties", "minProperties") and isinstance(instance, dict):
        bound = "at most" if keyword == "maxProperties" else "at least"
        return f"{len(instance)} fields, {bound} {value} allowed"
    bounds = {
        "maximum": "at most",
        "minimum": "at least",
        "exclusiveMaximum": "less than",
        "exclusiveMinimum": "more than",
    }
    if keyword in bounds:
        return f"{show(instance)}, expected {bounds[keyword]} {value}"
    if keyword == "enum":
        return f"{show(instance)} is not one of {show(value)}"
    if keyword == "const":
        return f"expected {show(value)}, got {show(instance)}"
    if keyword == "pattern":
        return f"{show(instance)} does not match /{value}/"
    if keyword == "format":
        return f"{show(instance)} is not a valid {value}"
    if keyword == "uniqueItems":
        return "the items are not unique"
    if keyword == "multipleOf":
        return f"{show(instance)} is not a multiple of {value}"
    if keyword in ("not", "false", None):  # None: the schema `false`
        return "this value is not allowed here"
    if keyword in ("oneOf", "anyOf"):
        return f"matches none of the {len(value)} allowed shapes ({keyword})"
    return f"fails {keyword}"


def pointer(where: PathSegments) -> str:
    """``$.items[3].id``: a place in a JSON document, written as the scenario messages do."""
    out = ["$"]
    for segment in where:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif segment.isidentifier():
            out.append(f".{segment}")
        else:
            out.append(f"[{show(segment)}]")
    return "".join(out)


def _raise_schema_error(error: SchemaError) -> Validator:
    where = tuple(error.absolute_path)
    if where and where[-1] == "type":
        message = (
            f"{_short(repr(error.instance))} is not a JSON Schema type "
            "(array, boolean, integer, null, number, object, string)"
        )
    else:
        message = f"not a valid JSON Schema: {_short(error.message)}"
    raise SchemaProblem(where, message)


def _references(node: Any, where: PathSegments) -> Iterator[tuple[PathSegments, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _REF_KEYS and isinstance(value, str):
                yield (*where, key), value
            else:
                yield from _references(value, (*where, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, (*where, index))


def _pointer_exists(schema: Any, ref: str) -> bool:
    node = schema
    for raw in ref[2:].split("/") if ref != "#/" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _short(text: str) -> str:
    return text if len(text) <= 100 else text[:97] + "..."
