"""The Invoke tasks end to end, through invoke's own entry point, in a temporary project copy.

The copy holds tasks.py, setup.cfg and the fixture holdouts, so each test has its own state
(.converge/, .holdouts/, reports/) and never meets another run in the working tree. Every
process a test starts carries a marker in its environment; afterwards none may be left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from converge.report import STICKY_MARKER
from tests.support.processes import kill_groups, wait_gone
from tests.support.servers import Reply, TestServer
from tests.support.stack import ReferenceStack, missing_apps, recorded_pids

REPO = Path(__file__).resolve().parents[1]
MARK = "CONVERGE_TEST_TASKS_MARK"
TASKS = [
    "converge.run",
    "twins.up",
    "twins.down",
    "twins.status",
    "twins.logs",
    "holdouts.pull",
    "holdouts.validate",
    "gates.all",
    "gates.lint",
    "gates.types",
    "gates.backend",
    "gates.frontend",
    "gates.spec",
    "done",
    "report.comment",
    "report.summary",
]
FAILING = """\
name: The service is a teapot
steps:
  - name: teapot answers 418
    path: /ok
    expect: {status: 418}
"""
PASSING = """\
name: The service answers
steps:
  - name: ok answers 200
    path: /ok
    expect: {status: 200}
"""

def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (everything a test's invoke started)."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat[stat.rindex(")") + 2] not in "ZX":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def describe(pids: list[int]) -> str:
    """What the leftover processes are, for the failure message."""
    lines = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            command = "?"
        lines.append(f"{pid}: {command.strip()}")
    return "; ".join(lines)


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    mark: str

    def invoke(
        self, *args: str, timeout: float = 240, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoke", "-r", str(self.root), *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "invoke", "-r", str(self.root), *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def set(self, **values: str) -> None:
        """Rewrite keys of the copy's [converge] section."""
        lines = (self.root / "setup.cfg").read_text().splitlines()
        out = []
        for line in lines:
            key = line.split("=")[0].strip()
            out.append(f"{key} = {values.pop(key)}" if key in values else line)
        text = "\n".join(out) + "\n"
        if values:
            text = text.replace(
                "[converge]\n", "[converge]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
            )
        (self.root / "setup.cfg").write_text(text)

    def scenarios(self, **files: str) -> None:
        """Replace the holdouts source with a folder of these critical scenarios."""
        folder = self.root / "local-holdouts/critical"
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / f"{name}.yaml").write_text(text)
        self.set(holdouts_repo="local-holdouts")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "tasks.py", root)
    shutil.copy(REPO / "setup.cfg", root)
    shutil.copytree(REPO / "holdouts-fixture", root / "holdouts-fixture")
    mark = uuid.uuid4().hex
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("API_URL", "HOLDOUT_PAT", "GITHUB_STEP_SUMMARY")
        and not key.startswith("INVOKE_")
    }
    env.update(
        {
            MARK: mark,
            # The apps of the stack are imported from the repository, whatever was installed.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            # Local process twins: fast, and no Docker engine shared with other runs.
            "INVOKE_CONVERGE_TWINS_BACKEND": "process",
        }
    )
    yield Project(root, env, mark)
    pids = recorded_pids(root / ".converge")
    left = wait_gone(marked_processes(mark), timeout=10)
    shown = describe(left)
    if left or pids:
        kill_groups([*left, *pids])
    assert not left, f"processes left running: {shown}"


# --- the task list and help -------------------------------------------------------------------


def test_list_shows_every_task_with_a_one_line_help(project: Project) -> None:
    result = project.invoke("--list")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    for name in TASKS:
        assert name in lines, f"{name} is listed"
        assert len(lines[name].split()) > 2, f"{name} has a help line"
    assert "converge.run (converge)" in result.stdout, "run is the converge collection's default"
    assert "gates.all (gates)" in result.stdout


