"""GoTrue's errors: the code, the two body shapes, and the headers that come with them.

Every error names its code in the ``x-sb-error-code`` header. The body follows the caller's
``X-Supabase-Api-Version``: from ``2024-01-01`` on it is ``{"code": error_code, "message"}`` and
the version is echoed back, before it (or with no or an unreadable header) it is the original
``{"code": status, "error_code", "msg"}``. A weak password adds ``weak_password.reasons`` to
either shape. This is GoTrue's ``HandleResponseError`` (internal/api/errors.go).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

API_VERSION_HEADER = "X-Supabase-Api-Version"
# The dated versions GoTrue knows, oldest first; a date picks the newest one not after it.
API_VERSIONS = ("2024-01-01",)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AuthError(Exception):
    """An error GoTrue answers with: HTTP status, error code, message, optional extras."""

    def __init__(self, status: int, error_code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.extra = extra


def weak_password(message: str, reasons: list[str]) -> AuthError:
    return AuthError(422, "weak_password", message, weak_password={"reasons": reasons})


def api_version(request: Request) -> str | None:
    """The dated API version the caller asked for, or None for the initial one."""
    header = request.headers.get(API_VERSION_HEADER, "").strip()
    if not _DATE.match(header):
        return None
    known = [version for version in API_VERSIONS if version <= header]
    return known[-1] if known else None


def auth_error_response(request: Request, error: AuthError) -> Response:
    version = api_version(request)
    headers = {"x-sb-error-code": error.error_code}
    if version is not None:
        headers[API_VERSION_HEADER] = version
        body: dict[str, Any] = {"code": error.error_code, "message": error.message}
    else:
        body = {"code": error.status, "error_code": error.error_code, "msg": error.message}
    return JSONResponse({**body, **error.extra}, status_code=error.status, headers=headers)


def not_implemented(method: str, path: str, what: str) -> AuthError:
    """The answer for an operation of GoTrue's API the twin does not have (as LocalStack does)."""
    return AuthError(
        501,
        "not_implemented",
        f"mock-supabase does not implement {method} /auth/v1{path} ({what}); "
        "the README lists the operations it has",
    )
