"""Shared pytest fixtures (servers); registered in tests/conftest.py.

``http_server`` is a small real HTTP/1.1 server on 127.0.0.1 with scriptable routes: JSON and
non-JSON replies, slow replies (for timeouts), dropped and reset connections, and an echo route.
It records every request it receives, so a test can also prove that nothing was sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HOST = "127.0.0.1"  # never any other address


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # tells connections apart: pooled requests share one

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None  # sent as application/json when set (use `body` for raw bytes)
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (cut short when the server stops)
    action: str | None = None  # "drop": close without answering; "reset": TCP reset
    trickle: float = 0.0  # seconds between the body's bytes (cut short when the server stops)
    # Seconds between the bytes of the status line and headers (cut short when the server stops).
    trickle_headers: float = 0.0
    # Chunks of 64 KiB to stream as the body, until the client goes away (an endless answer,
    # bounded here); the count actually written is in TestServer.streamed.
    stream: int = 0
    cookies: dict[str, str] = field(default_factory=dict)  # Set-Cookie: name=value; Path=/
    # More header lines, sent after `headers`: a name may repeat (X-Tag: a, then X-Tag: b).
    more_headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Recorded], Reply]


class TestServer:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.streamed = 0  # bytes of `stream` bodies written before the client went away
        self.max_in_flight = 0  # how many requests were ever being handled at once
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((HOST, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def route(self, method: str, path: str, reply: Reply | Handler) -> None:
        """Answer ``method path`` (path without query; ``*`` as method matches any)."""
        handler: Handler = reply if callable(reply) else (lambda _request, r=reply: r)
        self.routes[(method.upper(), path)] = handler

    def json(self, path: str, payload: Any, status: int = 200, method: str = "GET") -> None:
        self.route(method, path, Reply(status=status, json=payload))

    def sent(self, path_prefix: str = "/") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, request: Recorded) -> Reply:
        path = urlsplit(request.path).path
        for key in ((request.method, path), ("*", path)):
            if key in self.routes:
                return self.routes[key](request)
        if path == "/echo":
            return Reply(
                json={
                    "method": request.method,
                    "path": request.path,
                    "headers": request.headers,
                    "body": request.json if request.body else None,
                }
            )
        if path == "/slow":
            seconds = float(parse_qs(urlsplit(request.path).query).get("seconds", ["5"])[0])
            return Reply(json={"slow": True}, delay=seconds)
        return Reply(status=404, json={"error": "not found", "path": path})


def _make_handler(server: TestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection pooling is exercised

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Recorded(
                self.command, self.path, dict(self.headers.items()), body, self.client_address[1]
            )
            server._record(request)
            try:
                self._reply(server._answer(request))
            finally:
                server._done()

        def _reply(self, reply: Reply) -> None:
            if reply.delay:
                server.stopping.wait(min(reply.delay, 30))  # bounded, and ends at shutdown
            if reply.action == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.action == "reset":
                self.close_connection = True
                # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                return
            if reply.json is not None:
                payload = json.dumps(reply.json).encode()
                content_type = "application/json"
            else:
                raw = reply.body or b""
                payload = raw.encode() if isinstance(raw, str) else raw
                content_type = "text/plain; charset=utf-8"
            if reply.stream:
                payload = b""
            self.send_response(reply.status)
            headers = {"Content-Type": content_type, **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            for name, value in reply.more_headers:
                self.send_header(name, value)
            for name, value in reply.cookies.items():
                self.send_header("Set-Cookie", f"{name}={value}; Path=/")
            self.send_header("Content-Length", str(len(payload) or reply.stream * 2**16))
            if reply.trickle_headers:
                head = b"".join(self._headers_buffer)  # type: ignore[attr-defined]
                self._headers_buffer = []  # type: ignore[attr-defined]
                for index in range(len(head)):  # bounded by the head; ends at shutdown
                    if server.stopping.wait(reply.trickle_headers):
                        return
                    self.wfile.write(head[index : index + 1])
                    self.wfile.flush()
            self.end_headers()
            if self.command == "HEAD":
                return
            if reply.stream:
                self._stream(reply.stream)
                return
            if not reply.trickle:
                self.wfile.write(payload)
                return
            for index in range(len(payload)):  # bounded by the payload, and ends at shutdown
                if server.stopping.wait(reply.trickle):
                    return
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()

        def _stream(self, chunks: int) -> None:
            chunk = b"z" * 2**16
            for _ in range(chunks):  # bounded by the count, and ends at shutdown
                if server.stopping.is_set():
                    return
                try:
                    self.wfile.write(chunk)
                except OSError:  # the client went away: what it wanted to read is counted
                    self.close_connection = True
                    return
                with server._lock:
                    server.streamed += len(chunk)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def http_server() -> Iterator[TestServer]:
    """A scriptable HTTP server on 127.0.0.1, stopped (and checked stopped) after the test."""
    server = TestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        assert not server.running, "the test HTTP server thread did not stop"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (for 'connection refused' tests)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
