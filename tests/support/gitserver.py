"""A private git repository served over HTTPS on 127.0.0.1, as a forge serves one.

``git_server(root, tls, password)`` runs git's own smart-HTTP program (``git http-backend``)
behind a small threaded HTTPS server that answers 401 unless the request carries HTTP Basic
credentials whose password is ``password`` (any user name, as GitHub takes a token). Every
repository under ``root`` is served at ``{server.url}/{name}``. The server records each request's
Authorization header, so a test can see that the token was really sent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class GitServer:
    url: str
    authorizations: list[str] = field(default_factory=list)  # the header of every request
    refused: int = 0  # requests answered 401


def _password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


class _Handler(BaseHTTPRequestHandler):
    root: Path
    password: str
    server_state: GitServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        header = self.headers.get("Authorization", "")
        self.server_state.authorizations.append(header)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if _password(header) != self.password:
            self.server_state.refused += 1
            self._reply(401, {"WWW-Authenticate": 'Basic realm="holdouts"'}, b"no entry\n")
            return
        parts = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "holdouts-reader",
            "REMOTE_ADDR": self.client_address[0],
        }
        for name in ("Content-Encoding", "Git-Protocol"):
            if name in self.headers:
                env["HTTP_" + name.upper().replace("-", "_")] = self.headers[name]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60,
            check=False,
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value.strip()
        if done.returncode != 0 and not done.stdout:
            status, payload = 500, done.stderr
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def git_server(root: Path, tls: ssl.SSLContext, password: str) -> Iterator[GitServer]:
    state = GitServer(url="")
    handler = type(
        "Handler", (_Handler,), {"root": root, "password": password, "server_state": state}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the git server's thread outlived it"
