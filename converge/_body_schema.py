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

import copyreg
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any

import regex

from converge._regex import compile_pattern, search
from converge._schema_errors import PathSegments, kind_of
from converge.visible import show

if TYPE_CHECKING:
    from jsonschema.exceptions import SchemaError, ValidationError
    from jsonschema.protocols import Validator

# jsonschema is imported where a body schema is compiled or applied, not with this module:
# most runs have no body_schema, and importing it is a tenth of converge's start-up.

_REF_KEYS = ("$ref", "$dynamicRef")

# jsonschema searches ``pattern`` and ``patternProperties`` with ``re``, which cannot be stopped:
# a pattern that backtracks catastrophically (``^(a+)+$``) on the API's value held the step, the
# run and even SIGTERM for as long as it liked. Here those keywords search through the
# ``regex`` package until the step's deadline (set for the validation by first_failure).
_DEADLINE: ContextVar[float | None] = ContextVar("converge_schema_deadline", default=None)


class _PatternTimeout(Exception):
    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self.pattern = pattern


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
    from jsonschema.exceptions import SchemaError

    cls = _draft(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        return _raise_schema_error(error)
    for where, pattern in _patterns(schema, ()):
        try:
            compile_pattern(pattern)
        except regex.error as error:
            raise SchemaProblem(where, f"invalid regular expression: {error}") from None
    unbounded = _unevaluated_with_patterns(schema)
    if unbounded is not None:
        raise SchemaProblem(
            unbounded,
            "unevaluatedProperties with patternProperties: jsonschema would search those "
            "patterns without a time limit; use additionalProperties beside them",
        )
    return _validator(schema)


def _draft(schema: Any) -> Any:
    import jsonschema

    return (
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        if isinstance(schema, dict)
        else jsonschema.Draft202012Validator
    )


def _validator(schema: Any) -> Validator:
    """The validator of a schema already checked; also how one is rebuilt when it arrives from
    the worker process that loaded its scenario (the validator's class is made at run time,
    so pickle could not name it)."""
    cls = _draft(schema)
    validator: Validator = _bounded(cls)(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


def _reduce_validator(validator: Any) -> tuple[Any, tuple[Any]]:
    return _validator, (validator.schema,)


@cache
def _bounded(cls: Any) -> Any:
    """``cls`` with the keywords that search patterns doing so within the deadline."""
    import jsonschema

    bounded = jsonschema.validators.extend(cls, {  # type: ignore[no-untyped-call]
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    })
    copyreg.pickle(bounded, _reduce_validator)
    return bounded


def _search(pattern: str, text: str) -> bool:
    try:
        return search(pattern, text, _DEADLINE.get())
    except TimeoutError:
        raise _PatternTimeout(pattern) from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif not additional and extras:
        unexpected = ", ".join(repr(name) for name in extras)
        yield ValidationError(f"additional properties are not allowed ({unexpected})")


def _extras(instance: dict[str, Any], schema: Any) -> list[str]:
    """The names of ``instance`` that neither ``properties`` nor ``patternProperties`` cover."""
    schema = schema if isinstance(schema, dict) else {}
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        name for name in instance
        if name not in known and not any(_search(pattern, name) for pattern in patterns)
    ]


def _patterns(schema: Any, where: PathSegments) -> Iterator[tuple[PathSegments, str]]:
    """Every pattern of the schema: ``pattern`` values and ``patternProperties`` names."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield (*where, key), value
            elif key == "patternProperties" and isinstance(value, dict):
                for name in value:
                    yield (*where, key, name), name
            yield from _patterns(value, (*where, key))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _patterns(item, (*where, index))


def _unevaluated_with_patterns(schema: Any) -> PathSegments | None:
    """Where ``unevaluatedProperties`` is, when the schema also has ``patternProperties``."""
    places = [where for where, _ in _keyed(schema, "unevaluatedProperties", ())]
    if places and any(True for _ in _keyed(schema, "patternProperties", ())):
        return places[0]
    return None


def _keyed(schema: Any, key: str, where: PathSegments) -> Iterator[tuple[PathSegments, Any]]:
    if isinstance(schema, dict):
        for name, value in schema.items():
            if name == key:
                yield (*where, name), value
            yield from _keyed(value, key, (*where, name))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _keyed(item, key, (*where, index))


def first_failure(
    validator: Validator, document: Any, deadline: float | None = None
) -> str | None:
    """None when ``document`` satisfies the schema; else what fails, in one line. Its patterns
    search until ``deadline`` (``time.monotonic()`` seconds; None: MATCH_TIMEOUT each)."""
    # No type stubs for referencing; jsonschema's own are installed with the dev extra.
    import referencing.exceptions
    from jsonschema.exceptions import best_match

    token = _DEADLINE.set(deadline)
    try:
        errors = list(validator.iter_errors(document))
        if not errors:
            return None
        best = best_match(errors)
        assert best is not None
        message = f"{pointer(tuple(best.absolute_path))}: {explain(best)}"
    except referencing.exceptions.Unresolvable as error:
        return f"the schema cannot be applied: unresolvable reference {error}"
    except RecursionError:
        return "the schema cannot be applied: the body or the schema nests too deeply"
    except _PatternTimeout as stopped:
        return (
            f"the schema's pattern /{stopped.pattern}/ did not finish matching within the "
            "step's timeout (it backtracks too much on this body)"
        )
    finally:
        _DEADLINE.reset(token)
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
        extra = _extras(instance, error.schema)
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
