"""Holdouts stay hidden from the code's author: every rendering that leaves the machine (the
Markdown of the PR comment, the step summary, JUnit, a CI log at ``--detail public``) shows
scores and counts only, and ``--detail full`` shows every failed check.

A real run against a real server on 127.0.0.1 fails on purpose; its scenario plants a distinct
marker in each thing the holdouts must keep to themselves (the path, the step's name, a check's
target, the expected and the actual values, a header's value, a response body, a step's error
message, the scenario's file), so that each assertion of absence could fail, and does at full.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from converge.report import (
    STICKY_MARKER,
    load_report,
    render_junit,
    render_markdown,
    render_table,
)
from tests.support.servers import Recorded, Reply, TestServer
from tests.test_cli import converge
from tests.test_tasks import Project, project  # noqa: F401 (the fixture)

# What the holdouts check, one marker each; none of these may reach a public rendering.
HIDDEN = {
    "path": "mrk-path-91bc",
    "step name": "MRK-STEP-NAME-7f3a",
    "check target": "mrk_target_b2e4",
    "expected value": "MRK-EXPECTED-5b6f",
    "actual value": "MRK-ACTUAL-0d9e",
    "header value (expected)": "MRK-HEADER-EXPECTED-e8a1",
    "header value (actual)": "MRK-HEADER-ACTUAL-44c1",
    "response body": "MRK-BODY-c4d2",
    "message": "mrk_capture_var_6a0f",
    "flaky check": "mrk_flaky_3c7d",
    "file": "mrk-file-3d8e",
}
NAME = "Plain visible scenario name"
SCENARIO = f"""\
name: {NAME}
steps:
  - name: {HIDDEN["step name"]}
    method: POST
    path: /v1/{HIDDEN["path"]}/items
    body: {{note: hello}}
    expect:
      status: 200
      body_equals:
        {HIDDEN["check target"]}: {HIDDEN["expected value"]}
        {HIDDEN["flaky check"]}: steady
      header_equals: {{X-Mrk: {HIDDEN["header value (expected)"]}}}
      body_contains: [{HIDDEN["expected value"]}]
    capture:
      {HIDDEN["message"]}: response.missing_field
  - name: Second step
    path: /v1/{HIDDEN["path"]}/{{{{{HIDDEN["message"]}}}}}
    expect: {{status: 200}}
