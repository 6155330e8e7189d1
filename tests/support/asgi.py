"""Serve an ASGI app with a real uvicorn on a free 127.0.0.1 port, in a thread of the test.

``serve_asgi(app)`` is a context manager yielding the base URL; the ``asgi_server`` fixture
serves any number of apps for one test and stops them all afterwards, checking each server
thread really ended. The socket is bound before uvicorn starts, so there is no window in which
another process could take the port. Every app served first passes through ``APP_WRAPPERS``
(functions returning the app itself or a wrapper), which is how the suite validates every
response of a twin against its service's published specification.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
import uvicorn
from starlette.types import ASGIApp

STARTUP_SECONDS = 10.0
APP_WRAPPERS: list[Callable[[ASGIApp], ASGIApp]] = []


@contextmanager
def serve_asgi(app: ASGIApp) -> Iterator[str]:
    for wrap in APP_WRAPPERS:
        app = wrap(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        sock.close()
        assert not thread.is_alive(), "the uvicorn thread did not stop"


@pytest.fixture
def asgi_server() -> Iterator[Callable[[ASGIApp], str]]:
    """Call it with an app to get its base URL; every server stops when the test ends."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_asgi(app))
