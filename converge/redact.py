"""The one redaction point: every string that leaves converge passes through a :class:`Redactor`.

What is secret (the README's "What converge treats as secret" repeats it):

- every value a step sends in a header, except the few harmless ones of :data:`PLAIN_HEADERS`
  (``Accept``, ``Content-Type``, ``User-Agent``, ...): a custom ``X-Session`` or ``X-Auth-Token``
  is a credential as much as ``Authorization`` is (the runner spares a value written out in the
  scenario or on the command line under a name that does not look secret);
- a captured value whose variable name, field path or source header looks like a credential
  (:func:`looks_secret`: ``token``, ``session``, ``key``, ``password``, ...), and every captured
  value a step sends in its query string;
- the built-in tokens, a Basic password, user variables from the environment or a vars file, and
  the environment's ``HOLDOUT_PAT``, JWT secret and API keys (:data:`SECRET_ENV`);
- anything that looks like a JWT, because a hostile or careless API may echo tokens we never saw,
  and the user-info part of any URL (``https://user:password@host``, mistyped ``https//...`` too).

A secret is also recognised in the spellings it takes on its way out: JSON-escaped, Python
``repr``-escaped (library messages quote values that way), percent-encoded, HTML-escaped, with
its runs of whitespace collapsed to one space, and, for ``HOLDOUT_PAT``, inside the Basic
credential git sends.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"

# Request header names whose values are not secrets (compared lower-cased): what clients send to
# describe the request itself. Every other header value a step sends is treated as a credential.
PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-profile",
        "anthropic-beta",
        "anthropic-version",
        "baggage",
        "cache-control",
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-profile",
        "content-type",
        "expect",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
        "origin",
        "pragma",
        "prefer",
        "range",
        "stripe-version",
        "te",
        "traceparent",
        "tracestate",
        "user-agent",
        "x-correlation-id",
        "x-request-id",
        "x-requested-with",
    }
)

# Environment variables whose values are secrets wherever they turn up.
SECRET_ENV = ("HOLDOUT_PAT", "CONVERGE_JWT_SECRET", "GITHUB_TOKEN", "ANTHROPIC_API_KEY")

# The user name git sends with a token over HTTPS (GitHub accepts any with a PAT): the Basic
# credential ``base64("x-access-token:" + token)`` is as secret as the token.
GIT_TOKEN_USER = "x-access-token"

# Words in a variable name, field path or header name that say its value is a credential.
_SECRET_NAME = re.compile(
    r"token|secret|passw|passphrase|pwd|session|sessid|cookie|auth(?!or)|credential|"
    r"api[-_]?key|apikey|access[-_]?key|private|signature|jwt|bearer|nonce|csrf|xsrf",
    re.IGNORECASE,
)

# Header.payload.signature, each base64url; both header and payload are JSON objects ("eyJ").
_JWT = r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
_JWT_PATTERN = re.compile(_JWT)
_JWT_START = "eyJ"

# The user-info of a URL: after "//" (so a mistyped "https//user:pw@host" too), up to the last
# "@" before the host, so a password holding "@" is masked whole; and "user:password@" after a
# single "/" (such a URL taken for a path and normalised: "/repo/https/user:pw@host").
_USERINFO = re.compile(
    r"(?:(?<=//)[^\s/?#\[\]]*|(?<=/)[^\s/?#\[\]:@]+:[^\s/?#\[\]]*)@"
    r"(?=[^\s@/?#]*(?:[/?#\s'\"<>)\]]|$))"
)

# Characters no escaping changes (URL-unreserved): a secret made of them has one spelling.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")

# Shorter values would mask ordinary words ("Bearer", "ok") all over the report.
MIN_SECRET_LENGTH = 6


def looks_secret(name: str) -> bool:
    """Whether a variable name, field path or header name says its value is a credential."""
    return _SECRET_NAME.search(name) is not None


def secrets_of_header(name: str, value: str) -> tuple[str, ...]:
    """The secret parts of one request header: the whole value and, for "Bearer x", x alone,
    and each value of a ``Cookie``; nothing for the harmless headers of :data:`PLAIN_HEADERS`."""
    lowered = name.lower()
    if lowered in PLAIN_HEADERS or not value:
        return ()
    found = [value]
    _scheme, _, credential = value.partition(" ")
    if credential.strip():
        found.append(credential.strip())
    if lowered == "cookie":
        found.extend(part.partition("=")[2].strip() for part in value.split(";"))
    return tuple(found)


def secrets_of_captures(
    captured: Mapping[str, Any], sources: Mapping[str, str], sent_in_query: Iterable[str] = ()
) -> tuple[str, ...]:
    """The captured values that are secret: those whose variable name or source (a field path
    or ``header.NAME``) looks like a credential, and those named in ``sent_in_query``."""
    queried = set(sent_in_query)
    found: list[str] = []
    for name, value in captured.items():
        if name in queried or looks_secret(name) or looks_secret(sources.get(name, "")):
            found.extend(texts_of(value))
    return tuple(found)


def texts_of(value: Any) -> Iterable[str]:
    """Every text inside a JSON-like value (numbers as their JSON text), keys left out."""
    if isinstance(value, dict):
        for item in value.values():
            yield from texts_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts_of(item)
    elif isinstance(value, str):
        yield value
    elif value is not None and not isinstance(value, bool):
        yield json.dumps(value)


def spellings(secret: str) -> set[str]:
    """``secret`` as it may be written on its way out: as is, JSON- and repr-escaped,
    percent-encoded, HTML-escaped, its UTF-8 bytes read as Latin-1 or shown as Python bytes,
    and with its runs of whitespace collapsed."""
    if _UNRESERVED.fullmatch(secret):  # most tokens: every spelling is the secret itself
        return {secret}
    forms = {secret}
    if not secret.isascii() or any(c in secret for c in "\"\\/") or not secret.isprintable():
        forms.add(json.dumps(secret)[1:-1])
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        forms.add(json.dumps(secret)[1:-1].replace("/", "\\/"))  # JSON may escape "/"
        forms.add(repr(secret)[1:-1])
    if not secret.isascii():
        # Its UTF-8 bytes as an API may echo them: read as Latin-1 (how http.client reads a
        # header), and as Python shows bytes in an error message (b'p\xc3\xa4...').
        raw = secret.encode("utf-8", "surrogatepass")
        forms.add(raw.decode("latin-1"))
        forms.add(repr(raw)[2:-1])
    if not secret.isalnum():
        # surrogatepass: a value an API sent may hold a lone surrogate, which UTF-8 refuses.
        forms.update({
            quote(secret, safe="", errors="surrogatepass"),
            quote(secret, errors="surrogatepass"),
            quote_plus(secret, errors="surrogatepass"),
        })
        forms.add(html.escape(secret))
    collapsed = " ".join(secret.split())
    if collapsed and collapsed != secret:
        forms.add(collapsed)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def git_credential(token: str) -> str:
    """The Basic credential git sends for an HTTPS token (see :data:`GIT_TOKEN_USER`)."""
    return base64.b64encode(f"{GIT_TOKEN_USER}:{token}".encode()).decode("ascii")


class Redactor:
    """Replaces every known secret, and anything JWT-shaped, with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        given = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        # Each secret in every spelling it may take in a message, a body or a URL.
        known = sorted(
            {form for secret in given for form in spellings(secret)},
            key=len,
            reverse=True,  # longest first, so a secret containing another is masked whole
        )
        self._given = frozenset(given)
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
        pat = os.environ.get("HOLDOUT_PAT", "")
        return cls([*secrets, *env, *([git_credential(pat)] if pat else [])])

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._given, *secrets])

    def text(self, text: str) -> str:
        if len(text) < MIN_SECRET_LENGTH:  # shorter than any secret, and than any JWT
            return text
        text = self._known(text)
        if "@" in text and "/" in text:
            text = _USERINFO.sub(MASK + "@", text)
        return text

    def _known(self, text: str) -> str:
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
        return self.session().value(value)

    def session(self) -> Redaction:
        """A :class:`Redaction` by this redactor, for building one document."""
        return Redaction(self)


