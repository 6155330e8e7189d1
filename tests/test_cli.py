"""`python -m converge` end to end, as a subprocess, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from converge.errors import guard
from converge.report import STICKY_MARKER, schema_problems
from tests.support.processes import run_to_the_end
from tests.support.servers import Reply, TestServer, free_port
from tests.support.tls import certificates, server_context


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    report: dict | None


def converge(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "CONVERGE_JWT_SECRET")}
    return run_to_the_end([sys.executable, "-m", "converge", *args], cwd=cwd, env=env,
                          timeout=timeout)


def run(tmp_path: Path, api_url: str, *extra: str) -> Outcome:
    report = tmp_path / "out" / "report.json"
    report.unlink(missing_ok=True)
    process = converge(
        "run", "--scenarios-dir", str(tmp_path / "scenarios"), "--api-url", api_url,
        "--report-file", str(report), *extra, cwd=tmp_path,
    )
    document = json.loads(report.read_text()) if report.exists() else None
    if document is not None:
        assert schema_problems(document) == [], "the written report must match its schema"
    return Outcome(process.returncode, process.stdout, process.stderr, document)


def scenarios(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = tmp_path / "scenarios" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))


def scenario_named(document: dict, name: str) -> dict:
    return next(s for s in document["scenarios"] if s["name"] == name)


@pytest.fixture
def api(http_server: TestServer) -> TestServer:
    http_server.json("/health", {"status": "ok"})
    http_server.json(
        "/v1/analyses", {"id": "an_1", "items": [{"sku": "a"}, {"sku": "b"}], "count": 2},
        status=201, method="POST",
    )
    http_server.json("/v1/analyses/an_1", {"id": "an_1", "tier": "free", "score": 0.5})
    http_server.route("GET", "/html", Reply(body="<html>maintenance</html>", status=200))
    return http_server


def test_a_passing_run_exits_0_prints_the_table_and_writes_the_report(api, tmp_path):
    scenarios(tmp_path, {"critical/health.yaml": """
        name: Health answers
        steps:
          - {path: /health, expect: {status: 200, body_equals: {status: ok}}}
        """})
    result = run(tmp_path, api.url)
    assert result.code == 0, result.err
    assert "Health answers" in result.out and "PASS" in result.out
    assert result.out.strip().splitlines()[-1].startswith("PASS:")
    assert result.report is not None and result.report["exit_code"] == 0
    assert result.report["error"] is None
    assert result.err == ""


def test_partial_credit_and_thresholds(api, tmp_path):
    # 6 of 7 checks pass: 85.71%, above the default 85, below a threshold of 90.
    scenarios(tmp_path, {"critical/partial.yaml": """
        name: Mostly right
        steps:
          - path: /v1/analyses/an_1
            expect:
              status: 200
              body_contains: [an_1, tier, score]
              body_equals: {id: an_1, tier: free, score: 0.75}
        """})
    default = run(tmp_path, api.url)
    assert default.code == 0
    entry = scenario_named(default.report, "Mostly right")
    assert (entry["satisfaction"], entry["checks_passed"], entry["checks_total"]) == (85.71, 6, 7)
    assert entry["passed"] is True
    strict = run(tmp_path, api.url, "--threshold", "critical=90")
    assert strict.code == 1
    assert scenario_named(strict.report, "Mostly right")["threshold"] == 90
    bare = run(tmp_path, api.url, "--threshold", "86")
    assert bare.code == 1
    assert bare.report["thresholds"] == {"critical": 86, "important": 86, "nice-to-have": 86}


def test_capture_chains_list_indexes_and_typed_templates(api, tmp_path):
    scenarios(tmp_path, {"critical/chain.yaml": """
        name: Chain
        steps:
          - method: POST
            path: /v1/analyses
            body: {text: hi}
            expect: {status: 201}
            capture: {id: response.id, sku: "response.items[1].sku", count: response.count}
          - path: /v1/analyses/{{id}}
            expect: {body_equals: {id: "{{id}}"}}
          - method: POST
            path: /echo
            body: {count: "{{count}}", sku: "{{sku}}", label: "{{count}} items"}
            expect:
              body_equals:
                body.count: 2
                body.sku: b
                body.label: "2 items"
                body: {count: 2, sku: b, label: "2 items"}
              body_matches: {body.count: "^2$"}
        """})
    result = run(tmp_path, api.url)
    assert result.code == 0, result.out + result.err
    assert scenario_named(result.report, "Chain")["satisfaction"] == 100
    echoed = api.sent("/echo")[0].json
    assert echoed == {"count": 2, "sku": "b", "label": "2 items"}


def test_timeouts_fail_the_step_and_later_steps_still_run(api, tmp_path):
    scenarios(tmp_path, {"critical/slow.yaml": """
        name: Slow
        steps:
          - {path: "/slow?seconds=5", expect: {status: 200}}
          - {path: /health}
        """})
    result = run(tmp_path, api.url, "--timeout", "0.3", "--verbose")
    entry = scenario_named(result.report, "Slow")
    assert (entry["checks_passed"], entry["checks_total"]) == (1, 2)
    assert "timed out" in entry["steps"][0]["error"]
    assert "timed out" in result.out
    assert result.code == 1


def test_non_json_bodies_fail_field_checks_with_a_message(api, tmp_path):
    scenarios(tmp_path, {"important/html.yaml": """
        name: Html
        steps:
          - path: /html
            expect: {status: 200, body_contains: [maintenance], body_equals: {status: ok}}
        """})
    result = run(tmp_path, api.url, "--verbose")
    assert result.code == 0  # an important scenario never fails the run
    checks = scenario_named(result.report, "Html")["steps"][0]["checks"]
    assert [c["passed"] for c in checks] == [True, True, False]
    assert "not JSON" in checks[2]["message"]
    assert "warning: important scenario 'Html' is below its threshold" in result.out



def test_nan_and_infinity_from_the_api_leave_the_report_strict_json(api, tmp_path):
    api.route("GET", "/odd", Reply(body='{"a": NaN, "b": 1e999, "c": -Infinity}'))
    scenarios(tmp_path, {"critical/odd.yaml": """
        name: Odd numbers
        steps:
          - {path: /odd, expect: {body_equals: {a: 1, b: 1, c: 1}}}
        """})
    run(tmp_path, api.url)

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    text = (tmp_path / "out" / "report.json").read_text()
    document = json.loads(text, parse_constant=refuse)  # as jq or JSON.parse read it
    checks = document["scenarios"][0]["steps"][0]["checks"]
    # Such a body is not JSON (RFC 8259), as a JSON client would find: every check fails so.
    assert [c["passed"] for c in checks] == [False, False, False]
    assert all("holds NaN, which is not a JSON number" in c["message"] for c in checks)

def test_a_failing_critical_scenario_exits_1(api, tmp_path):
    scenarios(tmp_path, {
        "critical/bad.yaml": "name: Bad\nsteps: [{path: /nope}]\n",
        "nice-to-have/worse.yaml": "name: Worse\nsteps: [{path: /nope}]\n",
    })
    result = run(tmp_path, api.url)
    assert result.code == 1
    assert scenario_named(result.report, "Bad")["result"] == "FAIL"
    assert scenario_named(result.report, "Worse")["result"] == "INFO"
    assert result.out.strip().splitlines()[-2].startswith("FAIL:")
    assert result.out.strip().splitlines()[-1].startswith("To see why: ")


def test_an_unreachable_api_exits_2_and_still_writes_the_report(tmp_path):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    result = run(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.code == 2
    assert result.err.startswith("converge: error: the API at")
    assert "Traceback" not in result.err
    assert result.report is not None
    assert result.report["exit_code"] == 2 and "does not answer" in result.report["error"]


def test_invalid_files_exit_2_one_line_per_problem_and_send_nothing(api, tmp_path):
    scenarios(tmp_path, {
        "critical/a.yaml": "name: A\nsteps:\n  - path: no-slash\n    expect: {status: abc}\n",
        "important/b.yaml": "name: B\nsteps:\n  - path: /x/{{never_captured}}\n",
        "critical/ok.yaml": "name: Fine\nsteps: [{path: /health}]\n",
    })
    result = run(tmp_path, api.url)
    assert result.code == 2
    assert "Traceback" not in result.err
    problem_lines = [line for line in result.err.splitlines() if ".yaml:" in line]
    assert len(problem_lines) >= 3
    assert any("a.yaml:3:" in line for line in problem_lines)
    assert any("b.yaml:3:" in line and "never_captured" in line for line in problem_lines)
    assert api.requests == []  # not even the pre-flight
    assert result.report is not None and result.report["exit_code"] == 2
    assert "never_captured" in result.report["error"]



def test_control_characters_from_the_holdouts_never_reach_the_terminal(api, tmp_path):
    # A hostile holdouts repository: an escape sequence in a file name (quoted in exit-2 errors)
    # and a C1 CSI (U+009B) in a scenario name (shown in the table).
    scenarios(tmp_path, {"critical/e\x1b[2Jvil.yaml": "name: x\nsteps: [{path: /a, bogus: 1}]\n"})
    bad = run(tmp_path, api.url)
    assert bad.code == 2 and "e\\u001b[2Jvil.yaml:2:" in bad.err  # escaped, on one line
    assert "\x1b" not in bad.err
    (tmp_path / "scenarios" / "critical" / "e\x1b[2Jvil.yaml").unlink()
    scenarios(tmp_path, {"critical/ok.yaml": 'name: "C1 \\x9b31m red"\nsteps: [{path: /health}]\n'})
    good = run(tmp_path, api.url, "--verbose")
    assert good.code == 0 and "C1  31m red" in good.out
    assert "\x9b" not in good.out + good.err

def test_a_missing_scenarios_directory_exits_2(api, tmp_path):
    result = run(tmp_path, api.url)
    assert result.code == 2
    assert "does not exist" in result.err
    assert api.requests == []


def test_priority_and_name_filters_select_scenarios(api, tmp_path):
    scenarios(tmp_path, {
        "critical/a.yaml": "name: Alpha login\nsteps: [{path: /health}]\n",
        "critical/b.yaml": "name: Beta\nsteps: [{path: /nope}]\n",
        "important/c.yaml": "name: Gamma login\nsteps: [{path: /health}]\n",
    })
    only_important = run(tmp_path, api.url, "--priority", "important")
    assert [s["name"] for s in only_important.report["scenarios"]] == ["Gamma login"]
    assert only_important.code == 0
    by_name = run(tmp_path, api.url, "-k", "LOGIN")
    assert [s["name"] for s in by_name.report["scenarios"]] == ["Alpha login", "Gamma login"]
    nothing = run(tmp_path, api.url, "--filter", "zeta")
    assert nothing.code == 2 and "no scenario matches" in nothing.err


def test_runs_repeat_each_scenario_and_report_every_run(api, tmp_path):
    calls = {"n": 0}

    def flaky(_request):
        calls["n"] += 1
        return Reply(status=200 if calls["n"] % 2 else 500, json={})

    api.route("GET", "/flaky", flaky)
    scenarios(tmp_path, {"critical/f.yaml": "name: Flaky\nsteps: [{path: /flaky}]\n"})
    result = run(tmp_path, api.url, "--runs", "4", "--workers", "1")
    entry = scenario_named(result.report, "Flaky")
    assert len(entry["runs"]) == 4
    assert entry["satisfaction"] == 50 and entry["pass_rate"] == 0.5
    assert result.code == 1


def test_secrets_never_reach_the_terminal_or_any_file(api, tmp_path):
    api.route(
        "GET", "/whoami", lambda r: Reply(status=401, json={"auth": r.headers.get("Authorization")})
    )
    scenarios(tmp_path, {"critical/w.yaml": """
        name: Who
        steps:
          - path: /whoami
            headers: {Authorization: "Bearer {{admin_token}}"}
            expect: {status: 200, body_equals: {auth: nobody}}
        """})
    result = run(
        tmp_path, api.url, "--verbose",
        "--markdown-file", str(tmp_path / "out" / "c.md"),
        "--junit-file", str(tmp_path / "out" / "j.xml"),
    )
    token = api.sent("/whoami")[0].headers["Authorization"].split()[1]
    outputs = {
        "stdout": result.out, "stderr": result.err,
        **{p.name: p.read_text() for p in (tmp_path / "out").iterdir()},
    }
    for name, text in outputs.items():
        assert token not in text and "eyJ" not in text, f"token leaked into {name}"


def test_validate_checks_files_without_sending_requests(api, tmp_path):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /health}]\n"})
    ok = converge("validate", str(tmp_path / "scenarios"), cwd=tmp_path)
    assert ok.returncode == 0
    assert ok.stdout == (
        f"valid: 1 scenario in {tmp_path / 'scenarios'} "
        "(1 critical, 0 important, 0 nice-to-have; 1 check)\n"
    )
    scenarios(tmp_path, {"important/b.yaml": "name: B\nsteps: [{path: /x, bogus: 1}]\n"})
    bad = converge("validate", str(tmp_path / "scenarios"), cwd=tmp_path)
    assert bad.returncode == 2
    assert "b.yaml:2:" in bad.stderr and "Traceback" not in bad.stderr
    assert api.requests == []


def test_report_renders_a_saved_report_in_every_format(api, tmp_path):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /health}]\n"})
    run(tmp_path, api.url)
    saved = str(tmp_path / "out" / "report.json")
    table = converge("report", saved, cwd=tmp_path)
    assert table.returncode == 0 and "PASS" in table.stdout
    markdown = converge("report", saved, "--format", "markdown", cwd=tmp_path)
    assert markdown.stdout.startswith(STICKY_MARKER) and "| critical" in markdown.stdout
    junit = converge("report", saved, "--format", "junit", cwd=tmp_path)
    assert ET.fromstring(junit.stdout).find(".//testcase").get("name") == "A"
    missing = converge("report", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such report" in missing.stderr


def test_bad_flag_values_are_one_line_errors(tmp_path):
    bad = converge("run", "--threshold", "critcal=90", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown tier" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_bug_in_converge_exits_2_not_1_and_keeps_its_traceback():
    # Exit 1 says "a critical scenario fails"; a crash says nothing about the change.
    stream = io.StringIO()
    with pytest.raises(SystemExit) as caught, guard(stream):
        raise RuntimeError("boom")
    assert caught.value.code == 2
    assert "Traceback" in stream.getvalue() and "RuntimeError: boom" in stream.getvalue()
    assert "internal error" in stream.getvalue()


# --- finding the API ------------------------------------------------------------------------


def test_an_unreachable_local_api_points_at_the_twins_status(tmp_path):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    result = run(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.code == 2
    assert "connection refused" in result.err
    assert "`invoke twins.status` shows the running twins and their gravix-api URL" in result.err


def test_the_twins_hint_is_for_local_apis_only():
    from converge.runner import ApiOrigin

    assert ApiOrigin("http://127.0.0.1:8000").is_local
    assert ApiOrigin("http://localhost:8000").is_local
    assert not ApiOrigin("https://preview.example.com").is_local


def test_without_api_url_the_run_finds_the_twins_left_running_here(tmp_path, watched_processes):
    from converge._process_backend import ProcessBackend
    from tests.test_twins_process import standin_config

    # A stack recorded in this folder's .converge, as `invoke twins.up` leaves it.
    config = standin_config(tmp_path, state_dir=tmp_path / ".converge")
    backend = ProcessBackend(config)
    try:
        statuses = backend.up()
        api_url = next(s.url for s in statuses if s.name == "gravix-api")
        scenarios(tmp_path, {"critical/h.yaml": "name: H\nsteps: [{path: /health}]\n"})
        result = converge("run", "--scenarios-dir", "scenarios", cwd=tmp_path)
    finally:
        backend.down()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"api: {api_url} (the running twins' gravix-api)" in result.stderr


def test_without_api_url_or_twins_the_run_uses_api_url_then_the_default(api, tmp_path):
    scenarios(tmp_path, {"critical/h.yaml": "name: H\nsteps: [{path: /health}]\n"})
    env = {k: v for k, v in os.environ.items() if k != "CONVERGE_JWT_SECRET"}
    env["API_URL"] = api.url
    with_env = subprocess.run(
        [sys.executable, "-m", "converge", "run", "--scenarios-dir", "scenarios"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert with_env.returncode == 0, with_env.stderr
    assert f"api: {api.url} (from API_URL)" in with_env.stderr


def test_gate_lower_bound_holds_back_a_thin_pass_and_says_how_many_runs_would_do(api, tmp_path):
    scenarios(tmp_path, {"critical/one.yaml": "name: One check\nsteps: [{path: /health}]\n"})
    mean = run(tmp_path, api.url, "--runs", "3")
    assert mean.code == 0 and mean.report["gate"] == "mean"
    entry = scenario_named(mean.report, "One check")
    assert (entry["satisfaction"], entry["satisfaction_lower_bound"]) == (100, 43.85)
    bound = run(tmp_path, api.url, "--runs", "3", "--gate", "lower-bound")
    assert bound.code == 1 and bound.report["gate"] == "lower-bound"
    assert "lower bound 43.85% < 85%" in bound.out
    assert "22 runs at this rate would clear it" in bound.out
    assert run(tmp_path, api.url, "--runs", "22", "--gate", "lower-bound").code == 0


def test_an_unknown_gate_is_a_one_line_error(tmp_path):
    bad = converge("run", "--gate", "median", cwd=tmp_path)
    assert bad.returncode == 2 and "--gate" in bad.stderr and "Traceback" not in bad.stderr


def test_a_catastrophic_pattern_fails_its_check_within_the_step_deadline(http_server, tmp_path):
    # (a|a)+ tries 2^41 ways to split 41 a's before giving up on the "b": hours, unbounded.
    http_server.json("/name", {"name": "a" * 41 + "b", "id": "x-1"})
    scenarios(tmp_path, {"critical/backtracking.yaml": """
        name: backtracking
        steps:
          - path: /name
            timeout: 1
            expect:
              body_matches: {name: "^(a|a)+$", id: "^x-[0-9]+$"}
        """})
    try:
        outcome = run(tmp_path, http_server.url)
    except subprocess.TimeoutExpired:  # killed: the old runner would still be searching
        pytest.fail("the pattern was not bounded by its step's deadline")
    assert outcome.code == 1 and outcome.report is not None
    name, ident = outcome.report["scenarios"][0]["steps"][0]["checks"]
    assert not name["passed"] and "did not finish matching" in name["message"]
    assert ident["passed"]  # the other check of the step is judged as usual


@pytest.mark.parametrize(
    ("option", "value"), [("--runs", "99999999999999999999999"), ("--workers", "100000")]
)
def test_absurd_counts_are_refused_naming_the_option(tmp_path, option, value):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    outcome = run(tmp_path, f"http://127.0.0.1:{free_port()}", option, value)
    assert outcome.code == 2
    assert f"argument {option}: must be from 1 to" in outcome.err
    assert "Traceback" not in outcome.err


# --- one file, stdout, the last line, colour --------------------------------------------------


def test_validate_and_run_take_one_scenario_file(api, tmp_path):
    scenarios(tmp_path, {
        "critical/health.yaml": "name: Health\nsteps: [{path: /health}]\n",
        "important/other.yaml": "name: Other\nsteps: [{path: /nope}]\n",
        "loose.yaml": "name: Loose\nsteps: [{path: /health}]\n",
    })
    one = tmp_path / "scenarios/critical/health.yaml"
    ok = converge("validate", str(one), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"valid: 1 scenario in {one} (1 critical, 0 important")
    loose = converge("validate", "scenarios/loose.yaml", cwd=tmp_path)
    assert loose.returncode == 2
    assert "scenarios/loose.yaml" in loose.stderr and "priority" in loose.stderr
    not_yaml = tmp_path / "notes.txt"
    not_yaml.write_text("hello")
    refused = converge("validate", "notes.txt", cwd=tmp_path)
    assert refused.returncode == 2 and "is not a scenario file (*.yaml, *.yml)" in refused.stderr

    report = tmp_path / "out/report.json"
    ran = converge(
        "run", "--scenarios-dir", str(one), "--api-url", api.url, "--report-file", str(report),
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    document = json.loads(report.read_text())
    assert [(s["file"], s["priority"]) for s in document["scenarios"]] == [
        ("critical/health.yaml", "critical")
    ]


def test_report_file_dash_writes_the_json_to_stdout_and_the_rest_to_stderr(api, tmp_path):
    scenarios(tmp_path, {"critical/bad.yaml": "name: Bad\nsteps: [{path: /nope}]\n"})
    result = converge(
        "run", "--scenarios-dir", "scenarios", "--api-url", api.url, "--report-file", "-",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)  # nothing but the report
    assert schema_problems(document) == [] and document["exit_code"] == 1
    assert "FAIL: 1 of 1 critical scenario below threshold" in result.stderr
    assert not (tmp_path / "-").exists()


def test_report_file_dash_on_an_exit_2_still_writes_the_json_to_stdout(tmp_path):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    result = converge(
        "run", "--scenarios-dir", "scenarios", "--api-url", f"http://127.0.0.1:{free_port()}",
        "--report-file", "-", cwd=tmp_path,
    )
    assert result.returncode == 2
    assert json.loads(result.stdout)["exit_code"] == 2
    assert result.stderr.startswith("converge: error: the API at")


def test_a_failing_run_ends_with_how_to_see_why(api, tmp_path):
    scenarios(tmp_path, {"critical/bad.yaml": "name: Bad\nsteps: [{path: /nope}]\n"})
    failing = converge(
        "run", "--scenarios-dir", "scenarios", "--api-url", api.url,
        "--report-file", "out/report.json", cwd=tmp_path,
    )
    assert failing.returncode == 1
    last = failing.stdout.strip().splitlines()[-1]
    assert last == "To see why: converge report -v out/report.json (or run again with --verbose)"
    shown = converge("report", "-v", "out/report.json", cwd=tmp_path)
    assert "x status" in shown.stdout, "the command it names shows the failed check"

    verbose = converge(
        "run", "--scenarios-dir", "scenarios", "--api-url", api.url,
        "--report-file", "out/report.json", "-v", cwd=tmp_path,
    )
    assert "To see why" not in verbose.stdout, "already shown"
    scenarios(tmp_path, {"critical/bad.yaml": "name: Good\nsteps: [{path: /health}]\n"})
    passing = run(tmp_path, api.url)
    assert passing.code == 0 and "To see why" not in passing.out


def run_on_a_terminal(args: list[str], cwd: Path, **env: str) -> str:
    """`converge` with its stdout on a pseudo-terminal, as a person sees it."""
    import pty

    controller, terminal = pty.openpty()
    environment = {
        k: v for k, v in os.environ.items() if k not in ("API_URL", "NO_COLOR", "TERM")
    }
    try:
        process = subprocess.run(
            [sys.executable, "-m", "converge", *args], cwd=cwd, env={**environment, **env},
            stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60,
            check=False,
        )
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(controller)
    assert process.returncode in (0, 1), process.stderr
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color_or_never(api, tmp_path):
    scenarios(tmp_path, {
        "critical/good.yaml": "name: Good\nsteps: [{path: /health}]\n",
        "important/bad.yaml": "name: Bad\nsteps: [{path: /nope}]\n",
    })
    args = ["run", "--scenarios-dir", "scenarios", "--api-url", api.url, "--report-file", "r.json"]
    coloured = run_on_a_terminal(args, tmp_path)
    assert "\x1b[32mPASS\x1b[0m" in coloured and "\x1b[33mWARN\x1b[0m" in coloured
    assert "\x1b[33mwarning: important scenario 'Bad'" in coloured
    assert "\x1b[" not in run_on_a_terminal(args, tmp_path, NO_COLOR="1")
    assert "\x1b[" not in run_on_a_terminal([*args, "--color", "never"], tmp_path)
    forced = run_on_a_terminal([*args, "--color", "always"], tmp_path, NO_COLOR="1")
    assert "\x1b[32mPASS" in forced, "the flag wins over the environment"
    piped = run(tmp_path, api.url)
    assert "\x1b[" not in piped.out, "not a terminal: no colour"
    always_piped = run(tmp_path, api.url, "--color", "always")
    assert "\x1b[31m" not in always_piped.out and "\x1b[33mWARN" in always_piped.out
    report = converge("report", "r.json", "--color", "always", cwd=tmp_path)
    assert "\x1b[32mPASS" in report.stdout
    assert "\x1b[" not in (tmp_path / "r.json").read_text(), "never in files"


@pytest.mark.parametrize("via", ["--api-url", "API_URL"])
def test_a_malformed_api_url_is_a_one_line_error(tmp_path, via):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    args = ["run", "--scenarios-dir", "scenarios", "--report-file", "report.json"]
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "CONVERGE_JWT_SECRET")}
    if via == "API_URL":
        env["API_URL"] = "http://[::1"
    else:
        args += ["--api-url", "http://[::1"]
    result = subprocess.run(
        [sys.executable, "-m", "converge", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "'http://[::1' is not a valid URL" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# --- an interrupted run stops promptly and leaves an honest report ---------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_and_leaves_an_incomplete_exit_2_report(
    http_server, tmp_path, signum
):
    # 8 quick scenarios, then 40 that take a second each: 10 s more of work at 4 workers.
    scenarios(tmp_path, {
        **{f"critical/a{i}.yaml": f"name: quick {i}\nsteps: [{{path: /echo}}]\n" for i in range(8)},
        **{
            f"critical/b{i:02}.yaml": f'name: slow {i}\nsteps: [{{path: "/slow?seconds=1"}}]\n'
            for i in range(40)
        },
    })
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    report.write_text('{"exit_code": 0, "note": "the previous verdict, a PASS"}')
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "CONVERGE_JWT_SECRET")}
    process = subprocess.Popen(
        [sys.executable, "-m", "converge", "run", "--scenarios-dir", "scenarios",
         "--api-url", http_server.url, "--report-file", str(report), "--workers", "4"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(http_server.sent("/slow")) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)  # bounded: until the slow scenarios are in flight
        sent_at_signal = len(http_server.requests)
        signalled = time.monotonic()
        process.send_signal(signum)
        _out, err = process.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signum, err
    assert took < 10 / 3  # far from the 10 s the queued scenarios would have taken
    assert len(http_server.requests) - sent_at_signal <= 4  # nothing new once it was asked
    assert f"converge: interrupted by {signal.Signals(signum).name}" in err
    document = json.loads(report.read_text())
    assert schema_problems(document) == []
    assert document["exit_code"] == 2 and document["complete"] is False
    assert document["error"].startswith(f"interrupted by {signal.Signals(signum).name} after ")
    listed = {s["name"] for s in document["scenarios"]}
    assert {f"quick {i}" for i in range(8)} <= listed and len(listed) < 48
    assert all(len(s["runs"]) == 1 for s in document["scenarios"])
    assert document["summary"]["total"] == len(listed)


def _processes_naming(text: str) -> list[int]:
    """The processes whose command line holds ``text`` (a test's own temporary path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


@pytest.fixture
def streaming_machine() -> None:
    """The tests of files read in other processes need what CI has: never a skip."""
    assert Path("/proc").is_dir(), "these tests list processes through /proc (Linux)"
    assert len(os.sched_getaffinity(0)) >= 2, "files are read in other processes from 2 cores on"


def _streamed_run(
    tmp_path: Path, url: str, *more: str, steps: int = 1
) -> subprocess.Popen[str]:
    """converge run on 3000 files (read in another process while the first ones run)."""
    scenarios(tmp_path, {
        f"critical/s{i:04}.yaml": f"name: S{i}\nsteps: [{', '.join(['{path: /echo}'] * steps)}]\n"
        for i in range(3000)
    })
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "CONVERGE_JWT_SECRET")}
    return subprocess.Popen(
        [sys.executable, "-m", "converge", "run", "--scenarios-dir", str(tmp_path / "scenarios"),
         "--api-url", url, "--report-file", str(tmp_path / "r.json"), *more],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _when_running(server: Any, requests: int = 3) -> None:
    deadline = time.monotonic() + 60
    while len(server.sent("/echo")) < requests and time.monotonic() < deadline:
        time.sleep(0.005)  # bounded: until the runs have begun


@contextlib.contextmanager
def _reaped(process: subprocess.Popen[str], tmp_path: Path) -> Iterator[None]:
    """Whatever the test found, neither converge nor a reader of its files outlives it."""
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for pid in _processes_naming(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


def _readers_of(process: subprocess.Popen[str], tmp_path: Path) -> list[int]:
    return [pid for pid in _processes_naming(str(tmp_path)) if pid != process.pid]


def test_a_signal_while_files_are_still_being_read_ends_the_readers_too(
    http_server, tmp_path, streaming_machine
):
    # Enough files that the reading processes are still at it when the first scenario runs.
    process = _streamed_run(tmp_path, http_server.url, "--workers", "1", steps=2)
    with _reaped(process, tmp_path):
        _when_running(http_server)  # the first scenario has run
        readers = _readers_of(process, tmp_path)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        left = _processes_naming(str(tmp_path))
    assert process.returncode == 143, err
    assert readers, "files were still being read in another process when the runs began"
    assert left == [], "no reading process outlives the run"
    assert "Traceback" not in err
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["exit_code"] == 2 and document["complete"] is False
    assert 0 < len(document["scenarios"]) < 3000
    # How many runs there would have been is not known until every file is read.
    assert re.fullmatch(
        r"interrupted by SIGTERM after \d+ scenario runs, while the scenario files were still "
        r"being read: the results are incomplete \(only the runs that finished are reported\)",
        document["error"],
    ), document["error"]


def test_the_reading_processes_end_themselves_when_converge_is_killed(
    http_server, tmp_path, streaming_machine
):
    # SIGKILL (or the out-of-memory killer) leaves converge no chance to end its workers.
    process = _streamed_run(tmp_path, http_server.url, "--workers", "1")
    with _reaped(process, tmp_path):
        _when_running(http_server)
        readers = _readers_of(process, tmp_path)
        process.kill()
        process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while _processes_naming(str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded: a reader looks for its parent every 0.2 s
        left = _processes_naming(str(tmp_path))
    assert readers, "files were still being read in another process when the runs began"
    assert left == [], "a reader outlived its converge"


def test_a_second_signal_while_the_readers_stop_still_ends_everything(
    http_server, tmp_path, streaming_machine
):
    # A second Ctrl-C once fell inside the wait for the reading process, and converge and its
    # reader then waited for each other forever.
    # Files of 40 steps: the reader is well into a chunk of them when the first signal stops
    # the run, and the second one comes while converge waits for that chunk.
    process = _streamed_run(tmp_path, http_server.url, "--workers", "8", steps=40)
    with _reaped(process, tmp_path):
        _when_running(http_server, 40)
        process.send_signal(signal.SIGINT)
        time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
        left = _processes_naming(str(tmp_path))
    assert process.returncode in (130, -signal.SIGINT), err
    assert left == [], "no reading process outlives the run"
    assert "Exception in thread" not in err


def test_a_reader_killed_under_converge_is_an_exit_2_that_says_so(
    http_server, tmp_path, streaming_machine
):
    process = _streamed_run(tmp_path, http_server.url, "--workers", "1")
    with _reaped(process, tmp_path):
        _when_running(http_server)
        for pid in _readers_of(process, tmp_path):
            os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
        _out, err = process.communicate(timeout=60)
        left = _processes_naming(str(tmp_path))
    assert process.returncode == 2, err
    assert "a process reading the scenario files ended before it was done" in err
    assert "Traceback" not in err
    assert left == []
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["exit_code"] == 2 and document["scenarios"] == []
    assert "a process reading the scenario files ended" in document["error"]


@pytest.mark.parametrize(
    "bad",
    [["--runs", "0"], ["--threshold", "critical=120"], ["--priority", "urgent"],
     ["--workers=many"], ["--scenario", "x"]],
    ids=["runs", "threshold", "priority", "workers", "scenario-without-replay"],
)
def test_a_bad_option_replaces_the_previous_report_with_an_exit_2_one(tmp_path, bad):
    scenarios(tmp_path, {"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"})
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    report.write_text('{"exit_code": 0, "note": "the previous verdict, a PASS"}')
    result = converge(
        "run", "--scenarios-dir", "scenarios", "--api-url", f"http://127.0.0.1:{free_port()}",
        "--report-file", str(report), *bad, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    document = json.loads(report.read_text())
    assert schema_problems(document) == []
    assert document["exit_code"] == 2 and document["scenarios"] == []
    assert bad[0].split("=")[0] in document["error"]


def test_a_markdown_file_that_is_a_folder_leaves_no_temporary_file(api, tmp_path):
    scenarios(tmp_path, {"critical/h.yaml": "name: H\nsteps: [{path: /health}]\n"})
    out = tmp_path / "out"
    (out / "summary.md").mkdir(parents=True)
    result = run(tmp_path, api.url, "--markdown-file", str(out / "summary.md"))
    assert result.code == 2
    assert "cannot write the report" in result.err
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "summary.md"]

# --- proxies and CA bundles: ignored unless --trust-env ---------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in HTTP proxy (or API) that answers everything 200 and records request targets."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def recording_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()


def converge_with_env(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items()
        if k not in ("API_URL", "CONVERGE_JWT_SECRET") and "proxy" not in k.lower()
        and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    return subprocess.run(
        [sys.executable, "-m", "converge", *args], cwd=tmp_path, env={**base, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_proxies_are_ignored_unless_trust_env(api, tmp_path):
    scenarios(tmp_path, {"critical/h.yaml": "name: H\nsteps: [{path: /health}]\n"})
    with recording_server() as (proxy, through_proxy):
        args = ("run", "--scenarios-dir", "scenarios", "--api-url", api.url)
        direct = converge_with_env(tmp_path, *args, HTTP_PROXY=proxy, http_proxy=proxy)
        assert direct.returncode == 0, direct.stderr
        assert through_proxy == [], "the proxy saw nothing"
        asked = len(api.requests)

        proxied = converge_with_env(
            tmp_path, *args, "--trust-env", HTTP_PROXY=proxy, http_proxy=proxy
        )
        assert proxied.returncode == 0, proxied.stderr
        assert f"{api.url}/health" in through_proxy, "the request went through the proxy"
        assert len(api.requests) == asked, "and not to the API directly"


def test_a_private_ca_bundle_is_trusted_only_with_trust_env(tmp_path):
    ca, cert, key = certificates(tmp_path)
    tls = server_context(cert, key)
    scenarios(tmp_path, {"critical/h.yaml": "name: H\nsteps: [{path: /health}]\n"})
    with recording_server(tls) as (url, seen):
        args = ("run", "--scenarios-dir", "scenarios", "--api-url", url)
        refused = converge_with_env(tmp_path, *args, REQUESTS_CA_BUNDLE=str(ca))
        assert refused.returncode == 2
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr or "certificate" in refused.stderr
        trusted = converge_with_env(tmp_path, *args, "--trust-env", REQUESTS_CA_BUNDLE=str(ca))
        assert trusted.returncode == 0, trusted.stderr
        assert "/health" in seen


# What a command imports is what it costs to start: the HTTP stack (requests, urllib3,
# http.client), PyJWT and jsonschema are for the commands and files that need them.
HEAVY = ("requests", "urllib3", "http.client", "jwt", "cryptography", "jsonschema")
IMPORTED = """
import sys
from converge.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print("imported:", " ".join(sorted(m for m in heavy if m in sys.modules)))
"""


def imported_by(*args: str, cwd: Path) -> str:
    process = subprocess.run(
        [sys.executable, "-c", IMPORTED.format(heavy=HEAVY), *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )
    marker = [line for line in process.stdout.splitlines() if line.startswith("imported:")]
    assert marker, process.stderr
    return marker[-1].removeprefix("imported:").strip()


def test_help_and_validate_of_a_valid_file_import_no_http_stack(tmp_path):
    scenario = tmp_path / "critical" / "ok.yaml"
    scenario.parent.mkdir()
    scenario.write_text("name: Ok\nsteps:\n  - path: /a\n    expect: {status: 200}\n")
    assert imported_by("--help", cwd=tmp_path) == ""
    assert imported_by("validate", str(scenario), cwd=tmp_path) == ""


def test_an_invalid_file_is_described_by_jsonschema_still(tmp_path):
    scenario = tmp_path / "critical" / "bad.yaml"
    scenario.parent.mkdir()
    scenario.write_text("name: Bad\nsteps:\n  - path: /a\n    stauts: 200\n")
    result = converge("validate", str(scenario), cwd=tmp_path)
    assert result.returncode == 2
    assert "critical/bad.yaml:4: $.steps[0]" in result.stderr and "stauts" in result.stderr
    assert imported_by("validate", str(scenario), cwd=tmp_path) == "jsonschema"
