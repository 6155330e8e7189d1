"""Templates: typed whole-string templates, text interpolation, compile-time syntax errors."""

from __future__ import annotations

import json
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.template import (
    TemplateSyntaxError,
    UndefinedVariable,
    compile_path,
    compile_value,
    find_variables,
    text_of,
)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (2.5, 2.5), (True, True), (None, None), ("abc", "abc"), ([1, "a"], [1, "a"]),
     ({"k": [1]}, {"k": [1]})],
)
def test_whole_string_template_keeps_the_json_type(value, expected):
    assert compile_value("{{count}}").render({"count": value}) == expected


def test_whole_string_template_allows_spaces_inside_the_braces():
    assert compile_value("{{   count }}").render({"count": 3}) == 3


@pytest.mark.parametrize(
    ("value", "text"),
    [(3, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), (None, "null"), ("abc", "abc"),
     ([1, "a"], '[1,"a"]'), ({"k": 1}, '{"k":1}'), ("é", "é")],
)
def test_template_inside_a_longer_string_interpolates_the_values_text(value, text):
    assert compile_value("n={{v}}!").render({"v": value}) == f"n={text}!"


def test_several_templates_in_one_string():
    template = compile_value("/v1/{{a}}/items/{{ b }}?x={{a}}")
    assert template.variables == {"a", "b"}
    assert template.render({"a": 1, "b": "two"}) == "/v1/1/items/two?x=1"


def test_templates_compile_recursively_and_keys_stay_literal():
    template = compile_value({"{{k}}": ["{{n}}", {"deep": "x{{n}}"}], "plain": 1})
    assert template.variables == {"n"}
    assert template.render({"n": 4, "k": "no"}) == {"{{k}}": [4, {"deep": "x4"}], "plain": 1}


def test_values_without_templates_are_static_and_render_to_themselves():
    value = {"a": [1, 2, {"b": "c"}], "d": None}
    template = compile_value(value)
    assert template.is_static
    assert template.render({}) == value
    assert not compile_value("{not a template}").variables
    assert compile_value("}} and {").render({}) == "}} and {"


def test_as_text_renders_even_a_whole_template_as_text():
    template = compile_value({"X-Count": "{{n}}", "X-On": "{{flag}}"}, as_text=True)
    assert template.render({"n": 3, "flag": True}) == {"X-Count": "3", "X-On": "true"}


def test_a_closing_brace_after_a_template_is_literal():
    assert compile_value('{"a": {{n}}}').render({"n": 1}) == '{"a": 1}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ free user }}", "'{{ free user }}' is not a template"),
        ("{{}}", "'{{}}' is not a template"),
        ("{{ 1x }}", "'{{ 1x }}' is not a template"),
        ("{{a.b}}", "'{{a.b}}' is not a template"),
        ("{{{a}}}", "'{{{a}}' is not a template"),
        ("Bearer {{token}", "unclosed '{{' in 'Bearer {{token}'"),
        ("{{token", "unclosed '{{'"),
        ("{{a}} and {{b", "unclosed '{{'"),
    ],
)
def test_malformed_templates_are_rejected_when_compiled(text, message):
    with pytest.raises(TemplateSyntaxError, match=re.escape(message)):
        compile_value(text)


def test_malformed_template_deep_in_a_value_is_rejected():
    with pytest.raises(TemplateSyntaxError):
        compile_value({"a": [{"b": "{{ x y }}"}]})


def test_rendering_an_undefined_variable_names_it():
    with pytest.raises(UndefinedVariable) as caught:
        compile_value("a{{missing}}").render({})
    assert caught.value.name == "missing"
    assert str(caught.value) == "variable 'missing' has no value"
    with pytest.raises(UndefinedVariable):
        compile_value("{{missing}}").render({})


def test_find_variables_lists_the_names():
    assert find_variables({"a": "{{x}}", "b": ["{{y}}-{{x}}"]}) == {"x", "y"}


def test_text_of_reads_like_json_except_for_strings():
    values = ("s", 1, 1.5, True, None, [1])
    assert [text_of(v) for v in values] == ["s", "1", "1.5", "true", "null", "[1]"]


@given(JSON_VALUES)
def test_any_json_value_without_braces_renders_unchanged(value):
    if "{{" in json.dumps(value):
        return
    assert compile_value(value).render({}) == value


@given(NAMES, JSON_VALUES)
def test_whole_template_round_trips_any_json_value(name, value):
    assert compile_value("{{ " + name + " }}").render({name: value}) == value


@given(NAMES, JSON_VALUES, st.text().filter(lambda t: "{" not in t and "}" not in t))
def test_interpolation_is_prefix_plus_text_of_value(name, value, prefix):
    rendered = compile_value(prefix + "{{" + name + "}}").render({name: value})
    expected = prefix + text_of(value)
    assert rendered == (expected if prefix else value)


@pytest.mark.parametrize(
    ("compiled", "variables"),
    [
        (compile_value({"n": "{{count}}", "s": "x{{count}}y", "k": [1, "{{count}}"]}),
         {"count": 3}),
        (compile_value({"X-Count": "{{count}}"}, as_text=True), {"count": 3}),
        (compile_path("/items/{{id}}/{{dots}}"), {"id": "a/b c", "dots": ".."}),
        (compile_path("{{next}}"), {"next": "/v1/items?page=2"}),
        (compile_value("static"), {}),
    ],
)
def test_a_template_travels_between_processes_and_renders_the_same(compiled, variables):
    # Scenarios are loaded in worker processes; a template's render function is a closure,
    # so it is compiled again from its source, the same way, where it arrives.
    arrived = pickle.loads(pickle.dumps(compiled))
    assert arrived == compiled
    assert arrived.how == compiled.how
    assert arrived.render(variables) == compiled.render(variables)
    assert json.dumps(arrived.render(variables)) == json.dumps(compiled.render(variables))
