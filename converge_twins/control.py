"""The control plane every twin shares, mounted under ``/_twin/``.

- ``GET /_twin/health``: liveness plus the seed, the clock and the counts of entries and faults.
- ``POST /_twin/reset``: state, journal, faults, ids and clock back to how the twin started.
  With ``{"seed": "1234"}`` only what belongs to that run seed is reset (see
  :meth:`Twin.on_seed_reset`), so converge can reset between runs while other runs go on.
- ``GET /_twin/journal?method=&path=&kind=&limit=``: what the twin received (``DELETE`` clears).
- ``POST|GET|DELETE /_twin/faults`` (and ``DELETE /_twin/faults/{id}``): arm, list, disarm.
- ``GET|POST /_twin/clock``: ``{"set": iso}`` freezes there, ``{"advance": seconds}`` moves on,
  ``{"real": true}`` goes back to real time.

A twin is a :class:`Twin` (the shared state) plus its own routes, assembled by :func:`build_app`.
The :class:`TwinMiddleware` wraps the whole app: it journals every service request and applies
the faults before the twin's own handlers see the request. Control requests are neither journaled
nor faultable, so a test can always reach the control plane of a twin it has broken.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins._bodies import DEFAULT_MAX_BODY_BYTES, BodyTooLarge, checked_body, loads
from converge_twins._determinism import Clock, IdGenerator, parse_instant
from converge_twins._faults import FaultBook, FaultSpecError, parse_fault
from converge_twins._journal import (
    DEFAULT_CAPACITY,
    MAX_BODY_BYTES,
    Journal,
    describe_body,
    redact_headers,
)

CONTROL_PREFIX = "/_twin"
DEFAULT_SEED = "converge"

# (status, request path, message or None) -> the twin's real error response for that status.
ErrorResponder = Callable[[int, str, str | None], Response]
ResetHook = Callable[[], None]
SeedResetHook = Callable[[str], None]


class Twin:
    """The state every twin shares: identity, seeded ids, clock, journal and faults."""

    def __init__(self, name: str, env: Mapping[str, str], errors: ErrorResponder) -> None:
        self.name = name
        self.env = env
        self.seed = env.get("TWIN_SEED") or DEFAULT_SEED
        frozen = env.get("TWIN_CLOCK")
        try:
            self.clock = Clock(parse_instant(frozen) if frozen else None)
        except ValueError as exc:
            raise SystemExit(f"{name}: TWIN_CLOCK is not usable: {exc}") from None
        self.ids = IdGenerator(self.seed, name)
        self.journal = Journal(int(env.get("TWIN_JOURNAL_SIZE") or DEFAULT_CAPACITY))
        self.max_body_bytes = int(env.get("TWIN_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        self.journal_body_bytes = int(env.get("TWIN_JOURNAL_BODY_BYTES") or MAX_BODY_BYTES)
        self.faults = FaultBook()
        self.errors = errors
        # Fault ids come from their own counter: arming a fault must not shift the seeded ids
        # the service hands out, or a test's setup would change the responses it checks.
        self._fault_numbers = itertools.count(1)
        self._reset_hooks: list[ResetHook] = []
        self._seed_reset_hooks: list[SeedResetHook] = []

    def on_reset(self, hook: ResetHook) -> None:
        self._reset_hooks.append(hook)

    def on_seed_reset(self, hook: SeedResetHook) -> None:
        """Register what a scoped reset clears: the state a twin keeps per run seed.

        Only state that belongs to one run may be cleared here; the journal, faults, clock and
        shared ids stay, because other runs (and the test that armed a fault) still use them.
        """
        self._seed_reset_hooks.append(hook)

    def reset_seed(self, seed: str) -> None:
        for hook in self._seed_reset_hooks:
            hook(seed)

    def reset(self) -> None:
        self.ids.reset()
        self.clock.reset()
        self.journal.clear()
        self.faults.clear()
        self._fault_numbers = itertools.count(1)
        for hook in self._reset_hooks:
            hook()

    def next_fault_id(self) -> str:
        return f"flt_{next(self._fault_numbers)}"

    def note(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Journal something the twin did on its own, such as delivering a webhook."""
        return self.journal.record({"kind": kind, "at": self.clock.iso(), **fields})


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """Factories take an optional mapping so tests configure twins without touching os.environ."""
    return os.environ if env is None else env


