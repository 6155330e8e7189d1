"""The benchmark's API: a small keep-alive JSON server from the standard library, on 127.0.0.1.

It answers the benchmark scenario (log in, read an item, add a note) at ``/`` and, 50 ms slower,
under ``/slow`` (the worker-scaling measure), so one server serves every measure of a bench run.
Run it in its own process: it prints its port on the first line of stdout and serves until its
standard input closes (the bench ends, however it ends) or it gets SIGTERM.

    python bench/server.py [--delay-ms 50]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
_ITEM = re.compile(r"/items/(\d+)(/notes)?")


def answer(method: str, path: str, body: bytes) -> tuple[int, object]:
    """The status and JSON body for one request of the benchmark scenario."""
    if method == "POST" and path == "/login":
        user = json.loads(body or b"{}").get("user", "nobody")
        return 200, {"token": f"tok-{user}", "user": user, "expires_in": 3600}
    match = _ITEM.fullmatch(path)
    if match is not None:
        number = int(match.group(1))
        if match.group(2) and method == "POST":
            note = json.loads(body or b"{}")
            return 201, {"saved": True, "id": f"n-{number}", "text": note.get("text", "")}
        if method == "GET":
            return 200, {
                "id": number,
                "owner": f"u{number}",
                "tags": ["bench", "keep-alive"],
                "etag": f"v-{number}-1",
            }
    if path == "/":
        return 200, {"service": "bench"}
    return 404, {"error": "not found"}


def make_handler(delay: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse one connection
        disable_nagle_algorithm = True  # one small answer per request: send it now

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            slow = path == "/slow" or path.startswith("/slow/")
            if slow:
                path = path[len("/slow"):] or "/"
                time.sleep(delay)
            status, payload = answer(self.command, path, body)
            data = json.dumps(payload).encode()
            # Headers and body in one write: two small writes would meet delayed ACKs.
            head = (
                f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n"
                "\r\n"
            ).encode()
            self.wfile.write(head + data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # http.server's names

        def log_message(self, format: str, *args: object) -> None:
            pass  # a log line per request would cost more than the answer

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the delay under /slow")
    arguments = parser.parse_args()
    server = ThreadingHTTPServer((HOST, 0), make_handler(arguments.delay_ms / 1000))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the bench closes our stdin (or goes away)
    server.shutdown()


if __name__ == "__main__":
    main()
