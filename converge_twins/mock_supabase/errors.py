"""PostgREST's errors: ``{"code", "details", "hint", "message"}`` with the status it maps to.

PostgreSQL's own errors keep their SQLSTATE as the code (``23505`` a duplicate key, ``22P02``
invalid input, ``42703`` an unknown column); PostgREST's are ``PGRSTgxx`` (errors.rst). Every
error answer also names its code in ``Proxy-Status: PostgREST; error=<code>``, so a ``HEAD``
request can tell what went wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse


class PostgrestError(Exception):
    """An error PostgREST answers with ``{"code", "details", "hint", "message"}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        hint: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }

    def response(self, *, head: bool = False) -> JSONResponse:
        headers = {"Proxy-Status": f"PostgREST; error={self.code}", **self.headers}
        response = JSONResponse(self.body(), status_code=self.status, headers=headers)
        if head:
            response.body = b""
            response.headers["content-length"] = "0"
        return response


def sqlstate_status(code: str) -> int:
    """The HTTP status PostgREST answers a PostgreSQL error code with (errors.rst's table)."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "P0001": 400,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "42501": 403,
        "53400": 500,
    }
    if code in exact:
        return exact[code]
    if code.startswith("PT") and code[2:].isdigit():
        return int(code[2:])
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(code[:2], 400)


def perhaps(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, as PostgREST's fuzzy hints find it."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
