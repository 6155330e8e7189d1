"""The journal: a capped ring of what a twin received, with every secret blanked out.

Scenario authors and converge's own tests read the journal to see what the API under test really
sent, so it must be useful (method, path, query, headers, body, answer) and safe to print: the
values of credential headers and password-like body fields never enter it.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from converge_twins._bodies import loads

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "apikey", "cookie", "set-cookie", "proxy-authorization"}
)
# Body fields that carry credentials in the twins' own wire formats (GoTrue's password and
# refresh_token grants); matched on the last segment, so Stripe's bracket keys are covered too.
SECRET_FIELDS = frozenset({"password", "refresh_token", "access_token", "current_password"})
# What the journal keeps of one body (``TWIN_JOURNAL_BODY_BYTES``); the full body is read, within
# the twin's request limit, but only this much of it stays in memory.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_CAPACITY = 1000


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        redacted[key] = REDACTED if key in SECRET_HEADERS else value
    return redacted


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED if str(key).lower() in SECRET_FIELDS else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    return value


def _field_name(key: str) -> str:
    parts = re.findall(r"[^\[\]]+", key)
    return parts[-1].lower() if parts else key.lower()


def describe_body(raw: bytes, content_type: str, limit: int = MAX_BODY_BYTES) -> Any:
    """The body as the journal keeps it: JSON or form decoded when possible, secrets blanked.

    A body over ``limit`` bytes is kept as the first ``limit`` characters of its (redacted) text,
    ending in "…": the journal holds every entry in memory, so one huge request must not hold
    the twin's memory until the next reset.
    """
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    decoded: Any = None
    if "json" in content_type:
        try:
            decoded = _redact_value(loads(text))
        except ValueError:
            decoded = None
    elif "x-www-form-urlencoded" in content_type:
        decoded = {
            key: REDACTED if _field_name(key) in SECRET_FIELDS else value
            for key, value in parse_qsl(text, keep_blank_values=True)
        }
    if decoded is not None:
        if len(raw) <= limit:
            return decoded
        text = json.dumps(decoded)
    return text if len(text) <= limit else text[:limit] + "…"


class Journal:
    """The newest ``capacity`` entries, oldest first; ``seq`` keeps counting across the cap."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(1, capacity))
        self._seq = 0

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        self._seq += 1
        stored = {"seq": self._seq, **entry}
        self._entries.append(stored)
        return stored

    def clear(self) -> None:
        self._entries.clear()
        self._seq = 0

    def entries(
        self, method: str | None = None, path: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries whose method matches (any case) and whose path starts with ``path``."""
        wanted = method.upper() if method else None
        return [
            entry
            for entry in self._entries
            if (wanted is None or entry.get("method") == wanted)
            and (path is None or str(entry.get("path", "")).startswith(path))
            and (kind is None or entry.get("kind") == kind)
        ]
