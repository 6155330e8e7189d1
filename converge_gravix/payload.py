"""Reading request bodies: JSON objects whose fields are checked one by one (422 otherwise)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from converge_gravix.errors import ApiError


def invalid(message: str, field: str | None = None) -> ApiError:
    extra = {"field": field} if field else {}
    return ApiError(422, "validation_error", message, **extra)


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise invalid("the request body must be a JSON object")
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


async def form_object(request: Request) -> dict[str, Any]:
    """An HTML form's fields (application/x-www-form-urlencoded), each name's last value."""
    raw = await request.body()
    try:
        fields = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise invalid("the form is not UTF-8 text") from None
    return dict(fields)


def text(body: dict[str, Any], field: str, *, max_length: int, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{field} must be a non-empty string", field)
    if len(value) > max_length:
        raise invalid(f"{field} must be at most {max_length} characters", field)
    return value


def required_text(body: dict[str, Any], field: str, *, max_length: int) -> str:
    value = text(body, field, max_length=max_length)
    assert value is not None
    return value


def integer(body: dict[str, Any], field: str, *, minimum: int, maximum: int) -> int:
    value = body.get(field)
    # bool is an int in Python; JSON's true is not a rating.
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise invalid(f"{field} must be an integer from {minimum} to {maximum}", field)
    return value
