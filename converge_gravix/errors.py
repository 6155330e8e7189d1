"""The API's one error type and the JSON body every error answers with.

Every failure a client can see is ``{"error": {"code": ..., "message": ...}}`` with a fitting
status, so clients (and holdout scenarios) can match on a stable ``code`` instead of prose.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("converge_gravix")


class ApiError(Exception):
    """A failure to report to the client as it is: status, stable code, readable message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}


class UpstreamError(ApiError):
    """A dependency failed: 503 when it could not be reached, 502 when it answered badly."""

    def __init__(self, service: str, message: str, *, unavailable: bool) -> None:
        status, code = (503, "upstream_unavailable") if unavailable else (502, "upstream_error")
        super().__init__(status, code, message, service=service)
        self.service = service


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if isinstance(exc, UpstreamError):
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.headers or None, **exc.extra)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    # Starlette raises these for unknown paths and wrong methods; keep them in the same shape.
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to handle this request")
