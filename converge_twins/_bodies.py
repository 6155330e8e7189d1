"""Request bodies under bounds: how much a twin reads, and how deep the JSON it parses may nest.

A twin holds what it receives in memory (its state and its journal), and Python's JSON parser
recurses once per level, so an unbounded body or a ``[[[[…]]]]`` of a few thousand levels would
grow the twin without limit or crash the request with a ``RecursionError`` (a plain 500 the real
service never sends). Every twin therefore reads at most ``TWIN_MAX_BODY_BYTES`` (413 beyond, in
the service's own error shape) and refuses JSON nested deeper than :data:`MAX_JSON_DEPTH` levels
(400, likewise), before its own handlers see the request.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive

# Anthropic's Messages API takes up to 32 MB; the other twins' services take less.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# Past the limit the rest of the body is read and dropped, so the client (which usually writes
# its whole request before reading) sees the 413 rather than a reset connection; past this much
# more, the connection is closed instead.
DRAIN_BYTES = 256 * 1024 * 1024
# The same bound the scenario loader puts on values: deeper JSON is not something a real API
# request needs, and it keeps every recursive walk of a body far from Python's recursion limit.
MAX_JSON_DEPTH = 100


class BodyError(ValueError):
    """A request body a twin refuses; ``status`` is what it answers (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BodyTooLarge(BodyError):
    def __init__(self, limit: int, received: int) -> None:
        super().__init__(
            f"Request body too large: more than {limit} bytes (received {received})", 413
        )
        self.limit = limit
        self.received = received


class JsonTooDeep(BodyError):
    def __init__(self) -> None:
        super().__init__(
            f"The request body is not valid JSON: it nests deeper than {MAX_JSON_DEPTH} levels"
        )


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep a decoded JSON value nests (a scalar is 0), counted without recursion.

    Stops counting once past ``limit``: the answer is then ``limit + 1``.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > limit:
            return limit + 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest


def loads(raw: bytes | str) -> Any:
    """``json.loads`` that refuses JSON deeper than :data:`MAX_JSON_DEPTH` with a ValueError."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    if depth(value) > MAX_JSON_DEPTH:
        raise JsonTooDeep()
    return value


def looks_like_json(raw: bytes, content_type: str) -> bool:
    """Whether a twin would parse this body as JSON: a JSON type, or none that says otherwise."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if "json" in kind:
        return True
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    return raw.lstrip()[:1] in (b"{", b"[")


async def read_body(receive: Receive, limit: int) -> tuple[bytes, Receive]:
    """The whole body (at most ``limit`` bytes), and a receive that replays it to the app.

    Raises :class:`BodyTooLarge` once the body is over the limit, after dropping the rest of it
    (up to :data:`DRAIN_BYTES`), so that nothing past the limit is ever kept.
    """
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        more = bool(message.get("more_body", False))
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, size + await _drain(receive, more))
        chunks.append(chunk)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _drain(receive: Receive, more: bool) -> int:
    """Read and drop the rest of a body (at most :data:`DRAIN_BYTES`); how many bytes that was."""
    dropped = 0
    while more and dropped < DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            break
        dropped += len(message.get("body", b""))
        more = bool(message.get("more_body", False))
    return dropped


async def checked_body(
    receive: Receive, limit: int, content_type: str
) -> tuple[bytes, Receive, BodyError | None]:
    """The body, a replaying receive, and why the twin must refuse it (None when it need not).

    A body past the limit comes back empty (its bytes were dropped). A body that is meant to
    be JSON but is not parseable at all is the twin's own handler's business, in its own words.
    """
    try:
        body, replay = await read_body(receive, limit)
    except BodyTooLarge as exc:
        return b"", receive, exc
    if looks_like_json(body, content_type):
        try:
            loads(body)
        except JsonTooDeep as exc:
            return body, replay, exc
        except ValueError:
            pass
    return body, replay, None