@pytest.mark.parametrize("name", TASKS)
def test_every_flag_has_help(project: Project, name: str) -> None:
    result = project.invoke(name, "--help")
    assert result.returncode == 0, result.stderr
    options = result.stdout.partition("Options:")[2]
    for line in options.splitlines():
        if line.startswith("  -"):  # a flag; the wrapped lines of its help are indented deeper
            flag, _, text = line.strip().partition("   ")
            assert text.strip(), f"{name} {flag} has no help"


# --- configuration ----------------------------------------------------------------------------


def test_bad_setting_exits_2_naming_the_key(project: Project) -> None:
    project.set(threshold_critical="abc")
    result = project.invoke("converge", "--no-twins")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "converge: error: setup.cfg [converge] threshold_critical: "
        "expected a number from 0 to 100, got 'abc'"
    )


def test_invoke_environment_overrides_setup_cfg(project: Project) -> None:
    result = project.invoke("holdouts.pull", INVOKE_CONVERGE_HOLDOUTS_REPO="nowhere")
    assert result.returncode == 2
    assert "holdouts source 'nowhere' is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_yaml_overrides_setup_cfg(project: Project) -> None:
    (project.root / "invoke.yaml").write_text("converge:\n  workers: many\n")
    result = project.invoke("holdouts.pull")
    assert result.returncode == 2
    assert "invoke configuration converge.workers: expected a whole number" in result.stderr


# --- holdouts, gates and report on their own ------------------------------------------------------


