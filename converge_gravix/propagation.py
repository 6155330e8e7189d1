"""Carry the caller's W3C ``baggage`` header on to every dependency the request calls.

This is what an OpenTelemetry-instrumented service does with baggage, and what lets converge's
per-run seed (``baggage: converge-seed=...``) reach the twins behind the API: mock-anthropic
chooses its wording, and with variability on its answers, by that seed. Held in a context
variable set for the length of one request, so concurrent requests never see each other's.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BAGGAGE = 8192  # the W3C limit for the whole header
_baggage: ContextVar[str | None] = ContextVar("gravix_baggage", default=None)


def outgoing_headers() -> dict[str, str]:
    """The headers to add to a dependency call made while handling the current request."""
    value = _baggage.get()
    return {"baggage": value} if value else {}


class BaggageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"baggage"]
        joined = ",".join(value.strip() for value in values if value.strip())
        token = _baggage.set(joined if 0 < len(joined) <= MAX_BAGGAGE else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _baggage.reset(token)
