"""Behaviours, and what running one against a service observed.

A :class:`Suite` is one service's list of :class:`Behaviour`\\ s: small SDK-level stories ("a
forced tool call", "an unknown model") written once and run unchanged against the twin and
against another base URL (the real service in a test account, or another twin). Each run leaves
an :class:`Observation`: the HTTP status, the headers the suite cares about, the shape of the
body (:mod:`.shapes`) and a few *facts* (values that must agree, such as which exception the SDK
raised or whether a tool's input is valid against its schema). Values that legitimately differ
(ids, generated text, timestamps) never enter an observation, so two faithful services observe
the same thing.

A behaviour may also carry an expectation: what the service's documentation promises. The
fidelity measurement (:mod:`.fidelity`) counts the behaviours whose expectation the twin meets.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from converge_twins.conformance.shapes import Shape, parse_sse, shape_of, stream_shape

Context = TypeVar("Context")


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange as the client saw it (headers lower-cased, body as received)."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def decoded(self) -> Any:
        """JSON decoded, an event stream as ``[(event, data)]``, else the text (None if empty)."""
        if not self.body:
            return None
        text = self.body.decode("utf-8", errors="replace")
        if self.media_type == "text/event-stream":
            return parse_sse(text)
        if "json" in self.media_type:
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text


class Recorder:
    """Collects the exchanges a client makes; a service's client hands each finished one here."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def clear(self) -> None:
        self.exchanges.clear()


@dataclass(frozen=True)
class Observation:
    """What one behaviour showed of one service."""

    behaviour: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    shape: Shape = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # the behaviour could not run: the exception's kind (compared)
    detail: str | None = None  # and its message (shown, not compared: it carries request ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "status": self.status,
            "headers": dict(self.headers),
            "shape": dict(self.shape),
            "facts": dict(self.facts),
            "error": self.error,
            "detail": self.detail,
        }


# A header rule: "value" compares the value, "media-type" its media type, "present" only that
# the header is there. A name may end in "*" to cover a family (anthropic-ratelimit-*).
HeaderRules = Mapping[str, str]


def observe(
    behaviour: str,
    exchange: Exchange | None,
    rules: HeaderRules,
    facts: Mapping[str, Any] | None = None,
) -> Observation:
    """The observation of an exchange: status, headers of interest, shape, and given facts."""
    if exchange is None:
        return Observation(behaviour, facts=dict(facts or {}), error="no HTTP exchange was made")
    headers: dict[str, str] = {}
    for pattern, rule in rules.items():
        for name in sorted(exchange.headers):
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            value = exchange.headers[name]
            if rule == "value":
                headers[name] = value
            elif rule == "media-type":
                headers[name] = value.split(";", 1)[0].strip().lower()
            else:
                headers[name] = "present"
    decoded = exchange.decoded()
    all_facts = dict(facts or {})
    if exchange.media_type == "text/event-stream" and isinstance(decoded, list):
        sequence, shape = stream_shape(decoded)
        all_facts.setdefault("events", sequence)
    elif isinstance(decoded, dict | list):
        shape = shape_of(decoded)
    else:
        shape = {"": "empty" if decoded is None else "text"}
    return Observation(behaviour, exchange.status, headers, shape, all_facts)


# What a behaviour's run returns: facts about the outcome, and the exchange to observe (None:
# the last one the client made).
@dataclass(frozen=True)
class Outcome:
    facts: Mapping[str, Any] = field(default_factory=dict)
    exchange: Exchange | None = None


# What a service's documentation promises for a behaviour: a list of the ways the observation
# falls short (empty when it holds).
Expectation = Callable[[Observation], list[str]]


@dataclass(frozen=True)
class Behaviour(Generic[Context]):
    name: str
    run: Callable[[Context], Outcome]
    row: str | None = None  # the fidelity row it counts toward ("operations", "errors", ...)
    expect: Expectation | None = None
    ignore: tuple[str, ...] = ()  # "aspect:where" patterns whose differences are expected
    # Arms a fault or the like through the twin's control plane: run only against twins.
    needs_control: bool = False


def behaviour(
    name: str,
    run: Callable[[Context], Outcome],
    row: str | None,
    expectation: Expectation | None,
    *ignore: str,
    control: bool = False,
) -> Behaviour[Context]:
    """A :class:`Behaviour` as a suite's table writes it: the patterns of expected differences
    as trailing arguments, ``control`` for one that needs the twin's control plane."""
    return Behaviour(name, run, row, expectation, ignore, needs_control=control)


@dataclass(frozen=True)
class Credential:
    """A value a suite needs from the environment, with the one it uses against a twin."""

    env: str
    twin_default: str
    description: str


@dataclass(frozen=True)
class Suite(Generic[Context]):
    service: str
    twin_app: str  # "module:factory" of the twin this suite describes
    credentials: Mapping[str, Credential]
    connect: Callable[[str, Mapping[str, str], Recorder], Context]
    behaviours: Sequence[Behaviour[Context]]
    header_rules: HeaderRules
    twin_env: Mapping[str, str] = field(default_factory=dict)
    # What is wrong with one response by the service's published types or schema; the problems
    # of every exchange of a behaviour become its fact "response problems".
    validate: Callable[[Exchange], list[str]] | None = None

    def select(self, names: Sequence[str] = ()) -> list[Behaviour[Context]]:
        if not names:
            return list(self.behaviours)
        unknown = sorted(set(names) - {b.name for b in self.behaviours})
        if unknown:
            raise ConformanceError(
                f"{self.service}: no behaviour named {', '.join(map(repr, unknown))}"
            )
        return [b for b in self.behaviours if b.name in names]


class ConformanceError(Exception):
    """The comparison cannot be made (no credentials, an unknown service or behaviour)."""


NOT_A_TWIN = "not run: it needs a twin's control plane"


def failure(exc: BaseException) -> str:
    """What kind of failure an exception is, without what varies (ids, addresses, times)."""
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    return f"{type(exc).__name__} ({status})" if isinstance(status, int) else type(exc).__name__


def run_behaviours(
    suite: Suite[Context],
    base_url: str,
    credentials: Mapping[str, str],
    behaviours: Sequence[Behaviour[Context]],
    *,
    is_twin: bool = True,
) -> Iterator[Observation]:
    """Run each behaviour against one base URL, in order, and observe it."""
    recorder = Recorder()
    context = suite.connect(base_url.rstrip("/"), credentials, recorder)
    for behaviour in behaviours:
        if behaviour.needs_control and not is_twin:
            yield Observation(behaviour.name, error=NOT_A_TWIN)
            continue
        recorder.clear()
        try:
            outcome = behaviour.run(context)
        except Exception as exc:  # one behaviour's failure is its observation
            yield Observation(behaviour.name, error=failure(exc), detail=str(exc)[:500])
            continue
        facts = dict(outcome.facts)
        if suite.validate is not None:
            facts["response problems"] = [
                problem for exchange in recorder.exchanges for problem in suite.validate(exchange)
            ]
        yield observe(
            behaviour.name, outcome.exchange or recorder.last, suite.header_rules, facts
        )
