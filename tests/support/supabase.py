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

The reference stack's mock-supabase runs in its own process: ``reference_stack`` starts it
through :func:`create_validating_app`, which checks every answer the same way and appends each
problem to the file named by ``SUPABASE_SPEC_PROBLEMS`` for the session to check.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jwt
import pytest

from converge_twins.conformance.gotrue_spec import PREFIX, gotrue_spec
from converge_twins.conformance.postgrest_errors import from_gateway, postgrest_errors
from converge_twins.mock_supabase.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.openapi import CheckingRecorder, Exchange, Recorder

SECRET = "a-test-secret-that-is-at-least-32-characters"
AUTH_PREFIX = PREFIX
# GoTrue's published document, with what its source adds (see converge_twins.conformance).
AUTH_SPEC = gotrue_spec()
REST_PREFIX = "/rest/v1"
REST_ERRORS = postgrest_errors()
PROBLEMS_FILE_VARIABLE = "SUPABASE_SPEC_PROBLEMS"


def answer_problems(exchange: Exchange) -> list[str]:
    """What GoTrue's OpenAPI or PostgREST's errors.rst does not allow in one answer."""
    if exchange.path.startswith(AUTH_PREFIX):
        return [str(violation) for violation in exchange.violations(AUTH_SPEC)]
    if (
        exchange.path.startswith(REST_PREFIX)
        and exchange.status >= 400
        and exchange.body
        and not from_gateway(exchange.body)
    ):
        return REST_ERRORS.check(exchange.method, exchange.path, exchange.status, exchange.body)
    return []


def create_validating_app(env: Mapping[str, str] | None = None) -> Any:
    """mock-supabase as ``uvicorn --factory`` starts it, with its answers checked."""
    variables = os.environ if env is None else env
    return CheckingRecorder(
        create_app(env), "/", Path(variables[PROBLEMS_FILE_VARIABLE]), answer_problems
    )


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
            settings = {"JWT_SECRET": SECRET, "TWIN_SEED": "tests", **env}
            recorder = Recorder(create_app(settings), "/")
            recorders.append(recorder)
            return stack.enter_context(serve_asgi(recorder))

        yield start
    problems = [p for recorder in recorders for e in recorder.exchanges for p in answer_problems(e)]
    assert not problems, "answers GoTrue's OpenAPI or PostgREST's errors.rst do not allow:\n" + (
        "\n".join(problems)
    )


@pytest.fixture
def supabase_url(supabase_twin: TwinFactory) -> str:
    return supabase_twin()
