"""The plain data that flows between the stages: scenarios in, results out.

Everything here is a frozen dataclass. The loader (:mod:`converge.scenario`) builds
:class:`Scenario` objects once; the runner turns each into :class:`RunResult` values; scoring
folds those into :class:`ScenarioResult`; the report is built from those alone. Nothing
downstream reaches back into the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from converge.paths import FieldPath
from converge.template import Template

DEFAULT_TIMEOUT = 10.0  # seconds a step may take, unless the step or the run says otherwise
DEFAULT_RETRY_INTERVAL_MS = 1000  # between the attempts of a retry that names no interval
MAX_RETRY_SECONDS = 600  # a retry's worst case, attempts x (timeout + interval), at most

Priority = Literal["critical", "important", "nice-to-have"]
TIERS: tuple[Priority, ...] = ("critical", "important", "nice-to-have")

CheckKind = Literal[
    "status",
    "body_contains",
    "body_matches",
    "body_equals",
    "header_equals",
    "header_matches",
    "body_schema",
    "max_duration_ms",
    "capture",
]
"""``status`` also covers the implicit 2xx check of a step with neither expect nor capture."""
CHECK_KINDS: tuple[CheckKind, ...] = CheckKind.__args__  # type: ignore[attr-defined]

BodyKind = Literal["json", "form", "text"]
"""How a step's body is sent: JSON (``body``), urlencoded (``form``), text (``body_text``)."""


# --- what a scenario declares -------------------------------------------------------------


@dataclass(frozen=True)
class CheckSpec:
    """One declared check of a step; each one is worth exactly one point of satisfaction.

    ``target`` is what the check looks at, as the user wrote it: ``"status"``, the substring for
    ``body_contains``, the field path for ``body_matches``/``body_equals``, the header name for
    ``header_equals``/``header_matches``, ``"body"`` for ``body_schema``, ``"duration"`` for
    ``max_duration_ms``, the variable name for ``capture``. ``expected`` is compiled (it may hold
    templates); ``path`` is set for the kinds that read a body field; ``header`` (lower case) for
    the kinds that read a response header, a capture from a header included; ``statuses`` for
    ``status`` (empty tuple = any 2xx, the implicit check); ``schema`` is the compiled validator
    of ``body_schema``; ``limit_ms`` the bound of ``max_duration_ms``.
    """

    kind: CheckKind
    target: str
    line: int
    expected: Template | None = None
    path: FieldPath | None = None
    statuses: tuple[int, ...] = ()
    header: str | None = None
    schema: Any = None
    limit_ms: float | None = None


@dataclass(frozen=True)
class Auth:
    """``auth``: ``basic`` credentials render to ``{"username", "password"}``; ``bearer`` to the
    token. Either becomes the request's Authorization header."""

    scheme: Literal["basic", "bearer"]
    credentials: Template


@dataclass(frozen=True)
class Retry:
    """``retry``: send the step up to ``attempts`` times, ``interval_ms`` apart, until every one
    of its checks holds."""

    attempts: int
    interval_ms: int


@dataclass(frozen=True)
class Step:
    index: int  # 0-based position in the scenario
    name: str
    method: str  # upper case
    path: Template  # renders to a string starting with "/" (templates percent-encoded)
    headers: Template  # renders to dict[str, str]
    body: Template | None  # None: no body sent; what it renders to is sent as body_kind says
    timeout: float | None  # None: the run's default
    # In order: status, body_contains, body_matches, body_equals, header_equals, header_matches,
    # body_schema, max_duration_ms, captures.
    checks: tuple[CheckSpec, ...]
    variables: frozenset[str]  # every variable the request and the expectations use
    line: int
    query: Template | None = None  # renders to {name: value | [values] | None}
    auth: Auth | None = None
    body_kind: BodyKind = "json"
    retry: Retry | None = None


@dataclass(frozen=True)
class Scenario:
    name: str  # with the parameters' values for an instance: "NAME [token=..., limit=50]"
    priority: Priority
    file: str  # relative to the scenarios directory, POSIX separators
    steps: tuple[Step, ...]
    # One entry of ``parameters`` for an instance: renders (with the run's built-in and user
    # variables) to the variables this instance adds. None for a scenario without parameters.
    parameters: Template | None = None
    # SHA-256 of the file's bytes (hex): shards of one run must have run the same files.
    digest: str = ""

    @property
    def checks_total(self) -> int:
        return sum(len(step.checks) for step in self.steps)


# --- what a run observed ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    kind: CheckKind
    target: str
    expected: Any  # plain JSON value (rendered), for the report
    actual: Any  # plain JSON value, or None when there was nothing to look at
    passed: bool
    message: str  # empty when passed; otherwise says why, in the user's terms
    line: int = 0  # where the check is written in its scenario file (0: not known)


@dataclass(frozen=True)
class StepResult:
    name: str
    method: str
    path: str  # as sent (rendered); secrets are redacted when the report is built
    status_code: int | None  # None: nothing came back (transport error, or step not sent)
    duration_ms: float
    error: str | None  # transport failure or "not sent: ..." reason; None when answered
    checks: tuple[CheckResult, ...]
    line: int = 0  # where the step starts in its scenario file (0: not known)
    attempts: int = 1  # how many times it was sent (retry); the last attempt is this result

    # Counted once: a report of 10,000 scenarios asks for each count several times. (A frozen
    # dataclass keeps its __dict__, which is where cached_property stores the value.)
    @cached_property
    def checks_passed(self) -> int:
        return sum(1 for check in self.checks if check.passed)


@dataclass(frozen=True)
class RunResult:
    """One pass through a scenario's steps."""

    steps: tuple[StepResult, ...]
    duration_ms: float
    # Values this run sent as credentials (Authorization headers, captured tokens): the report
    # builder redacts them everywhere. Kept here so the runner holds no shared state.
    secrets: frozenset[str] = field(default=frozenset())
    seed: int | None = None  # sent in the baggage header; the twins vary by it

    @cached_property
    def checks_passed(self) -> int:
        return sum(step.checks_passed for step in self.steps)

    @cached_property
    def checks_total(self) -> int:
        return sum(len(step.checks) for step in self.steps)

    @property
    def all_passed(self) -> bool:
        return self.checks_passed == self.checks_total


Gate = Literal["mean", "lower-bound"]
GATES: tuple[Gate, ...] = ("mean", "lower-bound")
"""What a scenario's threshold is compared with: its satisfaction (the mean over the runs), or the
95% Wilson lower bound of it (:mod:`converge.stats`)."""

Detail = Literal["public", "full"]
DETAILS: tuple[Detail, ...] = ("public", "full")
"""How much of what the holdouts check a rendering shows. public: scenario names, tiers, scores,
check counts and results only, for whoever writes the code (the PR comment, the step summary,
JUnit, CI logs); full: every step and check, for the holdouts' owner and local debugging."""


def detail_levels(given: Detail | None, files: Detail = "public") -> tuple[Detail, Detail]:
    """The detail level of the files (Markdown, JUnit) and of the terminal table: ``--detail``
    given sets both (``public`` keeps a CI log as hidden as the PR comment); without it the
    files take ``files`` (the configured ``detail``, public by default) and the terminal, a
    local run's, shows everything."""
    if given is not None:
        return given, given
    return files, "full"

Outcome = Literal["PASS", "FAIL", "WARN", "INFO"]
"""PASS: at or above threshold. Below it: FAIL for critical, WARN for important, INFO otherwise."""


@dataclass(frozen=True)
class FlakyCheck:
    """A check that held in some runs of a scenario and failed in others."""

    step: int  # 1-based, as runs are numbered
    step_name: str
    kind: CheckKind
    target: str
    passed: int  # runs in which it held
    runs: int

    @property
    def pass_rate(self) -> float:
        return round(self.passed / self.runs, 4)


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    file: str
    priority: Priority
    threshold: float
    satisfaction: float  # mean over runs, 0..100, rounded to 2 decimals
    passed: bool  # satisfaction >= threshold
    outcome: Outcome
    runs: tuple[RunResult, ...]
    pass_rate: float  # fraction of runs in which every check passed, 0..1
    # 95% Wilson lower bounds (converge.stats): of satisfaction over all check outcomes of all
    # runs, in percent; and of pass_rate over the runs, as a fraction.
    satisfaction_lower_bound: float = 0.0
    pass_rate_lower_bound: float = 0.0
    flaky_checks: tuple[FlakyCheck, ...] = ()
    gate: Gate = "mean"
    # Runs at the observed rate for the lower bound to reach the threshold; None: never.
    runs_needed: int | None = None

    # Summed over the runs, so that satisfaction == 100 * checks_passed / checks_total always.
    @cached_property
    def checks_passed(self) -> int:
        return sum(run.checks_passed for run in self.runs)

    @cached_property
    def checks_total(self) -> int:
        return sum(run.checks_total for run in self.runs)

    @property
    def duration_ms(self) -> float:
        return sum(run.duration_ms for run in self.runs)
