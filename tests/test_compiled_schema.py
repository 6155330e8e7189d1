"""The compiled scenario schema says "valid" exactly when jsonschema finds no error.

Loading trusts the compiled predicate to skip jsonschema's walk over valid files, so it must
never call a document valid that jsonschema would not. It is compared with jsonschema on every
scenario file the repository holds (good and bad) and on generated documents near the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from converge import _schemas
from converge._compiled_schema import compile_schema
from converge._yaml import Loader
from converge.scenario import _inline_refs

REPO = Path(__file__).resolve().parents[1]
SCHEMA = _schemas.load(_schemas.SCENARIO)
INLINED = _inline_refs(SCHEMA, SCHEMA.get("$defs", {}))
JSONSCHEMA = Draft202012Validator(INLINED)
COMPILED = compile_schema(INLINED)


def agree(document: Any) -> None:
    assert COMPILED is not None
    assert COMPILED(document) == JSONSCHEMA.is_valid(document), document


def test_the_scenario_schema_compiles():
    assert COMPILED is not None, "a keyword of the schema is not known to the compiler"


def corpus() -> list[Path]:
    folders = ("holdouts-fixture", "tests/bad_inputs", "tests/resources")
    return sorted(
        path for folder in folders for path in (REPO / folder).rglob("*.y*ml") if path.is_file()
    )


_UNREADABLE = (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError, RecursionError)


def read(path: Path) -> Any:
    loader = Loader(path.read_text(encoding="utf-8"))
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def readable(path: Path) -> bool:
    try:
        read(path)
    except _UNREADABLE:
        return False
    return True


@pytest.mark.parametrize(
    "path", [path for path in corpus() if readable(path)],
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_every_scenario_file_of_the_repository_is_judged_alike(path: Path):
    agree(read(path))


def test_only_bad_inputs_are_left_out_as_not_yaml_the_loader_reads():
    # Those are refused before any schema is asked, so there is nothing to compare on them.
    left_out = [path for path in corpus() if not readable(path)]
    assert all(path.is_relative_to(REPO / "tests/bad_inputs") for path in left_out), left_out


# Values of every JSON type, the awkward ones included (bools against numbers, integral floats).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 100_000) | st.sampled_from([200.0, 0.5, 0.0])
    | st.text(max_size=8) | st.sampled_from(["/", "/a", "{{id}}", "GET", "critical", "x y"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["status", "path"]), inner,
                      max_size=3),
    max_leaves=12,
)
statuses = st.one_of(
    st.integers(90, 610), st.booleans(), st.just(200.0), st.just(200.5),
    st.lists(st.integers(90, 610) | st.booleans(), max_size=3), json_values,
)
expects = st.fixed_dictionaries(
    {},
    optional={
        "status": statuses,
        "body_contains": st.lists(st.sampled_from(["ok", "", "x"]), max_size=2) | json_values,
        "body_equals": st.dictionaries(st.sampled_from(["a", "items.0.id", ""]), json_values,
                                       max_size=2) | json_values,
        "body_matches": st.dictionaries(st.sampled_from(["id", ""]), st.text(max_size=4)
                                        | json_values, max_size=2),
        "header_equals": st.dictionaries(st.sampled_from(["X-A", "bad name", ""]),
                                         st.text(max_size=3), max_size=2),
        "body_schema": st.booleans() | json_values,
        "max_duration_ms": st.integers(-1, 10**9) | st.floats(allow_nan=False) | json_values,
        "stauts": json_values,
    },
)
steps = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=4) | json_values,
        "method": st.sampled_from(["GET", "POST", "get", "TRACE"]) | json_values,
        "path": st.sampled_from(["/a", "a", "{{link}}", "{{ link }}x", "/\n"]) | json_values,
        "headers": st.dictionaries(st.sampled_from(["Accept", "X-Ü", "a b"]),
                                   st.sampled_from(["v", "✓", "\t"]) | json_values, max_size=2),
        "query": st.dictionaries(st.sampled_from(["q", ""]), json_values, max_size=2),
        "auth": st.fixed_dictionaries({}, optional={"bearer": json_values, "basic": json_values}),
        "body": json_values,
        "timeout": st.integers(-2, 90_000) | st.floats(allow_nan=False) | json_values,
        "retry": st.fixed_dictionaries({}, optional={"attempts": st.integers(0, 1001)
                                                     | json_values,
                                                     "interval_ms": json_values}),
        "expect": expects | json_values,
        "capture": st.dictionaries(st.sampled_from(["id", "1x"]),
                                   st.sampled_from(["response.id", "header.X-A", "body"])
                                   | json_values, max_size=2),
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=4) | json_values,
        "priority": st.sampled_from(["critical", "important", "nice-to-have", "low"]),
        "steps": st.lists(steps, max_size=3) | json_values,
        "parameters": st.lists(st.dictionaries(st.sampled_from(["n", "1x"]), json_values,
                                               max_size=2), max_size=2) | json_values,
        "extra": json_values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_generated_scenarios_are_judged_alike(document):
    agree(document)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_is_judged_alike(document):
    agree(document)


def test_a_keyword_the_compiler_does_not_know_leaves_it_to_jsonschema():
    assert compile_schema({"type": "object", "if": {"required": ["a"]}}) is None
    assert compile_schema({"enum": [1, True]}) is None, "equality of non-texts is jsonschema's"
    assert compile_schema({"$ref": "#/$defs/x"}) is None
    assert compile_schema({"description": "only words", "x-message": "a hint"})("anything")
