from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge import paths
from converge.checks import Response, evaluate, evaluate_one, fail_all, json_equal
from converge.model import CheckSpec
from converge.template import compile_value


def status(*codes: int) -> CheckSpec:
    return CheckSpec(kind="status", target="status", line=1, statuses=codes)


def contains(text: str) -> CheckSpec:
    return CheckSpec(kind="body_contains", target=text, line=1, expected=compile_value(text))


def matches(field: str, pattern: str) -> CheckSpec:
    return CheckSpec(
        kind="body_matches", target=field, line=1,
        expected=compile_value(pattern), path=paths.parse(field),
    )


def equals(field: str, value: object) -> CheckSpec:
    return CheckSpec(
        kind="body_equals", target=field, line=1,
        expected=compile_value(value), path=paths.parse(field),
    )


def capture(name: str, field: str) -> CheckSpec:
    return CheckSpec(kind="capture", target=name, line=1, path=paths.parse(field))


def json_response(document: object, code: int = 200) -> Response:
    return Response(code, json.dumps(document))


# --- status --------------------------------------------------------------------------------


def test_status_passes_on_the_declared_code():
    assert evaluate_one(status(201), json_response({}, 201), {}).passed


def test_status_fails_on_another_code_saying_expected_and_actual():
    result = evaluate_one(status(200), json_response({"error": "nope"}, 404), {})
    assert not result.passed
    assert result.actual == 404
    assert "expected status 200, got 404" in result.message


def test_status_list_allows_any_listed_code():
    spec = status(200, 201)
    assert evaluate_one(spec, json_response({}, 201), {}).passed
    failed = evaluate_one(spec, json_response({}, 204), {})
    assert not failed.passed
    assert "one of 200, 201" in failed.message


@pytest.mark.parametrize(("code", "passed"), [(200, True), (204, True), (299, True),
                                               (199, False), (301, False), (500, False)])
def test_implicit_check_is_any_2xx(code, passed):
    assert evaluate_one(status(), Response(code, ""), {}).passed is passed


# --- body_contains -------------------------------------------------------------------------


def test_body_contains_looks_at_the_raw_text_even_when_not_json():
    assert evaluate_one(contains("hello"), Response(200, "<p>hello</p>"), {}).passed


def test_body_contains_failure_truncates_a_long_body():
    result = evaluate_one(contains("needle"), Response(200, "x" * 10_000), {})
    assert not result.passed
    assert len(result.message) < 400
    assert "10000 characters" in result.message


def test_body_contains_renders_templates():
    spec = contains("{{ name }}")
    assert evaluate_one(spec, Response(200, "hi bob"), {"name": "bob"}).passed


# --- body_matches --------------------------------------------------------------------------


def test_body_matches_is_a_search_not_a_full_match():
    assert evaluate_one(matches("id", r"an_\d+"), json_response({"id": "an_123x"}), {}).passed


def test_body_matches_a_number_against_its_json_text():
    assert evaluate_one(matches("count", r"^4\d$"), json_response({"count": 42}), {}).passed
    assert evaluate_one(matches("ok", r"^true$"), json_response({"ok": True}), {}).passed


def test_body_matches_fails_with_the_value_and_pattern():
    result = evaluate_one(matches("plan", "^pro$"), json_response({"plan": "free"}), {})
    assert not result.passed
    assert "free" in result.message and "^pro$" in result.message


def test_invalid_templated_pattern_fails_the_check_without_raising():
    result = evaluate_one(matches("a", "{{p}}"), json_response({"a": "x"}), {"p": "(unclosed"})
    assert not result.passed
    assert "not valid" in result.message


# --- body_equals ---------------------------------------------------------------------------


def test_body_equals_compares_exactly():
    assert evaluate_one(equals("a.b", [1, 2]), json_response({"a": {"b": [1, 2]}}), {}).passed
    assert not evaluate_one(equals("a.b", [1]), json_response({"a": {"b": [1, 2]}}), {}).passed


def test_string_expected_equals_number_with_that_json_text():
    assert evaluate_one(equals("n", "42"), json_response({"n": 42}), {}).passed
    assert not evaluate_one(equals("n", "42.0"), json_response({"n": 42}), {}).passed


def test_string_expected_equals_boolean_with_that_json_text():
    assert evaluate_one(equals("ok", "true"), json_response({"ok": True}), {}).passed
    assert not evaluate_one(equals("ok", "True"), json_response({"ok": True}), {}).passed


def test_json_true_never_equals_one():
    assert not evaluate_one(equals("flag", 1), json_response({"flag": True}), {}).passed
    assert not evaluate_one(equals("flag", True), json_response({"flag": 1}), {}).passed
    assert not evaluate_one(equals("flag", [True]), json_response({"flag": [1]}), {}).passed
    assert not evaluate_one(equals("flag", 0), json_response({"flag": False}), {}).passed


def test_number_expected_does_not_equal_a_string():
    assert not evaluate_one(equals("n", 42), json_response({"n": "42"}), {}).passed


def test_null_equals_only_null():
    assert evaluate_one(equals("x", None), json_response({"x": None}), {}).passed
    assert not evaluate_one(equals("x", None), json_response({"x": 0}), {}).passed
    assert not evaluate_one(equals("x", "null"), json_response({"x": None}), {}).passed


