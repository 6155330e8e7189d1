"""--baseline: deltas, regressions, fixes, new and removed scenarios since an earlier report."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from converge.baseline import _direction, compare
from converge.engine import RunOptions, execute
from converge.errors import ReportError
from converge.report import render_markdown, render_table, schema_problems
from tests.support.servers import TestServer
from tests.support.stack import FIXTURE, ReferenceStack

STEADY = "name: Steady\nsteps: [{name: health, path: /health, expect: {status: 200}}]\n"
TURNING = """\
name: Turning
steps:
  - {name: health, path: /health, expect: {status: 200}}
  - {name: thing, path: /thing, expect: {status: 200, body_equals: {ok: true}}}
"""
MENDED = "name: Mended\nsteps: [{name: mend, path: /mend, expect: {status: 200}}]\n"


def write(root: Path, files: dict[str, str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def run(
    server: TestServer, root: Path, report: Path, **options: Any
) -> tuple[int, str, dict[str, Any]]:
    out = io.StringIO()
    code = execute(
        RunOptions(scenarios_dir=root, api_url=server.url, report_file=report, **options),
        out,
        io.StringIO(),
    )
    document: dict[str, Any] = json.loads(report.read_text())
    assert schema_problems(document) == []
    return code, out.getvalue(), document


@pytest.fixture
def compared(http_server: TestServer, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    """A baseline where Turning passes and Mended fails, then a run where it is the other way,
    one scenario removed (Gone) and one added (Fresh)."""
    http_server.json("/health", {"ok": True})
    http_server.json("/thing", {"ok": True})
    http_server.json("/mend", {}, status=500)
    root = tmp_path / "s"
    write(root, {"critical/steady.yaml": STEADY, "critical/turning.yaml": TURNING,
                 "important/mended.yaml": MENDED, "nice-to-have/gone.yaml": STEADY.replace(
                     "Steady", "Gone")})
    run(http_server, root, tmp_path / "base.json")
    http_server.json("/thing", {"ok": False}, status=503)
    http_server.json("/mend", {})
    write(root, {"critical/steady.yaml": STEADY, "critical/turning.yaml": TURNING,
                 "important/mended.yaml": MENDED, "important/fresh.yaml": STEADY.replace(
                     "Steady", "Fresh")})
    return run(http_server, root, tmp_path / "now.json", baseline=tmp_path / "base.json")


def test_the_report_lists_regressions_fixes_new_and_removed(compared):
    code, _, document = compared
    assert code == 1
    section = document["baseline"]
    assert section["file"].endswith("base.json") and section["error"] is None
    assert section["regressions"]["scenarios"] == [
        {"name": "Turning", "file": "critical/turning.yaml", "priority": "critical",
         "was": "PASS", "now": "FAIL", "satisfaction_was": 100.0, "satisfaction_now": 33.33}
    ]
    assert [(c["scenario"], c["step"], c["kind"], c["target"], c["pass_rate_was"],
             c["pass_rate_now"]) for c in section["regressions"]["checks"]] == [
        ("Turning", 2, "status", "status", 1.0, 0.0),
        ("Turning", 2, "body_equals", "ok", 1.0, 0.0),
    ]
    assert [s["name"] for s in section["fixes"]["scenarios"]] == ["Mended"]
    assert [c["scenario"] for c in section["fixes"]["checks"]] == ["Mended"]
    assert section["new"] == [{"name": "Fresh", "file": "important/fresh.yaml",
                               "priority": "important"}]
    assert section["removed"] == [{"name": "Gone", "file": "nice-to-have/gone.yaml",
                                   "priority": "nice-to-have"}]
    deltas = {s["name"]: s["delta"] for s in document["scenarios"]}
    assert deltas == {"Steady": 0, "Turning": -66.67, "Mended": 100.0, "Fresh": None}


def test_the_table_shows_the_delta_and_every_change(compared):
    _, out, _ = compared
    header = next(line for line in out.splitlines() if line.startswith("Tier"))
    assert header.split()[:4] == ["Tier", "Scenario", "Satisfaction", "Delta"]
    assert "-66.67" in out and "+100" in out and " new " in out
    assert "regressions (1 scenario, 2 checks), 2 fixes (1 scenario, 1 check), 1 new, 1 removed" \
        in out
    assert "regression: critical 'Turning': PASS -> FAIL (100% -> 33.33%)" in out
    assert "regression: 'Turning' step 2 'thing': status held in 100% of the runs, now 0%" in out
    assert "removed: nice-to-have 'Gone'" in out


def test_the_pr_comment_leads_with_the_regressions(compared):
    _, _, document = compared
    text = render_markdown(document)
    body = [line for line in text.splitlines() if line and not line.startswith("<!--")]
    assert body[0].startswith("### converge: FAIL")
    assert body[1].startswith("**Regressions**")
    assert body[2] == r"- critical 'Turning': PASS -\> FAIL (100% -\> 33.33%)"  # renders as ->
    assert text.index("**Regressions**") < text.index("| Tier")
    assert "- new: important 'Fresh'" in text and "- fix: important 'Mended'" in text


def test_without_a_baseline_there_is_no_delta_column_and_no_section(http_server, tmp_path):
    http_server.json("/health", {"ok": True})
    write(tmp_path / "s", {"critical/steady.yaml": STEADY})
    _, out, document = run(http_server, tmp_path / "s", tmp_path / "r.json")
    assert "baseline" not in document and "delta" not in document["scenarios"][0]
    assert "Delta" not in out


def test_a_scenario_moved_to_another_tier_folder_is_matched_by_name(http_server, tmp_path):
    http_server.json("/health", {"ok": True})
    write(tmp_path / "s", {"important/steady.yaml": STEADY})
    run(http_server, tmp_path / "s", tmp_path / "base.json")
    write(tmp_path / "s", {"critical/steady.yaml": STEADY})
    _, _, document = run(http_server, tmp_path / "s", tmp_path / "now.json",
                         baseline=tmp_path / "base.json")
    assert document["baseline"]["new"] == [] and document["baseline"]["removed"] == []
    assert document["scenarios"][0]["delta"] == 0


def test_a_baseline_that_could_not_judge_is_said_and_nothing_is_compared(http_server, tmp_path):
    http_server.json("/health", {"ok": True})
    write(tmp_path / "s", {"critical/steady.yaml": STEADY})
    _, _, base = run(http_server, tmp_path / "s", tmp_path / "base.json")
    (tmp_path / "base.json").write_text(json.dumps(
        {**base, "exit_code": 2, "error": "the API did not answer", "scenarios": []}))
    _, out, document = run(http_server, tmp_path / "s", tmp_path / "now.json",
                           baseline=tmp_path / "base.json")
    assert "could not judge its change: the API did not answer; nothing compared" in out
    assert document["baseline"]["new"] == [] and document["scenarios"][0]["delta"] is None
    assert "Delta" not in out


def test_a_baseline_from_before_bounds_and_seeds_still_compares(http_server, tmp_path):
    http_server.json("/health", {"ok": True})
    write(tmp_path / "s", {"critical/steady.yaml": STEADY})
    _, _, base = run(http_server, tmp_path / "s", tmp_path / "base.json")
    for key in ("gate", "seed"):
        del base[key]
    del base["summary"]["flaky_checks"]
    for scenario in base["scenarios"]:
        for key in ("satisfaction_lower_bound", "pass_rate_lower_bound", "runs_needed",
                    "flaky_checks"):
            del scenario[key]
        for each in scenario["runs"]:
            del each["seed"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    assert schema_problems(base) == []
    _, _, document = run(http_server, tmp_path / "s", tmp_path / "now.json",
                         baseline=tmp_path / "base.json")
    assert document["scenarios"][0]["delta"] == 0
    assert "Lower bound" in render_table(base) and "-" in render_table(base)


def test_a_missing_baseline_is_exit_2_naming_the_option_and_the_report_is_still_written(
    http_server, tmp_path
):
    write(tmp_path / "s", {"critical/steady.yaml": STEADY})
    with pytest.raises(ReportError, match=r"--baseline: .*no such report file"):
        execute(
            RunOptions(scenarios_dir=tmp_path / "s", api_url=http_server.url,
                       report_file=tmp_path / "r.json", baseline=tmp_path / "nowhere.json"),
            io.StringIO(), io.StringIO(),
        )
    assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 2
    assert not http_server.sent("/health")  # judged nothing: no request was sent


@pytest.mark.parametrize(
    ("before", "now", "direction"),
    [
        ((1, 1), (0, 1), "regressions"),  # one run each: held, then failed
        ((0, 1), (1, 1), "fixes"),
        ((5, 5), (0, 5), "regressions"),
        ((10, 10), (1, 10), "regressions"),  # 95% intervals 72-100% and 2-40% do not overlap
        ((10, 10), (9, 10), None),  # became flaky: listed as flaky, not a regression
        ((4, 5), (1, 5), None),  # 38-96% and 4-62% overlap: chance can do that
        ((3, 5), (2, 5), None),
        ((1, 10), (10, 10), "fixes"),
        ((2, 2), (2, 2), None),
    ],
)
def test_a_check_regresses_only_when_chance_cannot_explain_it(before, now, direction):
    assert _direction(*before, *now) == direction


def test_checks_are_matched_by_step_name_not_position():
    def scenario(steps: list[tuple[str, bool]]) -> dict[str, Any]:
        return {
            "name": "S", "file": "critical/s.yaml", "priority": "critical",
            "satisfaction": 100.0, "result": "PASS",
            "runs": [{"steps": [
                {"name": name, "checks": [{"kind": "status", "target": "status", "passed": ok}]}
                for name, ok in steps
            ]}],
        }

    before = {"scenarios": [scenario([("a", True), ("b", True)])]}
    now = {"scenarios": [scenario([("new first", False), ("a", True), ("b", True)])]}
    section, _ = compare(now, before, "base.json")
    assert section["regressions"]["checks"] == []


VARIED = """\
name: What the model said about a mixed review
priority: important
steps:
  - name: analyse a review that is neither clearly good nor bad
    method: POST
    path: /v1/analyses
    headers: {Authorization: "Bearer {{pro_user_token}}"}
    body: {text: "The glue held well but the cap broke and the smell was bad; good price though."}
    expect:
      status: 201
      body_equals: {result.sentiment: neutral}
      body_matches: {result.summary: "(?i)neutral"}
