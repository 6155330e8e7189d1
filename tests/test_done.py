"""`invoke done`: the four criteria read from their reports, the verdict, the PR comment lines."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from converge import config, done, engine, report
from converge.config import Settings
from converge.errors import EXIT_ERROR, EXIT_FAILED, EXIT_OK
from converge.gates import CommandOutcome, GateOutcome
from converge.spec import gate
from converge.spec import report as spec_report
from converge.spec.change import Base, Change, FileDiff
from converge.spec.masking import Masker
from converge.spec.verdict import Finding, Ledger, Outcome, SpecDocument
from converge_twins.mock_anthropic.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.gitrepo import Repo, git
from tests.support.servers import TestServer

REPO = Path(__file__).resolve().parents[1]
PASSING = "name: The service answers\nsteps:\n  - path: /ok\n    expect: {status: 200}\n"
FAILING = "name: The service is a teapot\nsteps:\n  - path: /ok\n    expect: {status: 418}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "project")
    repo.write({"setup.cfg": "[converge]\nholdouts_repo = holdouts\n"})
    repo.commit(
        {
            ".gitignore": "reports/\n.converge/\n.holdouts/\n",
            "SPEC.md": "The service answers 200.\n",
            "holdouts/critical/ok.yaml": PASSING,
        }
    )
    return repo


def settings_of(repo: Repo) -> Settings:
    return config.load(repo.path, environ={})


def passed(name: str, command: str = "true") -> GateOutcome:
    return GateOutcome(name, "passed", (CommandOutcome(command, 0, 1.5),))


def failed(name: str, command: str, code: int = 1) -> GateOutcome:
    return GateOutcome(name, "failed", (CommandOutcome(command, code, 0.5),))


ALL_GATES = [
    passed("lint", "ruff check ."),
    passed("types", "mypy"),
    passed("backend", "pytest -q"),
    GateOutcome("frontend", "skipped", ()),
]


def write_holdouts_report(settings: Settings, server: TestServer, scenario: str) -> None:
    server.json("/ok", {"ok": True})
    folder = settings.root / "run-scenarios/critical"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.yaml").write_text(scenario)
    options = engine.RunOptions(
        scenarios_dir=folder.parent, api_url=server.url, report_file=settings.report_file
    )
    engine.execute(options, io.StringIO(), io.StringIO())


def write_spec_report(settings: Settings, findings: tuple[Finding, ...] = ()) -> None:
    """A spec review report as the gate writes it, without asking a model."""
    options = gate.options_for(settings, {})
    outcome = Outcome(not any(f.severity != "minor" for f in findings), "Reviewed.", findings, ())
    head = git(settings.root, "rev-parse", "HEAD")
    reviewed = Change(Base(head, "HEAD~1"), "HEAD", head, (FileDiff("a.py", "+x\n", 1, 0),), ())
    document = gate.build_document(
        options,
        inputs=gate.Inputs((SpecDocument("SPEC.md", "spec"),), "spec", reviewed),
        ledger=Ledger(),
        outcome=outcome,
        failure=None,
        started=datetime.now(UTC),
        masker=Masker(),
    )
    assert spec_report.schema_problems(document) == []
    path, _ = spec_report.paths(done.reports_dir(settings))
    report.write_report_atomic(document, path)


def by_name(criteria: list[done.Criterion]) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.reason) for c in criteria}


def test_nothing_run_yet_is_four_errors_naming_what_to_run(repo: Repo) -> None:
    criteria = done.from_reports(settings_of(repo))
    assert by_name(criteria) == {
        "tests": ("ERROR", "not run: invoke gates.backend"),
        "lint + types": ("ERROR", "not run: invoke gates.lint, invoke gates.types"),
        "critical holdouts ≥ 85%": ("ERROR", "not run: invoke converge"),
        "spec review": ("ERROR", "not run: invoke gates.spec"),
    }
    assert done.exit_code(criteria) == EXIT_ERROR
    assert done.verdict(criteria) == (
        "NOT DONE: tests, lint + types, critical holdouts ≥ 85% and spec review could not be judged"
    )


def test_all_four_passing_is_done(repo: Repo, http_server: TestServer) -> None:
    settings = settings_of(repo)
    done.record_gates(settings, ALL_GATES)
    write_holdouts_report(settings, http_server, PASSING)
    write_spec_report(settings, (Finding("minor", "r", "a.py", 1, "wording", 1),))
    criteria = done.from_reports(settings)
    assert [c.status for c in criteria] == ["PASS"] * 4
    assert by_name(criteria)["tests"] == ("PASS", "`pytest -q` passed (1.5s)")
    assert by_name(criteria)["lint + types"] == ("PASS", "`ruff check .`, `mypy` passed (3.0s)")
    assert by_name(criteria)["critical holdouts ≥ 85%"][1].startswith(
        "the critical scenario passes"
    )
    assert by_name(criteria)["spec review"][1] == "compliant: 0 blocker, 0 major, 1 minor findings"
    assert done.exit_code(criteria) == EXIT_OK
    table = done.render_table(criteria)
    assert table.splitlines()[0].split() == ["Criterion", "Result", "Reason"]
    assert table.rstrip().endswith("DONE: all 4 criteria pass")


def test_a_failure_wins_over_what_could_not_be_judged(repo: Repo, http_server: TestServer) -> None:
    settings = settings_of(repo)
    done.record_gates(settings, [*ALL_GATES[:2], failed("backend", "pytest -q", 2)])
    write_holdouts_report(settings, http_server, FAILING)
    criteria = done.from_reports(settings)
    assert by_name(criteria)["tests"] == ("FAIL", "`pytest -q` exited 2")
    assert by_name(criteria)["critical holdouts ≥ 85%"][0] == "FAIL"
    assert by_name(criteria)["spec review"][0] == "ERROR"
    assert done.exit_code(criteria) == EXIT_FAILED
    assert done.verdict(criteria) == (
        "NOT DONE: tests and critical holdouts ≥ 85% failed; spec review could not be judged"
    )


def test_lint_and_types_need_both_and_count_a_configured_frontend(repo: Repo) -> None:
    settings = settings_of(repo)
    done.record_gates(settings, [GateOutcome("lint", "skipped", ()), passed("types")])
    assert by_name(done.from_reports(settings))["lint + types"] == (
        "ERROR",
        "no command configured ([converge] gate_lint)",
    )
    done.record_gates(settings, [passed("lint"), failed("frontend", "npm run build")])
    assert by_name(done.from_reports(settings))["lint + types"] == (
        "FAIL",
        "`npm run build` exited 1",
    )


def test_gate_runs_add_up_at_one_commit_and_start_over_at_the_next(repo: Repo) -> None:
    settings = settings_of(repo)
    done.record_gates(settings, [passed("lint")])
    done.record_gates(settings, [passed("types")])
    record = done.load_gates(done.reports_dir(settings) / done.GATES_REPORT)
    assert record is not None and set(record["gates"]) == {"lint", "types"}
    assert record["commit"] == repo.head()
    repo.commit({"new.py": "x = 1\n"})
    assert by_name(done.from_reports(settings))["tests"][1].startswith(
        "gates.json was made at commit"
    ), "a record of another commit does not count"
    done.record_gates(settings, [passed("backend")])
    record = done.load_gates(done.reports_dir(settings) / done.GATES_REPORT)
    assert record is not None and set(record["gates"]) == {"backend"}


def test_a_spec_review_of_another_commit_does_not_count(repo: Repo) -> None:
    settings = settings_of(repo)
    write_spec_report(settings)
    assert by_name(done.from_reports(settings))["spec review"][0] == "PASS"
    repo.commit({"later.py": "y = 2\n"})
    status, reason = by_name(done.from_reports(settings))["spec review"]
    assert status == "ERROR" and "spec-review.json was made at commit" in reason


def test_a_broken_report_is_an_error_naming_it(repo: Repo) -> None:
    settings = settings_of(repo)
    folder = done.reports_dir(settings)
    folder.mkdir(parents=True)
    (folder / done.GATES_REPORT).write_text("{not json")
    (folder / spec_report.REPORT_NAME).write_text(json.dumps({"format": 1}))
    criteria = by_name(done.from_reports(settings))
    assert (
        criteria["tests"][0] == "ERROR"
        and "gates.json: not a readable JSON" in criteria["tests"][1]
    )
    assert "not a spec review report" in criteria["spec review"][1]


def test_the_pr_comment_shows_the_four_lines_above_the_scenario_table(
    repo: Repo, http_server: TestServer
) -> None:
    settings = settings_of(repo)
    done.record_gates(settings, ALL_GATES)
    write_holdouts_report(settings, http_server, PASSING)
    major = Finding("major", "3 a month", "app.py", 7, "allows 5 | not 3", 1)
    write_spec_report(settings, (major,))
    document = report.load_report(settings.report_file)
    lines = done.comment_lines(settings, settings.report_file)
    markdown = report.render_markdown(document, criteria=lines)
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:5]] == [
        "tests",
        "lint + types",
        "critical holdouts ≥ 85%",
        "spec review",
    ]
    assert "| **FAIL** |" in rows[4]
    assert markdown.index("**NOT DONE: spec review failed**") < markdown.index("| Tier ")
    assert "<details><summary>Spec review findings (1)</summary>" in markdown
    assert "allows 5 \\| not 3" in markdown
    assert "critical/one.yaml" not in markdown.split("| Tier ")[0], "no holdout in the criteria"


# --- through invoke ---------------------------------------------------------------------------


@pytest.fixture
def anthropic_url() -> Iterator[str]:
    with serve_asgi(create_app({"TWIN_SEED": "done"})) as url:
        yield url


def statuses(table: str) -> dict[str, str]:
    """Criterion -> Result, read from the printed table by its header's columns."""
    header, _rule, *rows = table.splitlines()
    result, reason = header.index("Result"), header.index("Reason")
    return {
        row[:result].strip(): row[result:reason].strip()
        for row in rows
        if row[:1] not in ("", " ") and not row.startswith(("DONE", "NOT DONE"))
    }


