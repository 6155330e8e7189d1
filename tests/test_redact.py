"""The redactor replaces exactly what one regex alternation of its secrets (longest first) and
the JWT shape would replace: the fast scan must never mask less, nor differently."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from converge.redact import _JWT, MASK, MIN_SECRET_LENGTH, Redactor


def reference(secrets: list[str], text: str) -> str:
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    return re.sub("|".join([*(re.escape(s) for s in known), _JWT]), MASK, text)


# Few letters, so that secrets overlap, nest and start alike; the pieces a JWT is made of.
PIECE = st.sampled_from(["a", "b", "e", "y", "J", ".", "-", " ", "(", "é", "\n", "eyJ", "eyJa."])
WORD = st.lists(PIECE, max_size=10).map("".join)


@given(st.lists(WORD, max_size=6), st.lists(st.integers(0, 7), max_size=8), st.data())
def test_text_matches_one_alternation_of_the_secrets(secrets, picks, data):
    pieces = [
        secrets[pick] if pick < len(secrets) else data.draw(WORD) for pick in picks
    ]
    text = "".join(pieces)
    assert Redactor(secrets).text(text) == reference(secrets, text)


def test_longest_secret_wins_and_jwt_shapes_come_after_known_secrets():
    token = "eyJhbGci.eyJzdWIi.c2ln"
    redactor = Redactor([token, f"Bearer {token}", "abcdef", "abcdefgh"])
    assert redactor.text(f"Bearer {token}!") == f"{MASK}!"
    assert redactor.text(f"{token}XYZ") == f"{MASK}XYZ"  # the secret, not the longer JWT shape
    assert redactor.text("xabcdefghx abcdefg") == f"x{MASK}x {MASK}g"
    assert redactor.text("eyJa.eyJb.c and eyJ alone") == f"{MASK} and eyJ alone"


def test_value_redacts_shared_and_repeated_parts_alike():
    steps = [{"path": "/x?key=abcdef", "tags": ("abcdef", 1)}]
    document = {"steps": steps, "runs": [{"steps": steps}], "abcdef": None}
    redacted = Redactor(["abcdef"]).value(document)
    expected_steps = [{"path": f"/x?key={MASK}", "tags": [MASK, 1]}]
    assert redacted == {"steps": expected_steps, "runs": [{"steps": expected_steps}], MASK: None}


def naive_redaction(secrets: list[str], text: str) -> str:
    """Left to right, the longest secret starting here, else a JWT, else the next character."""
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    jwt = re.compile(_JWT)
    out, at = [], 0
    while at < len(text):
        found = next((s for s in known if text.startswith(s, at)), None)
        end = at + len(found) if found else (m.end() if (m := jwt.match(text, at)) else None)
        if end is None:
            out.append(text[at])
            at += 1
        else:
            out.append(MASK)
            at = end
    return "".join(out)


# Few letters: the secrets share their first characters, as a run's tokens do.
@given(
    st.lists(st.text(alphabet="ab-", min_size=6, max_size=10), max_size=30),
    st.text(alphabet="ab- ", max_size=80),
)
def test_secrets_sharing_a_prefix_are_masked_longest_first_as_one_by_one(secrets, text):
    assert Redactor(secrets).text(text) == naive_redaction(secrets, text)


def test_thousands_of_tokens_with_one_prefix_are_masked_each_in_full():
    tokens = [f"tok-u{n}" for n in range(5000)]
    redactor = Redactor([*tokens, *(f"Bearer {t}" for t in tokens)])
    assert redactor.text("sent Bearer tok-u4999 then tok-u12 and tok-u123x") == (
        f"sent {MASK} then {MASK} and {MASK}x"
    )


def naive_value(redactor: Redactor, value: object) -> object:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {naive_value(redactor, k): naive_value(redactor, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [naive_value(redactor, item) for item in value]
    return value


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet="ab-x ", max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(alphabet="ab-", max_size=8) | st.integers(0, 3), inner, max_size=3),
    max_leaves=20,
)


@given(st.lists(st.text(alphabet="ab-", min_size=6, max_size=8), max_size=5), json_like)
def test_every_string_of_a_value_keys_included_is_redacted(secrets, value):
    redactor = Redactor(secrets)
    assert redactor.value(value) == naive_value(redactor, value)
