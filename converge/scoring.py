"""Satisfaction, tier thresholds, outcomes and the exit code.

Computed from integers: a run's checks are counted, and the rounded satisfaction is an exact
number of hundredths, so 84.995 and 85 never swap places through float arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

from converge.errors import EXIT_FAILED, EXIT_OK
from converge.model import TIERS, Outcome, Priority, RunResult, Scenario, ScenarioResult

DEFAULT_THRESHOLD = 85.0
DEFAULT_THRESHOLDS: Mapping[Priority, float] = dict.fromkeys(TIERS, DEFAULT_THRESHOLD)

_BELOW: Mapping[Priority, Outcome] = {
    "critical": "FAIL",
    "important": "WARN",
    "nice-to-have": "INFO",
}


def hundredths(passed: int, total: int) -> int:
    """``100 * passed / total`` in hundredths of a percent, rounded half up, exactly."""
    if total <= 0:
        return 10000  # nothing to fail; a scenario always has checks, this is only a guard
    return (20000 * passed + total) // (2 * total)


def satisfaction(passed: int, total: int) -> float:
    """The satisfaction percentage rounded to 2 decimals (what the report shows)."""
    return hundredths(passed, total) / 100


def run_satisfaction(run: RunResult) -> float:
    return satisfaction(run.checks_passed, run.checks_total)


def meets(passed: int, total: int, threshold: float) -> bool:
    """Whether the rounded satisfaction reaches the threshold, compared as exact fractions."""
    return Fraction(hundredths(passed, total), 100) >= Fraction(str(threshold))


def score(
    scenario: Scenario,
    runs: Sequence[RunResult],
    thresholds: Mapping[Priority, float] = DEFAULT_THRESHOLDS,
) -> ScenarioResult:
    """Fold a scenario's runs into its result.

    Every run of a scenario has the same number of checks, so the mean of the runs'
    satisfactions is the satisfaction of the summed counts; summing keeps it exact.
    """
    if not runs:
        raise ValueError(f"scenario {scenario.name!r} has no runs to score")
    passed = sum(run.checks_passed for run in runs)
    total = sum(run.checks_total for run in runs)
    threshold = float(thresholds.get(scenario.priority, DEFAULT_THRESHOLD))
    ok = meets(passed, total, threshold)
    clean_runs = sum(1 for run in runs if run.all_passed)
    return ScenarioResult(
        name=scenario.name,
        file=scenario.file,
        priority=scenario.priority,
        threshold=threshold,
        satisfaction=satisfaction(passed, total),
        passed=ok,
        outcome="PASS" if ok else _BELOW[scenario.priority],
        runs=tuple(runs),
        pass_rate=round(clean_runs / len(runs), 4),
    )


def exit_code(results: Iterable[ScenarioResult]) -> int:
    """1 when any critical scenario is below its threshold, else 0."""
    failed = any(r.priority == "critical" and not r.passed for r in results)
    return EXIT_FAILED if failed else EXIT_OK
