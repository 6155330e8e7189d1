"""Satisfaction, its confidence bounds, flaky checks, tier thresholds, outcomes and the exit code.

Computed from integers: a run's checks are counted, and the rounded satisfaction is an exact
number of hundredths, so 84.995 and 85 never swap places through float arithmetic. The bounds
come from :mod:`converge.stats`. With the ``mean`` gate a scenario passes when its satisfaction
reaches the threshold; with ``lower-bound``, when the 95% lower bound of it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from converge import stats
from converge.errors import EXIT_FAILED, EXIT_OK
from converge.model import (
    TIERS,
    FlakyCheck,
    Gate,
    Outcome,
    Priority,
    RunResult,
    Scenario,
    ScenarioResult,
)

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


def shown(percent: float) -> str:
    """A percentage as every rendering shows it: two decimals (``85%`` when they are zero), as
    satisfaction is scored; a number with more (a threshold of 85.001) is shown whole, so that a
    value is never rounded onto the threshold it missed."""
    text = f"{percent:.2f}"
    if float(text) != percent:
        text = format(Decimal(repr(float(percent))), "f")
    return text.removesuffix(".00") + "%"


def run_satisfaction(run: RunResult) -> float:
    return satisfaction(run.checks_passed, run.checks_total)


def meets(passed: int, total: int, threshold: float) -> bool:
    """Whether the rounded satisfaction reaches the threshold, compared as exact fractions."""
    return Fraction(hundredths(passed, total), 100) >= Fraction(str(threshold))


def at_least(value: float, threshold: float) -> bool:
    """``value >= threshold`` for two numbers of a few decimals, compared as exact fractions."""
    return Fraction(str(value)) >= Fraction(str(threshold))


def score(
    scenario: Scenario,
    runs: Sequence[RunResult],
    thresholds: Mapping[Priority, float] = DEFAULT_THRESHOLDS,
    gate: Gate = "mean",
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
    bound = stats.lower_bound_percent(passed, total)
    ok = meets(passed, total, threshold) if gate == "mean" else at_least(bound, threshold)
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
        satisfaction_lower_bound=bound,
        pass_rate_lower_bound=stats.lower_bound_fraction(clean_runs, len(runs)),
        flaky_checks=flaky_checks(runs),
        gate=gate,
        runs_needed=stats.runs_needed(passed, total, len(runs), threshold),
    )


def flaky_checks(runs: Sequence[RunResult]) -> tuple[FlakyCheck, ...]:
    """The checks that held in some runs and failed in others, in step and check order.

    The runs are of one scenario, so their steps and checks line up position by position.
    With one run nothing can be flaky.
    """
    if len(runs) < 2:
        return ()
    flaky = []
    first = runs[0]
    for step_index, step in enumerate(first.steps):
        for check_index, check in enumerate(step.checks):
            held = sum(1 for run in runs if run.steps[step_index].checks[check_index].passed)
            if 0 < held < len(runs):
                flaky.append(
                    FlakyCheck(
                        step=step_index + 1,
                        step_name=step.name,
                        kind=check.kind,
                        target=check.target,
                        passed=held,
                        runs=len(runs),
                    )
                )
    return tuple(flaky)


def exit_code(results: Iterable[ScenarioResult]) -> int:
    """1 when any critical scenario is below its threshold, else 0."""
    failed = any(r.priority == "critical" and not r.passed for r in results)
    return EXIT_FAILED if failed else EXIT_OK
