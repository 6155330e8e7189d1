"""How mock-anthropic reads a request: its text, its token count, and its prompt cache.

Tokens are estimated as one per four characters of text (tool definitions count as their JSON,
an image or a PDF as a fixed amount), plus the tool-use system prompt the API adds when tools
are offered. That is enough for ``max_tokens``, usage numbers and rate limits to behave.

The prompt cache works as the API's does. The request is a sequence of blocks (tools, then
the system prompt, then every message's content); a block with ``cache_control`` (or the last
block, for a top-level ``cache_control``) is a breakpoint, at most four. A request reads the
longest cached prefix ending at one of its breakpoints, and writes the prefixes of its later
breakpoints that reach the model's minimum length, each for its TTL (5 minutes unless
``"ttl": "1h"``) on the twin's clock; a read renews the entry. Usage reports what was read
(``cache_read_input_tokens``), written (``cache_creation_input_tokens``, and by TTL in
``cache_creation``) and the rest (``input_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_anthropic.validation import InvalidRequest

IMAGE_TOKENS = 85
DOCUMENT_TOKENS = 1_500
# The system prompt the API adds for tools (Claude 4 models): auto/none, and any/tool.
TOOL_PROMPT = {"auto": 346, "none": 346, "any": 313, "tool": 313}
MAX_BREAKPOINTS = 4
TTL_SECONDS = {"5m": 300, "1h": 3600}


def estimate(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def block_text(content: Any) -> str:
    """The readable text of a message's content (text blocks, tool results, text documents)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            parts.append(block_text(block.get("content", "")))
        elif kind == "document":
            source = block.get("source") or {}
            if source.get("type") == "text":
                parts.append(str(source.get("data", "")))
            elif source.get("type") == "content":
                parts.append(block_text(source.get("content", "")))
    return "\n".join(parts)


def _block_tokens(block: Any) -> int:
    if isinstance(block, str):
        return estimate(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") in ("text", "content"):
            return estimate(block_text([block]))
        return DOCUMENT_TOKENS
    if kind in ("text", "tool_result"):
        return estimate(block_text([block]))
    if kind == "thinking":
        return estimate(str(block.get("thinking", "")))
    return estimate(json.dumps({k: v for k, v in block.items() if k != "cache_control"}))


@dataclass(frozen=True)
class Segment:
    """One block of the request in cache order, with its tokens and its cache breakpoint."""

    key: str  # what the block is, for the prefix hash
    tokens: int
    ttl: str | None  # "5m" or "1h" at a breakpoint


def segments(body: dict[str, Any]) -> list[Segment]:
    found: list[Segment] = []

    def add(block: Any, tokens: int) -> None:
        control = block.get("cache_control") if isinstance(block, dict) else None
        ttl = (control.get("ttl") or "5m") if isinstance(control, dict) else None
        key = json.dumps(block, sort_keys=True) if not isinstance(block, str) else block
        found.append(Segment(key, tokens, ttl))

    tools = body.get("tools") or []
    for tool in tools:
        add(tool, estimate(json.dumps({k: v for k, v in tool.items() if k != "cache_control"})))
    if tools:
        choice = (body.get("tool_choice") or {}).get("type", "auto")
        found.append(Segment(f"tool prompt {choice}", TOOL_PROMPT.get(choice, 346), None))
    system = body.get("system")
    if isinstance(system, str) and system:
        add(system, estimate(system))
    elif isinstance(system, list):
        for block in system:
            add(block, _block_tokens(block))
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            add(f"{message.get('role')}:{content}", estimate(content))
        else:
            for block in content or []:
                add(block, _block_tokens(block))
    if body.get("cache_control") and found:
        # The top-level marker goes on the last cacheable block (not the tool prompt).
        last = max(i for i, s in enumerate(found) if not s.key.startswith("tool prompt "))
        ttl = body["cache_control"].get("ttl") or "5m"
        found[last] = Segment(found[last].key, found[last].tokens, found[last].ttl or ttl)
    breakpoints = sum(1 for s in found if s.ttl)
    if breakpoints > MAX_BREAKPOINTS:
        raise InvalidRequest(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {breakpoints}."
        )
    return found


def input_tokens(body: dict[str, Any]) -> int:
    return sum(segment.tokens for segment in segments(body))


@dataclass(frozen=True)
class CacheUse:
    read: int
    written: dict[str, int]  # TTL -> tokens written
    rest: int

    def usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.rest,
            "cache_creation_input_tokens": sum(self.written.values()),
            "cache_read_input_tokens": self.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.written.get("5m", 0),
                "ephemeral_1h_input_tokens": self.written.get("1h", 0),
            },
        }


class PromptCache:
    def __init__(self) -> None:
        self._entries: dict[str, float] = {}  # prefix hash -> expiry (twin time, seconds)

    def clear(self) -> None:
        self._entries.clear()

    def use(self, model: str, body: dict[str, Any], now: float, minimum: int) -> CacheUse:
        parts = segments(body)
        total = sum(part.tokens for part in parts)
        digest = hashlib.sha256(model.encode())
        prefixes: list[tuple[int, str, int, str]] = []  # (index, hash, tokens so far, ttl)
        so_far = 0
        for index, part in enumerate(parts):
            digest.update(part.key.encode())
            so_far += part.tokens
            if part.ttl:
                prefixes.append((index, digest.copy().hexdigest(), so_far, part.ttl))
        self._entries = {key: until for key, until in self._entries.items() if until > now}
        read_at = -1
        read = 0
        for index, key, tokens, ttl in prefixes:
            if key in self._entries:
                read_at, read = index, tokens
                self._entries[key] = max(self._entries[key], now + TTL_SECONDS[ttl])
        written: dict[str, int] = {}
        covered = read
        for index, key, tokens, ttl in prefixes:
            if index <= read_at or tokens < minimum:
                continue
            written[ttl] = written.get(ttl, 0) + tokens - covered
            covered = tokens
            self._entries[key] = now + TTL_SECONDS[ttl]
        return CacheUse(read, written, total - covered)
