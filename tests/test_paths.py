"""Field paths: dotted and bracketed segments, list indexes, and the missing-path messages."""

from __future__ import annotations

import contextlib
import re

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
    ("text", "message"),
    [
        ("a..b", "two dots in a row (an empty key) (at character 3)"),
        ("a.", "the path ends with '.' (at character 2)"),
        (".a", "the path starts with '.' (at character 1)"),
        ("a[b]", 'is neither a list index like [0] nor a quoted key like ["b"]'),
        ("a[0", "'[' is never closed"),
        ("a]", "expected '.' or '[' before ']' (at character 2)"),
        ("a[0]b", "expected '.' or '[' before 'b' (at character 5)"),
        ("a[]", "empty brackets '[]'"),
        ("a. .b", "a key of only spaces (at character 3)"),
        ("a[٣]", "is neither a list index"),
        ("[+1]", "is neither a list index"),
        ("filter[status]", 'nor a quoted key like ["status"]'),
        ('a["b', 'the quoted key is never closed (no ending ")'),
        ("a['b'c]", "expected ']' after the quoted key (at character 6)"),
        ('a[""]', "an empty quoted key"),
        ("a.]", "']' without a '[' before it"),
    ],
)
def test_malformed_paths_are_rejected_with_the_problem_in_words(text, message):
    with pytest.raises(PathSyntaxError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "malformed" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ('args["filter[status]"]', ("args", "filter[status]")),
        ("args['a.b']", ("args", "a.b")),
        ('["a.b"].c', ("a.b", "c")),
        ('a.["x"]', ("a", "x")),
        (r'a["say \"hi\""]', ("a", 'say "hi"')),
        (r"a['back\\slash']", ("a", "back\\slash")),
        ("a['it\"s']", ("a", 'it"s')),
        ('a[" spaced "]', ("a", " spaced ")),
        ('items["0"]', ("items", "0")),
    ],
)
def test_quoted_keys_may_hold_dots_brackets_and_spaces(text, segments):
    assert parse(text).segments == segments


def test_a_quoted_key_is_a_key_never_a_list_index():
    document = {"args": {"filter[status]": "open", "a.b": 1, "0": "zero"}, "items": ["x"]}
    assert parse('args["filter[status]"]').resolve(document) == "open"
    assert parse("args['a.b']").resolve(document) == 1
    assert parse('args["0"]').resolve(document) == "zero"
    with pytest.raises(PathMissing, match="items is a list; '0' is a quoted key, not an index"):
        parse('items["0"]').resolve(document)
    assert parse("items[0]").resolve(document) == "x"


_OLD_SEGMENT = re.compile(r"(?P<key>[^.\[\]]+)|\[(?P<index>-?[0-9]+)\]")


def _old_parse(text: str) -> tuple[str, ...] | None:
    """The parser before quoted keys, kept as the oracle: what it accepted must not change."""
    segments: list[str] = []
    position = 0
    expect_separator = False
    while position < len(text):
        char = text[position]
        if expect_separator and char == ".":
            position += 1
            if position == len(text):
                return None
            expect_separator = False
            continue
        if expect_separator and char != "[":
            return None
        match = _OLD_SEGMENT.match(text, position)
        if match is None:
            return None
        segment = match.group("key").strip() if match.group("key") is not None else None
        if segment == "":
            return None
        segments.append(segment if segment is not None else match.group("index"))
        position = match.end()
        expect_separator = True
    return tuple(segments)


@given(st.text(alphabet=st.sampled_from(list("ab0-1. []'\"x")), max_size=14))
def test_every_path_valid_before_quoted_keys_parses_as_it_did(text):
    old = _old_parse(text)
    if old is None:
        return
    assert parse(text).segments == old
    assert not parse(text).quoted


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


def _quoted(key: str, quote: str) -> str:
    return "[" + quote + key.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote + "]"


@given(
    st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1), min_size=1,
             max_size=4),
    st.sampled_from(['"', "'"]),
)
def test_any_key_quoted_round_trips_and_resolves(keys, quote):
    # Whatever a key holds (dots, brackets, quotes, backslashes, digits, spaces, unicode), its
    # quoted form is exactly that key, in checks and captures alike.
    text = "".join(_quoted(key, quote) for key in keys)
    path = parse(text)
    assert path.segments == tuple(keys)
    document: object = "leaf"
    for key in reversed(keys):
        document = {key: document}
    assert path.resolve(document) == "leaf"
