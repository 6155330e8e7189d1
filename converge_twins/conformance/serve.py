"""Start a twin for a comparison or a measurement, and stop it afterwards.

In this process (a uvicorn server in a thread, the default) or, given a source folder, as a
``python -m uvicorn --factory`` subprocess importing the twins from that folder, which is how
the fidelity figures of an older checkout are measured with today's probes.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 20.0


def load(spec: str) -> Any:
    """The object named by ``module:attribute``."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

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
                raise RuntimeError(f"the twin did not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the server on 127.0.0.1:{port} did not stop")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_twin/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextmanager
def serve_twin(
    factory: str, env: Mapping[str, str] | None = None, source: Path | None = None
) -> Iterator[str]:
    """A twin from its ``module:create_app`` factory, with ``env`` as its environment."""
    settings = dict(env or {})
    if source is None:
        with serve_app(load(factory)(settings)) as url:
            yield url
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "--factory", factory]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=source,
        env={**os.environ, **settings, "PYTHONPATH": str(source)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{factory} from {source} did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
