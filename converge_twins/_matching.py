"""Request patterns: which requests a fault, a stub or a journal query is about.

One pattern language for the whole control plane, after WireMock's request matching::

    {"method": "POST",                      # any case; "*" or absent: any method
     "path": "/v1/messages",                # a path prefix, or
     "path_regex": "^/v1/models/.+",        # a regular expression searched in the path
     "headers": {"anthropic-beta": {"contains": "files"}, "x-trace": {"absent": true}},
     "query": {"limit": "1"},               # a plain value means equal_to
     "body": {"contains": "claude-haiku"}}  # or {"matches": re}, {"json": {"model": "x"}},
                                            # {"equal_to_json": value}

A value matcher is a plain string (equal), or one of ``{"equal_to"}``, ``{"contains"}``,
``{"matches"}`` (a regular expression, searched), ``{"absent": true}``, ``{"present": true}``.
A query parameter matches when any of its values does; header names are case-insensitive.
``body.json`` maps dotted paths (``messages.0.role``) to values or matchers.

Requests are seen through a :class:`RequestView`, built from a live request (headers as sent)
or from a journal entry (secret headers blanked, so only their presence can be matched there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

PATTERN_FIELDS = frozenset({"method", "path", "path_regex", "headers", "query", "body"})
MATCHER_KINDS = frozenset({"equal_to", "contains", "matches", "absent", "present"})
BODY_KINDS = frozenset({"contains", "matches", "json", "equal_to_json"})
_MISSING = object()


class PatternError(ValueError):
    """A pattern the control plane cannot use; the message names the field."""


@dataclass(frozen=True)
class RequestView:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    text: str  # the body as text ("" when none)
    json: Any = _MISSING  # the decoded body, when it is JSON

    @classmethod
    def of(
        cls,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: Any,
    ) -> RequestView:
        """A view of a request: ``body`` is raw text, or a journal entry's decoded body."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str) or body is None:
            text = body or ""
            try:
                decoded: Any = json.loads(text) if text.lstrip()[:1] in ("{", "[") else _MISSING
            except (ValueError, RecursionError):
                decoded = _MISSING
        else:
            decoded = body
            text = json.dumps(body)
        return cls(
            method.upper(),
            path,
            parse_qs(query_string, keep_blank_values=True),
            {name.lower(): value for name, value in headers.items()},
            text,
            decoded,
        )

    @classmethod
    def of_entry(cls, entry: Mapping[str, Any]) -> RequestView:
        return cls.of(
            str(entry.get("method", "")),
            str(entry.get("path", "")),
            str(entry.get("query", "")),
            entry.get("headers") or {},
            entry.get("body"),
        )


@dataclass(frozen=True)
class ValueMatch:
    kind: str
    value: Any = None
    regex: re.Pattern[str] | None = None

    def test(self, found: str | None) -> bool:
        if self.kind == "absent":
            return found is None
        if found is None:
            return False
        if self.kind == "present":
            return True
        if self.kind == "equal_to":
            return bool(found == self.value)
        if self.kind == "contains":
            return str(self.value) in found
        assert self.regex is not None
        return self.regex.search(found) is not None

    def describe(self) -> Any:
        if self.kind == "equal_to":
            return self.value
        return {self.kind: True if self.kind in ("absent", "present") else self.value}


def _regex(text: Any, where: str) -> re.Pattern[str]:
    if not isinstance(text, str):
        raise PatternError(f"{where}: a regular expression is a string")
    try:
        return re.compile(text)
    except re.error as exc:
        raise PatternError(f"{where}: the regular expression does not compile: {exc}") from None


def parse_value_match(spec: Any, where: str) -> ValueMatch:
    if isinstance(spec, str | int | float | bool) or spec is None:
        return ValueMatch("equal_to", spec if isinstance(spec, str) else json.dumps(spec))
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in MATCHER_KINDS:
        raise PatternError(f"{where}: a value or one of {{{', '.join(sorted(MATCHER_KINDS))}}}")
    kind, value = next(iter(spec.items()))
    if kind in ("absent", "present"):
        if value is not True:
            raise PatternError(f"{where}.{kind}: must be true")
        return ValueMatch(kind)
    if kind == "matches":
        return ValueMatch(kind, value, _regex(value, f"{where}.matches"))
    if not isinstance(value, str):
        raise PatternError(f"{where}.{kind}: must be text")
    return ValueMatch(kind, value)