class Redaction:
    """One document's redaction: :meth:`text` and :meth:`value` remember what they did, so a
    report that repeats most of its strings (names, kinds, targets) redacts each one once, and
    a container met twice (the shown run's steps) is copied once."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._texts: dict[str, str] = {}
        # By id, with the original kept alive beside its copy: an id is only unique among the
        # objects alive, and the values given may be built for the call and dropped after it.
        self._copies: dict[int, tuple[Any, Any]] = {}

    def text(self, text: str) -> str:
        redacted = self._texts.get(text)
        if redacted is None:
            redacted = self._texts[text] = self._redactor.text(text)
        return redacted

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (keys included) redacted."""
        return self._value(value, self._texts, self._copies)

    def _value(
        self, value: Any, texts: dict[str, str], copies: dict[int, tuple[Any, Any]]
    ) -> Any:
        # A report repeats most of its strings (keys, names, kinds) and holds the shown run's
        # steps twice (the same list): each distinct string and container is redacted once.
        # A report of 10,000 scenarios is millions of values: a mapping's plain texts and
        # numbers are done here without a call each (exact types only; anything else, str
        # subclasses included, takes the general way below).
        if type(value) is dict:
            key = id(value)
            known = copies.get(key)
            if known is None:
                copy: Any = {}
                for name, item in value.items():
                    if type(name) is str:
                        new_name = texts.get(name)
                        if new_name is None:
                            new_name = texts[name] = self._redactor.text(name)
                    else:
                        new_name = self._value(name, texts, copies)
                    kind = type(item)
                    if kind is str:
                        new_item = texts.get(item)
                        if new_item is None:
                            new_item = texts[item] = self._redactor.text(item)
                    elif kind is int or kind is float or kind is bool or item is None:
                        new_item = item
                    else:
                        new_item = self._value(item, texts, copies)
                    copy[new_name] = new_item
                copies[key] = (value, copy)
                return copy
            return known[1]
        if isinstance(value, str):
            redacted = texts.get(value)
            if redacted is None:
                redacted = texts[value] = self._redactor.text(value)
            return redacted
        if isinstance(value, dict | list | tuple):
            known = copies.get(id(value))
            if known is None:
                if isinstance(value, dict):
                    copy = {
                        self._value(k, texts, copies): self._value(v, texts, copies)
                        for k, v in value.items()
                    }
                else:
                    copy = [self._value(item, texts, copies) for item in value]
                copies[id(value)] = (value, copy)
                return copy
            return known[1]
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
