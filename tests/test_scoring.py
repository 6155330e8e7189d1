from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from converge.errors import EXIT_FAILED, EXIT_OK
from converge.model import CheckResult, RunResult, Scenario, ScenarioResult, StepResult
from converge.scoring import exit_code, hundredths, meets, satisfaction, score


def run_with(passed: int, total: int) -> RunResult:
    checks = tuple(
        CheckResult("status", "status", 200, 200 if i < passed else 500, i < passed, "")
        for i in range(total)
    )
    step = StepResult("s", "GET", "/", 200, 1.0, None, checks)
    return RunResult(steps=(step,), duration_ms=1.0)


def scenario(priority: str = "critical") -> Scenario:
    return Scenario(name=f"a {priority} one", priority=priority, file="x.yaml", steps=())  # type: ignore[arg-type]


def test_satisfaction_is_passed_over_total_rounded_to_two_decimals():
    assert satisfaction(2, 3) == 66.67
    assert satisfaction(1, 3) == 33.33
    assert satisfaction(17, 20) == 85.0


def test_rounding_is_half_up_on_the_exact_value():
    # 1/8 = 12.5%, 1/16 = 6.25%, 1/32 = 3.125% -> 3.13 (Python's round() would give 3.12)
    assert satisfaction(1, 32) == 3.13
    assert hundredths(1, 32) == 313


def test_a_scenario_at_exactly_the_threshold_passes():
    result = score(scenario(), [run_with(17, 20)], {"critical": 85})
    assert result.satisfaction == 85.0
    assert result.passed and result.outcome == "PASS"


def test_just_below_the_threshold_fails_even_when_floats_would_blur_it():
    # 84.99...% is shown (and judged) as 84.99, below 85.
    result = score(scenario(), [run_with(8499, 10000)], {"critical": 85})
    assert not result.passed
    # Rounded value at the threshold passes: 84.995 rounds to 85.0 and that is what is shown.
    assert meets(16999, 20000, 85)
    assert not meets(16998, 20000, 85)


def test_fractional_thresholds_compare_exactly():
    assert meets(1, 3, 33.33)
    assert not meets(1, 3, 33.34)


def test_runs_average_into_satisfaction():
    result = score(scenario(), [run_with(10, 10), run_with(5, 10)], {"critical": 85})
    assert result.satisfaction == 75.0
    assert result.checks_passed == 15 and result.checks_total == 20
    assert not result.passed


def test_pass_rate_is_the_fraction_of_runs_with_every_check_passing():
    runs = [run_with(10, 10), run_with(9, 10), run_with(10, 10), run_with(10, 10)]
    result = score(scenario(), runs, {"critical": 85})
    assert result.pass_rate == 0.75
    assert result.passed  # 97.5%


def test_outcome_below_threshold_depends_on_the_tier():
    thresholds = {"critical": 85, "important": 85, "nice-to-have": 85}
    outcomes = {
        tier: score(scenario(tier), [run_with(1, 2)], thresholds).outcome  # type: ignore[arg-type]
        for tier in ("critical", "important", "nice-to-have")
    }
    assert outcomes == {"critical": "FAIL", "important": "WARN", "nice-to-have": "INFO"}


def test_thresholds_are_per_tier():
    thresholds = {"critical": 95, "important": 50, "nice-to-have": 85}
    assert not score(scenario("critical"), [run_with(9, 10)], thresholds).passed  # type: ignore[arg-type]
    assert score(scenario("important"), [run_with(5, 10)], thresholds).passed  # type: ignore[arg-type]


def test_default_threshold_is_85():
    assert score(scenario(), [run_with(85, 100)]).passed
    assert not score(scenario(), [run_with(84, 100)]).passed


def result_of(priority: str, passed: bool) -> ScenarioResult:
    return ScenarioResult(
        name="x", file="x.yaml", priority=priority, threshold=85, satisfaction=0,  # type: ignore[arg-type]
        passed=passed, outcome="PASS" if passed else "FAIL", runs=(), pass_rate=0,
    )


