"""A tiny ASGI app standing in for any service of the stack in the lifecycle tests.

It answers the health paths of both twins and gravix-api, and shows its environment, so the
process backend can be tested without the real apps. Behaviour is chosen by environment
variables, as the real services are configured:

- ``STANDIN_CRASH``: raise while creating the app (uvicorn exits with an error);
- ``STANDIN_UNHEALTHY``: answer the health checks with 503 forever;
- ``STANDIN_CHILD_PIDFILE``: start a long-sleeping child process and write its pid there, to
  prove that ``down`` stops a service's children too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FACTORY = "tests.support.standin_app:create_app"


def create_app() -> Starlette:
    print("stand-in starting", flush=True)
    if os.environ.get("STANDIN_CRASH"):
        raise RuntimeError("stand-in told to crash (STANDIN_CRASH)")
    pidfile = os.environ.get("STANDIN_CHILD_PIDFILE")
    if pidfile:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL
        )
        Path(pidfile).write_text(str(child.pid))
    healthy = not os.environ.get("STANDIN_UNHEALTHY")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": healthy}, status_code=200 if healthy else 503)

    async def env(request: Request) -> JSONResponse:
        return JSONResponse(dict(os.environ))

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/_twin/health", health),
            Route("/env", env),
        ]
    )
