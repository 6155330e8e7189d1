"""The middleware around every twin: bounds, journal, faults and stubs, before the twin's routes.

For each request to the service (not to ``/_twin/``, which is never journaled, faulted or
stubbed, so a test can always reach the control plane of a twin it has broken):

1. the body is held to the twin's bounds (:mod:`._bodies`): 413 or 400 in the service's shape;
2. a journal entry is made (:mod:`._journal`) and recorded when the answer is done;
3. the first armed fault that applies (:mod:`._faults`) waits its latency, then answers for the
   twin (a status, a dropped connection) or breaks the twin's real answer on its way out;
4. else the first stub that matches (:mod:`._stubs`) answers;
5. else the twin's own routes answer; a request no route takes is marked ``matched: false``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins._bodies import BodyError, BodyTooLarge, checked_body
from converge_twins._faults import Fault
from converge_twins._journal import describe_body, redact_headers
from converge_twins._matching import RequestView
from converge_twins._stubs import Stub, TemplateContext

if TYPE_CHECKING:
    from converge_twins.control import Twin

CONTROL_PREFIX = "/_twin"
# Set on the request's scope by the app's 404/405 handler when no route took the request.
UNMATCHED = "converge.unmatched"


def control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def drop_connection(send: Send) -> None:
    """Close the socket at once, as a crashed upstream or a cut link would.

    uvicorn hands the app the bound ``send`` of its request cycle, which holds the transport.
    After closing it, wait until uvicorn has seen the connection go: otherwise it would answer
    its own "500 Internal Server Error" for an app that returned without a response.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        # Another server: raising is the closest thing it offers.
        raise ConnectionAbortedError("twin fault: drop the connection")
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.001)


def _with_headers(message: Message, extra: dict[str, str]) -> Message:
    if extra:
        headers = MutableHeaders(scope=message)
        for name, value in extra.items():
            headers[name] = value
    return message


