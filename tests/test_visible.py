"""Failed comparisons show what differs, even when the difference is invisible."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.redact import Redactor
from converge.visible import first_difference, mismatch, show


@pytest.mark.parametrize(
    ("expected", "actual", "shown"),
    [
        ("a b", "a  b", 'got "a  b" (first difference at character 3: expected \'b\' U+0062'),
        ("a b", "a\tb", 'got "a\\tb" (first difference at character 2'),
        ("ab", "ab ", "expected the end of the text, got ' ' U+0020 SPACE"),
        ("a b", "a\u00a0b", 'got "a\\u00a0b"'),
        ("ab", "a\u200bb", 'got "a\\u200bb"'),
        ("ok", "ok\r\n", 'got "ok\\r\\n"'),
        ("rtl", "\u202ertl", 'got "\\u202ertl"'),
    ],
)
def test_whitespace_and_hidden_characters_are_escaped(expected, actual, shown):
    assert shown in mismatch(expected, actual)


def test_look_alike_letters_are_escaped_and_named():
    message = mismatch("ada", "\u0430da")  # Cyrillic a
    assert 'expected "ada", got "\\u0430da"' in message
    assert "U+0430 CYRILLIC SMALL LETTER A" in message


def test_composed_and_decomposed_accents_are_told_apart():
    message = mismatch("caf\u00e9", "cafe\u0301")
    assert '"caf\\u00e9"' in message and '"cafe\\u0301"' in message


def test_plainly_different_values_need_no_pointer():
    assert mismatch("free", "pro") == 'expected "free", got "pro"'
    assert mismatch(1, "1") == 'expected 1, got "1"'
    assert mismatch({"a": [1, 2]}, None) == 'expected {"a": [1, 2]}, got null'


def test_long_texts_are_shown_around_their_first_difference():
    expected = "word " * 100 + "end"
    actual = "word " * 100 + "End"
    message = mismatch(expected, actual)
    assert "first difference at character 501" in message
    assert 'word word End"' in message and "(503 characters)" in message
    assert len(message) < 600


def test_a_cut_never_splits_a_word_so_a_secret_is_masked_whole_or_not_shown():
    secret = "tok_" + "s3cr3t" * 30
    message = mismatch("x" * 150 + " " + secret, "y" * 150 + " " + secret)
    redacted = Redactor([secret]).text(message)
    assert "s3cr3t" not in redacted


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_mismatch_of_two_different_texts_never_reads_the_same_for_both(expected, actual):
    if expected == actual:
        return
    message = mismatch(expected, actual)
    shown_expected, _, rest = message.removeprefix("expected ").partition(", got ")
    assert shown_expected != rest.split(" (first difference")[0]
    assert "\n" not in message and "\t" not in message


def test_first_difference_of_a_prefix_is_its_end():
    assert first_difference("abc", "ab") == 2
    assert first_difference("", "x") == 0


def test_show_escapes_hidden_characters_inside_structures():
    assert show({"a": "b\u200bc"}) == '{"a": "b\\u200bc"}'
