"""Check responses against a published OpenAPI 3.0 document (GoTrue's, Stripe's).

:class:`OpenAPISpec` finds the operation a request hit (method plus path template, under the
spec's server path), picks the response the status selects and validates the JSON body against
its schema with jsonschema. Three readings of OpenAPI 3.0 are made explicit here because the
published documents rely on them:

- ``nullable: true`` also allows ``null`` (OpenAPI 3.0 has no ``null`` type of its own), on a
  typed schema as on an ``anyOf`` or ``allOf`` (Stripe's expandable fields are nullable anyOfs);
- ``oneOf`` is checked as ``anyOf``: GoTrue's ``/signup`` answer is ``oneOf`` two schemas with no
  required fields, which every object matches both of, so read strictly no answer could pass,
  and Stripe's "an id or the expanded object" branches overlap the same way;
- a 3xx answer is a redirect whatever its exact code: GoTrue documents ``302`` for ``/verify``
  where its source answers ``303 See Other``.

An error status the operation does not list is checked against the document's general error
schema (``error_schema``), or, for callers that asked for a newer error format, against the
schema given for that format (``versioned_errors``), which the document itself does not describe.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


@FORMATS.checks("email")
def _email(value: object) -> bool:
    return not isinstance(value, str) or "@" in value


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema 2020-12 (see the module docstring)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items()}
    if "oneOf" in converted:
        converted["anyOf"] = converted.pop("oneOf")
        converted.pop("discriminator", None)
    if converted.pop("nullable", False) is True:
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        elif "anyOf" in converted:
            converted["anyOf"] = [*converted["anyOf"], {"type": "null"}]
        elif "allOf" in converted:
            both = converted.pop("allOf")
            converted = {"anyOf": [{"allOf": both}, {"type": "null"}], **converted}
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


@dataclass(frozen=True)
class Violation:
    """One response the spec does not allow, with enough to find it again."""

    method: str
    path: str
    status: int
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}: {self.problem}"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: Mapping[str, Any]


@dataclass
class OpenAPISpec:
    document: dict[str, Any]
    prefix: str
    error_schema: str | None = None
    versioned_errors: Callable[[Mapping[str, str]], dict[str, Any] | None] | None = None
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, prefix: str, **options: Any) -> OpenAPISpec:
        with path.open(encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        return cls(document, prefix.rstrip("/"), **options)

    @cached_property
    def operations(self) -> list[Operation]:
        found = []
        for template, item in self.document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method, operation in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    responses = {
                        str(code): answer for code, answer in operation["responses"].items()
                    }
                    found.append(Operation(method.upper(), template, pattern, responses))
        # A literal segment wins over a template one, as routers match them.
        return sorted(found, key=lambda op: op.template.count("{"))

    @cached_property
    def components(self) -> Any:
        return to_json_schema(self.document.get("components", {}))

    def operation(self, method: str, path: str) -> Operation | None:
        if not path.startswith(self.prefix + "/"):
            return None
        relative = path[len(self.prefix) :]
        return next(
            (op for op in self.operations if op.method == method and op.pattern.match(relative)),
            None,
        )

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and set(node) == {"$ref"}:
            pointer = node["$ref"].removeprefix("#/").split("/")
            node = self.document
            for part in pointer:
                node = node[part]
        return node

    def _validator(self, key: str, schema: Any) -> Draft202012Validator:
        if key not in self._validators:
            root = {"allOf": [to_json_schema(schema)], "components": self.components}
            self._validators[key] = Draft202012Validator(root, format_checker=FORMATS)
        return self._validators[key]

    def _schema_for(
        self, operation: Operation, status: int, request_headers: Mapping[str, str]
    ) -> tuple[str, Any] | str:
        """The (cache key, schema) the answer must match, or why the status is not allowed."""
        if status >= 400 and self.versioned_errors is not None:
            versioned = self.versioned_errors(request_headers)
            if versioned is not None:
                return "versioned-error", versioned
        answer = operation.responses.get(str(status))
        if answer is None and 300 <= status < 400:
            answer = next(
                (a for code, a in operation.responses.items() if code.startswith("3")), None
            )
        if answer is None:
            answer = operation.responses.get("default")
        if answer is None:
            if status >= 400 and self.error_schema is not None:
                return self.error_schema, {"$ref": self.error_schema}
            listed = ", ".join(sorted(operation.responses))
            return f"status {status} is not documented (documented: {listed})"
        answer = self._resolve(answer)
        content = answer.get("content", {}).get("application/json")
        key = f"{operation.method} {operation.template} {status}"
        if content is None:
            return key, None
        return key, content.get("schema", {})

    def check(
        self,
        *,
        method: str,
        path: str,
        status: int,
        body: bytes,
        content_type: str,
        request_headers: Mapping[str, str] | None = None,
    ) -> list[Violation]:
        """Every way this answer departs from the spec; empty when it conforms."""
        operation = self.operation(method, path)
        if operation is None:
            return [Violation(method, path, status, "no operation of the spec matches")]
        found = self._schema_for(operation, status, request_headers or {})
        if isinstance(found, str):
            return [Violation(method, path, status, found)]
        key, schema = found
        if schema is None:
            return []  # the spec documents no body for this answer
        if "json" not in content_type:
            return [Violation(method, path, status, f"expected JSON, got {content_type!r}")]
        try:
            value = json.loads(body)
        except ValueError:
            return [Violation(method, path, status, "the body is not JSON")]
        return [
            Violation(method, path, status, f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
            for e in self._validator(key, schema).iter_errors(value)
        ]
