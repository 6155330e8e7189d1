"""The one redaction point: every string that leaves converge passes through a :class:`Redactor`.

Secrets come from three places: values the run itself sent as credentials (built-in tokens,
Authorization headers), the environment (``HOLDOUT_PAT``, the JWT secret), and anything that merely
looks like a JWT, because a hostile or careless API may echo tokens we never saw.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"

# Header names whose values are credentials. Compared lower-cased.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "apikey", "api-key"}
)

# Environment variables whose values are secrets wherever they turn up.
SECRET_ENV = ("HOLDOUT_PAT", "CONVERGE_JWT_SECRET", "GITHUB_TOKEN", "ANTHROPIC_API_KEY")

# Header.payload.signature, each base64url; both header and payload are JSON objects ("eyJ").
_JWT = r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
_JWT_PATTERN = re.compile(_JWT)
_JWT_START = "eyJ"

# Shorter values would mask ordinary words ("Bearer", "ok") all over the report.
MIN_SECRET_LENGTH = 6


def secrets_of_header(name: str, value: str) -> tuple[str, ...]:
    """The secret parts of one request header: the whole value and, for "Bearer x", x alone."""
    if name.lower() not in SECRET_HEADERS or not value:
        return ()
    _scheme, _, credential = value.partition(" ")
    if credential.strip():
        return (value, credential.strip())
    return (value,)


class Redactor:
    """Replaces every known secret, and anything JWT-shaped, with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        given = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        # An API that echoes a secret inside JSON may write it escaped ("s\u00e9cret"): that
        # spelling is the same secret.
        escaped = {json.dumps(s)[1:-1] for s in given if not s.isascii() or '"' in s or "\\" in s}
        known = sorted(
            given | escaped,
            key=len,
            reverse=True,  # longest first, so a secret containing another is masked whole
        )
        self.secrets = frozenset(known)
        # One big alternation of every secret costs a compile per report and, at each position
        # of every string, a try per secret (a run's tokens number in the thousands). Instead a
        # small pattern finds where a secret (by its first characters) or a JWT may start, and
        # only there are the candidates tried, longest first: the same leftmost, longest-secret-
        # before-JWT replacement as that alternation would make.
        # Tokens often share their first characters ("eyJhbG...", "tok-u1..."): a bucket of a
        # prefix holds its secrets as a set, tried by length, longest first, so a candidate
        # place costs a few lookups, not one comparison per secret of the run.
        self._by_prefix: dict[str, tuple[tuple[int, ...], frozenset[str]]] = {}
        buckets: dict[str, set[str]] = {}
        for secret in known:
            buckets.setdefault(secret[:MIN_SECRET_LENGTH], set()).add(secret)
        for prefix, bucket in buckets.items():
            lengths = tuple(sorted({len(secret) for secret in bucket}, reverse=True))
            self._by_prefix[prefix] = (lengths, frozenset(bucket))
        self._start = re.compile(_trie_pattern([*self._by_prefix, _JWT_START]))

    @classmethod
    def from_environment(cls, secrets: Iterable[str] = ()) -> Redactor:
        env = [os.environ.get(name, "") for name in SECRET_ENV]
        return cls([*secrets, *env])

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self.secrets, *secrets])

    def text(self, text: str) -> str:
        if len(text) < MIN_SECRET_LENGTH:  # shorter than any secret, and than any JWT
            return text
        start = self._start.search(text)
        if start is None:
            return text
        pieces: list[str] = []
        done = 0
        while start is not None:
            at = start.start()
            end = self._match_end(text, at)
            if end is None:
                start = self._start.search(text, at + 1)
                continue
            pieces.append(text[done:at])
            pieces.append(MASK)
            done = end
            start = self._start.search(text, end)
        pieces.append(text[done:])
        return "".join(pieces)

    def _match_end(self, text: str, at: int) -> int | None:
        """Where the secret (longest first) or else the JWT starting at ``at`` ends, if any."""
        bucket = self._by_prefix.get(text[at : at + MIN_SECRET_LENGTH])
        if bucket is not None:
            lengths, secrets = bucket
            for length in lengths:
                if text[at : at + length] in secrets:
                    return at + length
        token = _JWT_PATTERN.match(text, at)
        return token.end() if token is not None else None

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (keys included) redacted."""
        return self._value(value, {}, {})

    def _value(self, value: Any, texts: dict[str, str], copies: dict[int, Any]) -> Any:
        # A report repeats most of its strings (keys, names, kinds) and holds the shown run's
        # steps twice (the same list): each distinct string and container is redacted once.
        # A report of 10,000 scenarios is millions of values: a mapping's plain texts and
        # numbers are done here without a call each (exact types only; anything else, str
        # subclasses included, takes the general way below).
        if type(value) is dict:
            key = id(value)
            copy = copies.get(key)
            if copy is None:
                copy = {}
                for name, item in value.items():
                    if type(name) is str:
                        new_name = texts.get(name)
                        if new_name is None:
                            new_name = texts[name] = self.text(name)
                    else:
                        new_name = self._value(name, texts, copies)
                    kind = type(item)
                    if kind is str:
                        new_item = texts.get(item)
                        if new_item is None:
                            new_item = texts[item] = self.text(item)
                    elif kind is int or kind is float or kind is bool or item is None:
                        new_item = item
                    else:
                        new_item = self._value(item, texts, copies)
                    copy[new_name] = new_item
                copies[key] = copy
            return copy
        if isinstance(value, str):
            redacted = texts.get(value)
            if redacted is None:
                redacted = texts[value] = self.text(value)
            return redacted
        if isinstance(value, dict | list | tuple):
            copy = copies.get(id(value))
            if copy is None:
                if isinstance(value, dict):
                    copy = {
                        self._value(k, texts, copies): self._value(v, texts, copies)
                        for k, v in value.items()
                    }
                else:
                    copy = [self._value(item, texts, copies) for item in value]
                copies[id(value)] = copy
            return copy
        return value


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, as a trie: one try per character, not one per word."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        group = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{group})?" if "" in node else group

    return build(trie)
