"""State snapshots: save what a twin holds under a name, and put it back later.

A test seeds a world once (customers, users, a batch), takes a snapshot, and restores it before
each case instead of rebuilding it, as LocalStack's state pods allow. A snapshot holds the
twin's service state (every attribute of the service object, deep-copied; for mock-anthropic
also its reply rules and variability), its seeded id sequence and its clock. It leaves the
journal, faults and stubs alone: they describe the test, not the world.

Restoring works in place: the objects the twin's routes are bound to keep their identity and
get their saved attributes back, so no handler is left holding stale state. Objects that are
not state (the twin's shared control plane, tasks, locks, clients, modules) are shared rather
than copied.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_SNAPSHOTS = 20
_NOT_STATE = (
    asyncio.Future,
    asyncio.AbstractEventLoop,
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Event,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.GeneratorType,
    types.CoroutineType,
    type,
)


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.keys()
        yield from value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        yield from value
    elif _is_object(value):
        yield from vars(value).values()


def _is_object(value: Any) -> bool:
    """An instance of a class with attributes: restored in place rather than replaced."""
    return (
        hasattr(value, "__dict__")
        and not isinstance(value, _NOT_STATE)
        and type(value).__module__ not in ("builtins",)
    )


def _shared(root: Any, keep: list[Any]) -> dict[int, Any]:
    """A deepcopy memo that shares ``keep`` and every object that is not state."""
    memo: dict[int, Any] = {id(item): item for item in keep}
    seen: set[int] = set(memo)
    stack = [root]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, _NOT_STATE) or _foreign(value):
            memo[id(value)] = value
            continue
        stack.extend(_children(value))
    return memo


def _foreign(value: Any) -> bool:
    """Objects of network and server libraries: connections and clients are never state."""
    module = type(value).__module__.split(".", 1)[0]
    return module in {"httpx", "httpx2", "httpcore", "ssl", "socket", "uvicorn", "starlette"}


@dataclass
class Snapshot:
    name: str
    taken_at: str
    service: Any  # a deep copy of the service object
    ids: Any
    clock: Any


def take(
    name: str, taken_at: str, service: Any, *, keep: list[Any], ids: Any, clock: Any
) -> Snapshot:
    copied = copy.deepcopy(service, _shared(service, keep))
    return Snapshot(name, taken_at, copied, ids, clock)


def _pairs(saved: Any, live: Any) -> list[tuple[Any, Any]]:
    """(saved object, live object) for every object restored in place, from the service down."""
    found: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    stack = [(saved, live)]
    while stack:
        old, new = stack.pop()
        if id(new) in seen or type(old) is not type(new):
            continue
        seen.add(id(new))
        found.append((old, new))
        for name, value in vars(old).items():
            current = vars(new).get(name)
            if _is_object(value) and _is_object(current) and value is not current:
                stack.append((value, current))
    return found


def restore(snapshot: Snapshot, service: Any, keep: list[Any]) -> None:
    """Put the saved attributes back on the live objects, keeping every object's identity.

    A list, dict or set attribute is refilled in place too: something else (a reset hook, a
    handler) may hold the live one.
    """
    pairs = _pairs(snapshot.service, service)
    memo = _shared(snapshot.service, keep)
    memo.update({id(old): new for old, new in pairs})
    fresh = copy.deepcopy([dict(vars(old)) for old, _ in pairs], memo)
    for (_, new), attributes in zip(pairs, fresh, strict=True):
        live = dict(vars(new))
        vars(new).clear()
        for name, value in attributes.items():
            current = live.get(name)
            if type(current) is type(value) and isinstance(value, list | dict | set):
                _refill(current, value)
                vars(new)[name] = current
            else:
                vars(new)[name] = value


def _refill(live: Any, saved: Any) -> None:
    live.clear()
    if isinstance(live, list):
        live.extend(saved)
    else:
        live.update(saved)
