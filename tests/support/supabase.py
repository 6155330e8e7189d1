"""mock-supabase served for a test, with every GoTrue answer checked against GoTrue's OpenAPI
and every PostgREST error against PostgREST's errors.rst.

``supabase_twin(**env)`` starts a twin (more than one per test if needed) behind two
:class:`~tests.support.openapi.Recorder`; when the test ends, every ``/auth/v1`` answer it
produced is validated against ``tests/resources/specs/supabase-auth/openapi.yaml``, every
``/rest/v1`` error (but the gateway's own) against ``tests/resources/specs/postgrest/errors.rst``
(its shape, a documented code, the status given that code), and the test fails naming each
answer the documents do not allow. The ``supabase_url`` fixture is one twin with
the test secret. Keys are minted like real project keys (valid for years, so moving the twin's
clock does not expire them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import jwt
import pytest

from converge_twins.conformance.gotrue_spec import PREFIX, gotrue_spec
from converge_twins.conformance.postgrest_errors import from_gateway, postgrest_errors
from converge_twins.mock_supabase.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.openapi import Recorder

SECRET = "a-test-secret-that-is-at-least-32-characters"
AUTH_PREFIX = PREFIX
# GoTrue's published document, with what its source adds (see converge_twins.conformance).
AUTH_SPEC = gotrue_spec()
REST_PREFIX = "/rest/v1"
REST_ERRORS = postgrest_errors()


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
    recorders: list[tuple[Recorder, Recorder]] = []
    with ExitStack() as stack:

        def start(**env: str) -> str:
            rest = Recorder(
                create_app({"JWT_SECRET": SECRET, "TWIN_SEED": "tests", **env}), REST_PREFIX
            )
            auth = Recorder(rest, AUTH_PREFIX)
            recorders.append((auth, rest))
            return stack.enter_context(serve_asgi(auth))

        yield start
    violations = [str(v) for auth, _ in recorders for v in auth.violations(AUTH_SPEC)]
    assert not violations, "answers GoTrue's OpenAPI does not allow:\n" + "\n".join(violations)
    errors = [
        problem
        for _, rest in recorders
        for e in rest.exchanges
        if e.status >= 400 and e.body and not from_gateway(e.body)
        for problem in REST_ERRORS.check(e.method, e.path, e.status, e.body)
    ]
    assert not errors, "PostgREST errors errors.rst does not allow:\n" + "\n".join(errors)


@pytest.fixture
def supabase_url(supabase_twin: TwinFactory) -> str:
    return supabase_twin()
