"""Serve an ASGI app with a real uvicorn on a free 127.0.0.1 port, in a thread of the test.

``serve_asgi(app)`` is a context manager yielding the base URL; the ``asgi_server`` fixture
serves any number of apps for one test and stops them all afterwards, checking each server
thread really ended. The socket is bound before uvicorn starts, so there is no window in which
another process could take the port. Every app served first passes through ``APP_WRAPPERS``
(functions returning the app itself or a wrapper), which is how the suite validates every
response of a twin against its service's published specification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
from starlette.types import ASGIApp

from converge_twins.conformance.serve import serve_app

APP_WRAPPERS: list[Callable[[ASGIApp], ASGIApp]] = []


@contextmanager
def serve_asgi(app: ASGIApp) -> Iterator[str]:
    for wrap in APP_WRAPPERS:
        app = wrap(app)
    # One way to serve an app in a thread, shared with the conformance tooling; it raises when
    # the server thread outlives the block, so no test leaves one behind.
    with serve_app(app) as url:
        yield url


@pytest.fixture
def asgi_server() -> Iterator[Callable[[ASGIApp], str]]:
    """Call it with an app to get its base URL; every server stops when the test ends."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_asgi(app))