def test_typed_template_expected_keeps_its_type():
    spec = equals("n", "{{count}}")
    assert evaluate_one(spec, json_response({"n": 3}), {"count": 3}).passed
    assert not evaluate_one(spec, json_response({"n": True}), {"count": 1}).passed


def test_body_equals_message_shows_expected_and_actual():
    result = evaluate_one(equals("plan", "pro"), json_response({"plan": "free"}), {})
    assert result.message == 'plan: expected "pro", got "free"'
    assert (result.expected, result.actual) == ("pro", "free")


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
))
def test_every_json_value_equals_itself(value):
    assert json_equal(value, json.loads(json.dumps(value)))


# --- missing fields and non-JSON bodies ----------------------------------------------------


@pytest.mark.parametrize("spec", [matches("a.b", "x"), equals("a.b", 1), capture("v", "a.b")])
def test_missing_field_fails_the_check_with_a_message(spec):
    result = evaluate_one(spec, json_response({"a": {}}), {})
    assert not result.passed
    assert "'b'" in result.message


@pytest.mark.parametrize("spec", [matches("a", "x"), equals("a", 1), capture("v", "a")])
def test_non_json_body_fails_the_check_with_a_message(spec):
    result = evaluate_one(spec, Response(502, "<html>Bad gateway</html>"), {})
    assert not result.passed
    assert "not JSON" in result.message
    assert "Bad gateway" in result.message


def test_empty_body_is_not_json():
    assert "not JSON" in evaluate_one(equals("a", 1), Response(204, ""), {}).message


def test_list_index_in_paths():
    document = {"items": [{"id": "a"}, {"id": "b"}]}
    assert evaluate_one(equals("items.1.id", "b"), json_response(document), {}).passed
    assert evaluate_one(equals("items[0].id", "a"), json_response(document), {}).passed
    out_of_range = evaluate_one(equals("items.5.id", "a"), json_response(document), {})
    assert "out of range" in out_of_range.message


# --- captures ------------------------------------------------------------------------------


def test_capture_keeps_integer_type():
    results, captured = evaluate([capture("n", "count")], json_response({"count": 7}), {})
    assert results[0].passed
    assert captured == {"n": 7}
    assert isinstance(captured["n"], int)


def test_capture_of_null_passes_because_the_path_exists():
    results, captured = evaluate([capture("v", "x")], json_response({"x": None}), {})
    assert results[0].passed
    assert captured == {"v": None}


def test_failed_capture_stores_nothing():
    results, captured = evaluate([capture("v", "x")], json_response({}), {})
    assert not results[0].passed
    assert captured == {}


def test_capture_of_a_big_value_keeps_it_whole_but_reports_it_short():
    big = {"items": list(range(1000))}
    results, captured = evaluate([capture("v", "items")], json_response(big), {})
    assert captured["v"] == list(range(1000))
    assert isinstance(results[0].actual, str) and len(results[0].actual) < 400


def test_fail_all_fails_every_check_with_the_reason():
    results = fail_all([status(200), contains("x"), capture("v", "a")], "connection refused")
    assert [r.passed for r in results] == [False, False, False]
    assert {r.message for r in results} == {"connection refused"}


def test_a_long_body_is_never_cut_inside_a_word():
    from converge.checks import shorten

    secret = "s3cr3t" * 20
    text = "x" * 150 + " " + secret + " tail"
    excerpt = shorten(text, limit=200)
    assert "s3cr3t" not in excerpt
    assert excerpt.startswith("x" * 150)


def test_a_huge_integer_in_the_response_is_json_too_long_to_read_not_not_json():
    body = '{"n": ' + "7" * 5000 + ', "ok": true}'
    result = evaluate_one(equals("ok", True), Response(200, body), {})
    assert not result.passed
    assert result.message == (
        "the response's JSON holds an integer too long to read (over 4300 digits)"
    )


# --- bodies Python's json reads but JSON does not allow -----------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"score": NaN}', "holds NaN, which is not a JSON number"),
        ('{"score": -Infinity}', "holds -Infinity, which is not a JSON number"),
        ('{"score": 1e400}', "holds 1e400, beyond the range of JSON numbers"),
    ],
)
def test_nan_infinity_and_out_of_range_numbers_make_a_body_that_is_not_json(body, problem):
    # NaN passed every minimum and maximum of a schema; "Infinity" equalled 1e400.
    from converge._body_schema import compile_schema

    schema = {"type": "object", "properties": {"score": {"type": "number", "maximum": 1}}}
    specs = [
        CheckSpec(
            kind="body_schema", target="body", line=1, expected=compile_value(schema),
            schema=compile_schema(schema),
        ),
        equals("score", "Infinity"),
    ]
    checks, _ = evaluate(specs, Response(200, body), {})
    assert [check.passed for check in checks] == [False, False]
    assert all(problem in check.message for check in checks)


def test_a_byte_order_mark_before_the_json_is_ignored():
    checks, _ = evaluate([equals("a", 1)], Response(200, '\ufeff{"a": 1}'), {})
    assert checks[0].passed