def test_exit_code_is_1_only_when_a_critical_scenario_fails():
    assert exit_code([result_of("critical", True), result_of("important", False),
                      result_of("nice-to-have", False)]) == EXIT_OK
    assert exit_code([result_of("critical", True), result_of("critical", False)]) == EXIT_FAILED


@given(st.integers(min_value=1, max_value=5000), st.data())
def test_satisfaction_agrees_with_exact_arithmetic(total, data):
    passed = data.draw(st.integers(min_value=0, max_value=total))
    exact = 100 * passed / total
    assert abs(satisfaction(passed, total) - exact) <= 0.005 + 1e-9
    assert 0 <= satisfaction(passed, total) <= 100


# --- the lower-bound gate and flaky checks ---------------------------------------------------


def runs_of(*pattern: str) -> list[RunResult]:
    """One run per string; each character one check of one step: '1' held, '0' failed."""
    return [
        RunResult(
            steps=(
                StepResult(
                    "only step",
                    "GET",
                    "/",
                    200,
                    1.0,
                    None,
                    tuple(
                        CheckResult("body_equals", f"field{i}", 1, 1, bit == "1", "")
                        for i, bit in enumerate(run)
                    ),
                ),
            ),
            duration_ms=1.0,
        )
        for run in pattern
    ]


def test_bounds_are_in_the_result_whatever_the_gate():
    result = score(scenario(), runs_of(*["1"] * 6), {"critical": 85})
    assert result.satisfaction == 100.0
    assert result.satisfaction_lower_bound == 60.97
    assert result.pass_rate == 1.0 and result.pass_rate_lower_bound == 0.6097
    assert result.passed and result.gate == "mean"  # the mean gate is today's rule
    half = score(scenario(), runs_of("1", "0", "1", "0", "1", "0"), {"critical": 85})
    assert half.satisfaction_lower_bound == 18.76
    assert half.pass_rate_lower_bound == 0.1876


def test_lower_bound_gate_at_and_around_the_threshold():
    runs = runs_of("1" * 31)  # 31 of 31 checks: the bound is 88.97
    for threshold, passes in [(88.96, True), (88.97, True), (88.98, False), (85, True)]:
        result = score(scenario(), runs, {"critical": threshold}, gate="lower-bound")
        assert result.satisfaction_lower_bound == 88.97
        assert (result.passed, result.outcome) == (passes, "PASS" if passes else "FAIL"), threshold


def test_lower_bound_gate_holds_back_a_perfect_but_thin_result():
    # 20 checks all held: 100% on the mean, but the bound (83.89%) is short of 85.
    thin = runs_of("1" * 20)
    assert score(scenario(), thin, {"critical": 85}).passed
    held_back = score(scenario(), thin, {"critical": 85}, gate="lower-bound")
    assert held_back.satisfaction_lower_bound == 83.89
    assert not held_back.passed and held_back.outcome == "FAIL"
    assert held_back.runs_needed == 2  # 40 checks: 91.24
    assert score(scenario(), runs_of("1" * 20, "1" * 20), {"critical": 85},
                 gate="lower-bound").passed


def test_a_rate_at_the_threshold_can_never_clear_the_bound():
    result = score(scenario(), runs_of("1" * 17 + "000"), {"critical": 85}, gate="lower-bound")
    assert result.satisfaction == 85.0 and not result.passed
    assert result.runs_needed is None


def test_flaky_checks_are_those_that_held_in_some_runs_only():
    result = score(scenario(), runs_of("110", "100", "111", "100"), {"critical": 50})
    assert [(f.step, f.step_name, f.kind, f.target, f.passed, f.runs, f.pass_rate)
            for f in result.flaky_checks] == [
        (1, "only step", "body_equals", "field1", 2, 4, 0.5),
        (1, "only step", "body_equals", "field2", 1, 4, 0.25),
    ]


def test_one_run_has_no_flaky_checks_and_steady_failures_are_not_flaky():
    assert score(scenario(), runs_of("10"), {"critical": 50}).flaky_checks == ()
    assert score(scenario(), runs_of("10", "10", "10"), {"critical": 50}).flaky_checks == ()