"""
# What a public rendering does show.
SHOWN = (NAME, "critical")


@dataclass
class Api:
    """The API under test: right in "good" mode (the baseline), wrong otherwise (then the
    capture fails, so the second step is not sent); the flaky field holds in every other
    answer."""

    server: TestServer
    good: bool = True
    answers: int = 0

    def answer(self, _request: Recorded) -> Reply:
        self.answers += 1
        if self.good:
            body = {
                HIDDEN["check target"]: HIDDEN["expected value"],
                HIDDEN["flaky check"]: "steady",
                "missing_field": "captured",
            }
            return Reply(json=body, headers={"X-Mrk": HIDDEN["header value (expected)"]})
        flaky = "steady" if self.answers % 2 else "wobbly"
        body = {
            HIDDEN["check target"]: HIDDEN["actual value"],
            HIDDEN["flaky check"]: flaky,
            "note": HIDDEN["response body"],
        }
        return Reply(json=body, headers={"X-Mrk": HIDDEN["header value (actual)"]})


@dataclass
class Failing:
    """A failing run of two runs per scenario, compared with a passing baseline."""

    root: Path
    report: Path
    run_out: str
    markdown: str
    junit: str
    document: dict


@pytest.fixture
def api(http_server: TestServer) -> Iterator[Api]:
    api = Api(http_server)
    http_server.route("POST", f"/v1/{HIDDEN['path']}/items", api.answer)
    http_server.json(f"/v1/{HIDDEN['path']}/captured", {"ok": True})
    http_server.json("/", {"ok": True})
    yield api


def write_scenarios(root: Path) -> Path:
    folder = root / "scenarios" / "critical"
    folder.mkdir(parents=True)
    (folder / f"{HIDDEN['file']}.yaml").write_text(SCENARIO)
    return root / "scenarios"


@pytest.fixture
def failing(api: Api, tmp_path: Path) -> Failing:
    scenarios = write_scenarios(tmp_path)
    common = ("run", "--scenarios-dir", str(scenarios), "--api-url", api.server.url,
              "--runs", "2", "--workers", "1")
    baseline = converge(*common, "--report-file", str(tmp_path / "baseline.json"), cwd=tmp_path)
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    api.good = False
    report = tmp_path / "out" / "report.json"
    result = converge(
        *common, "--report-file", str(report), "--baseline", str(tmp_path / "baseline.json"),
        "--markdown-file", str(tmp_path / "out" / "summary.md"),
        "--junit-file", str(tmp_path / "out" / "junit.xml"), cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    document = load_report(report)
    scenario = document["scenarios"][0]
    # The run is what the markers need: failed checks, a flaky one, regressions since the baseline.
    assert scenario["checks_passed"] < scenario["checks_total"]
    assert len(scenario["flaky_checks"]) == 1
    assert document["baseline"]["regressions"]["checks"]
    return Failing(
        tmp_path, report, result.stdout,
        (tmp_path / "out" / "summary.md").read_text(), (tmp_path / "out" / "junit.xml").read_text(),
        document,
    )


def leaked(text: str) -> list[str]:
    """The hidden things the text shows, by what they are (Markdown's escapes taken out)."""
    plain = text.replace("\\", "")
    return [what for what, marker in HIDDEN.items() if marker in plain]


def assert_public(text: str) -> None:
    assert leaked(text) == [], f"a public rendering shows {leaked(text)}:\n{text}"
    for shown in SHOWN:
        assert shown in text, f"a public rendering still names {shown!r}"


# What full shows of the run: everything but the request body (which no rendering shows) and the
# response body (only as the actual value of a failed body_contains, which shows its start).
FULL = set(HIDDEN) - {"response body"}


def assert_full(text: str) -> None:
    missing = FULL - set(leaked(text))
    assert not missing, f"--detail full does not show {sorted(missing)}:\n{text}"


# --- the files a run writes --------------------------------------------------------------------


def test_a_runs_markdown_and_junit_are_public_by_default(failing: Failing) -> None:
    assert_public(failing.markdown)
    assert_public(failing.junit)
    assert "1 flaky check" in failing.markdown, "flaky checks are counted per scenario"
    regressed = len(failing.document["baseline"]["regressions"]["checks"])
    assert f"{NAME!r}: {regressed} checks regressed" in failing.markdown.replace("\\", "")
    assert "not shown at the public detail level" in failing.markdown
    case = ET.fromstring(failing.junit).find(".//testcase")
    assert case is not None and case.get("file") is None and case.find("failure") is not None


def test_the_json_report_keeps_everything(failing: Failing) -> None:
    assert_full(failing.report.read_text())


def test_the_terminal_of_a_local_run_keeps_everything_unless_detail_is_given(
    failing: Failing, api: Api
) -> None:
    assert {"step name", "flaky check"} <= set(leaked(failing.run_out))
    scenarios = failing.root / "scenarios"
    public = converge(
        "run", "--scenarios-dir", str(scenarios), "--api-url", api.server.url, "--runs", "2",
        "--workers", "1", "--report-file", str(failing.root / "again.json"),
        "--baseline", str(failing.root / "baseline.json"), "--detail", "public",
        cwd=failing.root,
    )
    assert public.returncode == 1, public.stderr
    assert_public(public.stdout)
    assert leaked(public.stderr) == [], public.stderr
    assert "To see why" not in public.stdout
    assert_full((failing.root / "again.json").read_text())


def test_run_at_full_detail_writes_every_failed_check(failing: Failing, api: Api) -> None:
    out = failing.root / "full"
    result = converge(
        "run", "--scenarios-dir", str(failing.root / "scenarios"), "--api-url", api.server.url,
        "--runs", "2", "--workers", "1", "--report-file", str(out / "r.json"),
        "--baseline", str(failing.root / "baseline.json"), "--detail", "full",
        "--markdown-file", str(out / "summary.md"), "--junit-file", str(out / "junit.xml"),
        cwd=failing.root,
    )
    assert result.returncode == 1, result.stderr
    assert_full((out / "summary.md").read_text())
    assert {"step name", "check target", "expected value", "file"} <= set(
        leaked((out / "junit.xml").read_text())
    )


# --- rendering a saved report ------------------------------------------------------------------


def test_converge_report_renders_markdown_and_junit_public_unless_full_is_asked(
    failing: Failing,
) -> None:
    saved = str(failing.report)
    for form in ("markdown", "junit"):
        default = converge("report", saved, "--format", form, cwd=failing.root)
        assert default.returncode == 0, default.stderr
        assert_public(default.stdout)
        public = converge("report", saved, "--format", form, "--detail", "public",
                          cwd=failing.root)
        assert public.stdout == default.stdout
        full = converge("report", saved, "--format", form, "--detail", "full", cwd=failing.root)
        assert full.returncode == 0, full.stderr
        assert {"step name", "check target", "expected value", "actual value"} <= set(
            leaked(full.stdout)
        ), form
    assert_full(converge("report", saved, "--format", "markdown", "--detail", "full",
                         cwd=failing.root).stdout)
    table = converge("report", saved, "--detail", "public", cwd=failing.root)
    assert_public(table.stdout)
    verbose = converge("report", saved, "-v", cwd=failing.root)
    assert_full(verbose.stdout)


def test_the_renderers_default_to_public_and_the_table_to_full(failing: Failing) -> None:
    document = failing.document
    assert_public(render_markdown(document))
    assert_public(render_junit(document))
    assert_public(render_table(document, verbose=True, detail="public"))
    assert render_markdown(document) == render_markdown(document, detail="public")
    assert_full(render_markdown(document, detail="full"))
    assert_full(render_table(document, verbose=True))


def test_a_run_that_could_not_judge_shows_only_the_first_line_of_its_error_in_public() -> None:
    from datetime import UTC, datetime

    from converge.redact import Redactor
    from converge.report import build_report
    from converge.scoring import DEFAULT_THRESHOLDS

    now = datetime.now(UTC)
    document = build_report(
        [], api_url="http://127.0.0.1:1", scenarios_dir="s", started_at=now, finished_at=now,
        exit_code=2, thresholds=DEFAULT_THRESHOLDS, runs=1, redactor=Redactor(),
        error=f"1 problem in the scenarios:\ncritical/{HIDDEN['file']}.yaml:4: $.steps[0]: "
        f"{HIDDEN['expected value']} is not allowed",
    )
    for text in (render_junit(document), render_markdown(document)):
        assert leaked(text) == [] and "1 problem in the scenarios" in text
    assert {"file", "expected value"} <= set(leaked(render_junit(document, detail="full")))


# --- bad values ----------------------------------------------------------------------------------


def test_a_bad_detail_level_is_an_exit_2_naming_the_flag(failing: Failing) -> None:
    for arguments in (
        ("report", str(failing.report), "--format", "markdown", "--detail", "secret"),
        ("run", "--scenarios-dir", str(failing.root / "scenarios"), "--detail", "secret",
         "--report-file", str(failing.root / "bad.json")),
        ("merge", str(failing.report), "--detail", "secret"),
    ):
        result = converge(*arguments, cwd=failing.root)
        assert result.returncode == 2, arguments
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert "--detail" in last and "secret" in last, result.stderr
    # A bad option of a run replaces the previous verdict with an exit-2 report, as always.
    assert json.loads((failing.root / "bad.json").read_text())["exit_code"] == 2


def test_verbose_and_public_together_are_an_exit_2_with_one_line(
    failing: Failing, api: Api
) -> None:
    run = converge(
        "run", "--scenarios-dir", str(failing.root / "scenarios"), "--api-url", api.server.url,
        "--report-file", str(failing.root / "v.json"), "--detail", "public", "-v",
        cwd=failing.root,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "--verbose" in run.stderr and "--detail public" in run.stderr
    assert json.loads((failing.root / "v.json").read_text())["exit_code"] == 2
    table = converge("report", str(failing.report), "-v", "--detail", "public", cwd=failing.root)
    assert table.returncode == 2 and len(table.stderr.strip().splitlines()) == 1


# --- through the tasks -------------------------------------------------------------------------


def copy_report(failing: Failing, project: Project) -> None:  # noqa: F811 (the fixture's name)
    (project.root / "reports").mkdir(exist_ok=True)
    shutil.copy(failing.report, project.root / "reports" / "latest.json")


def test_the_pr_comment_and_the_step_summary_are_public_by_default(
    failing: Failing,
    project: Project,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    copy_report(failing, project)
    comment = project.invoke("report.comment")
    assert comment.returncode == 0, comment.stderr
    assert comment.stdout.startswith(STICKY_MARKER)
    assert_public(comment.stdout)
    summary_file = tmp_path / "step-summary.md"
    summary = project.invoke("report.summary", GITHUB_STEP_SUMMARY=str(summary_file))
    assert summary.returncode == 0, summary.stderr
    assert_public(summary_file.read_text())
    full = project.invoke("report.comment", "--detail", "full")
    assert full.returncode == 0, full.stderr
    assert_full(full.stdout)


def test_the_detail_key_sets_the_comment_and_summary_and_a_bad_one_is_exit_2(
    failing: Failing,
    project: Project,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    copy_report(failing, project)
    project.set(detail="full")
    assert_full(project.invoke("report.comment").stdout)
    summary_file = tmp_path / "owner-summary.md"
    project.invoke("report.summary", GITHUB_STEP_SUMMARY=str(summary_file))
    assert_full(summary_file.read_text())
    assert_public(project.invoke("report.comment", "--detail", "public").stdout)
    project.set(detail="everything")
    bad = project.invoke("report.comment")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "detail" in lines[0] and "everything" in lines[0], bad.stderr
    assert bad.stdout == ""
    project.set(detail="public")
    flag = project.invoke("report.comment", "--detail", "everything")
    assert flag.returncode == 2 and len(flag.stderr.strip().splitlines()) == 1, flag.stderr
    assert "--detail" in flag.stderr


def test_invoke_converge_at_public_detail_keeps_its_log_and_files_public(
    api: Api,
    project: Project,  # noqa: F811 (the fixture)
) -> None:
    api.good = False
    project.scenarios(**{HIDDEN["file"]: SCENARIO})
    result = project.invoke(
        "converge", "--no-twins", "--runs", "2", "--workers", "1", "--detail", "public",
        "--markdown-file", "out/summary.md", "--junit-file", "out/junit.xml",
        API_URL=api.server.url,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert_public(result.stdout)
    assert leaked(result.stderr) == [], result.stderr
    assert_public((project.root / "out/summary.md").read_text())
    assert_public((project.root / "out/junit.xml").read_text())
    assert_full((project.root / "reports/latest.json").read_text())
    # Without --detail the files stay public and the terminal shows the flaky check's step.
    again = project.invoke(
        "converge", "--no-twins", "--runs", "2", "--workers", "1",
        "--markdown-file", "out/again.md", API_URL=api.server.url,
    )
    assert again.returncode == 1, again.stderr
    assert "step name" in leaked(again.stdout)
    assert_public((project.root / "out/again.md").read_text())
    verbose = project.invoke(
        "converge", "--no-twins", "--detail", "public", "-v", API_URL=api.server.url
    )
    assert verbose.returncode == 2, verbose.stdout + verbose.stderr
    assert "--verbose" in verbose.stderr and "Traceback" not in verbose.stderr


def test_a_merge_writes_public_files_by_default(failing: Failing, api: Api) -> None:
    shards = []
    for index in (1, 2):
        shard = failing.root / f"shard-{index}.json"
        result = converge(
            "run", "--scenarios-dir", str(failing.root / "scenarios"), "--api-url",
            api.server.url, "--runs", "2", "--workers", "1", "--seed", "7",
            "--shard", f"{index}/2", "--report-file", str(shard), cwd=failing.root,
        )
        assert result.returncode in (0, 1), result.stderr
        shards.append(str(shard))
    out = failing.root / "merged"
    merged = converge(
        "merge", *shards, "--report-file", str(out / "r.json"),
        "--markdown-file", str(out / "m.md"), "--junit-file", str(out / "j.xml"),
        cwd=failing.root,
    )
    assert merged.returncode == 1, merged.stderr
    assert_public((out / "m.md").read_text())
    assert_public((out / "j.xml").read_text())
    full = converge(
        "merge", *shards, "--report-file", str(out / "r2.json"), "--detail", "full",
        "--markdown-file", str(out / "full.md"), cwd=failing.root,
    )
    assert full.returncode == 1, full.stderr
    assert {"step name", "expected value"} <= set(leaked((out / "full.md").read_text()))


def test_the_scenario_text_is_what_the_markers_come_from() -> None:
    # Guards the test itself: every marker is written in the scenario or answered by the API.
    text = textwrap.dedent(SCENARIO)
    for what in ("path", "step name", "check target", "expected value", "message", "flaky check"):
        assert HIDDEN[what] in text, what


# --- errors in a log the code's author reads -------------------------------------------------

INVALID = "name: X\nsteps:\n  - path: /v1/hidden-path-4711\n    method: FETCHMARKER\n"


def test_a_public_run_of_invalid_scenarios_says_how_many_problems_not_what_they_are(
    tmp_path: Path,
) -> None:
    (tmp_path / "scenarios" / "critical").mkdir(parents=True)
    (tmp_path / "scenarios" / "critical" / "x.yaml").write_text(INVALID)
    common = ("run", "--scenarios-dir", "scenarios", "--api-url", "http://127.0.0.1:9")
    public = converge(*common, "--report-file", "public.json", "--detail", "public", cwd=tmp_path)
    assert public.returncode == 2 and "Traceback" not in public.stderr
    assert public.stderr.strip().splitlines() == [
        "converge: error: 1 problem in the scenarios (shown at --detail full, for the holdouts' "
        "owner)"
    ]
    # The private JSON report keeps every problem; a local run shows them all.
    assert "FETCHMARKER" in json.loads((tmp_path / "public.json").read_text())["error"]
    local = converge(*common, "--report-file", "local.json", cwd=tmp_path)
    assert local.returncode == 2 and "FETCHMARKER" in local.stderr


def test_holdouts_validate_at_public_detail_hides_the_problems(
    project: Project,  # noqa: F811 (the fixture)
) -> None:
    project.scenarios(x=INVALID)
    assert project.invoke("holdouts.pull").returncode == 0
    public = project.invoke("holdouts.validate", "--detail", "public")
    assert public.returncode == 2 and "Traceback" not in public.stderr
    assert "FETCHMARKER" not in public.stderr + public.stdout
    assert "hidden-path-4711" not in public.stderr + public.stdout
    assert "problem" in public.stderr and "--detail full" in public.stderr
    full = project.invoke("holdouts.validate")
    assert full.returncode == 2 and "FETCHMARKER" in full.stderr
