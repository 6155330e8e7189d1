"""mock-supabase served for a test, with every GoTrue answer checked against GoTrue's OpenAPI.

``supabase_twin(**env)`` starts a twin (more than one per test if needed) behind a
:class:`~tests.support.openapi.Recorder`; when the test ends, every ``/auth/v1`` answer it
produced is validated against ``tests/resources/specs/supabase-auth/openapi.yaml`` and the test
fails naming each answer the spec does not allow. The ``supabase_url`` fixture is one twin with
the test secret. Keys are minted like real project keys (valid for years, so moving the twin's
clock does not expire them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jwt
import pytest

from converge_twins.mock_supabase.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.openapi import OpenAPISpec, Recorder

SECRET = "a-test-secret-that-is-at-least-32-characters"
SPECS = Path(__file__).resolve().parent.parent / "resources" / "specs"
AUTH_PREFIX = "/auth/v1"

# GoTrue's errors for callers of API version 2024-01-01 and later (internal/api/errors.go,
# HTTPErrorResponse20240101); the OpenAPI document only describes the original shape.
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


def _versioned(headers: Mapping[str, str]) -> dict[str, Any] | None:
    version = headers.get("x-supabase-api-version", "")
    return VERSIONED_ERROR if version >= "2024-01-01" and version[:1].isdigit() else None


AUTH_SPEC = OpenAPISpec.load(
    SPECS / "supabase-auth" / "openapi.yaml",
    AUTH_PREFIX,
    error_schema="#/components/schemas/ErrorSchema",
    versioned_errors=_versioned,
)
# Operations GoTrue serves that its OpenAPI document leaves out, described from its source:
# creating a user (admin.go, adminUserCreate: answers the user, like the update), asking for a
# reauthentication code with GET (api.go routes GET /reauthenticate; the document has POST,
# the client libraries send GET) and the JSON Web Key Set (jwks.go: {"keys": [...]}).
_paths = AUTH_SPEC.document["paths"]
_paths["/admin/users"]["post"] = {"responses": _paths["/admin/users/{userId}"]["put"]["responses"]}
_paths["/reauthenticate"]["get"] = _paths["/reauthenticate"]["post"]
_paths["/.well-known/jwks.json"] = {
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


def key(role: str, secret: str = SECRET) -> str:
    now = int(time.time())
    claims = {"iss": "supabase-demo", "role": role, "iat": now, "exp": now + 10 * 365 * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


ANON = key("anon")
SERVICE = key("service_role")

TwinFactory = Callable[..., str]


@pytest.fixture
def supabase_twin() -> Iterator[TwinFactory]:
    """Call with environment overrides to get a twin's base URL; its auth answers are checked."""
    recorders: list[Recorder] = []
    with ExitStack() as stack:

        def start(**env: str) -> str:
            recorder = Recorder(
                create_app({"JWT_SECRET": SECRET, "TWIN_SEED": "tests", **env}), AUTH_PREFIX
            )
            recorders.append(recorder)
            return stack.enter_context(serve_asgi(recorder))

        yield start
    violations = [
        violation for recorder in recorders for violation in recorder.violations(AUTH_SPEC)
    ]
    assert not violations, "answers GoTrue's OpenAPI does not allow:\n" + "\n".join(
        map(str, violations)
    )


@pytest.fixture
def supabase_url(supabase_twin: TwinFactory) -> str:
    return supabase_twin()
