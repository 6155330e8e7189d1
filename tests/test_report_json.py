"""report_json writes exactly what json.dumps(indent=2, ensure_ascii=False) writes, or refuses
what it refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.report import report_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
JSONISH = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=30,
)


def reference(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


@given(JSONISH)
def test_same_text_as_json_dumps(value):
    assert report_json(value) == reference(value)


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"a": [], "b": {}, "c": [{}], "d": "é\n\"\\\u2028", "e": -0.0, "f": 10**30, "g": 1e-7},
        {"nan": math.nan, "inf": [math.inf, -math.inf]},
        {3: "int key", None: "null key", True: "bool key", 2.5: "float key"},
        [Text("a str subclass"), (1, 2)],
        [[[[[]]]]],
    ],
)
def test_edge_values_match_json_dumps(value):
    assert report_json(value) == reference(value)


def test_what_json_dumps_refuses_is_refused_alike():
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="Circular reference"):
        report_json({"runs": cyclic})
    with pytest.raises(TypeError):
        report_json({"when": object()})
