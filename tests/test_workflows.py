"""The GitHub workflows: valid against the workflow schema; every invoke call they make exists."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from converge.report import STICKY_MARKER

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted(
    [*REPO.glob(".github/workflows/*.yml"), *REPO.glob("templates/*/.github/workflows/*.yml")]
)
IDS = [str(path.relative_to(REPO)) for path in WORKFLOWS]
INVOKE = [sys.executable, "-m", "invoke", "-r", str(REPO)]


def load(path: Path) -> dict[Any, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def run_scripts(document: dict[Any, Any]) -> list[str]:
    return [
        step["run"]
        for job in document["jobs"].values()
        for step in job.get("steps", [])
        if "run" in step
    ]


def invoke_calls(script: str) -> list[list[str]]:
    """Each `invoke ...` command line in a shell script, as words (up to a pipe or redirect)."""
    calls = []
    for line in script.splitlines():
        for match in re.finditer(r"(?:^|[;&|]\s*|\s)invoke\s+([^;&|<>\n]*)", line):
            calls.append(shlex.split(match.group(1)))
    return calls


@functools.cache
def task_names() -> frozenset[str]:
    listing = subprocess.run(
        [*INVOKE, "--list"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    names: set[str] = set()
    for line in listing.splitlines():
        match = re.match(r"^\s{2}([\w.-]+)(?: \(([^)]*)\))?", line)
        if match:
            names.add(match.group(1))
            names.update(alias.strip() for alias in (match.group(2) or "").split(","))
    return frozenset(names)


def test_there_are_workflows_to_check() -> None:
    assert {"converge.yml", "holdouts.yml"} <= {path.name for path in WORKFLOWS}


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    tool = shutil.which("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_invoke_task_and_flag_exists(path: Path) -> None:
    calls = [call for script in run_scripts(load(path)) for call in invoke_calls(script)]
    assert calls, "the workflow calls converge through invoke"
    for call in calls:
        name, flags = call[0], [word for word in call[1:] if word.startswith("--")]
        assert name in task_names(), f"{path.name}: `invoke {name}` is not a task"
        if flags:
            help_text = subprocess.run(
                [*INVOKE, name, "--help"], capture_output=True, text=True, check=True, timeout=60
            ).stdout
            for flag in flags:
                assert flag.split("=")[0] in help_text, f"{path.name}: {name} has no {flag}"


def test_invoke_call_parsing_finds_tasks_and_flags() -> None:
    script = "invoke report.comment > out.md\nAPI_URL=x invoke converge --no-twins\n"
    assert invoke_calls(script) == [["report.comment"], ["converge", "--no-twins"]]
    assert "converge" in task_names()
    assert "no-such-task" not in task_names()


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_job_asks_for_its_own_minimal_permissions(path: Path) -> None:
    document = load(path)
    assert document["permissions"] in ({}, {"contents": "read"})
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{name} states its permissions"
        assert "write-all" not in str(job["permissions"])
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= {"pull-requests"}, f"{name} writes {writes}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_secrets_and_event_payloads_never_pasted_into_scripts(path: Path) -> None:
    # Values an outsider controls reach a script through env:, where the shell cannot run them.
    for script in run_scripts(load(path)):
        for expression in re.findall(r"\$\{\{(.*?)\}\}", script):
            for unsafe in ("secrets.", "github.event", "inputs.", "vars.", "env."):
                assert unsafe not in expression, f"{expression!r} pasted into a script"


def test_converge_workflow_has_the_three_jobs_wired_as_specified() -> None:
    jobs = load(REPO / ".github/workflows/converge.yml")["jobs"]
    assert {"gates-backend", "converge", "report"} <= set(jobs)
    gate_runs = [step.get("run") for step in jobs["gates-backend"]["steps"]]
    for gate in ("invoke gates.lint", "invoke gates.types", "invoke gates.backend"):
        assert gate in gate_runs, "each gate is its own step"
    assert {"converge", "spec-review", "gates-backend"} <= set(jobs["report"]["needs"])
    assert jobs["report"]["if"].startswith("always()")
    assert jobs["report"]["permissions"]["pull-requests"] == "write"
    upload = next(s for s in jobs["converge"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/latest.json"
    assert jobs["converge"]["env"]["HOLDOUT_PAT"] == "${{ secrets.HOLDOUT_PAT }}"


def test_sticky_comment_is_found_by_the_reports_marker() -> None:
    text = (REPO / ".github/workflows/converge.yml").read_text()
    assert f"const marker = '{STICKY_MARKER}';" in text
    assert "updateComment" in text and "createComment" in text


def test_holdouts_template_reports_a_check_run_on_the_product_commit() -> None:
    path = REPO / "templates/holdouts-repo/.github/workflows/holdouts.yml"
    document = load(path)
    assert document["on"] == {"repository_dispatch": {"types": ["converge"]}}
    text = path.read_text()
    assert "checks.create" in text and "checks.update" in text
    assert "head_sha: process.env.HEAD_SHA" in text
    assert (path.parents[2] / "README.md").exists(), "its setup is documented next to it"
    product = load(REPO / ".github/workflows/converge.yml")["jobs"]["holdouts-dispatch"]
    wait = next(s for s in product["steps"] if "wait-on-check" in s.get("uses", ""))
    assert wait["with"]["check-name"] == document["env"]["CHECK_NAME"]


def test_the_spec_review_is_its_own_job_skipped_with_a_notice_without_a_key() -> None:
    jobs = load(REPO / ".github/workflows/converge.yml")["jobs"]
    job = jobs["spec-review"]
    assert job["env"]["ANTHROPIC_API_KEY"] == "${{ secrets.ANTHROPIC_API_KEY }}"
    assert job["permissions"] == {"contents": "read"}
    notice, *steps = job["steps"]
    assert notice["if"] == "env.ANTHROPIC_API_KEY == ''"
    assert notice["run"].startswith('echo "::notice title=Spec review skipped::')
    assert all("env.ANTHROPIC_API_KEY != ''" in step["if"] for step in steps), "all else skipped"
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0, "the pull request's base must be in the clone"
    assert "invoke gates.spec" in [step.get("run") for step in steps]
    upload = next(step for step in steps if "upload-artifact" in step.get("uses", ""))
    assert "reports/spec-review.json" in upload["with"]["path"]
    downloads = [
        s["with"]["name"]
        for s in jobs["report"]["steps"]
        if "download-artifact" in s.get("uses", "")
    ]
    assert {"converge-report", "gates-report", "spec-review-report"} <= set(downloads)
