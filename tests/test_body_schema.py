"""body_schema: schemas checked when loaded, failures explained in one line."""

from __future__ import annotations

from typing import Any

import pytest

from converge._body_schema import SchemaProblem, compile_schema, first_failure

ORDER = {
    "type": "object",
    "required": ["id", "items"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "state": {"enum": ["open", "paid"]},
        "total": {"type": "number", "minimum": 0},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "items": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/item"}},
    },
    "$defs": {"item": {"type": "object", "required": ["sku"]}},
}
GOOD = {"id": "6f1c2a52-6d0e-4a8e-9a57-1f3c0c4b7e21", "items": [{"sku": "a"}]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, None),
        ({"items": [{}, {}, {}]}, "$.items: 3 items, at most 2 allowed (and 3 more problems)"),
        ({"items": [{"sku": "a"}, {}]}, "$.items[1]: missing required 'sku'"),
        ({"id": 7}, "$.id: expected string, got a number"),
        ({"id": "nope"}, '$.id: "nope" is not a valid uuid'),
        ({"state": "lost"}, '$.state: "lost" is not one of ["open", "paid"]'),
        ({"total": -1}, "$.total: -1, expected at least 0"),
        ({"code": "ab"}, '$.code: "ab" does not match /^[A-Z]{3}$/'),
        ({"extra": 1}, "$: not allowed: 'extra'"),
    ],
)
def test_a_failure_names_its_place_and_keyword(change: dict[str, Any], message: str | None) -> None:
    assert first_failure(compile_schema(ORDER), {**GOOD, **change}) == message


def test_a_missing_field_is_named() -> None:
    assert first_failure(compile_schema(ORDER), {"items": []}) == "$: missing required 'id'"


@pytest.mark.parametrize(
    ("schema", "where", "message"),
    [
        ({"type": "objekt"}, ("type",), "'objekt' is not a JSON Schema type"),
        ({"$ref": "other.json#/x"}, ("$ref",), "leaves the schema"),
        ({"$ref": "#/$defs/missing"}, ("$ref",), "points at nothing in the schema"),
        ({"minItems": -1}, ("minItems",), "not a valid JSON Schema"),
    ],
)
def test_an_invalid_schema_is_refused_with_its_place(
    schema: dict[str, Any], where: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SchemaProblem) as caught:
        compile_schema(schema)
    assert caught.value.where == where
    assert message in caught.value.message


def test_a_schema_may_name_an_older_draft() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    # Draft 7's tuple form of items: the first item must be text.
    assert first_failure(compile_schema(draft7), [1]) == "$[0]: expected string, got a number"


def test_true_and_false_are_schemas() -> None:
    assert first_failure(compile_schema(True), {"anything": 1}) is None
    assert first_failure(compile_schema(False), {}) == "$: this value is not allowed here"
