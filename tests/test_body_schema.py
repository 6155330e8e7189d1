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
        # Unrolled, these nested counts would take every byte of memory before a search.
        (
            {"properties": {"x": {"pattern": "((a{1000}){1000}){1000}"}}},
            ("properties", "x", "pattern"),
            "nest into 1,000,000,000 copies",
        ),
        (
            {"patternProperties": {"(b{1000}){1000}": {}}},
            ("patternProperties", "(b{1000}){1000}"),
            "nest into 1,000,000 copies",
        ),
        (
            {"patternProperties": {"^x": {}}, "unevaluatedProperties": False},
            ("unevaluatedProperties",),
            "without a time limit",
        ),
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


# --- patterns that backtrack: bounded by the step's deadline ------------------------------------

CATASTROPHIC = "^(a|a)*$"  # exponential on "aaaa...!" for re and regex alike


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"evil": {"pattern": CATASTROPHIC}}},
        {"patternProperties": {CATASTROPHIC: {"type": "string"}}},
        {"patternProperties": {"^z": {}}, "additionalProperties": False, "properties": {}},
        {"propertyNames": {"pattern": CATASTROPHIC}},
    ],
)
def test_a_pattern_that_backtracks_fails_at_the_deadline_instead_of_holding_the_run(schema):
    # jsonschema searched these with re, which cannot be stopped: the step, the run and even
    # SIGTERM waited for hours.
    import time

    if "additionalProperties" in schema:
        schema["patternProperties"] = {CATASTROPHIC: {}}
    body = {"a" * 40 + "!": 1, "evil": "a" * 40 + "!"}
    started = time.monotonic()
    failure = first_failure(compile_schema(schema), body, time.monotonic() + 0.5)
    assert failure is not None and "did not finish matching within the step's timeout" in failure
    assert CATASTROPHIC in failure
    assert time.monotonic() - started < 60  # bounded (not a timing assertion: hours before)


def test_patterns_still_judge_names_and_values_as_before():
    schema = {
        "properties": {"id": {"pattern": "^ord_[0-9]+$"}},
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    validator = compile_schema(schema)
    assert first_failure(validator, {"id": "ord_12", "x-trace": "t"}) is None
    failure = first_failure(validator, {"id": "ord_x"})
    assert failure == '$.id: "ord_x" does not match /^ord_[0-9]+$/'
    assert first_failure(validator, {"x-n": 1}) == '$["x-n"]: expected string, got a number'
    assert first_failure(validator, {"other": 1}) == "$: not allowed: 'other'"
