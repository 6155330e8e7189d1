"""Stripe's form encoding: ``a[b]=c``, ``items[0][price]=p``, ``expand[]=x`` into nested values.

Values stay strings, as on the wire; each endpoint reads the fields it knows with the typed
getters of :class:`Params`, which raise Stripe's own errors for a missing or malformed value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from converge_twins.mock_stripe.errors import StripeError, invalid, param_missing

SEGMENT = re.compile(r"\[([^\]]*)\]")
# Stripe's deepest parameters nest a handful of levels (``line_items[0][price_data][recurring]
# [interval]``); a key nested deeper is refused before it is decoded, never recursed into.
MAX_SEGMENTS = 20
# Stripe's documented metadata limits.
METADATA_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500

__all__ = ["Params", "StripeError", "decode"]


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


def as_int(value: Any, param: str) -> int:
    """A nested value that must be an integer (``items[0][quantity]``)."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise StripeError(
        400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
    )


def as_bool(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise StripeError(400, f"Invalid boolean: {value}", code="parameter_invalid", param=param)


class Params:
    """Decoded parameters of one request, with Stripe's checks for each read."""

    def __init__(self, values: dict[str, Any], allowed: Iterable[str] | None = None) -> None:
        self.values = values
        if allowed is not None:
            allowed_names = {*allowed, "expand"}
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

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise param_missing(name)
            return None
        if not isinstance(value, str):
            raise StripeError(
                400,
                f"Invalid string: {name} must be a string, not a hash or an array",
                code="parameter_invalid_string",
                param=name,
            )
        if len(value) > max_length:
            raise invalid(
                name,
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
                code="parameter_invalid_string",
            )
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None  # text() raised otherwise
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        try:
            number = int(text)
        except ValueError:
            raise StripeError(
                400, f"Invalid integer: {text}", code="parameter_invalid_integer", param=name
            ) from None
        if minimum is not None and number < minimum:
            raise invalid(
                name,
                f"This value must be greater than or equal to {minimum}.",
                code="parameter_invalid_integer",
            )
        return number

    def boolean(self, name: str) -> bool | None:
        text = self.text(name)
        if text is None:
            return None
        return as_bool(text, name)

    def choice(self, name: str, options: Iterable[str], default: str | None = None) -> str | None:
        text = self.text(name)
        if text is None:
            return default
        allowed = list(options)
        if text not in allowed:
            listed = ", ".join(f"`{option}`" for option in allowed)
            raise invalid(name, f"Invalid {name}: must be one of {listed}")
        return text

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.values.get(name)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise StripeError(
                400, f"Invalid hash: {name} must be a hash", code="parameter_invalid", param=name
            )
        return value

    def items(self, name: str) -> list[dict[str, Any]]:
        value = self.values.get(name)
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise StripeError(
                400,
                f"Invalid array: {name} must be an array of hashes",
                code="parameter_invalid",
                param=name,
            )
        return value

    def strings(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise StripeError(400, f"Invalid array: {name} must be an array of strings", param=name)

    def metadata(
        self, current: dict[str, str] | None = None, name: str = "metadata"
    ) -> dict[str, str]:
        """Stripe merges metadata keys; an empty value deletes a key, an empty hash clears all."""
        return merge_metadata(self.values.get(name), current, name)


def merge_metadata(
    raw: Any, current: dict[str, str] | None, name: str = "metadata"
) -> dict[str, str]:
    if raw is None:
        return dict(current or {})
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeError(
            400, f"Invalid hash: {name} must be a hash", code="parameter_invalid", param=name
        )
    merged = dict(current or {})
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"{name}[{key}]", f"Invalid value for {name}[{key}]: must be a string")
        if len(key) > METADATA_KEY_LENGTH:
            raise invalid(
                f"{name}[{key}]",
                f"Metadata keys can have at most {METADATA_KEY_LENGTH} characters "
                f"(`{key[:50]}` has {len(key)}).",
            )
        if len(value) > METADATA_VALUE_LENGTH:
            raise invalid(
                f"{name}[{key}]",
                f"Metadata values can have at most {METADATA_VALUE_LENGTH} characters "
                f"(the value of `{key}` has {len(value)}).",
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_KEYS:
        raise invalid(
            name, f"Metadata can have at most {METADATA_KEYS} keys ({len(merged)} given)."
        )
    return merged