def test_holdouts_pull_then_validate(project: Project) -> None:
    pulled = project.invoke("holdouts.pull")
    assert pulled.returncode == 0, pulled.stderr
    assert (project.root / ".holdouts/critical/auth-gating.yaml").exists()
    validated = project.invoke("holdouts.validate")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("valid: 4 scenarios in .holdouts (2 critical, ")
    # The same words as `converge validate`.
    direct = subprocess.run(
        [sys.executable, "-m", "converge", "validate", ".holdouts"],
        cwd=project.root, env=project.env, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert direct.stdout == validated.stdout


def test_holdouts_validate_knows_the_user_variables_from_flags_and_the_configured_file(
    project: Project,
) -> None:
    project.scenarios(outside="name: x\nsteps: [{path: '/v1/items/{{item_id}}'}]\n")
    assert project.invoke("holdouts.pull").returncode == 0
    missing = project.invoke("holdouts.validate")
    assert missing.returncode == 2
    assert "undefined variable 'item_id'" in missing.stderr
    flagged = project.invoke("holdouts.validate", "--var", "item_id=7")
    assert flagged.returncode == 0, flagged.stderr
    (project.root / "vars.yaml").write_text("item_id: 7\n")
    project.set(vars_file="vars.yaml")
    configured = project.invoke("holdouts.validate")
    assert configured.returncode == 0, configured.stderr
    elsewhere = project.invoke("holdouts.validate", "--vars-file", "nowhere.yaml")
    assert elsewhere.returncode == 2
    assert "nowhere.yaml: cannot read it" in elsewhere.stderr


def test_holdouts_validate_reports_bad_files_with_exit_2(project: Project) -> None:
    project.scenarios(broken="name: x\nsteps: not-a-list\n")
    assert project.invoke("holdouts.pull").returncode == 0
    result = project.invoke("holdouts.validate")
    assert result.returncode == 2
    assert "broken.yaml:" in result.stderr


def test_gates_report_every_failure_then_exit_1(project: Project) -> None:
    py = sys.executable
    project.set(
        gate_lint=f'{py} -c "print(1)"',
        gate_types=f'{py} -c "raise SystemExit(3)"',
        gate_backend=f'{py} -c "raise SystemExit(4)"',
    )
    result = project.invoke("gates")
    assert result.returncode == 1
    assert "gate frontend: skipped" in result.stdout
    assert "types:" in result.stderr and "exited 3" in result.stderr
    assert "backend:" in result.stderr and "exited 4" in result.stderr
    assert project.invoke("gates.lint").returncode == 0
    assert project.invoke("gates.frontend").returncode == 0


def test_failing_critical_scenario_exits_1_and_reports(
    project: Project, http_server: TestServer, tmp_path: Path
) -> None:
    http_server.json("/ok", {"ok": True})
    project.scenarios(teapot=FAILING, fine=PASSING)
    result = project.invoke("converge", "--no-twins", API_URL=http_server.url)
    assert result.returncode == 1, result.stderr
    assert "The service is a teapot" in result.stdout
    report = json.loads((project.root / "reports/latest.json").read_text())
    assert report["exit_code"] == 1

    comment = project.invoke("report.comment")
    assert comment.returncode == 0, comment.stderr
    assert comment.stdout.startswith(STICKY_MARKER)
    assert "The service is a teapot" in comment.stdout

    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    summary = project.invoke("report.summary", GITHUB_STEP_SUMMARY=str(summary_file))
    assert summary.returncode == 0, summary.stderr
    text = summary_file.read_text()
    assert text.startswith("earlier step\n"), "appended, not overwritten"
    assert "The service is a teapot" in text


def test_invoke_converge_passes_user_variables_through_and_redacts_the_files(
    project: Project, http_server: TestServer
) -> None:
    http_server.route(
        "GET", "/v1/items/7", lambda request: Reply(json={"key": request.headers.get("X-Key")})
    )
    project.scenarios(outside="""
name: Outside values
steps:
  - path: /v1/items/{{item_id}}
    headers: {X-Key: "{{key}}"}
    expect: {status: 200, body_equals: {key: something else}}
""")
    (project.root / "vars.yaml").write_text("key: file-secret-123\n")
    project.set(vars_file="vars.yaml")
    result = project.invoke(
        "converge", "--no-twins", "--var", "item_id=7", "--verbose", API_URL=http_server.url
    )
    assert result.returncode == 1, result.stderr  # body_equals fails on purpose
    assert [r.path for r in http_server.sent("/v1")] == ["/v1/items/7"]
    assert http_server.sent("/v1")[0].headers["X-Key"] == "file-secret-123"
    report = (project.root / "reports/latest.json").read_text()
    assert "got \"[REDACTED]\"" in result.stdout  # the API echoed it: masked
    for text in (report, result.stdout, result.stderr):
        assert "file-secret-123" not in text


def test_summary_to_an_unwritable_step_summary_exits_2_naming_it(
    project: Project, http_server: TestServer, tmp_path: Path
) -> None:
    http_server.json("/ok", {"ok": True})
    project.scenarios(fine=PASSING)
    assert project.invoke("converge", "--no-twins", API_URL=http_server.url).returncode == 0
    for target in (tmp_path / "missing-dir/summary.md", tmp_path):
        result = project.invoke("report.summary", GITHUB_STEP_SUMMARY=str(target))
        assert result.returncode == 2, result.stderr
        assert f"GITHUB_STEP_SUMMARY={target}: cannot append to it" in result.stderr
        assert "Traceback" not in result.stderr


def test_report_comment_without_a_report_exits_2(project: Project) -> None:
    result = project.invoke("report.comment")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_unreachable_holdouts_without_checkout_exits_2(project: Project, tmp_path: Path) -> None:
    missing = (tmp_path / "missing.git").as_uri()
    result = project.invoke("converge", "--no-twins", INVOKE_CONVERGE_HOLDOUTS_REPO=missing)
    assert result.returncode == 2
    assert "cannot pull the holdouts" in result.stderr
    assert "no previous checkout" in result.stderr


@pytest.mark.parametrize("source", [
    "https://ada:hunter@2zX9@127.0.0.1:1/holdouts.git",  # a password holding "@"
    "https//ada:Pw9xQ7zz@127.0.0.1:1/holdouts.git",  # a missing colon: not a URL at all
])
def test_holdouts_url_credentials_never_reach_the_terminal_or_the_report(
    project: Project, source: str
) -> None:
    pulled = project.invoke("holdouts.pull", INVOKE_CONVERGE_HOLDOUTS_REPO=source)
    judged = project.invoke("converge", "--no-twins", INVOKE_CONVERGE_HOLDOUTS_REPO=source)
    assert pulled.returncode == judged.returncode == 2
    report = (project.root / "reports/latest.json").read_text()
    assert json.loads(report)["error"]
    for part in ("hunter", "2zX9", "Pw9xQ7zz"):
        for text in (pulled.stdout, pulled.stderr, judged.stdout, judged.stderr, report):
            assert part not in text


def test_bad_flag_values_exit_2(project: Project) -> None:
    assert project.invoke("converge", "--runs", "0").returncode == 2
    result = project.invoke("converge", "--priority", "urgent")
    assert result.returncode == 2
    assert "--priority: expected one of critical, important, nice-to-have" in result.stderr


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--runs", "0"], "--runs"),
        (["--threshold", "critical=120"], "--threshold"),
        (["--priority", "urgent"], "--priority"),
        (["--backend", "docker"], "--backend"),
    ],
    ids=["runs", "threshold", "priority", "backend"],
)
def test_a_bad_flag_replaces_the_previous_report_with_an_exit_2_one(
    project: Project, flags: list[str], named: str
) -> None:
    report = project.root / "reports/latest.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text('{"exit_code": 0, "note": "the previous verdict, a PASS"}')
    result = project.invoke("converge", "--no-twins", *flags)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2 and document["scenarios"] == []
    assert named in document["error"]


