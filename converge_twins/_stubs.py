"""Stubs: canned answers for requests a twin should answer differently, on every twin.

WireMock's stub mappings for the twins: ``POST /_twin/stubs`` with ::

    {"request": {"method": "GET", "path": "/v1/models/claude-next"},   # a request pattern
     "response": {"status": 200, "json": {"id": "{{request.path}}"},   # or "body": text
                  "headers": {"x-extra": "1"}, "latency_ms": 50},
     "priority": 1,          # lower first (default 5); among equals, the newest first
     "times": 3,             # answer this many times, then step aside (default: always)
     "name": "a new model"}

A matching request gets the stub's answer instead of the twin's own (faults still come first:
they stand for the network and the infrastructure). Text in the answer may use templates:
``{{request.method}}``, ``{{request.path}}``, ``{{request.query.NAME}}``,
``{{request.headers.NAME}}``, ``{{request.json.DOTTED.PATH}}``, ``{{now}}`` (the twin's clock,
ISO 8601), ``{{timestamp}}`` (its Unix time) and ``{{id PREFIX}}`` (a seeded id). A string
that is exactly one template keeps the value's JSON type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from converge_twins._matching import PatternError, RequestPattern, RequestView, parse_pattern

STUB_FIELDS = frozenset({"request", "response", "priority", "times", "name"})
RESPONSE_FIELDS = frozenset({"status", "json", "body", "headers", "latency_ms"})
TEMPLATE = re.compile(r"\{\{\s*([a-z_]+(?:\.[^\s{}]+)?)(?:\s+([^{}]*?))?\s*\}\}")
_MISSING = object()


class StubSpecError(ValueError):
    """A stub the control plane cannot use; the message names the field."""


@dataclass(frozen=True)
class TemplateContext:
    view: RequestView
    now: str
    timestamp: int
    new_id: Callable[[str], str]

    def lookup(self, name: str, argument: str | None) -> Any:
        if name == "now":
            return self.now
        if name == "timestamp":
            return self.timestamp
        if name == "id":
            return self.new_id((argument or "").strip("\"'"))
        head, _, rest = name.partition(".")
        if head != "request":
            return _MISSING
        part, _, key = rest.partition(".")
        if part == "method" and not key:
            return self.view.method
        if part == "path" and not key:
            return self.view.path
        if part == "query" and key:
            values = self.view.query.get(key)
            return values[0] if values else _MISSING
        if part == "headers" and key:
            return self.view.headers.get(key.lower(), _MISSING)
        if part == "json" and key and self.view.json is not _MISSING:
            node: Any = self.view.json
            for step in key.split("."):
                if isinstance(node, dict) and step in node:
                    node = node[step]
                elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                    node = node[int(step)]
                else:
                    return _MISSING
            return node
        return _MISSING


def render(value: Any, context: TemplateContext) -> Any:
    """The value with its templates filled; unknown ones are left as written."""
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = TEMPLATE.fullmatch(value.strip())
    if whole:
        found = context.lookup(whole.group(1), whole.group(2))
        return value if found is _MISSING else found

    def replace(match: re.Match[str]) -> str:
        found = context.lookup(match.group(1), match.group(2))
        if found is _MISSING:
            return match.group(0)
        return found if isinstance(found, str) else json.dumps(found)

    return TEMPLATE.sub(replace, value)


@dataclass
class Stub:
    id: str
    pattern: RequestPattern
    status: int
    headers: dict[str, str]
    json_body: Any = _MISSING
    text_body: str | None = None
    latency_ms: int = 0
    priority: int = 5
    remaining: int | None = None
    name: str | None = None
    order: int = 0
    hits: int = 0
    spec: dict[str, Any] = field(default_factory=dict)

    def answer(self, context: TemplateContext) -> tuple[int, dict[str, str], bytes]:
        headers = {k: str(render(v, context)) for k, v in self.headers.items()}
        if self.json_body is not _MISSING:
            headers.setdefault("content-type", "application/json")
            return self.status, headers, json.dumps(render(self.json_body, context)).encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return self.status, headers, str(render(self.text_body or "", context)).encode()

    def describe(self) -> dict[str, Any]:
        return {**self.spec, "id": self.id, "hits": self.hits, "remaining": self.remaining}


def parse_stub(spec: Any, stub_id: str, order: int) -> Stub:
    if not isinstance(spec, dict):
        raise StubSpecError("a stub is a JSON object")
    unknown = set(spec) - STUB_FIELDS
    if unknown:
        raise StubSpecError(f"unknown stub field(s): {', '.join(sorted(unknown))}")
    try:
        pattern = parse_pattern(spec.get("request") or {})
    except PatternError as exc:
        raise StubSpecError(f"request: {exc}") from None
    response = spec.get("response")
    if not isinstance(response, dict):
        raise StubSpecError("response: an object with status and a json or body")
    unknown = set(response) - RESPONSE_FIELDS
    if unknown:
        raise StubSpecError(f"response: unknown field(s): {', '.join(sorted(unknown))}")
    if "json" in response and "body" in response:
        raise StubSpecError("response: json and body exclude each other")
    status = response.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise StubSpecError("response.status: an integer from 100 to 599")
    headers = response.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str | int) for v in headers.values()):
        raise StubSpecError("response.headers: an object of header names to text")
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise StubSpecError("response.body: text (use json for a JSON value)")
    latency = response.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= 120_000:
        raise StubSpecError("response.latency_ms: an integer from 0 to 120000")
    priority = spec.get("priority", 5)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 100:
        raise StubSpecError("priority: an integer from 1 (first) to 100")
    times = spec.get("times")
    if times is not None and (
        isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 1_000_000
    ):
        raise StubSpecError("times: an integer from 1 to 1000000")
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        raise StubSpecError("name: text")
    return Stub(
        id=stub_id,
        pattern=pattern,
        status=status,
        headers={str(k).lower(): str(v) for k, v in headers.items()},
        json_body=response.get("json", _MISSING),
        text_body=body,
        latency_ms=latency,
        priority=priority,
        remaining=times,
        name=name,
        order=order,
        spec=dict(spec),
    )


class StubBook:
    def __init__(self) -> None:
        self._stubs: list[Stub] = []

    def add(self, stub: Stub) -> None:
        self._stubs.append(stub)
        # Lower priority first; among equals the newest, as WireMock picks.
        self._stubs.sort(key=lambda s: (s.priority, -s.order))

    def take(self, view: RequestView) -> Stub | None:
        for stub in self._stubs:
            if stub.pattern.matches(view):
                stub.hits += 1
                if stub.remaining is not None:
                    stub.remaining -= 1
                    if stub.remaining <= 0:
                        self._stubs.remove(stub)
                return stub
        return None

    def remove(self, stub_id: str) -> bool:
        before = len(self._stubs)
        self._stubs = [stub for stub in self._stubs if stub.id != stub_id]
        return len(self._stubs) != before

    def clear(self) -> None:
        self._stubs.clear()

    def patterns(self) -> list[tuple[str, RequestPattern]]:
        return [(stub.id, stub.pattern) for stub in self._stubs]

    def describe(self) -> list[dict[str, Any]]:
        return [stub.describe() for stub in self._stubs]
