"""The control plane every twin shares, mounted under ``/_twin/``.

- ``GET /_twin/health``: liveness plus the seed, the clock and the counts of entries and faults.
- ``POST /_twin/reset``: state, journal, faults, stubs, ids and clock back to how the twin
  started (snapshots stay). With ``{"seed": "1234"}`` only what belongs to that run seed is
  reset (see :meth:`Twin.on_seed_reset`), so converge can reset between runs while others go on.
- ``GET /_twin/journal``: what the twin received, filtered by ``method``, ``path`` (a prefix),
  ``path_regex``, ``header`` (``name`` or ``name:value``, repeatable), ``query`` (``name`` or
  ``name=value``, repeatable), ``body_contains``, ``status``, ``matched``, ``kind`` and
  ``limit`` (the newest N); ``DELETE`` clears it. ``POST /_twin/journal/find`` and
  ``/count`` take a request pattern (:mod:`._matching`); ``POST /_twin/journal/verify``
  (``{"request": pattern, "count" | "at_least" | "at_most": n}``) answers 200 when the count
  holds and 409 with the near misses when not; ``GET /_twin/journal/unmatched`` lists the
  requests no route or stub took, each with the routes it nearly matched.
- ``POST|GET|DELETE /_twin/faults`` (and ``DELETE /_twin/faults/{id}``): arm, list, disarm
  (:mod:`._faults`).
- ``POST|GET|DELETE /_twin/stubs`` (and ``DELETE /_twin/stubs/{id}``): canned answers on any
  twin (:mod:`._stubs`).
- ``POST|GET /_twin/snapshots``, ``POST /_twin/snapshots/{name}/restore``, ``DELETE
  /_twin/snapshots/{name}``: save the twin's state under a name and put it back
  (:mod:`._snapshots`).
- ``GET|POST /_twin/clock``: ``{"set": iso}`` freezes there, ``{"advance": seconds}`` moves on,
  ``{"real": true}`` goes back to real time.

A twin is a :class:`Twin` (the shared state) plus its own routes, assembled by :func:`build_app`
around :class:`._middleware.TwinMiddleware`, which bounds, journals, faults and stubs every
service request before the twin's own handlers see it.
"""

from __future__ import annotations

import difflib
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from converge_twins import _snapshots
from converge_twins._bodies import DEFAULT_MAX_BODY_BYTES, loads
from converge_twins._determinism import Clock, IdGenerator, parse_instant
from converge_twins._faults import FaultBook, FaultSpecError, parse_fault
from converge_twins._journal import DEFAULT_CAPACITY, MAX_BODY_BYTES, Journal
from converge_twins._matching import PatternError, RequestPattern, RequestView, parse_pattern
from converge_twins._middleware import CONTROL_PREFIX, UNMATCHED, TwinMiddleware, control_error
from converge_twins._stubs import StubBook, StubSpecError, parse_stub
from converge_twins.access_log import hide_query_values

__all__ = ["CONTROL_PREFIX", "Twin", "build_app", "environment", "mark_unmatched"]

DEFAULT_SEED = "converge"

# (status, request path, message or None) -> the twin's real error response for that status.
ErrorResponder = Callable[[int, str, str | None], Response]
ResetHook = Callable[[], None]
SeedResetHook = Callable[[str], None]


