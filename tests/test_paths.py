"""Field paths: dotted and bracketed segments, list indexes, and the missing-path messages."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.paths import PathMissing, PathSyntaxError, parse

DOC = {
    "items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}],
    "user": {"name": "Ada", "0": "zero-key", "nothing": None},
    "count": 2,
}


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("items.0.id", ("items", "0", "id")),
        ("items[0].id", ("items", "0", "id")),
        ("items[0][1]", ("items", "0", "1")),
        ("[0].id", ("0", "id")),
        ("items.-1", ("items", "-1")),
        ("items[-1]", ("items", "-1")),
        ("first name", ("first name",)),
        ("user. name", ("user", "name")),
        ("", ()),
    ],
)
def test_parse_splits_segments(text, segments):
    assert parse(text).segments == segments
    assert str(parse(text)) == text


def test_dotted_and_bracketed_indexes_are_the_same_path():
    assert parse("items.0.id").resolve(DOC) == parse("items[0].id").resolve(DOC) == 1
    assert parse("items.1.id").segments == parse("items[1].id").segments


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("count", 2),
        ("items.1.id", 2),
        ("items.-1.id", 2),
        ("items[0].tags[1]", "b"),
        ("user.0", "zero-key"),
        ("user.nothing", None),
        ("", DOC),
    ],
)
def test_resolve_finds_values(text, value):
    assert parse(text).resolve(DOC) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("missing", "no field 'missing' at the top level"),
        ("user.age", "no field 'age' at user"),
        ("items.5.id", "index 5 is out of range at items (a list of 2)"),
        ("items.first", "items is a list; 'first' is not an index"),
        ("items.+1", "items is a list; '+1' is not an index"),
        ("items.1_0", "items is a list; '1_0' is not an index"),
        ("items.٣", "items is a list; '٣' is not an index"),
        ("count.value", "count is a number, not an object or a list"),
        ("user.name.first", "user.name is a string, not an object or a list"),
        ("user.nothing.x", "user.nothing is null, not an object or a list"),
        ("items.0.tags.0.x", "items.0.tags.0 is a string, not an object or a list"),
    ],
)
def test_missing_paths_say_which_segment_is_missing(text, message):
    with pytest.raises(PathMissing) as caught:
        parse(text).resolve(DOC)
    assert str(caught.value) == message
    assert not parse(text).exists(DOC)


def test_booleans_are_not_containers():
    with pytest.raises(PathMissing, match="flag is a boolean"):
        parse("flag.x").resolve({"flag": True})


@pytest.mark.parametrize(
    "text",
    ["a..b", "a.", ".a", "a[b]", "a[0", "a]", "a[0]b", "a[]", "a. .b", "a[٣]", "[+1]"],
)
def test_malformed_paths_are_rejected(text):
    with pytest.raises(PathSyntaxError):
        parse(text)


KEYS = st.text(
    alphabet=st.characters(blacklist_characters=".[]", blacklist_categories=("Cs",)), min_size=1
).filter(lambda k: k.strip() == k and k)
SEGMENTS = st.lists(KEYS | st.integers(0, 50).map(str), min_size=1, max_size=6)


@given(SEGMENTS)
def test_dotted_text_round_trips_to_its_segments(segments):
    assert parse(".".join(segments)).segments == tuple(segments)


@given(SEGMENTS)
def test_bracketed_indexes_parse_like_dotted_ones(segments):
    bracketed = segments[0] + "".join(
        f"[{s}]" if s.isascii() and s.isdigit() else f".{s}" for s in segments[1:]
    )
    assert parse(bracketed).segments == parse(".".join(segments)).segments


@given(st.lists(st.integers(0, 3), min_size=1, max_size=4))
def test_resolve_follows_nested_list_indexes(indexes):
    document: object = "leaf"
    for index in reversed(indexes):
        document = [None] * index + [document]
    path = "".join(f"[{i}]" for i in indexes)
    assert parse(path).resolve(document) == "leaf"


@given(st.text(max_size=30))
def test_parse_either_succeeds_or_raises_a_syntax_error(text):
    try:
        path = parse(text)
    except PathSyntaxError:
        return
    with contextlib.suppress(PathMissing):
        path.resolve(DOC)