def _path_value(value: Any, dotted: str) -> Any:
    node = value
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass(frozen=True)
class BodyMatch:
    kind: str
    value: Any = None
    regex: re.Pattern[str] | None = None
    fields: tuple[tuple[str, Any], ...] = ()  # for "json": (dotted path, value or ValueMatch)

    def test(self, view: RequestView) -> bool:
        if self.kind == "contains":
            return str(self.value) in view.text
        if self.kind == "matches":
            assert self.regex is not None
            return self.regex.search(view.text) is not None
        if view.json is _MISSING:
            return False
        if self.kind == "equal_to_json":
            return bool(view.json == self.value)
        for dotted, wanted in self.fields:
            found = _path_value(view.json, dotted)
            if isinstance(wanted, ValueMatch):
                text = None if found is _MISSING else found if isinstance(found, str) else (
                    json.dumps(found))  # fmt: skip
                if not wanted.test(text):
                    return False
            elif found is _MISSING or found != wanted:
                return False
        return True

    def describe(self) -> Any:
        if self.kind == "json":
            return {"json": {p: w.describe() if isinstance(w, ValueMatch) else w
                             for p, w in self.fields}}  # fmt: skip
        return {self.kind: self.value}


def parse_body_match(spec: Any) -> BodyMatch:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in BODY_KINDS:
        raise PatternError(f"body: one of {{{', '.join(sorted(BODY_KINDS))}}}")
    kind, value = next(iter(spec.items()))
    if kind == "contains":
        if not isinstance(value, str):
            raise PatternError("body.contains: must be text")
        return BodyMatch(kind, value)
    if kind == "matches":
        return BodyMatch(kind, value, _regex(value, "body.matches"))
    if kind == "equal_to_json":
        return BodyMatch(kind, value)
    if not isinstance(value, dict) or not value:
        raise PatternError("body.json: an object of dotted paths to values")
    fields: list[tuple[str, Any]] = []
    for dotted, wanted in value.items():
        is_matcher = isinstance(wanted, dict) and len(wanted) == 1 and (
            next(iter(wanted)) in MATCHER_KINDS)  # fmt: skip
        fields.append(
            (dotted, parse_value_match(wanted, f"body.json.{dotted}") if is_matcher else wanted)
        )
    return BodyMatch(kind, fields=tuple(fields))


@dataclass(frozen=True)
class RequestPattern:
    method: str | None = None
    path: str | None = None
    path_regex: re.Pattern[str] | None = None
    headers: tuple[tuple[str, ValueMatch], ...] = ()
    query: tuple[tuple[str, ValueMatch], ...] = ()
    body: BodyMatch | None = None
    spec: Mapping[str, Any] = field(default_factory=dict)  # as given, for listings

    def matches(self, view: RequestView) -> bool:
        if self.method is not None and self.method != view.method:
            return False
        if self.path is not None and not view.path.startswith(self.path):
            return False
        if self.path_regex is not None and self.path_regex.search(view.path) is None:
            return False
        for name, matcher in self.headers:
            if not matcher.test(view.headers.get(name)):
                return False
        for name, matcher in self.query:
            values = view.query.get(name)
            if matcher.kind == "absent":
                if values is not None:
                    return False
            elif not values or not any(matcher.test(value) for value in values):
                return False
        return self.body is None or self.body.test(view)

    def describe(self) -> dict[str, Any]:
        return dict(self.spec)


def parse_pattern(spec: Any, allowed_extra: frozenset[str] = frozenset()) -> RequestPattern:
    """A pattern from its JSON; ``allowed_extra`` are sibling fields the caller reads itself."""
    if not isinstance(spec, dict):
        raise PatternError("a request pattern is a JSON object")
    unknown = set(spec) - PATTERN_FIELDS - allowed_extra
    if unknown:
        raise PatternError(f"unknown field(s): {', '.join(sorted(unknown))}")
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise PatternError("method must be an HTTP method name")
    path = spec.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise PatternError("path must be a path prefix starting with /")
    regex = spec.get("path_regex")

    def matchers(name: str) -> tuple[tuple[str, ValueMatch], ...]:
        given = spec.get(name) or {}
        if not isinstance(given, dict):
            raise PatternError(f"{name}: an object of names to values or matchers")
        lower = name == "headers"
        return tuple(
            (key.lower() if lower else key, parse_value_match(value, f"{name}.{key}"))
            for key, value in given.items()
        )

    return RequestPattern(
        method=None if method in (None, "*") else method.upper(),
        path=path,
        path_regex=_regex(regex, "path_regex") if regex is not None else None,
        headers=matchers("headers"),
        query=matchers("query"),
        body=parse_body_match(spec["body"]) if spec.get("body") is not None else None,
        spec={key: value for key, value in spec.items() if key in PATTERN_FIELDS},
    )
