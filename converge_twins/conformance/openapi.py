"""OpenAPI 3.0 schema objects read as JSON Schema 2020-12, for checking answers against a spec.

Two readings of OpenAPI 3.0 that published documents rely on are made explicit:

- ``nullable: true`` also allows ``null`` (OpenAPI 3.0 has no ``null`` type of its own), on a
  typed schema as on an ``anyOf`` or ``allOf`` (Stripe's expandable fields are nullable anyOfs);
- ``oneOf`` is checked as ``anyOf``: GoTrue's ``/signup`` answer is ``oneOf`` two schemas with no
  required fields, which every object matches both of, so read strictly no answer could pass,
  and Stripe's "an id or the expanded object" branches overlap the same way.
"""

from __future__ import annotations

from typing import Any


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema 2020-12 (see the module docstring)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items()}
    if "oneOf" in converted:
        converted["anyOf"] = converted.pop("oneOf")
        converted.pop("discriminator", None)
    if converted.pop("nullable", False) is True:
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        elif "anyOf" in converted:
            converted["anyOf"] = [*converted["anyOf"], {"type": "null"}]
        elif "allOf" in converted:
            both = converted.pop("allOf")
            converted = {"anyOf": [{"allOf": both}, {"type": "null"}], **converted}
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted
