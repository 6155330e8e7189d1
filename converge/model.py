"""The plain data that flows between the stages: scenarios in, results out.

Everything here is a frozen dataclass. The loader (:mod:`converge.scenario`) builds
:class:`Scenario` objects once; the runner turns each into :class:`RunResult` values; scoring
folds those into :class:`ScenarioResult`; the report is built from those alone. Nothing
downstream reaches back into the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from converge.paths import FieldPath
from converge.template import Template

Priority = Literal["critical", "important", "nice-to-have"]
TIERS: tuple[Priority, ...] = ("critical", "important", "nice-to-have")

CheckKind = Literal["status", "body_contains", "body_matches", "body_equals", "capture"]
"""``status`` also covers the implicit 2xx check of a step with neither expect nor capture."""


# --- what a scenario declares -------------------------------------------------------------


@dataclass(frozen=True)
class CheckSpec:
    """One declared check of a step; each one is worth exactly one point of satisfaction.

    ``target`` is what the check looks at, as the user wrote it: ``"status"``, the substring for
    ``body_contains``, the field path for ``body_matches``/``body_equals``, the variable name for
    ``capture``. ``expected`` is compiled (it may hold templates); ``path`` is set for the kinds
    that read a field; ``statuses`` for ``status`` (empty tuple = any 2xx, the implicit check).
    """

    kind: CheckKind
    target: str
    line: int
    expected: Template | None = None
    path: FieldPath | None = None
    statuses: tuple[int, ...] = ()


@dataclass(frozen=True)
class Step:
    index: int  # 0-based position in the scenario
    name: str
    method: str  # upper case
    path: Template  # renders to a string starting with "/"
    headers: Template  # renders to dict[str, str]
    body: Template | None  # None: no body sent
    timeout: float | None  # None: the run's default
    checks: tuple[CheckSpec, ...]  # in order: status, contains, matches, equals, captures
    variables: frozenset[str]  # every variable the request and the expectations use
    line: int


@dataclass(frozen=True)
class Scenario:
    name: str
    priority: Priority
    file: str  # relative to the scenarios directory, POSIX separators
    steps: tuple[Step, ...]

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

    @property
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

    @property
    def checks_passed(self) -> int:
        return sum(step.checks_passed for step in self.steps)

    @property
    def checks_total(self) -> int:
        return sum(len(step.checks) for step in self.steps)

    @property
    def all_passed(self) -> bool:
        return self.checks_passed == self.checks_total


Gate = Literal["mean", "lower-bound"]
GATES: tuple[Gate, ...] = ("mean", "lower-bound")
"""What a scenario's threshold is compared with: its satisfaction (the mean over the runs), or the
95% Wilson lower bound of it (:mod:`converge.stats`)."""

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
    @property
    def checks_passed(self) -> int:
        return sum(run.checks_passed for run in self.runs)

    @property
    def checks_total(self) -> int:
        return sum(run.checks_total for run in self.runs)

    @property
    def duration_ms(self) -> float:
        return sum(run.duration_ms for run in self.runs)