def test_a_bad_setting_replaces_the_previous_report_too(project: Project) -> None:
    report = project.root / "reports/latest.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text('{"exit_code": 0, "note": "the previous verdict, a PASS"}')
    project.set(threshold_critical="120")
    result = project.invoke("converge", "--no-twins")
    assert result.returncode == 2
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2 and "threshold_critical" in document["error"]


# --- the whole stack --------------------------------------------------------------------------


def test_every_app_of_the_reference_stack_is_importable() -> None:
    # The stack's tests fail rather than skip when one is not: this names the culprit.
    assert missing_apps() == []


@pytest.mark.slow
def test_converge_on_the_embedded_default_exits_0(project: Project) -> None:
    result = project.invoke("converge")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((project.root / "reports/latest.json").read_text())
    assert report["exit_code"] == 0
    assert {s["priority"] for s in report["scenarios"]} == {"critical", "important", "nice-to-have"}
    assert recorded_pids(project.root / ".converge") == [], "the twins were taken down"
    assert wait_gone(marked_processes(project.mark), timeout=10) == []


@pytest.mark.slow
def test_keep_leaves_the_twins_up_until_twins_down(project: Project) -> None:
    result = project.invoke("converge", "--keep", "--priority", "critical")
    assert result.returncode == 0, result.stdout + result.stderr
    pids = recorded_pids(project.root / ".converge")
    assert len(pids) == 4
    assert wait_gone(pids, timeout=0.5, groups=True) == pids, "still running after the run"
    status = project.invoke("twins.status", "--json")
    assert status.returncode == 0, status.stderr
    services = json.loads(status.stdout)
    assert [s["healthy"] for s in services] == [True] * 4

    # The kept stack is found by --no-twins without any URL given.
    again = project.invoke("converge", "--no-twins", "--priority", "critical")
    assert again.returncode == 0, again.stderr
    assert "the running twins' gravix-api" in again.stderr

    logs = project.invoke("twins.logs", "--service", "gravix-api")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.endswith("\n") and not logs.stdout.endswith("\n\n")
    assert "GET /health " not in logs.stdout, "health checks are hidden"
    noisy = project.invoke("twins.logs", "--service", "gravix-api", "--health-checks")
    assert '"GET /health HTTP/1.1" 200' in noisy.stdout

    down = project.invoke("twins.down")
    assert down.returncode == 0, down.stderr
    assert wait_gone(pids, groups=True) == []


