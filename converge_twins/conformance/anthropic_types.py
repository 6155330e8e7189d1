"""Is an Anthropic API response what the official SDK's own types say it is?

The ``anthropic`` SDK's models are generated from the API's specification, so they are the
closest thing to a published schema for it. A response is checked by parsing it with the model
the SDK would use for that route, in pydantic's strict mode (no coercion: a number sent as text
is an error), and then by walking the parsed object for fields the model does not declare: the
SDK's models accept unknown fields silently, and a field the SDK has never heard of is more
often a twin's typo than a feature.

Two documented exceptions: ``error.details`` is parsed as the SDK's ``ErrorDetails`` (the
SDK reads it from any error, though the error objects do not declare it), and the error type
``request_too_large`` (documented for a 413, absent from the SDK's union of error objects) is
checked for the same ``{type, message}`` shape as the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pydantic
from anthropic.pagination import SyncPage, SyncPageCursor
from anthropic.types import (
    DeletedFile,
    ErrorDetails,
    ErrorResponse,
    FileMetadata,
    Message,
    MessageTokensCount,
    ModelInfo,
    RawMessageStreamEvent,
)
from anthropic.types.messages import (
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchIndividualResponse,
)

from converge_twins.conformance.shapes import parse_sse

ID = r"[^/]+"
Check = Callable[[Any], list[str]]


def _format(error: pydantic.ValidationError, limit: int = 5) -> list[str]:
    found = []
    for item in error.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        found.append(f"{where}: {item['msg']}")
    return found


def _unknown_fields(value: Any, path: str = "") -> list[str]:
    """Fields present in the data but declared nowhere in the parsed models."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, pydantic.BaseModel):
            extra = item.model_extra or {}
            found += [f"{where + '.' if where else ''}{name}: not a field of " +
                      type(item).__name__ for name in sorted(extra)]  # fmt: skip
            for name in type(item).model_fields:
                stack.append((f"{where + '.' if where else ''}{name}", getattr(item, name)))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
        elif isinstance(item, dict):
            # Free-form values (tool input, metadata) are dicts, not models: nothing to check.
            continue
    return sorted(found)


def check_model(model: Any, value: Any) -> list[str]:
    """Problems of ``value`` (decoded JSON) as the SDK type ``model``, strict, no extras."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(model)
    try:
        parsed = adapter.validate_json(json.dumps(value), strict=True)
    except pydantic.ValidationError as error:
        return _format(error)
    return _unknown_fields(parsed)


def check_error(value: Any) -> list[str]:
    if not isinstance(value, dict) or not isinstance(value.get("error"), dict):
        return ["(root): not an error object"]
    error = dict(value["error"])
    problems: list[str] = []
    details = error.pop("details", None)
    if details is not None:
        problems += [f"error.details.{p}" for p in check_model(ErrorDetails, details)]
    if error.get("type") == "request_too_large":
        keys = sorted(error)
        if keys != ["message", "type"] or not isinstance(error.get("message"), str):
            problems.append(f"error: expected exactly type and message, got {keys}")
        error = {"type": "api_error", "message": error.get("message")}
    return problems + check_model(ErrorResponse, {**value, "error": error})


def check_page(item: Any) -> Check:
    """A list page: the SDK's page model (a cursor page when it carries ``next_page``)."""

    def check(value: Any) -> list[str]:
        cursor = isinstance(value, dict) and "next_page" in value
        page = SyncPageCursor[item] if cursor else SyncPage[item]
        return check_model(page, value)

    return check


def check_stream(events: list[tuple[str, Any]]) -> list[str]:
    problems: list[str] = []
    for index, (name, data) in enumerate(events):
        if name == "ping":
            if data != {"type": "ping"}:
                problems.append(f"event {index} (ping): {data!r}")
            continue
        if name == "error":
            problems += [f"event {index} (error): {p}" for p in check_error(data)]
            continue
        if not isinstance(data, dict) or data.get("type") != name:
            problems.append(f"event {index}: the data's type is not the event name {name!r}")
            continue
        problems += [f"event {index} ({name}): {p}" for p in check_model(RawMessageStreamEvent,
                                                                           data)]  # fmt: skip
    return problems


def check_jsonl(model: Any) -> Callable[[str], list[str]]:
    def check(text: str) -> list[str]:
        problems: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                problems.append(f"line {number}: not JSON")
                continue
            problems += [f"line {number}: {p}" for p in check_model(model, value)]
        return problems

    return check


# (method, path pattern) -> the SDK type of a successful JSON answer.
ROUTES: list[tuple[str, re.Pattern[str], Check]] = [
    (m, re.compile(f"{p}$"), c)
    for m, p, c in (
        ("POST", r"/v1/messages", lambda v: check_model(Message, v)),
        ("POST", r"/v1/messages/count_tokens", lambda v: check_model(MessageTokensCount, v)),
        ("GET", r"/v1/models", check_page(ModelInfo)),
        ("GET", rf"/v1/models/{ID}", lambda v: check_model(ModelInfo, v)),
        ("POST", r"/v1/messages/batches", lambda v: check_model(MessageBatch, v)),
        ("GET", r"/v1/messages/batches", check_page(MessageBatch)),
        ("GET", rf"/v1/messages/batches/{ID}", lambda v: check_model(MessageBatch, v)),
        ("POST", rf"/v1/messages/batches/{ID}/cancel", lambda v: check_model(MessageBatch, v)),
        ("DELETE", rf"/v1/messages/batches/{ID}",
         lambda v: check_model(DeletedMessageBatch, v)),
        ("POST", r"/v1/files", lambda v: check_model(FileMetadata, v)),
        ("GET", r"/v1/files", check_page(FileMetadata)),
        ("GET", rf"/v1/files/{ID}", lambda v: check_model(FileMetadata, v)),
        ("DELETE", rf"/v1/files/{ID}", lambda v: check_model(DeletedFile, v)),
    )
]  # fmt: skip
RESULTS = re.compile(rf"/v1/messages/batches/{ID}/results$")
CONTENT = re.compile(rf"/v1/files/{ID}/content$")


def problems(method: str, path: str, status: int, media_type: str, body: bytes) -> list[str]:
    """What is wrong with one response by the SDK's types (empty: nothing, or not checkable)."""
    text = body.decode("utf-8", errors="replace")
    if status >= 400:
        try:
            return check_error(json.loads(text))
        except ValueError:
            return ["(root): an error answer that is not JSON"]
    if media_type == "text/event-stream":
        return check_stream(parse_sse(text))
    if RESULTS.search(path):
        return check_jsonl(MessageBatchIndividualResponse)(text)
    if CONTENT.search(path):
        return []  # the file's own bytes
    for route_method, pattern, check in ROUTES:
        if route_method == method and pattern.search(path):
            try:
                value = json.loads(text)
            except ValueError:
                return ["(root): not JSON"]
            return check(value)
    return []
