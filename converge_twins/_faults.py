"""Faults: make the next N matching requests fail, slow down, or lose their connection.

A fault matches on method (or any) and on a path prefix or a regular expression; each match uses
up one of its ``times``. The twin answers a status fault with its own real error body, so the
client under test sees what the real service would send, not a generic 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class FaultSpecError(ValueError):
    """A fault description the control plane cannot use; the message names the field."""


@dataclass
class Fault:
    id: str
    method: str | None
    path: str | None
    path_regex: re.Pattern[str] | None
    remaining: int
    status: int | None
    latency_ms: int
    drop: bool
    body: Any
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        return self.path_regex is None or self.path_regex.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "path_regex": self.path_regex.pattern if self.path_regex else None,
            "remaining": self.remaining,
            "hits": self.hits,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "drop": self.drop,
            "body": self.body,
        }


def _int_field(spec: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = spec.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer from {low} to {high}")
    return value


def parse_fault(spec: Any, fault_id: str) -> Fault:
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a JSON object")
    unknown = set(spec) - {
        "method",
        "path",
        "path_regex",
        "times",
        "status",
        "latency_ms",
        "drop",
        "body",
    }
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise FaultSpecError("method must be an HTTP method name")
    if method in ("*", ""):
        method = None
    path = spec.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultSpecError("path must be a path prefix starting with /")
    pattern = spec.get("path_regex")
    regex = None
    if pattern is not None:
        if not isinstance(pattern, str):
            raise FaultSpecError("path_regex must be a regular expression string")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise FaultSpecError(f"path_regex does not compile: {exc}") from exc
    status = spec.get("status")
    if status is not None:
        status = _int_field(spec, "status", 500, 400, 599)
    drop = spec.get("drop", False)
    if not isinstance(drop, bool):
        raise FaultSpecError("drop must be true or false")
    latency = _int_field(spec, "latency_ms", 0, 0, 120_000)
    if status is None and not drop and latency == 0:
        raise FaultSpecError("a fault needs a status, drop: true, or latency_ms > 0")
    if status is not None and drop:
        raise FaultSpecError("status and drop exclude each other")
    return Fault(
        id=fault_id,
        method=method.upper() if isinstance(method, str) else None,
        path=path,
        path_regex=regex,
        remaining=_int_field(spec, "times", 1, 1, 1_000_000),
        status=status,
        latency_ms=latency,
        drop=drop,
        body=spec.get("body"),
    )


class FaultBook:
    """The armed faults, in the order they were added; the first match wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                fault.hits += 1
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