@pytest.mark.slow
def test_unreachable_holdouts_with_twins_exits_2_and_stops_them(
    project: Project, tmp_path: Path
) -> None:
    missing = (tmp_path / "missing.git").as_uri()
    result = project.invoke("converge", INVOKE_CONVERGE_HOLDOUTS_REPO=missing)
    assert result.returncode == 2
    assert "cannot pull the holdouts" in result.stderr
    assert wait_gone(marked_processes(project.mark), timeout=10) == []


@pytest.mark.slow
def test_no_twins_with_api_url_runs_against_a_running_api(
    project: Project, reference_stack: ReferenceStack
) -> None:
    result = project.invoke("converge", "--no-twins", API_URL=reference_stack.api_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"api: {reference_stack.api_url} (from API_URL)" in result.stderr
    assert not (project.root / ".converge/twins.json").exists(), "no twins were started"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_takes_the_twins_down(project: Project, signum: signal.Signals) -> None:
    report = project.root / "reports/latest.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text('{"exit_code": 0, "note": "the previous verdict, a PASS"}')
    process = project.start("converge")
    try:
        state = project.root / ".converge/twins.json"
        deadline = time.monotonic() + 60
        while not state.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.exists(), "the twins were being started"
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signum, err
    left = wait_gone(marked_processes(project.mark), timeout=10)
    assert left == [], f"{describe(left)}\n{err}"
    assert recorded_pids(project.root / ".converge") == []
    document = json.loads(report.read_text())  # the old PASS is gone
    assert document["exit_code"] == 2
    assert document["error"] == f"interrupted by {signum.name} before any scenario ran"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_scenarios_run_stops_them_and_reports_what_finished(
    project: Project, signum: signal.Signals
) -> None:
    process = project.start("converge", "--runs", "400")  # 1600 scenario runs: a minute or so
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:  # bounded by the process: until the progress line
            lines.append(line)
            if "scenario runs" in line:
                break
        assert any("scenario runs" in line for line in lines), "".join(lines)
        signalled = time.monotonic()
        process.send_signal(signum)
        _, rest = process.communicate(timeout=120)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = "".join(lines) + rest
    assert process.returncode == 128 + signum, err
    left = wait_gone(marked_processes(project.mark), timeout=10)
    assert left == [], f"{describe(left)}\n{err}"
    assert recorded_pids(project.root / ".converge") == []
    document = json.loads((project.root / "reports/latest.json").read_text())
    assert document["exit_code"] == 2 and document["complete"] is False
    assert document["error"].startswith(f"interrupted by {signum.name} after ")
    finished = sum(len(s["runs"]) for s in document["scenarios"])
    assert 0 < finished < 1600
    assert f"after {finished} of 1600 scenario runs" in document["error"]
    # Stopping, teardown included, took far less than the runs left would have at this pace.
    left_to_run = document["duration_ms"] / 1000 * (1600 - finished) / finished
    assert took < left_to_run / 2


@pytest.mark.slow
def test_two_runs_at_once_in_one_checkout_take_turns(project: Project) -> None:
    # Without turns, the second run used the first one's twins and one of the two lost them
    # mid-run: failures (exit 1 or 2) that the change under test did not cause.
    first = project.start("converge", "--runs", "15")
    try:
        state = project.root / ".converge/twins.json"
        deadline = time.monotonic() + 60
        while not state.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.exists(), "the first run was starting its twins"
        second = project.invoke("converge")
        first_out, first_err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 0, second.stdout + second.stderr
    assert "waiting for it to finish" in second.stderr
    assert recorded_pids(project.root / ".converge") == []


# --- one vocabulary with `converge run` -------------------------------------------------------


def test_converge_takes_the_flags_of_converge_run(
    project: Project, http_server: TestServer
) -> None:
    http_server.json("/ok", {"ok": True})
    project.scenarios(teapot=FAILING, fine=PASSING)
    result = project.invoke(
        "converge", "--no-twins", "--api-url", http_server.url, "-k", "TEAPOT",
        "--threshold", "critical=0", "--report-file", "out/report.json",
        "--junit-file", "out/junit.xml", "--markdown-file", "out/summary.md",
        "--runs", "2", "--timeout", "5", "--workers", "1", "--priority", "critical",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"api: {http_server.url} (from --api-url)" in result.stderr
    report = json.loads((project.root / "out/report.json").read_text())
    assert [s["name"] for s in report["scenarios"]] == ["The service is a teapot"], "-k filters"
    assert report["thresholds"]["critical"] == 0 and report["runs"] == 2
    assert (project.root / "out/junit.xml").read_text().startswith("<?xml")
    assert "The service is a teapot" in (project.root / "out/summary.md").read_text()
    assert not (project.root / "reports/latest.json").exists(), "--report-file replaced it"


def test_a_shared_flag_is_checked_as_converge_run_checks_it(project: Project) -> None:
    result = project.invoke("converge", "--no-twins", "--workers", "0")
    assert result.returncode == 2
    assert "converge: error: --workers: must be from 1 to 64" in result.stderr
    assert "Traceback" not in result.stderr


def test_k_is_the_name_filter_and_keep_has_no_short_flag(project: Project) -> None:
    help_text = project.invoke("converge", "--help").stdout
    assert "-k STRING, --filter=STRING" in help_text
    assert "  --keep " in help_text


def test_holdouts_pulled_by_hand_are_run_not_replaced_by_the_configured_ones(
    project: Project, http_server: TestServer
) -> None:
    http_server.json("/ok", {"ok": True})
    other = project.root / "other-holdouts/critical"
    other.mkdir(parents=True)
    (other / "fine.yaml").write_text(PASSING)
    pulled = project.invoke("holdouts.pull", "--repo", "other-holdouts")
    assert pulled.returncode == 0, pulled.stderr

    result = project.invoke("converge", "--no-twins", "--api-url", http_server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "holds the scenarios pulled from" in result.stderr
    assert "running them as they are" in result.stderr
    report = json.loads((project.root / "reports/latest.json").read_text())
    assert [s["name"] for s in report["scenarios"]] == ["The service answers"]

    # Naming the source by flag pulls it again.
    again = project.invoke(
        "converge", "--no-twins", "--api-url", http_server.url,
        "--holdouts-repo", "holdouts-fixture", "--priority", "critical", "-k", "nothing-matches",
    )
    assert again.returncode == 2
    assert "holdouts: copied holdouts-fixture" in again.stderr
    assert (project.root / ".holdouts/critical/auth-gating.yaml").exists()


def test_scenarios_dir_by_flag_is_run_as_it_is(project: Project, http_server: TestServer) -> None:
    http_server.json("/ok", {"ok": True})
    mine = project.root / "mine/critical"
    mine.mkdir(parents=True)
    (mine / "fine.yaml").write_text(PASSING)
    result = project.invoke(
        "converge", "--no-twins", "--api-url", http_server.url, "--scenarios-dir", "mine"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running the scenarios in" in result.stderr and "as they are (no pull)" in result.stderr
    assert not (project.root / ".holdouts").exists(), "nothing was pulled"
    assert (mine / "fine.yaml").read_text() == PASSING


def test_converge_report_file_dash_prints_only_the_json_on_stdout(
    project: Project, http_server: TestServer
) -> None:
    http_server.json("/ok", {"ok": True})
    project.scenarios(fine=PASSING)
    result = project.invoke(
        "converge", "--no-twins", "--api-url", http_server.url, "--report-file", "-"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["exit_code"] == 0
    assert "PASS: the critical scenario passes" in result.stderr
    assert not (project.root / "-").exists() and not (project.root / "reports/latest.json").exists()
