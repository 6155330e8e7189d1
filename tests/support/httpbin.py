"""An httpbin-like service on 127.0.0.1: the endpoints a new user of converge tries first
(the issue of the scenario language was found by running scenarios against httpbin), answering
as httpbin documents them, so a scenario written for httpbin reads the same here.

- ``/get``, ``/post``, ``/put``, ``/patch``, ``/delete``, ``/anything[/...]``: the request echoed
  as ``{"args", "form", "data", "json", "headers", "method", "url", "path"}``; a key given once is
  a text, a key given several times a list (httpbin's rule); ``path`` is the path as received,
  still percent-encoded, so a test sees what was sent.
- ``/status/N``: that status, empty body.
- ``/response-headers?Name=value``: those headers, and the same as JSON.
- ``/redirect-to?url=U&status_code=N``: a redirect (302 unless named).
- ``/basic-auth/USER/PASSWD``, ``/bearer``: 200 with who authenticated, else 401.
- ``/brotli``: a brotli-compressed JSON body.
- ``/etag/E``: ``ETag: "E"``.
- ``/links/N/I``: a page of N with a ``next`` link, as a paging API gives one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from tests.support.servers import Recorded, Reply, TestServer


class HttpBin(TestServer):
    def _answer(self, request: Recorded) -> Reply:
        parts = urlsplit(request.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        head, rest = segments[0], segments[1:]
        query = parse_qsl(parts.query, keep_blank_values=True)
        if head in ("get", "post", "put", "patch", "delete", "anything"):
            return Reply(json=self._echo(request, query))
        if head == "status" and rest and rest[0].isdigit():
            return Reply(status=int(rest[0]), body="")
        if head == "response-headers":
            return Reply(json=dict(query), headers=dict(query))
        if head == "redirect-to":
            fields = dict(query)
            return Reply(
                status=int(fields.get("status_code", "302")),
                headers={"Location": fields.get("url", "/")},
                body="",
            )
        if head == "basic-auth" and len(rest) == 2:
            return self._basic(request, rest[0], rest[1])
        if head == "bearer":
            scheme, _, token = _header(request, "Authorization").partition(" ")
            if scheme != "Bearer" or not token:
                return Reply(status=401, body="", headers={"WWW-Authenticate": "Bearer"})
            return Reply(json={"authenticated": True, "token": token})
        if head == "brotli":
            import brotli  # a dependency of converge

            body = json.dumps({"brotli": True, "method": request.method}).encode()
            return Reply(
                body=brotli.compress(body),
                headers={"Content-Type": "application/json", "Content-Encoding": "br"},
            )
        if head == "etag" and rest:
            return Reply(json={"etag": rest[0]}, headers={"ETag": f'"{rest[0]}"'})
        if head == "links" and len(rest) == 2 and rest[0].isdigit() and rest[1].isdigit():
            total, page = int(rest[0]), int(rest[1])
            following = f"/links/{total}/{page + 1}" if page + 1 < total else None
            return Reply(json={"page": page, "next": following})
        return Reply(status=404, body="")

    @staticmethod
    def _echo(request: Recorded, query: list[tuple[str, str]]) -> dict[str, Any]:
        content_type = _header(request, "Content-Type")
        text = request.body.decode("utf-8", errors="replace")
        form: list[tuple[str, str]] = []
        document: Any = None
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qsl(text, keep_blank_values=True)
            text = ""
        elif content_type.startswith("application/json") and text:
            document = json.loads(text)
        return {
            "args": _multi(query),
            "form": _multi(form),
            "data": text,
            "json": document,
            "headers": request.headers,
            "method": request.method,
            "path": urlsplit(request.path).path,
        }

    @staticmethod
    def _basic(request: Recorded, user: str, password: str) -> Reply:
        scheme, _, token = _header(request, "Authorization").partition(" ")
        expected = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        if scheme != "Basic" or token != expected:
            return Reply(status=401, body="", headers={"WWW-Authenticate": 'Basic realm="Fake"'})
        return Reply(json={"authenticated": True, "user": user})


def _header(request: Recorded, name: str) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), "")


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """httpbin's reading of a query or form: one value as text, a repeated key as a list."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key not in values:
            values[key] = value
        elif isinstance(values[key], list):
            values[key].append(value)
        else:
            values[key] = [values[key], value]
    return values


@pytest.fixture
def httpbin() -> Iterator[HttpBin]:
    """The httpbin-like service, stopped (and checked stopped) after the test."""
    server = HttpBin()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        assert not server.running, "the httpbin-like server thread did not stop"
