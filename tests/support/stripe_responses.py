"""Every response mock-stripe gives in the test suite is validated against Stripe's spec.

In-process twins: :func:`tests.support.asgi.serve_asgi` hands every app it serves to the wrappers
registered in ``APP_WRAPPERS``; :func:`wrap_stripe_twin` wraps mock-stripe apps so that each
``/v1/`` response body goes through a ``ResponseLog``
(:mod:`converge_twins.conformance.stripe_spec`). The autouse fixture ``stripe_response_log``
gives each test a fresh log and fails the test (at teardown) when any response broke the spec,
naming the request and the field.

The reference stack's mock-stripe runs in its own process: ``reference_stack`` starts it through
:func:`create_validating_app`, which appends every problem to the file named by
``STRIPE_SPEC_PROBLEMS`` for the session to check when the stack comes down.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins.conformance.stripe_spec import ResponseLog
from tests.support.asgi import APP_WRAPPERS

PROBLEMS_FILE_VARIABLE = "STRIPE_SPEC_PROBLEMS"
_current: list[ResponseLog] = []


def validating(app: ASGIApp, log: ResponseLog) -> ASGIApp:
    """``app`` with every ``/v1/`` JSON response recorded (and validated) in ``log``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/v1/"):
            await app(scope, receive, send)
            return
        status = 0
        chunks: list[bytes] = []
        is_json = False

        async def watching_send(message: Message) -> None:
            nonlocal status, is_json
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                is_json = "json" in headers.get("content-type", "")
            elif message["type"] == "http.response.body" and is_json:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    log.record(scope["method"], scope["path"], status, b"".join(chunks))
            await send(message)

        await app(scope, receive, watching_send)

    wrapped.twin = getattr(app, "twin", None)  # type: ignore[attr-defined]
    return wrapped


def is_stripe_twin(app: ASGIApp) -> bool:
    twin = getattr(app, "twin", None)
    return getattr(twin, "name", None) == "mock-stripe"


def wrap_stripe_twin(app: ASGIApp) -> ASGIApp:
    if not is_stripe_twin(app) or not _current:
        return app
    return validating(app, _current[-1])


def current_log() -> ResponseLog:
    """The log of the running test (the one its served mock-stripe apps record into)."""
    return _current[-1]


@pytest.fixture(autouse=True)
def stripe_response_log() -> Iterator[ResponseLog]:
    log = ResponseLog()
    _current.append(log)
    try:
        yield log
    finally:
        _current.remove(log)
    if log.problems:
        shown = "\n".join(log.problems[:20])
        more = f"\n… and {len(log.problems) - 20} more" if len(log.problems) > 20 else ""
        pytest.fail(
            f"mock-stripe gave {len(log.problems)} response(s) that break Stripe's spec:\n"
            f"{shown}{more}",
            pytrace=False,
        )


class _FileLog(ResponseLog):
    """A log that appends each new problem to a file, for a twin in another process."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def record(self, method: str, path: str, status: int, raw: bytes) -> None:
        before = len(self.problems)
        super().record(method, path, status, raw)
        if len(self.problems) > before:
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(problem + "\n" for problem in self.problems[before:])


def create_validating_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    """mock-stripe as ``uvicorn --factory`` starts it, with its responses validated."""
    from converge_twins.mock_stripe.app import create_app

    variables = os.environ if env is None else env
    problems = Path(variables[PROBLEMS_FILE_VARIABLE])
    return validating(create_app(env), _FileLog(problems))


APP_WRAPPERS.append(wrap_stripe_twin)