"""


def test_the_reference_stack_with_variability_gives_real_bounds_and_no_false_regressions(
    reference_stack: ReferenceStack, tmp_path: Path
) -> None:
    anthropic = reference_stack.url("mock-anthropic")
    httpx.post(f"{anthropic}/_twin/variability", json={"level": 1}).raise_for_status()
    try:
        root = tmp_path / "holdouts"
        shutil.copytree(FIXTURE, root)
        (root / "important/varied.yaml").write_text(VARIED)
        documents = []
        for seed in (101, 202):
            report = tmp_path / f"{seed}.json"
            options = RunOptions(
                scenarios_dir=root, api_url=reference_stack.api_url, report_file=report, runs=5,
                seed=seed, twin_urls=(anthropic,),
                baseline=tmp_path / "101.json" if seed == 202 else None,
            )
            execute(options, io.StringIO(), io.StringIO())
            documents.append(json.loads(report.read_text()))
    finally:
        httpx.post(f"{anthropic}/_twin/variability", json={"level": 0}).raise_for_status()
    second = documents[1]
    for document in documents:
        assert schema_problems(document) == []
        for scenario in document["scenarios"]:
            # A real range: the bound is informative, below what was observed, above nothing.
            assert 0 < scenario["satisfaction_lower_bound"] < scenario["satisfaction"]
            assert 0 <= scenario["pass_rate_lower_bound"] < 1
    varied = {s["file"]: s for s in second["scenarios"]}["important/varied.yaml"]
    assert varied["flaky_checks"], "variability should make the model-dependent checks flaky"
    assert 0 < varied["pass_rate"] < 1
    # The same code judged twice: what differs is chance, and chance is not a regression.
    assert second["baseline"]["regressions"] == {"scenarios": [], "checks": []}
    assert second["baseline"]["new"] == [] and second["baseline"]["removed"] == []