def invoke(repo: Repo, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INVOKE_", "ANTHROPIC_", "GITHUB_", "API_URL", "HOLDOUT_PAT"))
    }
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(repo.path), *args],
        cwd=repo.path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_invoke_done_runs_the_four_criteria_then_reads_them_back(
    repo: Repo, http_server: TestServer, anthropic_url: str
) -> None:
    shutil.copy(REPO / "tasks.py", repo.path)
    py = sys.executable
    repo.write(
        {
            "setup.cfg": (
                "[converge]\nholdouts_repo = holdouts\nspec_files = SPEC.md\n"
                f'gate_lint = {py} -c "print(1)"\ngate_types = {py} -c "print(2)"\n'
                f'gate_backend = {py} -c "raise SystemExit(3)"\n'
            )
        }
    )
    repo.branch("feature")
    repo.commit({"app.py": "answer = 200\n"})
    http_server.json("/ok", {"ok": True})
    verdict = {"compliant": True, "summary": "Answers 200.", "findings": []}
    rules = httpx.post(
        f"{anthropic_url}/_twin/rules", json={"match": "answers", "tool_use": verdict}
    )
    assert rules.status_code == 201
    env = {
        "API_URL": http_server.url,
        "ANTHROPIC_API_KEY": "sk-ant-done",
        "ANTHROPIC_BASE_URL": anthropic_url,
    }

    result = invoke(repo, "done", "--no-twins", **env)
    assert result.returncode == 1, result.stderr
    table = result.stdout[result.stdout.index("Criterion") :]
    assert statuses(table) == {
        "tests": "FAIL",
        "lint + types": "PASS",
        "critical holdouts ≥ 85%": "PASS",
        "spec review": "PASS",
    }
    assert "exited 3" in table
    assert table.rstrip().endswith("NOT DONE: tests failed")
    assert "gate backend: FAILED" in result.stderr

    again = invoke(repo, "done", "--from-reports")
    assert again.returncode == 1
    assert again.stdout == table, "the same table from the reports alone"

    comment = invoke(repo, "report.comment")
    assert comment.returncode == 0, comment.stderr
    assert "| tests " in comment.stdout and "**NOT DONE: tests failed**" in comment.stdout
