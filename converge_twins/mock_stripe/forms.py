"""Stripe's form encoding: ``a[b]=c``, ``items[0][price]=p``, ``expand[]=x`` into nested values.

Values stay strings, as on the wire; each endpoint reads the fields it knows with the typed
getters of :class:`Params`, which raise Stripe's own errors for a missing or malformed value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SEGMENT = re.compile(r"\[([^\]]*)\]")
# Stripe's deepest parameters nest a handful of levels (``line_items[0][price_data][recurring]
# [interval]``); a key nested deeper is refused before it is decoded, never recursed into.
MAX_SEGMENTS = 20


class StripeError(Exception):
    """An error Stripe answers with ``{"error": {"type", "message", "code"?, "param"?}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        name, _, rest = key.partition("[")
        segments = [name, *SEGMENT.findall("[" + rest)] if rest else [name]
        if len(segments) > MAX_SEGMENTS:
            raise StripeError(
                400,
                f"Invalid {name}: parameters nest at most {MAX_SEGMENTS} levels deep",
                code="parameter_invalid",
                param=name,
            )
        node = root
        for depth, raw in enumerate(segments):
            # "expand[]=x" appends: an empty index becomes the next position.
            segment = raw or str(len(node))
            if depth == len(segments) - 1:
                node[segment] = value
            else:
                child = node.get(segment)
                if not isinstance(child, dict):
                    child = {}
                    node[segment] = child
                node = child
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


class Params:
    """Decoded parameters of one request, with Stripe's checks for each read."""

    def __init__(self, values: dict[str, Any], allowed: Iterable[str] = ()) -> None:
        self.values = values
        allowed_names = {*allowed, "expand"}
        if allowed:
            for name in values:
                if name not in allowed_names:
                    raise StripeError(
                        400,
                        f"Received unknown parameter: {name}",
                        code="parameter_unknown",
                        param=name,
                    )

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise StripeError(
                    400,
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )
            return None
        if not isinstance(value, str):
            raise StripeError(
                400, f"Invalid string: {value!r}", code="parameter_invalid_string", param=name
            )
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise StripeError(
                400, f"Invalid integer: {text}", code="parameter_invalid_integer", param=name
            ) from None

    def boolean(self, name: str) -> bool | None:
        text = self.text(name)
        if text is None:
            return None
        if text not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {text}", param=name)
        return text == "true"

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.values.get(name)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise StripeError(400, f"Invalid hash: {name}", code="parameter_invalid", param=name)
        return value

    def items(self, name: str) -> list[dict[str, Any]]:
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise StripeError(400, f"Invalid array: {name}", code="parameter_invalid", param=name)
        return value

    def strings(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(item) for item in value]
        raise StripeError(400, f"Invalid array: {name}", param=name)

    def metadata(self, current: dict[str, str] | None = None) -> dict[str, str]:
        """Stripe merges metadata keys; an empty value deletes a key, an empty hash clears all."""
        raw = self.values.get("metadata")
        if raw == "":
            return {}
        merged = dict(current or {})
        for key, value in self.mapping("metadata").items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = str(value)
        return merged