class Twin:
    """The state every twin shares: identity, seeded ids, clock, journal, faults and stubs."""

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
        self.stubs = StubBook()
        self.errors = errors
        self.snapshots: dict[str, _snapshots.Snapshot] = {}
        self.service: Any = None  # the object holding the service's state (see keep_state)
        self.routes: list[tuple[str, str]] = []  # (methods, path template), for near misses
        # Fault and stub ids come from their own counters: arming one must not shift the
        # seeded ids the service hands out, or a test's setup would change what it checks.
        self._fault_numbers = itertools.count(1)
        self._stub_numbers = itertools.count(1)
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

    def keep_state(self, service: Any) -> None:
        """The object whose attributes are the twin's state, for snapshots (build_app sets it)."""
        self.service = service

    def reset_seed(self, seed: str) -> None:
        for hook in self._seed_reset_hooks:
            hook(seed)

    def reset(self) -> None:
        self.ids.reset()
        self.clock.reset()
        self.journal.clear()
        self.faults.clear()
        self.stubs.clear()
        self._fault_numbers = itertools.count(1)
        self._stub_numbers = itertools.count(1)
        for hook in self._reset_hooks:
            hook()

    def next_fault_id(self) -> str:
        return f"flt_{next(self._fault_numbers)}"

    def next_stub_id(self) -> tuple[str, int]:
        number = next(self._stub_numbers)
        return f"stb_{number}", number

    def note(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Journal something the twin did on its own, such as delivering a webhook."""
        return self.journal.record({"kind": kind, "at": self.clock.iso(), **fields})

    # snapshots -----------------------------------------------------------------------------

    def _shared(self) -> list[Any]:
        """What a snapshot shares instead of copying: this control plane and its parts."""
        return [self, *(value for key, value in vars(self).items() if key != "service")]

    def take_snapshot(self, name: str) -> _snapshots.Snapshot:
        if name not in self.snapshots and len(self.snapshots) >= _snapshots.MAX_SNAPSHOTS:
            raise ValueError(
                f"at most {_snapshots.MAX_SNAPSHOTS} snapshots: delete one to take another"
            )
        snapshot = _snapshots.take(
            name,
            self.clock.iso(),
            self.service,
            keep=self._shared(),
            ids=self.ids.state(),
            clock=self.clock.state(),
        )
        self.snapshots[name] = snapshot
        return snapshot

    def restore_snapshot(self, name: str) -> _snapshots.Snapshot:
        snapshot = self.snapshots[name]
        if self.service is not None:
            _snapshots.restore(snapshot, self.service, self._shared())
        self.ids.set_state(snapshot.ids)
        self.clock.set_state(snapshot.clock)
        return snapshot

    # near misses ---------------------------------------------------------------------------

    def near_misses(self, method: str, path: str, limit: int = 3) -> list[str]:
        """The routes and stubs a request that nothing took was closest to, best first."""
        wanted = f"{method} {path}"
        candidates = [f"{methods} {template}" for methods, template in self.routes]
        for stub_id, pattern in self.stubs.patterns():
            where = pattern.path or (pattern.path_regex.pattern if pattern.path_regex else "/")
            candidates.append(f"{pattern.method or '*'} {where} (stub {stub_id})")
        scored = sorted(
            ((difflib.SequenceMatcher(None, wanted, c).ratio(), c) for c in candidates),
            key=lambda pair: -pair[0],
        )
        return [candidate for score, candidate in scored[:limit] if score >= 0.5]


def mark_unmatched(request: Request) -> None:
    """For a twin whose catch-all route answers what it does not serve: the journal lists the
    request as unmatched, as it does a request no route took."""
    request.scope[UNMATCHED] = True


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """Factories take an optional mapping so tests configure twins without touching os.environ."""
    return os.environ if env is None else env


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


def journal_query(params: Mapping[str, str], repeated: Mapping[str, list[str]]) -> RequestPattern:
    """The pattern a ``GET /_twin/journal`` query describes."""
    spec: dict[str, Any] = {
        key: params[key] for key in ("method", "path", "path_regex") if params.get(key)
    }
    headers: dict[str, Any] = {}
    for item in repeated.get("header", []):
        name, sep, value = item.partition(":")
        headers[name.strip()] = value.strip() if sep else {"present": True}
    query: dict[str, Any] = {}
    for item in repeated.get("query", []):
        name, sep, value = item.partition("=")
        query[name] = value if sep else {"present": True}
    if headers:
        spec["headers"] = headers
    if query:
        spec["query"] = query
    if params.get("body_contains"):
        spec["body"] = {"contains": params["body_contains"]}
    return parse_pattern(spec)


def _entry_filter(params: Mapping[str, str]) -> Callable[[dict[str, Any]], bool]:
    status = params.get("status")
    if status is not None and not status.isdigit():
        raise PatternError("status must be an HTTP status code")
    matched = params.get("matched")
    if matched not in (None, "true", "false"):
        raise PatternError("matched must be true or false")
    kind = params.get("kind")

    def keep(entry: dict[str, Any]) -> bool:
        if kind is not None and entry.get("kind") != kind:
            return False
        if status is not None and entry.get("status") != int(status):
            return False
        return matched is None or entry.get("matched", True) == (matched == "true")

    return keep


def _matching(twin: Twin, pattern: RequestPattern) -> list[dict[str, Any]]:
    return [
        entry
        for entry in twin.journal.entries(kind="request")
        if pattern.matches(RequestView.of_entry(entry))
    ]


def _expected_count(spec: dict[str, Any]) -> tuple[Callable[[int], bool], str]:
    given = [key for key in ("count", "at_least", "at_most") if key in spec]
    if not given:
        return (lambda n: n >= 1), "at least 1"
    bounds: list[tuple[str, int]] = []
    for key in given:
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PatternError(f"{key} must be a non-negative integer")
        bounds.append((key, value))
    if "count" in given and len(given) > 1:
        raise PatternError("count excludes at_least and at_most")

    def holds(n: int) -> bool:
        return all(
            n == v if k == "count" else n >= v if k == "at_least" else n <= v for k, v in bounds
        )

    words = {"count": "exactly", "at_least": "at least", "at_most": "at most"}
    return holds, " and ".join(f"{words[k]} {v}" for k, v in bounds)


def journal_routes(twin: Twin) -> list[BaseRoute]:
    async def journal(request: Request) -> Response:
        if request.method == "DELETE":
            twin.journal.clear()
            return Response(status_code=204)
        params = request.query_params
        repeated = {key: params.getlist(key) for key in ("header", "query")}
        try:
            pattern = journal_query(params, repeated)
            keep = _entry_filter(params)
        except PatternError as exc:
            return control_error(str(exc))
        entries = [
            entry
            for entry in twin.journal.entries()
            if keep(entry)
            and (entry.get("kind") != "request" or pattern.matches(RequestView.of_entry(entry)))
            and (not pattern.spec or entry.get("kind") == "request")
        ]
        limit = params.get("limit")
        if limit is not None:
            if not limit.isdigit():
                return control_error("limit must be a non-negative integer")
            entries = entries[-int(limit) :] if int(limit) else []
        return JSONResponse(
            {"entries": entries, "count": len(entries), "capacity": twin.journal.capacity}
        )

    async def find(request: Request) -> Response:
        try:
            spec = await _json_body(request)
            entries = _matching(twin, parse_pattern(spec))
        except ValueError as exc:
            return control_error(str(exc))
        if request.url.path.endswith("/count"):
            return JSONResponse({"count": len(entries)})
        return JSONResponse({"entries": entries, "count": len(entries)})

    async def verify(request: Request) -> Response:
        try:
            spec = await _json_body(request)
            if not isinstance(spec, dict) or set(spec) - {"request", "count", "at_least",
                                                          "at_most"}:  # fmt: skip
                raise PatternError(
                    'send {"request": a pattern, "count" | "at_least" | "at_most": n}'
                )
            pattern = parse_pattern(spec.get("request") or {})
            holds, expected = _expected_count(spec)
        except ValueError as exc:
            return control_error(str(exc))
        count = len(_matching(twin, pattern))
        answer: dict[str, Any] = {"verified": holds(count), "count": count, "expected": expected}
        if holds(count):
            return JSONResponse(answer)
        # Near misses: requests to the same method and path that failed the rest of the pattern.
        loose = RequestPattern(pattern.method, pattern.path, pattern.path_regex)
        near = [e for e in _matching(twin, loose) if e not in _matching(twin, pattern)]
        answer["error"] = f"expected {expected} matching request(s), found {count}"
        answer["near_misses"] = near[-5:]
        return JSONResponse(answer, status_code=409)

    async def unmatched(request: Request) -> Response:
        found = [
            {**entry, "near_misses": twin.near_misses(entry["method"], entry["path"])}
            for entry in twin.journal.entries(kind="request")
            if entry.get("matched") is False
        ]
        return JSONResponse({"requests": found, "count": len(found)})

    return [
        Route("/journal", journal, methods=["GET", "DELETE"]),
        Route("/journal/find", find, methods=["POST"]),
        Route("/journal/count", find, methods=["POST"]),
        Route("/journal/verify", verify, methods=["POST"]),
        Route("/journal/unmatched", unmatched, methods=["GET"]),
    ]


def fault_and_stub_routes(twin: Twin) -> list[BaseRoute]:
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
            armed = [parse_fault(item, twin.next_fault_id(), twin.seed) for item in specs]
        except ValueError as exc:  # json.JSONDecodeError and FaultSpecError both
            message = str(exc) if isinstance(exc, FaultSpecError) else f"invalid JSON: {exc}"
            return control_error(message)
        for fault in armed:
            twin.faults.add(fault)
        return JSONResponse({"faults": [fault.describe() for fault in armed]}, status_code=201)

    async def fault(request: Request) -> Response:
        if twin.faults.remove(request.path_params["fault_id"]):
            return Response(status_code=204)
        return control_error("no such fault", 404)

    async def stubs(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"stubs": twin.stubs.describe()})
        if request.method == "DELETE":
            removed = len(twin.stubs.describe())
            twin.stubs.clear()
            return JSONResponse({"removed": removed})
        try:
            spec = await _json_body(request)
            specs: Sequence[Any] = spec if isinstance(spec, list) else [spec]
            added = [parse_stub(item, *twin.next_stub_id()) for item in specs]
        except ValueError as exc:
            message = str(exc) if isinstance(exc, StubSpecError) else f"invalid JSON: {exc}"
            return control_error(message)
        for stub in added:
            twin.stubs.add(stub)
        return JSONResponse({"stubs": [stub.describe() for stub in added]}, status_code=201)

    async def stub(request: Request) -> Response:
        if twin.stubs.remove(request.path_params["stub_id"]):
            return Response(status_code=204)
        return control_error("no such stub", 404)

    return [
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/faults/{fault_id}", fault, methods=["DELETE"]),
        Route("/stubs", stubs, methods=["GET", "POST", "DELETE"]),
        Route("/stubs/{stub_id}", stub, methods=["DELETE"]),
    ]


def snapshot_routes(twin: Twin) -> list[BaseRoute]:
    def described(snapshot: _snapshots.Snapshot) -> dict[str, Any]:
        return {"name": snapshot.name, "taken_at": snapshot.taken_at}

    async def snapshots(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"snapshots": [described(s) for s in twin.snapshots.values()]})
        try:
            spec = await _json_body(request)
            name = spec.get("name") if isinstance(spec, dict) and set(spec) <= {"name"} else None
            if not isinstance(name, str) or not name or "/" in name:
                raise ValueError('send {"name": "..."} (text without "/")')
            snapshot = twin.take_snapshot(name)
        except ValueError as exc:
            return control_error(str(exc))
        return JSONResponse(described(snapshot), status_code=201)

    async def restore(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in twin.snapshots:
            return control_error(f"no snapshot named {name!r}", 404)
        snapshot = twin.restore_snapshot(name)
        return JSONResponse({**described(snapshot), "restored": True})

    async def delete(request: Request) -> Response:
        if twin.snapshots.pop(request.path_params["name"], None) is None:
            return control_error("no such snapshot", 404)
        return Response(status_code=204)

    return [
        Route("/snapshots", snapshots, methods=["GET", "POST"]),
        Route("/snapshots/{name}/restore", restore, methods=["POST"]),
        Route("/snapshots/{name}", delete, methods=["DELETE"]),
    ]


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
                "stubs": len(twin.stubs.describe()),
                "snapshots": sorted(twin.snapshots),
            }
        )

    async def reset(request: Request) -> Response:
        try:
            seed = _reset_seed(await _json_body(request))
        except ValueError as exc:
            return control_error(str(exc))
        if seed is not None:
            twin.reset_seed(seed)
            return JSONResponse({"status": "reset", "twin": twin.name, "seed": seed})
        twin.reset()
        return JSONResponse({"status": "reset", "twin": twin.name})

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
                return control_error(str(exc))
        return JSONResponse({"now": twin.clock.iso(), "frozen": twin.clock.frozen})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        *journal_routes(twin),
        *fault_and_stub_routes(twin),
        *snapshot_routes(twin),
        Route("/clock", clock, methods=["GET", "POST"]),
    ]


def _route_index(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += _route_index(route.routes, prefix + route.path)
        elif isinstance(route, Route) and ":path}" not in route.path:  # a catch-all is no miss
            methods = ",".join(sorted((route.methods or set()) - {"HEAD"})) or "*"
            found.append((methods, prefix + route.path))
    return found


def build_app(
    twin: Twin,
    routes: Sequence[BaseRoute],
    extra_control: Sequence[BaseRoute] = (),
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    state: Any = None,
) -> ASGIApp:
    """The twin's ASGI app: its service routes, the control plane, and the middleware around both.

    Unknown paths and wrong methods answer in the twin's own error shape, as the real service
    would, except under ``/_twin/`` where the plain control-plane shape is clearer. ``wrap``
    puts a twin's own middleware (headers its service adds to every answer) inside the control
    plane's, which must stay outermost to journal, bound and fault every request. ``state`` is
    the object that holds the service's state, for snapshots (default: the object the first
    route's handler is a method of).
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith(CONTROL_PREFIX):
            return control_error(str(getattr(exc, "detail", "error")), status)
        if status in (404, 405):
            request.scope[UNMATCHED] = True  # read by the middleware for the journal
        return twin.errors(status, request.url.path, None)

    hide_query_values()  # tokens sent in query strings stay out of the access log
    twin.routes = _route_index(routes)
    twin.keep_state(state if state is not None else _owner(twin, routes))
    app = Starlette(
        routes=[Mount(CONTROL_PREFIX, routes=[*control_routes(twin), *extra_control]), *routes],
        exception_handlers={HTTPException: http_error},
    )
    return TwinMiddleware(wrap(app) if wrap else app, twin)


def _owner(twin: Twin, routes: Sequence[BaseRoute]) -> Any:
    """The service object behind the routes: of the objects holding this twin that the route
    handlers are methods of (or close over), the one the others hang from."""
    candidates: list[Any] = []
    stack: list[BaseRoute] = list(routes)
    while stack:
        route = stack.pop()
        if isinstance(route, Mount):
            stack.extend(route.routes)
        endpoint = getattr(route, "endpoint", None)
        holders = [getattr(endpoint, "__self__", None)]
        for cell in getattr(endpoint, "__closure__", None) or ():
            contents = cell.cell_contents
            holders += [contents, getattr(contents, "__self__", None)]
        for holder in holders:
            if getattr(holder, "twin", None) is twin and all(holder is not c for c in candidates):
                candidates.append(holder)
    for candidate in candidates:
        held = [value for other in candidates if other is not candidate
                for value in vars(other).values()]  # fmt: skip
        if all(value is not candidate for value in held):
            return candidate
    return None
