"""Record a twin's answers at the ASGI boundary, to check them against a published OpenAPI
document afterwards (:mod:`converge_twins.conformance.openapi`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converge_twins.conformance.openapi import (
    FORMATS,
    OpenAPISpec,
    Operation,
    Violation,
    to_json_schema,
)

__all__ = [
    "FORMATS",
    "CheckingRecorder",
    "Exchange",
    "OpenAPISpec",
    "Operation",
    "Recorder",
    "Violation",
    "to_json_schema",
]


@dataclass(frozen=True)
class Exchange:
    """One request and the answer it got, as seen at the ASGI boundary."""

    method: str
    path: str
    request_headers: Mapping[str, str]
    status: int
    response_headers: Mapping[str, str]
    body: bytes

    def violations(self, spec: OpenAPISpec) -> list[Violation]:
        """What ``spec`` does not allow in this answer."""
        return spec.check(
            method=self.method,
            path=self.path,
            status=self.status,
            body=self.body,
            content_type=self.response_headers.get("content-type", ""),
            request_headers=self.request_headers,
        )


class Recorder:
    """Wraps an ASGI app and keeps every exchange whose path starts with ``prefix``."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, _RecordingSend(send, record).send)
        if started:
            self.exchanges.append(
                Exchange(
                    scope["method"],
                    scope["path"],
                    _headers(scope["headers"]),
                    int(started["status"]),
                    _headers(started.get("headers", [])),
                    b"".join(chunks),
                )
            )

    def violations(self, spec: OpenAPISpec) -> list[Violation]:
        return [found for exchange in self.exchanges for found in exchange.violations(spec)]


class CheckingRecorder(Recorder):
    """Checks each answer under ``prefix`` with ``check`` as it goes, and appends what it finds
    to the file ``problems``: a twin in another process keeps nothing in memory for the
    session, so the test reads the file afterwards."""

    def __init__(
        self, app: Any, prefix: str, problems: Path, check: Callable[[Exchange], list[str]]
    ) -> None:
        super().__init__(app, prefix)
        self.problems = problems
        self.check = check

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)
        while self.exchanges:
            found = self.check(self.exchanges.pop())
            if found:
                with self.problems.open("a", encoding="utf-8") as out:
                    out.writelines(problem + "\n" for problem in found)


class _RecordingSend:
    """Records each message and passes it on, and still lets a twin's fault drop the connection:
    the twin finds the server's transport through the bound ``send`` it is given
    (``converge_twins._middleware.drop_connection``), so this shows the server's as its own."""

    def __init__(self, send: Any, record: Any) -> None:
        self._send = send
        self._record = record
        self._cycle = getattr(send, "__self__", None)

    @property
    def transport(self) -> Any:
        return getattr(self._cycle, "transport", None)

    @property
    def disconnected(self) -> bool:
        return bool(getattr(self._cycle, "disconnected", True))

    async def send(self, message: Any) -> None:
        self._record(message)
        await self._send(message)


def _headers(raw: Any) -> dict[str, str]:
    return {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in raw}