class TwinMiddleware:
    def __init__(self, app: ASGIApp, twin: Twin) -> None:
        self.app = app
        self.twin = twin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        started = time.perf_counter()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        limit = self.twin.max_body_bytes
        body, receive, refused = await checked_body(receive, limit, content_type)
        if path.startswith(CONTROL_PREFIX):
            if refused is not None:
                await control_error(refused.message, refused.status)(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        entry = self._entry(scope, headers, body, content_type, refused)

        def finish(status: int | None) -> None:
            entry["status"] = status
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            self.twin.journal.record(entry)

        if refused is not None:
            finish(refused.status)
            # The size refusal is worded by each twin, as its service words it.
            message = None if isinstance(refused, BodyTooLarge) else refused.message
            await self.twin.errors(refused.status, path, message)(scope, receive, send)
            return
        view = RequestView.of(entry["method"], path, entry["query"], dict(headers), body)
        fault = self.twin.faults.take(view)
        if fault is not None:
            entry["fault"] = fault.id
            if await self._fault_answers(fault, scope, receive, send, finish):
                return
        stub = None if fault is not None else self.twin.stubs.take(view)
        if stub is not None:
            entry["stub"] = stub.id
            await self._answer_stub(stub, view, scope=scope, receive=receive, send=send,
                                    finish=finish)  # fmt: skip
            return
        status: int | None = None

        def seen(code: int) -> None:
            nonlocal status
            status = code

        try:
            await self._serve(fault, scope, receive, send, seen)
        finally:
            entry["matched"] = not scope.get(UNMATCHED, False)
            finish(status if status is not None else 500)

    def _entry(
        self,
        scope: Scope,
        headers: list[tuple[str, str]],
        body: bytes,
        content_type: str,
        refused: BodyError | None,
    ) -> dict[str, Any]:
        return {
            "kind": "request",
            "at": self.twin.clock.iso(),
            "method": scope["method"],
            "path": scope.get("path", ""),
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": redact_headers(headers),
            "body": describe_body(body, content_type, self.twin.journal_body_bytes),
            "body_bytes": refused.received if isinstance(refused, BodyTooLarge) else len(body),
            "status": None,
            "fault": None,
            "stub": None,
            "matched": True,
        }

    async def _fault_answers(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        send: Send,
        finish: Callable[[int | None], None],
    ) -> bool:
        """Wait the fault's latency; answer for the twin when the fault does (True)."""
        wait = fault.latency_ms()
        if wait:
            await asyncio.sleep(wait / 1000)
        if fault.drop:
            finish(None)
            await drop_connection(send)
            return True
        if fault.status is None:
            return False
        if fault.body is not None:
            answer: Response = JSONResponse(fault.body, status_code=fault.status)
        else:
            answer = self.twin.errors(fault.status, scope.get("path", ""), None)
        answer.headers.update(fault.response_headers)
        finish(fault.status)
        await answer(scope, receive, send)
        return True

    async def _answer_stub(
        self,
        stub: Stub,
        view: RequestView,
        *,
        scope: Scope,
        receive: Receive,
        send: Send,
        finish: Callable[[int | None], None],
    ) -> None:
        clock, ids = self.twin.clock, self.twin.ids
        context = TemplateContext(view, clock.iso(), clock.timestamp(), ids.prefixed)
        status, headers, content = stub.answer(context)
        if stub.latency_ms:
            await asyncio.sleep(stub.latency_ms / 1000)
        finish(status)
        await Response(content, status, headers)(scope, receive, send)

    async def _serve(
        self,
        fault: Fault | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        seen: Callable[[int], None],
    ) -> None:
        """The twin's own answer, shaped on its way out by a fault that breaks answers."""
        extra = fault.response_headers if fault is not None else {}

        async def passing(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen(int(message["status"]))
                message = _with_headers(message, extra)
            await send(message)

        if fault is None or not (fault.body_fault or fault.dribble or fault.stream):
            await self.app(scope, receive, passing)
            return
        if fault.stream is not None:
            await self.app(scope, receive, StreamBreaker(fault, self.twin, scope, send, seen))
            return
        buffered: list[Message] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen(int(message["status"]))
            buffered.append(message)

        await self.app(scope, receive, keep)
        await _broken(fault, buffered, send)


async def _broken(fault: Fault, messages: list[Message], send: Send) -> None:
    """Send a buffered answer as the fault breaks it."""
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    start = _with_headers(dict(start), fault.response_headers)
    headers = MutableHeaders(scope=start)
    if fault.dribble is not None:
        pieces = max(1, min(fault.dribble.chunks, len(body) or 1))
        size = -(-len(body) // pieces) if body else 0
        chunks = [body[i : i + size] for i in range(0, len(body), size)] if size else [b""]
        pause = fault.dribble.total_ms / 1000 / max(1, len(chunks))
        await send(start)
        for index, chunk in enumerate(chunks):
            await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": chunk,
                        "more_body": index < len(chunks) - 1})  # fmt: skip
        return
    kind = fault.body_fault
    if kind == "truncated":
        await send(start)  # its content-length still promises the whole body
        await send({"type": "http.response.body", "body": body[: len(body) // 2],
                    "more_body": True})  # fmt: skip
        await drop_connection(send)
        return
    if kind == "empty":
        broken = b""
    elif kind == "random":
        broken = random.Random(f"{fault.id}:{fault.hits}").randbytes(len(body))
    else:  # malformed: the first half of the body, which no JSON parser takes
        broken = body[: len(body) // 2]
    headers["content-length"] = str(len(broken))
    await send(start)
    await send({"type": "http.response.body", "body": broken, "more_body": False})


class StreamBreaker:
    """A ``send`` that passes a server-sent event stream through until the fault's event."""

    def __init__(
        self, fault: Fault, twin: Twin, scope: Scope, send: Send, seen: Callable[[int], None]
    ) -> None:
        assert fault.stream is not None
        self.fault = fault
        self.stream = fault.stream
        self.twin = twin
        self.scope = scope
        self.send = send
        self.seen = seen
        self.pending = b""
        self.events = 0
        self.done = False
        self.is_stream = False

    async def __call__(self, message: Message) -> None:
        if self.done:
            return
        if message["type"] == "http.response.start":
            self.seen(int(message["status"]))
            headers = MutableHeaders(scope=message)
            self.is_stream = headers.get("content-type", "").startswith("text/event-stream")
            await self.send(_with_headers(message, self.fault.response_headers))
            if self.is_stream and self.stream.after_events == 0:
                await self._break(more=True)
            return
        if not self.is_stream or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.pending += message.get("body", b"")
        more = bool(message.get("more_body", False))
        while not self.done and b"\n\n" in self.pending:
            event, _, self.pending = self.pending.partition(b"\n\n")
            await self.send({"type": "http.response.body", "body": event + b"\n\n",
                             "more_body": True})  # fmt: skip
            self.events += 1
            if self.events == self.stream.after_events:
                await self._break(more=True)
        if not self.done and not more:
            await self.send({"type": "http.response.body", "body": self.pending,
                             "more_body": False})  # fmt: skip

    async def _break(self, more: bool) -> None:
        action = self.stream.action
        if action == "stall":
            await asyncio.sleep(self.stream.stall_ms / 1000)
            return
        self.done = True
        if action == "drop":
            await drop_connection(self.send)
            return
        error = self.twin.errors(self.stream.status, self.scope.get("path", ""), None)
        data = bytes(error.body).decode("utf-8")
        event = f"event: error\ndata: {data}\n\n".encode()
        await self.send({"type": "http.response.body", "body": event, "more_body": False})
