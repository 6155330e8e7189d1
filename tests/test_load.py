"""A load test: 2,000 scenarios at 8 workers against the reference stack (gravix-api on its
three twins, local processes). Every step must appear in the report exactly once, under its own
scenario, and every count must add up: per step, per run, per scenario, per tier and in total.

No time is asserted (performance is measured in bench/); the run only has to finish within the
subprocess timeout, which is generous for a loaded machine.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

import pytest

from converge.report import schema_problems
from tests.support.processes import run_to_the_end
from tests.support.stack import ReferenceStack

SCENARIOS = 2000
WORKERS = 8
TIERS = ("critical", "important", "nice-to-have")
STEPS = ("health", "the caller", "no token")


def failing(index: int) -> bool:
    """One scenario in ten asks for a status the API never gives on its last step."""
    return index % 10 == 0


def scenario_text(index: int) -> str:
    status = 418 if failing(index) else 401
    name = f"load {index:04}"
    return f"""\
name: {name}
steps:
  - name: {name} health
    path: /health
    expect: {{status: 200}}
  - name: {name} the caller
    path: /v1/me
    headers: {{Authorization: "Bearer {{{{pro_user_token}}}}"}}
    expect: {{status: 200, body_equals: {{tier: pro}}}}
  - name: {name} no token
    path: /v1/me
    expect: {{status: {status}}}
"""


CHECKS_PER_SCENARIO = 4  # status; status and tier; status


@pytest.fixture(scope="module")
def load_report(reference_stack: ReferenceStack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("load")
    for index in range(SCENARIOS):
        tier = TIERS[index % len(TIERS)]
        path = folder / "scenarios" / tier / f"load-{index:04}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(scenario_text(index))
    report_file = folder / "report.json"
    done = run_to_the_end(
        [
            sys.executable, "-m", "converge", "run",
            "--scenarios-dir", str(folder / "scenarios"),
            "--api-url", reference_stack.api_url,
            "--workers", str(WORKERS),
            "--report-file", str(report_file),
        ],
        cwd=folder, timeout=1800,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]  # critical ones fail
    return json.loads(report_file.read_text())


def index_of(scenario: dict[str, Any]) -> int:
    return int(scenario["name"].removeprefix("load "))


@pytest.mark.slow
def test_every_step_is_reported_exactly_once_under_its_scenario(load_report: Any) -> None:
    assert schema_problems(load_report) == []
    assert load_report["error"] is None and load_report["complete"] is True
    scenarios = load_report["scenarios"]
    assert sorted(index_of(s) for s in scenarios) == list(range(SCENARIOS))
    seen = Counter(
        step["name"] for s in scenarios for run in s["runs"] for step in run["steps"]
    )
    expected = {f"load {i:04} {step}" for i in range(SCENARIOS) for step in STEPS}
    assert set(seen) == expected
    assert set(seen.values()) == {1}, [name for name, n in seen.items() if n > 1][:10]
    for scenario in scenarios:
        prefix = scenario["name"]
        (run,) = scenario["runs"]
        assert [step["name"] for step in run["steps"]] == [f"{prefix} {s}" for s in STEPS]
        assert scenario["file"].endswith(f"load-{index_of(scenario):04}.yaml")
        assert scenario["priority"] == TIERS[index_of(scenario) % len(TIERS)]


@pytest.mark.slow
def test_every_count_adds_up(load_report: Any) -> None:
    scenarios = load_report["scenarios"]
    for scenario in scenarios:
        (run,) = scenario["runs"]
        for step in run["steps"]:
            assert step["error"] is None, step
            assert step["checks_total"] == len(step["checks"])
            assert step["checks_passed"] == sum(c["passed"] for c in step["checks"])
        assert run["checks_total"] == sum(step["checks_total"] for step in run["steps"])
        assert run["checks_passed"] == sum(step["checks_passed"] for step in run["steps"])
        assert scenario["checks_total"] == run["checks_total"] == CHECKS_PER_SCENARIO
        assert scenario["checks_passed"] == run["checks_passed"]
        lost = 1 if failing(index_of(scenario)) else 0
        assert scenario["checks_passed"] == CHECKS_PER_SCENARIO - lost, scenario["name"]
        assert scenario["passed"] is not failing(index_of(scenario))

    summary = load_report["summary"]
    assert summary["total"] == SCENARIOS
    assert summary["checks_total"] == SCENARIOS * CHECKS_PER_SCENARIO
    assert summary["checks_passed"] == sum(s["checks_passed"] for s in scenarios)
    assert summary["checks_passed"] == SCENARIOS * CHECKS_PER_SCENARIO - SCENARIOS // 10
    assert summary["passed"] + summary["failed"] == SCENARIOS
    assert summary["failed"] == SCENARIOS // 10
    assert sum(summary["by_result"].values()) == SCENARIOS
    below = {"critical": "FAIL", "important": "WARN", "nice-to-have": "INFO"}
    for tier in TIERS:
        counts = summary["by_tier"][tier]
        members = [s for s in scenarios if s["priority"] == tier]
        failed = [s for s in members if failing(index_of(s))]
        assert counts["total"] == len(members) == counts["passed"] + counts["failed"]
        assert counts["failed"] == len(failed) > 0
        assert counts["PASS"] == counts["passed"]
        assert counts[below[tier]] == len(failed)
        assert summary["by_result"][below[tier]] == len(failed)
    assert load_report["exit_code"] == 1
