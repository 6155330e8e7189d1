"""GoTrue's published OpenAPI document, as mock-supabase's answers are checked against it.

The document is ``tests/resources/specs/supabase-auth/openapi.yaml`` of a checkout (or
``CONFORMANCE_SUPABASE_AUTH_SPEC``). Three things GoTrue does that the document does not say
are added here, each from GoTrue's source:

- the error shape of API version 2024-01-01 and later (``{"code": error_code, "message"}``,
  internal/api/errors.go), which is what the official clients ask for;
- creating a user (``POST /admin/users``, admin.go: it answers the user, as the update does);
- asking for a reauthentication code with ``GET /reauthenticate`` (api.go routes GET; the
  document has POST, the clients send GET), and the JSON Web Key Set (jwks.go).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from converge_twins.conformance.openapi import OpenAPISpec

SPEC_FILE = (
    Path(__file__).resolve().parents[2]
    / "tests"
    / "resources"
    / "specs"
    / "supabase-auth"
    / "openapi.yaml"
)
PREFIX = "/auth/v1"
VERSIONED_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "weak_password": {
            "type": "object",
            "properties": {"reasons": {"type": "array", "items": {"type": "string"}}},
        },
    },
}
JWKS: dict[str, Any] = {
    "get": {
        "responses": {
            200: {
                "description": "The keys that verify the project's asymmetric JWTs.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["keys"],
                            "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
                        }
                    }
                },
            }
        }
    }
}


def versioned_error(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The newer error schema for a request that asked for API version 2024-01-01 or later."""
    version = headers.get("x-supabase-api-version", "")
    return VERSIONED_ERROR if version[:1].isdigit() and version >= "2024-01-01" else None


def spec_file() -> Path:
    path = Path(os.environ.get("CONFORMANCE_SUPABASE_AUTH_SPEC") or SPEC_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"GoTrue's OpenAPI document is not at {path}: run from a checkout of the "
            "repository, or set CONFORMANCE_SUPABASE_AUTH_SPEC to the document"
        )
    return path


@functools.cache
def gotrue_spec(path: Path | None = None) -> OpenAPISpec:
    """GoTrue's document with what its source adds (see the module's docstring)."""
    spec = OpenAPISpec.load(
        path or spec_file(),
        PREFIX,
        error_schema="#/components/schemas/ErrorSchema",
        versioned_errors=versioned_error,
    )
    paths = spec.document["paths"]
    paths["/admin/users"]["post"] = {
        "responses": paths["/admin/users/{userId}"]["put"]["responses"]
    }
    paths["/reauthenticate"]["get"] = paths["/reauthenticate"]["post"]
    paths["/.well-known/jwks.json"] = JWKS
    return spec


@functools.cache
def published_operations(path: Path | None = None) -> list[tuple[str, str]]:
    """Every (method, path template) of the published document, in its order (59 today)."""
    document = yaml.safe_load((path or spec_file()).read_text(encoding="utf-8"))
    return [
        (method.upper(), template)
        for template, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