async def _drop_connection(send: Send) -> None:
    """Close the socket without a byte of response, as a crashed upstream or a cut link would.

    uvicorn hands the app the bound ``send`` of its request cycle, which holds the transport.
    After closing it, wait until uvicorn has seen the connection go: otherwise it would answer
    its own "500 Internal Server Error" for an app that returned without a response.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        # Another server: raising before the response starts is the closest thing it offers.
        raise ConnectionAbortedError("twin fault: drop the connection")
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.001)


class TwinMiddleware:
    """Journals every service request and applies armed faults before the twin handles it.

    Every request, control ones included, is first held to the twin's body bounds: at most
    ``TWIN_MAX_BODY_BYTES`` (413) and JSON nested at most :data:`MAX_JSON_DEPTH` levels (400),
    answered in the twin's own error shape (the control plane's under ``/_twin/``).
    """

    def __init__(self, app: ASGIApp, twin: Twin) -> None:
        self.app = app
        self.twin = twin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        control = path.startswith(CONTROL_PREFIX)
        started = time.perf_counter()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        method: str = scope["method"]
        body, receive, refused = await checked_body(receive, self.twin.max_body_bytes, content_type)
        if control:
            if refused is not None:
                await _control_error(refused.message, refused.status)(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "kind": "request",
            "at": self.twin.clock.iso(),
            "method": method,
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": redact_headers(headers),
            "body": describe_body(body, content_type, self.twin.journal_body_bytes),
            "body_bytes": refused.received if isinstance(refused, BodyTooLarge) else len(body),
            "status": None,
            "fault": None,
        }

        def finish(status: int | None) -> None:
            entry["status"] = status
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            self.twin.journal.record(entry)

        if refused is not None:
            finish(refused.status)
            # The size refusal is worded by each twin, as its service words it.
            message = None if isinstance(refused, BodyTooLarge) else refused.message
            response = self.twin.errors(refused.status, path, message)
            await response(scope, receive, send)
            return

        fault = self.twin.faults.take(method, path)
        if fault is not None:
            entry["fault"] = fault.id
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.drop:
                finish(None)
                await _drop_connection(send)
                return
            if fault.status is not None:
                if fault.body is not None:
                    response = JSONResponse(fault.body, status_code=fault.status)
                else:
                    response = self.twin.errors(fault.status, path, None)
                finish(fault.status)
                await response(scope, receive, send)
                return

        status: int | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            finish(status if status is not None else 500)


def _control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    return loads(raw)


def _reset_seed(spec: Any) -> str | None:
    """The run seed a reset is scoped to, None for a full reset; ValueError when unclear."""
    if not isinstance(spec, dict) or set(spec) - {"seed"}:
        raise ValueError('send nothing (a full reset) or {"seed": "..."} (one run\'s state)')
    if "seed" not in spec:
        return None
    seed = spec["seed"]
    if isinstance(seed, bool) or not isinstance(seed, str | int) or str(seed) == "":
        raise ValueError("seed is a non-empty string or an integer")
    return str(seed)


def control_routes(twin: Twin) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "twin": twin.name,
                "seed": twin.seed,
                "now": twin.clock.iso(),
                "clock_frozen": twin.clock.frozen,
                "journal_entries": len(twin.journal.entries()),
                "faults": len(twin.faults.describe()),
            }
        )

    async def reset(request: Request) -> Response:
        try:
            seed = _reset_seed(await _json_body(request))
        except ValueError as exc:
            return _control_error(str(exc))
        if seed is not None:
            twin.reset_seed(seed)
            return JSONResponse({"status": "reset", "twin": twin.name, "seed": seed})
        twin.reset()
        return JSONResponse({"status": "reset", "twin": twin.name})

    async def journal(request: Request) -> Response:
        if request.method == "DELETE":
            twin.journal.clear()
            return Response(status_code=204)
        query = request.query_params
        entries = twin.journal.entries(query.get("method"), query.get("path"), query.get("kind"))
        limit = query.get("limit")
        if limit is not None:
            if not limit.isdigit():
                return _control_error("limit must be a non-negative integer")
            entries = entries[-int(limit) :] if int(limit) else []
        return JSONResponse(
            {"entries": entries, "count": len(entries), "capacity": twin.journal.capacity}
        )

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": twin.faults.describe()})
        if request.method == "DELETE":
            removed = len(twin.faults.describe())
            twin.faults.clear()
            return JSONResponse({"removed": removed})
        try:
            spec = await _json_body(request)
            specs: Sequence[Any] = spec if isinstance(spec, list) else [spec]
            armed = [parse_fault(item, twin.next_fault_id()) for item in specs]
        except ValueError as exc:  # json.JSONDecodeError and FaultSpecError both
            message = str(exc) if isinstance(exc, FaultSpecError) else f"invalid JSON: {exc}"
            return _control_error(message)
        for fault in armed:
            twin.faults.add(fault)
        return JSONResponse({"faults": [fault.describe() for fault in armed]}, status_code=201)

    async def fault(request: Request) -> Response:
        if twin.faults.remove(request.path_params["fault_id"]):
            return Response(status_code=204)
        return _control_error("no such fault", 404)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = await _json_body(request)
                if not isinstance(spec, dict) or len(spec) != 1:
                    raise ValueError('send exactly one of "set", "advance" or "real"')
                if "set" in spec:
                    twin.clock.set(parse_instant(str(spec["set"])))
                elif "advance" in spec:
                    seconds = spec["advance"]
                    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                        raise ValueError("advance is a number of seconds")
                    twin.clock.advance(float(seconds))
                elif spec.get("real") is True:
                    twin.clock.unfreeze()
                else:
                    raise ValueError('send exactly one of "set", "advance" or "real": true')
            except ValueError as exc:
                return _control_error(str(exc))
        return JSONResponse({"now": twin.clock.iso(), "frozen": twin.clock.frozen})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/journal", journal, methods=["GET", "DELETE"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/faults/{fault_id}", fault, methods=["DELETE"]),
        Route("/clock", clock, methods=["GET", "POST"]),
    ]


def build_app(
    twin: Twin,
    routes: Sequence[BaseRoute],
    extra_control: Sequence[BaseRoute] = (),
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> ASGIApp:
    """The twin's ASGI app: its service routes, the control plane, and the middleware around both.

    Unknown paths and wrong methods answer in the twin's own error shape, as the real service
    would, except under ``/_twin/`` where the plain control-plane shape is clearer. ``wrap``
    puts a twin's own middleware (headers its service adds to every answer) inside the control
    plane's, which must stay outermost to journal, bound and fault every request.
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith(CONTROL_PREFIX):
            return _control_error(str(getattr(exc, "detail", "error")), status)
        return twin.errors(status, request.url.path, None)

    app = Starlette(
        routes=[Mount(CONTROL_PREFIX, routes=[*control_routes(twin), *extra_control]), *routes],
        exception_handlers={HTTPException: http_error},
    )
    return TwinMiddleware(wrap(app) if wrap else app, twin)
