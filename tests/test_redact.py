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
