"""The GitHub workflows: valid against the workflow schema; every invoke call they make exists."""

from __future__ import annotations

import functools
import os
import re
import shlex
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


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    # Through this interpreter (a dev dependency), so it runs wherever the tests run, venv
    # activated or not: the lint must never be skipped.
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_jsonschema("vendor.github-workflows", broken).returncode != 0


def test_dependabot_keeps_the_actions_and_python_dependencies_current() -> None:
    path = REPO / ".github/dependabot.yml"
    result = check_jsonschema("vendor.dependabot", path)
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(path.read_text())["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} == {
        ("github-actions", "/"), ("pip", "/")
    }


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
    assert set(jobs["report"]["needs"]) == {"gates-backend", "converge", "spec-review"}
    assert jobs["report"]["if"].startswith("always()")
    assert jobs["report"]["permissions"]["pull-requests"] == "write"
    upload = next(s for s in jobs["converge"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    uploaded = upload["with"]["path"].split()
    assert uploaded == [
        "reports/latest.json.enc", "reports/latest.json", "reports/junit.xml", "reports/summary.md"
    ]
    steps = jobs["converge"]["steps"]
    runs = [step["run"] for step in steps if "invoke converge" in step.get("run", "")]
    assert len(runs) == 2, "against a preview and against the twins"
    for script in runs:
        assert (
            '"--detail public --junit-file reports/junit.xml --markdown-file reports/summary.md"'
            in script
        )
    assert jobs["converge"]["env"]["HOLDOUT_PAT"] == "${{ secrets.HOLDOUT_PAT }}"


def test_with_converge_shards_set_the_scenarios_run_on_a_matrix_and_the_report_job_merges():
    jobs = load(REPO / ".github/workflows/converge.yml")["jobs"]
    assert jobs["plan"]["env"]["CONVERGE_SHARDS"] == "${{ vars.CONVERGE_SHARDS }}"
    converge = jobs["converge"]
    assert "plan" in converge["needs"]
    assert converge["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert converge["strategy"]["fail-fast"] is False, "every shard's report, even when one fails"
    runs = [s["run"] for s in converge["steps"] if "invoke converge" in s.get("run", "")]
    assert all('outputs="$outputs --shard $SHARD --seed $SEED"' in run for run in runs)
    baseline = next(s for s in converge["steps"] if s.get("id") == "baseline")
    assert "env.SHARD == ''" in baseline["if"], "a shard alone does not compare"
    naming = next(s for s in converge["steps"] if s.get("id") == "artifact")["run"]
    assert 'name=converge-shard-${SHARD%/*}' in naming and "name=converge-report" in naming
    steps = jobs["report"]["steps"]
    names = [step.get("name") for step in steps]
    merge = next(s for s in steps if "invoke report.merge" in s.get("run", ""))
    assert "invoke report.merge --shards 'shards/*/latest.json' $outputs" in merge["run"]
    assert 'outputs="--detail public --report-file reports/latest.json --junit-file' in merge["run"]
    assert names.index(merge["name"]) < names.index("Render the PR comment")
    download = next(s for s in steps if s.get("with", {}).get("pattern") == "converge-shard-*")
    assert names.index(download["name"]) < names.index(merge["name"])
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "converge-report", "the merged report is the next baseline"


def test_the_shard_plan_makes_one_entry_per_shard_and_refuses_a_bad_setting(tmp_path):
    jobs = load(REPO / ".github/workflows/converge.yml")["jobs"]
    script = next(step["run"] for step in jobs["plan"]["steps"])

    def plan(setting: str) -> tuple[int, dict[str, str]]:
        output = tmp_path / "output"
        output.write_text("")
        env = {"PATH": "/usr/bin:/bin", "CONVERGE_SHARDS": setting, "GITHUB_RUN_ID": "987654321",
               "GITHUB_OUTPUT": str(output)}
        done = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True,
                              text=True, timeout=30, check=False)
        values = dict(line.split("=", 1) for line in output.read_text().splitlines())
        return done.returncode, values

    assert plan("") == (0, {"shards": '[""]', "seed": "987654322"})
    assert plan("1")[1]["shards"] == '[""]'
    assert plan("3")[1]["shards"] == '["1/3","2/3","3/3"]'
    for bad in ("0", "65", "two", "-1", "03"):
        assert plan(bad)[0] == 1, bad


def test_the_test_job_requires_every_test_to_run_like_ci_run() -> None:
    # Without it a missing Docker engine turns the compose tests into skips and CI stays green.
    steps = load(REPO / ".github/workflows/converge.yml")["jobs"]["gates-backend"]["steps"]
    tests = next(step for step in steps if step.get("run") == "invoke gates.backend")
    assert tests["env"]["CONVERGE_REQUIRE_DOCKER"] == "1"
    assert "export CONVERGE_REQUIRE_DOCKER=1" in (REPO / ".ci/run").read_text()


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
    assert product["env"]["CHECK_NAME"] == document["env"]["CHECK_NAME"]
    wait = next(s for s in product["steps"] if s.get("name") == "Wait for the holdouts check run")
    assert "checks.listForRef" in wait["with"]["script"]

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
        s["with"].get("name")
        for s in jobs["report"]["steps"]
        if "download-artifact" in s.get("uses", "")
    ]
    assert {"converge-report", "gates-report", "spec-review-report"} <= set(downloads)



def test_what_the_workflows_post_where_the_codes_author_reads_is_public() -> None:
    """The PR comment, the step summary, the converge job's log and files, the merged shards'
    files: all at --detail public; only the holdouts repository's own summary is full."""
    scripts = "\n".join(run_scripts(load(REPO / ".github/workflows/converge.yml")))
    assert "invoke report.comment --detail public" in scripts
    assert "invoke report.summary --detail public" in scripts
    merge = next(
        line for line in scripts.splitlines() if 'outputs="' in line and "--report-file" in line
    )
    assert "--detail public" in merge, "the merged shards' Markdown and JUnit, and the merge's log"
    assert "--detail full" not in scripts, "nothing the code's author reads is at full detail"
    template = (REPO / "templates/holdouts-repo/.github/workflows/holdouts.yml").read_text()
    # The check run's summary lands on the product commit: public. The owner's summary: full.
    assert 'invoke report.comment --detail public > "$RUNNER_TEMP/converge-summary.md"' in template
    assert "invoke report.summary --detail full" in template


def test_every_uploaded_json_report_is_sealed_first_and_opened_after_download() -> None:
    """An artifact can be downloaded by anyone who reads the repository, the code's author
    included: the JSON report (every check) is sealed right before each upload."""
    jobs = load(REPO / ".github/workflows/converge.yml")["jobs"]
    for name, job in jobs.items():
        steps = job["steps"]
        for index, step in enumerate(steps):
            if "upload-artifact" not in step.get("uses", ""):
                continue
            paths = step["with"]["path"].split()
            if not any(path.endswith("latest.json") for path in paths):
                continue
            sealed = [s.get("run", "") for s in steps[:index]]
            assert "report-seal seal reports/latest.json" in sealed[-1], f"{name}: not sealed"
    scripts = "\n".join(run_scripts(load(REPO / ".github/workflows/converge.yml")))
    assert scripts.count("report-seal open baseline/latest.json") == 2, "both baseline fetches"
    assert "report-seal open reports/latest.json shards/*/latest.json" in scripts


def seal(*args: str, token: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "HOLDOUT_PAT"}
    if token is not None:
        env["HOLDOUT_PAT"] = token
    return subprocess.run(
        [str(REPO / ".github/scripts/report-seal"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_report_seal_hides_the_report_and_only_its_token_opens_it(tmp_path: Path) -> None:
    report = tmp_path / "latest.json"
    text = '{"checks": "what the holdouts check: expected MRK-SECRET-VALUE"}\n'
    report.write_text(text)
    assert seal("seal", str(report), token="holdout-pat-1", cwd=tmp_path).returncode == 0
    assert not report.exists(), "the plain report is gone once sealed"
    assert b"MRK-SECRET-VALUE" not in (tmp_path / "latest.json.enc").read_bytes()
    wrong = seal("open", str(report), token="another-token", cwd=tmp_path)
    assert wrong.returncode == 0 and "cannot open" in wrong.stderr
    assert not report.exists() and not (tmp_path / "latest.json.enc").exists()
    report.write_text(text)
    seal("seal", str(report), token="holdout-pat-1", cwd=tmp_path)
    opened = seal("open", str(report), str(tmp_path / "absent.json"), token="holdout-pat-1",
                  cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    assert report.read_text() == text and not (tmp_path / "latest.json.enc").exists()
    # Without HOLDOUT_PAT the scenarios are readable without a secret: the report stays as is.
    assert seal("seal", str(report), token=None, cwd=tmp_path).returncode == 0
    assert report.read_text() == text and not (tmp_path / "latest.json.enc").exists()
    assert seal("bogus", str(report), token=None, cwd=tmp_path).returncode == 2


# --- conventions of GitHub Actions ---------------------------------------------------------------

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_every_action_is_pinned_by_commit_sha_with_its_tag_in_a_comment(path: Path) -> None:
    found = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = USES.match(line)
        if not match or match.group(1).startswith("./"):
            continue
        found += 1
        action, _, ref = match.group(1).partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}:{number}: {action} is not pinned"
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", match.group(2)), (
            f"{path.name}:{number}: {action} lacks its tag in a comment"
        )
    assert found


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_logs_have_no_colour_and_pytest_is_not_forced_into_it(path: Path) -> None:
    env = load(path)["env"]
    assert "FORCE_COLOR" not in env, "any value of FORCE_COLOR, 0 too, turns colour on in pytest"
    assert env["NO_COLOR"] == "1" and env["PY_COLORS"] == "0"


def test_a_same_repository_pull_request_runs_once() -> None:
    triggers = load(REPO / ".github/workflows/converge.yml")["on"]
    assert "pull_request" in triggers
    assert triggers["push"] == {"branches": ["main"]}, "push only where no pull request runs"


def test_failed_gates_replace_the_sticky_comment_instead_of_leaving_an_old_pass() -> None:
    report = load(REPO / ".github/workflows/converge.yml")["jobs"]["report"]
    assert report["env"]["GATES_RESULT"] == "${{ needs.gates-backend.result }}"
    render = next(step for step in report["steps"] if step.get("id") == "render")["run"]
    assert 'if [ "$GATES_RESULT" != "success" ]' in render
    assert "### converge: FAIL (quality gates)" in render and STICKY_MARKER in render


def test_a_fork_pull_request_gets_a_notice_not_a_failed_comment() -> None:
    steps = load(REPO / ".github/workflows/converge.yml")["jobs"]["report"]["steps"]
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    notice = next(s for s in steps if "::notice" in s.get("run", ""))
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    assert same in comment["if"] and fork in notice["if"]


def test_the_package_job_runs_the_installed_wheel_from_a_fresh_venv() -> None:
    job = load(REPO / ".github/workflows/converge.yml")["jobs"]["package"]
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "python -m build --outdir dist ." in script
    assert 'python -m venv "$RUNNER_TEMP/wheel-env"' in script
    assert "wheel-env/bin/pip\" install -c constraints.txt dist/converge-*.whl" in script
    assert "wheel-env/bin/converge validate holdouts" in script
    assert "wheel-env/bin/converge run --scenarios-dir holdouts --api-url" in script
    stop = job["steps"][-1]
    assert stop["if"] == "always()" and "twins.down" in stop["run"]


def test_ci_installs_with_the_constraints_and_caches_pip_everywhere() -> None:
    for path in WORKFLOWS:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if "setup-python" in step.get("uses", ""):
                    assert step["with"]["cache"] == "pip", f"{path.name}: no pip cache"
                if step.get("run", "").startswith("pip install"):
                    assert "-c constraints.txt" in step["run"], f"{path.name}: {step['run']}"
