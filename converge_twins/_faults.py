"""Faults: make matching requests fail, slow down, lose their connection or get a broken answer.

A fault matches a request pattern (:mod:`._matching`: method, path prefix or regex, headers,
query, body) and has one effect, plus an optional latency:

- ``status``: answered at once with that status, in the service's own error body (or ``body``);
  ``retry_after`` and ``response_headers`` add headers;
- ``drop``: the connection is closed without a byte of answer;
- ``body_fault``: the twin really handles the request, then the answer is broken on the way
  out: ``malformed`` (the first half of the body: not JSON any more), ``empty`` (no body),
  ``random`` (random bytes of the same length), ``truncated`` (the headers promise the whole
  body, half of it comes, then the connection closes);
- ``dribble``: the real answer, sent in ``chunks`` pieces over ``total_ms``;
- ``stream``: inside a server-sent event stream, after ``after_events`` events, ``drop`` the
  connection, send an ``error`` event (the service's error body for that status) and end, or
  ``stall_ms`` before going on;
- ``response_headers`` / ``retry_after`` alone: added to the real answer.

``latency_ms`` is a number of milliseconds, ``{"min", "max"}`` (uniform) or ``{"median",
"sigma"}`` (log-normal, as WireMock's). ``probability`` (0 to 1) applies the fault to that share
of matching requests; ``times`` bounds how many requests it applies to (default 1, unlimited
with a probability). Every draw comes from a generator seeded by the twin's seed and the
fault's id, so the same requests in the same order meet the same faults in every run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from converge_twins._matching import PatternError, RequestPattern, RequestView, parse_pattern

BODY_FAULTS = ("malformed", "empty", "random", "truncated")
STREAM_ACTIONS = ("drop", "error", "stall")
FAULT_FIELDS = frozenset(
    {
        "request",
        "method",
        "path",
        "path_regex",
        "times",
        "probability",
        "status",
        "body",
        "response_headers",
        "retry_after",
        "latency_ms",
        "drop",
        "body_fault",
        "dribble",
        "stream",
    }
)


class FaultSpecError(ValueError):
    """A fault description the control plane cannot use; the message names the field."""


@dataclass(frozen=True)
class Latency:
    fixed: float = 0.0
    low: float | None = None
    high: float | None = None
    median: float | None = None
    sigma: float | None = None

    def draw(self, rng: random.Random) -> float:
        """Milliseconds to wait."""
        if self.low is not None and self.high is not None:
            return rng.uniform(self.low, self.high)
        if self.median is not None and self.sigma is not None:
            return min(120_000.0, rng.lognormvariate(math.log(self.median), self.sigma))
        return self.fixed

    def describe(self) -> Any:
        if self.low is not None:
            return {"min": self.low, "max": self.high}
        if self.median is not None:
            return {"median": self.median, "sigma": self.sigma}
        return self.fixed


@dataclass(frozen=True)
class Dribble:
    chunks: int
    total_ms: int


@dataclass(frozen=True)
class StreamFault:
    after_events: int
    action: str  # "drop", "error" or "stall"
    status: int = 529  # the error event's kind, as the service's error body for that status
    stall_ms: int = 0

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"after_events": self.after_events, "action": self.action}
        if self.action == "error":
            described["status"] = self.status
        if self.action == "stall":
            described["stall_ms"] = self.stall_ms
        return described


@dataclass
class Fault:
    id: str
    pattern: RequestPattern
    remaining: int | None  # None: no limit
    rng: random.Random
    probability: float | None = None
    status: int | None = None
    body: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    latency: Latency | None = None
    drop: bool = False
    body_fault: str | None = None
    dribble: Dribble | None = None
    stream: StreamFault | None = None
    hits: int = 0
    # Kept for the listing of faults armed with the older top-level fields.
    spec: dict[str, Any] = field(default_factory=dict)

    def matches(self, view: RequestView) -> bool:
        return self.pattern.matches(view)

    def latency_ms(self) -> float:
        return self.latency.draw(self.rng) if self.latency else 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": self.pattern.describe(),
            "method": self.pattern.method,
            "path": self.pattern.path,
            "path_regex": self.pattern.path_regex.pattern if self.pattern.path_regex else None,
            "remaining": self.remaining,
            "probability": self.probability,
            "hits": self.hits,
            "status": self.status,
            "latency_ms": self.latency.describe() if self.latency else 0,
            "drop": self.drop,
            "body": self.body,
            "response_headers": self.response_headers,
            "body_fault": self.body_fault,
            "dribble": (
                {"chunks": self.dribble.chunks, "total_ms": self.dribble.total_ms}
                if self.dribble
                else None
            ),
            "stream": self.stream.describe() if self.stream else None,
        }


def _int_field(spec: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = spec.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer from {low} to {high}")
    return value


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultSpecError(f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def _latency(value: Any) -> Latency | None:
    if value is None or value == 0:
        return None
    if isinstance(value, dict):
        if set(value) == {"min", "max"}:
            low = _number(value["min"], "latency_ms.min", 0, 120_000)
            high = _number(value["max"], "latency_ms.max", 0, 120_000)
            if low > high:
                raise FaultSpecError("latency_ms: min must not exceed max")
            return Latency(low=low, high=high)
        if set(value) == {"median", "sigma"}:
            return Latency(
                median=_number(value["median"], "latency_ms.median", 1, 120_000),
                sigma=_number(value["sigma"], "latency_ms.sigma", 0, 5),
            )
        raise FaultSpecError(
            'latency_ms: a number, {"min", "max"} (uniform) or {"median", "sigma"} (log-normal)'
        )
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 120_000:
        raise FaultSpecError("latency_ms must be an integer from 0 to 120000")
    return Latency(fixed=float(value))


def _headers(spec: dict[str, Any]) -> dict[str, str]:
    given = spec.get("response_headers") or {}
    if not isinstance(given, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in given.items()
    ):
        raise FaultSpecError("response_headers: an object of header names to text")
    headers = {str(k).lower(): str(v) for k, v in given.items()}
    retry_after = spec.get("retry_after")
    if retry_after is not None:
        headers["retry-after"] = str(int(_number(retry_after, "retry_after", 0, 86_400)))
    return headers


def _stream(value: Any) -> StreamFault | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"after_events", "action", "status",
                                                         "stall_ms"}:  # fmt: skip
        raise FaultSpecError(
            'stream: {"after_events": n, "action": "drop"|"error"|"stall", '
            '"status"?: for error, "stall_ms"?: for stall}'
        )
    after = _int_field(value, "after_events", 1, 0, 100_000)
    action = value.get("action", "drop")
    if action not in STREAM_ACTIONS:
        raise FaultSpecError(f"stream.action: one of {', '.join(STREAM_ACTIONS)}")
    return StreamFault(
        after,
        action,
        status=_int_field(value, "status", 529, 400, 599),
        stall_ms=_int_field(value, "stall_ms", 1000 if action == "stall" else 0, 0, 120_000),
    )


def parse_fault(spec: Any, fault_id: str, seed: str = "") -> Fault:
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a JSON object")
    unknown = set(spec) - FAULT_FIELDS
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    request = spec.get("request") or {}
    if not isinstance(request, dict):
        raise FaultSpecError("request: a request pattern (an object)")
    shortcut = {k: spec[k] for k in ("method", "path", "path_regex") if spec.get(k) is not None}
    if set(shortcut) & set(request):
        raise FaultSpecError("give method, path and path_regex either in request or beside it")
    try:
        pattern = parse_pattern({**request, **shortcut})
    except PatternError as exc:
        raise FaultSpecError(str(exc)) from None
    status = spec.get("status")
    if status is not None:
        status = _int_field(spec, "status", 500, 400, 599)
    drop = spec.get("drop", False)
    if not isinstance(drop, bool):
        raise FaultSpecError("drop must be true or false")
    body_fault = spec.get("body_fault")
    if body_fault is not None and body_fault not in BODY_FAULTS:
        raise FaultSpecError(f"body_fault: one of {', '.join(BODY_FAULTS)}")
    dribble_spec = spec.get("dribble")
    dribble = None
    if dribble_spec is not None:
        if not isinstance(dribble_spec, dict) or set(dribble_spec) != {"chunks", "total_ms"}:
            raise FaultSpecError('dribble: {"chunks": n, "total_ms": ms}')
        dribble = Dribble(
            _int_field(dribble_spec, "chunks", 1, 1, 10_000),
            _int_field(dribble_spec, "total_ms", 0, 0, 120_000),
        )
    stream = _stream(spec.get("stream"))
    effects = [
        name
        for name, present in (
            ("status", status is not None),
            ("drop", drop),
            ("body_fault", body_fault is not None),
            ("dribble", dribble is not None),
            ("stream", stream is not None),
        )
        if present
    ]
    if len(effects) > 1:
        raise FaultSpecError(f"{' and '.join(effects)} exclude each other")
    headers = _headers(spec)
    latency = _latency(spec.get("latency_ms"))
    if not effects and latency is None and not headers:
        raise FaultSpecError(
            "a fault needs an effect: status, drop, body_fault, dribble, stream, latency_ms "
            "or response_headers/retry_after"
        )
    if drop and headers:
        raise FaultSpecError("a dropped connection has no headers to add")
    probability = spec.get("probability")
    if probability is not None:
        probability = _number(probability, "probability", 0, 1)
    times_default = 0 if probability is not None else 1
    times = _int_field(spec, "times", times_default, 1 if "times" in spec else 0, 1_000_000)
    return Fault(
        id=fault_id,
        pattern=pattern,
        remaining=times or None,
        rng=random.Random(f"{seed}:{fault_id}"),
        probability=probability,
        status=status,
        body=spec.get("body"),
        response_headers=headers,
        latency=latency,
        drop=drop,
        body_fault=body_fault,
        dribble=dribble,
        stream=stream,
        spec=dict(spec),
    )


class FaultBook:
    """The armed faults, in the order they were added; the first that applies wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, view: RequestView) -> Fault | None:
        for fault in self._faults:
            if not fault.matches(view):
                continue
            if fault.probability is not None and fault.rng.random() >= fault.probability:
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [fault for fault in self._faults if fault.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [fault.describe() for fault in self._faults]
