from __future__ import annotations

import io
import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converge.errors import ReportError
from converge.model import CheckResult, RunResult, Scenario, StepResult
from converge.redact import Redactor
from converge.report import (
    STICKY_MARKER,
    build_report,
    failure_lines,
    load_report,
    render_junit,
    render_markdown,
    render_table,
    schema_problems,
    write_report_atomic,
)
from converge.runner import RunnerConfig, run_all
from converge.scenario import load_dir
from converge.scoring import DEFAULT_THRESHOLDS, exit_code, score
from tests.support.servers import Reply, TestServer

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HOSTILE_NAME = 'Ünïcode <b>&amp; "quotes" | pipes @team [x](http://e) \x07bell'


def write_scenarios(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def token_echo(http_server: TestServer) -> TestServer:
    """An API that echoes credentials back, as a careless one might."""
    http_server.route(
        "*",
        "/me",
        lambda request: Reply(
            status=403,
            json={"seen": request.headers.get("Authorization"), "plan": "free"},
        ),
    )
    http_server.route("*", "/session", Reply(json={"access_token": "opaque-session-secret-123"}))
    return http_server


@pytest.fixture
def document(token_echo: TestServer, tmp_path: Path) -> dict:
    root = write_scenarios(tmp_path / "s", {
        "critical/echo.yaml": """
            name: Tokens are echoed
            steps:
              - path: /me
                headers: {Authorization: "Bearer {{pro_user_token}}"}
                expect: {status: 200, body_equals: {plan: pro}, body_contains: [nothing-here]}
              - path: /session
                capture: {session: response.access_token}
              - path: /me
                headers: {Authorization: "{{session}}"}
                expect: {status: 200}
            """,
        "important/b.yaml": f"""
            name: {json.dumps(HOSTILE_NAME)}
            steps: [{{path: /echo}}]
            """,
        "nice-to-have/a.yaml": """
            name: A nice one
            steps: [{path: /missing}]
            """,
    })
    scenarios = load_dir(root)
    runs = run_all(scenarios, RunnerConfig(api_url=token_echo.url, runs=2))
    results = [score(s, r, DEFAULT_THRESHOLDS) for s, r in zip(scenarios, runs, strict=True)]
    return build_report(
        results, api_url=token_echo.url, scenarios_dir=str(root), started_at=START,
        finished_at=START + timedelta(seconds=2), exit_code=1, error=None,
        thresholds=DEFAULT_THRESHOLDS, runs=2, redactor=Redactor(["super-secret-pat-value"]),
    )


def every_output(document: dict) -> dict[str, str]:
    return {
        "json": json.dumps(document),
        "table": render_table(document, verbose=True),
        # At full detail: secrets must stay out even of what shows every check.
        "markdown": render_markdown(document, sticky_marker=True, detail="full"),
        "junit": render_junit(document, detail="full"),
    }


def test_report_matches_its_schema(document):
    assert schema_problems(document) == []


def test_report_without_scenarios_for_an_error_matches_its_schema():
    empty = build_report(
        [], api_url="http://127.0.0.1:1", scenarios_dir="x", started_at=START, finished_at=START,
        exit_code=2, error="1 problem in the scenarios:\nx.yaml:3: $.steps: bad",
        thresholds=DEFAULT_THRESHOLDS, runs=1, redactor=Redactor(),
    )
    assert schema_problems(empty) == []
    assert empty["error"].startswith("1 problem")
    assert "ERROR" in render_table(empty)
    ET.fromstring(render_junit(empty))


def test_schema_rejects_a_report_missing_a_field(document):
    broken = dict(document)
    del broken["scenarios"][0]["satisfaction"]
    assert schema_problems(broken)


def test_no_secret_appears_in_any_output(document, token_echo):
    sent = [r.headers["Authorization"] for r in token_echo.requests if "Authorization" in r.headers]
    assert sent, "the scenario should have sent credentials"
    bare = {value.split()[-1] for value in sent}
    for name, text in every_output(document).items():
        for secret in [*sent, *bare, "opaque-session-secret-123"]:
            assert secret not in text, f"a credential leaked into the {name} output"
        assert "eyJ" not in text, f"something JWT-shaped leaked into the {name} output"
    assert "[REDACTED]" in every_output(document)["json"]


def test_redactor_masks_known_values_env_pat_and_jwt_shapes(monkeypatch):
    monkeypatch.setenv("HOLDOUT_PAT", "ghp_holdoutpat1234567890")
    redactor = Redactor.from_environment(["my-long-secret"])
    text = ("pat ghp_holdoutpat1234567890 and my-long-secret and "
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_")
    assert redactor.text(text) == "pat [REDACTED] and [REDACTED] and [REDACTED]"
    assert redactor.value({"k": ["my-long-secret", 1, None]}) == {"k": ["[REDACTED]", 1, None]}


def test_every_run_is_kept_with_its_pass_rate(document):
    echo = next(s for s in document["scenarios"] if s["priority"] == "critical")
    assert len(echo["runs"]) == 2
    assert echo["pass_rate"] == 0.0
    assert echo["checks_total"] == 2 * 5
    assert echo["satisfaction"] == round(100 * echo["checks_passed"] / echo["checks_total"], 2)


def test_summary_counts_per_tier_and_result(document):
    summary = document["summary"]
    assert summary["total"] == 3
    assert summary["by_result"] == {"PASS": 1, "FAIL": 1, "WARN": 0, "INFO": 1}
    assert summary["by_tier"]["critical"]["FAIL"] == 1


def test_table_rows_are_sorted_by_tier_then_name_and_end_with_the_verdict(document):
    lines = render_table(document).splitlines()
    rows = [line for line in lines if line.split()[:1] in (["critical"], ["important"],
                                                           ["nice-to-have"])]
    assert [row.split()[0] for row in rows] == ["critical", "important", "nice-to-have"]
    assert lines[-1].startswith("FAIL: 1 of 1 critical scenario below threshold")
    assert "\x07" not in "\n".join(lines)


def test_verbose_table_shows_steps_and_failed_checks_with_expected_and_actual(document):
    text = render_table(document, verbose=True)
    assert "GET /me -> 403" in text
    assert 'expected: "pro"' in text
    assert 'actual:   "free"' in text


def test_markdown_has_the_sticky_marker_only_when_asked(document):
    assert render_markdown(document, sticky_marker=True).startswith(STICKY_MARKER)
    assert STICKY_MARKER not in render_markdown(document, sticky_marker=False)


def test_markdown_escapes_hostile_names(document):
    text = render_markdown(document, sticky_marker=True)
    table_rows = [line for line in text.splitlines() if line.startswith("| important")]
    assert len(table_rows) == 1
    row = table_rows[0]
    header = next(line for line in text.splitlines() if line.startswith("| Tier"))
    assert row.count(" | ") == header.count(" | ")  # pipes in the name are escaped
    assert "<b>" not in text and "[x](http" not in text and " @team" not in text


def test_junit_is_valid_xml_with_one_testcase_per_scenario(document):
    root = ET.fromstring(render_junit(document, detail="full"))
    cases = root.findall(".//testcase")
    assert len(cases) == 3
    names = {case.get("name") for case in cases}
    assert any(name and name.startswith("Ünïcode <b>&amp;") for name in names)
    failed = [case for case in cases if case.find("failure") is not None]
    assert [case.get("classname") for case in failed] == ["converge.critical"]
    assert "plan" in (failed[0].find("failure").text or "")


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, document):
    target = tmp_path / "reports" / "latest.json"
    write_report_atomic(document, target)
    assert json.loads(target.read_text()) == document
    assert [p.name for p in target.parent.iterdir()] == ["latest.json"]


def test_a_failed_write_keeps_the_previous_report(tmp_path, document):
    target = tmp_path / "out" / "latest.json"
    write_report_atomic(document, target)
    before = target.read_text()
    with pytest.raises(TypeError):
        write_report_atomic({"not": object()}, target)
    assert target.read_text() == before
    assert [p.name for p in target.parent.iterdir()] == ["latest.json"]


def test_load_report_round_trips_and_rejects_other_json(tmp_path, document):
    target = tmp_path / "r.json"
    write_report_atomic(document, target)
    assert load_report(target) == document
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ReportError, match="not a converge report"):
        load_report(tmp_path / "other.json")
    with pytest.raises(ReportError, match="no such report"):
        load_report(tmp_path / "missing.json")



def test_load_report_refuses_deeply_nested_json_with_a_message(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ReportError, match="nested too deeply"):
        load_report(path)

def test_progress_is_silent_for_tiny_runs_and_periodic_in_logs():
    from converge.progress import Progress

    now = [0.0]
    stream = io.StringIO()
    quick = Progress(3, stream, live=False, clock=lambda: now[0])
    for _ in range(3):
        quick.advance("s", True)
    assert stream.getvalue() == ""

    slow = Progress(100, stream, live=False, plain_interval=10, clock=lambda: now[0])
    for _ in range(50):
        now[0] += 1
        slow.advance("name", False)
    lines = stream.getvalue().splitlines()
    assert 3 <= len(lines) <= 6
    assert lines[-1].startswith("converge: ") and "with failed checks" in lines[-1]


def test_reading_many_scenario_files_shows_progress_as_runs_do(tmp_path, monkeypatch):
    import functools

    from converge import engine, progress

    for i in range(30):
        folder = tmp_path / "critical"
        folder.mkdir(exist_ok=True)
        (folder / f"s{i:02d}.yaml").write_text(f"name: S{i}\nsteps: [{{path: /a}}]\n")
    now = [0.0]

    def ticking() -> float:
        now[0] += 1  # a second per file: every file is past the quiet start and the interval
        return now[0]

    monkeypatch.setattr(engine, "Progress", functools.partial(
        progress.Progress, live=False, plain_interval=5.0, clock=ticking
    ))
    stream = io.StringIO()
    assert len(engine.load(tmp_path, err=stream)) == 30
    lines = stream.getvalue().splitlines()
    assert 3 <= len(lines) <= 8, "a line every five (fake) seconds, after the quiet start"
    assert all(line.startswith("converge: ") for line in lines)
    assert "/30 scenario files read (" in lines[0] and "critical/s" in lines[0]


def test_live_progress_rewrites_one_line_and_clears_it():
    from converge.progress import Progress

    now = [10.0]
    stream = io.StringIO()
    live = Progress(5, stream, live=True, quiet_seconds=0, clock=lambda: now[0])
    for _ in range(3):
        now[0] += 1
        live.advance("x", True)
    live.close()
    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") >= 3
    assert text.endswith("\r\x1b[2K")


# --- naming what failed, and the JUnit conventions ----------------------------------------------

JUNIT_XSD = Path(__file__).parent / "resources" / "junit.xsd"


def junit_schema():
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(JUNIT_XSD)))


def assert_valid_junit(text: str) -> None:
    from lxml import etree

    schema = junit_schema()
    document = etree.fromstring(text.encode("utf-8"))
    assert schema.validate(document), schema.error_log


@pytest.fixture
def step_failures(http_server: TestServer, tmp_path: Path) -> dict:
    """A critical scenario with a failed check in step 1 and a step 2 that cannot be sent, an
    important one and a nice-to-have one below their thresholds, and a passing one."""
    http_server.json("/items", {"id": "it_1", "count": 2}, status=201, method="POST")
    http_server.json("/ok", {"ok": True})
    root = write_scenarios(tmp_path / "s", {
        "critical/items.yaml": """
            name: Items
            steps:
              - name: Create an item
                method: POST
                path: /items
                expect:
                  status: 201
                  body_equals: {count: 3}
                capture: {item: response.missing}
              - name: Read it back
                path: /items/{{item}}
                expect:
                  status: 200
                  body_contains: [it_1]
            """,
        "important/warn.yaml": "name: Warned\nsteps: [{name: Nope, path: /nope}]\n",
        "nice-to-have/info.yaml": "name: Informed\nsteps: [{name: Nope, path: /nope}]\n",
        "critical/ok.yaml": "name: Fine\nsteps: [{name: Ok, path: /ok}]\n",
    })
    scenarios = load_dir(root)
    runs = run_all(scenarios, RunnerConfig(api_url=http_server.url))
    results = [score(s, r, DEFAULT_THRESHOLDS) for s, r in zip(scenarios, runs, strict=True)]
    return build_report(
        results, api_url=http_server.url, scenarios_dir=str(root), started_at=START,
        finished_at=START + timedelta(seconds=1), exit_code=1, error=None,
        thresholds=DEFAULT_THRESHOLDS, runs=1, redactor=Redactor([]),
    )


def items(document: dict) -> dict:
    return next(s for s in document["scenarios"] if s["name"] == "Items")


def test_the_report_keeps_the_line_of_every_step_and_check(step_failures):
    steps = items(step_failures)["steps"]
    assert [step["line"] for step in steps] == [4, 11]  # the file starts with a blank line
    assert [check["line"] for check in steps[0]["checks"]] == [8, 9, 10]
    assert schema_problems(step_failures) == []


def test_failure_lines_name_the_step_and_where_the_check_is_written(step_failures):
    lines = failure_lines(items(step_failures))
    assert lines == [
        'step 1 "Create an item" (POST /items), critical/items.yaml:9: body_equals count: '
        + next(c["message"] for c in items(step_failures)["steps"][0]["checks"]
               if c["kind"] == "body_equals"),
        'step 1 "Create an item" (POST /items), critical/items.yaml:10: capture item: '
        + items(step_failures)["steps"][0]["checks"][2]["message"],
        'step 2 "Read it back" (GET /items/{{item}}), critical/items.yaml:11: '
        + items(step_failures)["steps"][1]["error"] + " (2 checks fail)",
    ]
    assert "not sent" in lines[-1]


def test_not_sent_is_said_once_per_step_everywhere(step_failures):
    reason = items(step_failures)["steps"][1]["error"]
    assert reason.startswith("not sent:")
    for name, text in {
        "verbose": render_table(step_failures, verbose=True),
        "markdown": render_markdown(step_failures, detail="full"),
        "junit": render_junit(step_failures, detail="full"),
    }.items():
        assert text.count(reason[:20]) == 1, name


def test_verbose_names_each_step_by_position_and_name_with_its_checks_lines(step_failures):
    text = render_table(step_failures, verbose=True)
    assert 'step 1 "Create an item": POST /items -> 201' in text
    assert "x body_equals count, critical/items.yaml:9" in text
    assert 'step 2 "Read it back": GET /items/{{item}} -> ---' in text
    assert "x status, critical/items.yaml:14" in text


def test_junit_fails_critical_passes_the_others_with_a_warning_and_validates(step_failures):
    text = render_junit(step_failures, detail="full")
    assert_valid_junit(text)
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["Items"].find("failure") is not None
    assert "critical/items.yaml:9" in cases["Items"].find("failure").text
    for name, tier in (("Warned", "important"), ("Informed", "nice-to-have")):
        case = cases[name]
        assert case.find("failure") is None and case.find("error") is None, name
        out = case.find("system-out").text
        assert out.startswith(f"warning: {tier} scenario below its threshold"), out
        assert 'step 1 "Nope" (GET /nope)' in out
    assert cases["Fine"].find("failure") is None
    assert "warning" not in cases["Fine"].find("system-out").text


def test_junit_of_a_run_that_could_not_judge_is_an_error_case_and_validates():
    document = build_report(
        [], api_url="http://127.0.0.1:1", scenarios_dir="s", started_at=START,
        finished_at=START, exit_code=2, error="the API at http://127.0.0.1:1 does not answer",
        thresholds=DEFAULT_THRESHOLDS, runs=1, redactor=Redactor([]),
    )
    text = render_junit(document)
    assert_valid_junit(text)
    case = ET.fromstring(text).find(".//testcase")
    assert case.get("name") == "run" and case.find("error") is not None


def test_the_junit_schema_check_can_fail():
    from lxml import etree

    schema = junit_schema()
    nameless = etree.fromstring(b'<testsuites><testsuite name="x" tests="1">'
                                b"<testcase/></testsuite></testsuites>")
    misplaced = etree.fromstring(b'<testsuites><testsuite name="x" tests="1">'
                                 b'<testcase name="a"><bogus/></testcase></testsuite></testsuites>')
    assert not schema.validate(nameless) and not schema.validate(misplaced)


def test_markdown_names_the_step_and_line_of_each_failed_check(step_failures):
    text = render_markdown(step_failures, detail="full")
    assert 'step 1 "Create an item" (POST /items), critical/items.yaml:9: body\\_equals' in text


# --- percentages as displayed ------------------------------------------------------------------


def scored(passed: int, total: int, threshold: float) -> dict:
    """The report of one critical scenario whose one run held ``passed`` of ``total`` checks."""
    checks = tuple(
        CheckResult("status", "status", 200, 200 if i < passed else 500, i < passed, "")
        for i in range(total)
    )
    run = RunResult(steps=(StepResult("s", "GET", "/", 200, 1.0, None, checks),), duration_ms=1.0)
    scenario = Scenario(name="Checkout", priority="critical", file="critical/c.yaml", steps=())
    thresholds = {**DEFAULT_THRESHOLDS, "critical": threshold}
    result = score(scenario, [run], thresholds)
    return build_report(
        [result], api_url="http://127.0.0.1:9", scenarios_dir="s", started_at=START,
        finished_at=START + timedelta(seconds=1), exit_code=exit_code([result]), error=None,
        thresholds=thresholds, runs=1, redactor=Redactor([]),
    )


def renderings(document: dict) -> dict[str, str]:
    return {
        "table": render_table(document, verbose=True),
        "markdown": render_markdown(document),
        "junit": render_junit(document),
    }


def test_a_satisfaction_just_below_the_threshold_is_never_shown_as_the_threshold():
    document = scored(300, 353, 85)  # 84.985...%, scored as 84.99%: a FAIL
    assert document["scenarios"][0]["satisfaction"] == 84.99
    assert document["exit_code"] == 1
    for name, text in renderings(document).items():
        assert "84.99%" in text, name
        besides_the_threshold = text.replace("threshold 85%", "")
        assert not re.search(r"(?<![\d.])85(\.0+)?%", besides_the_threshold), f"{name} shows 85%"


def test_a_threshold_with_more_decimals_is_shown_whole():
    document = scored(17, 20, 85.001)  # exactly 85%: below a threshold of 85.001%
    assert document["exit_code"] == 1
    for name, text in renderings(document).items():
        assert "threshold 85%" not in text, name
    assert "threshold 85.001%" in render_junit(document)


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=400),
    data=st.data(),
    threshold=st.integers(min_value=0, max_value=100_000).map(lambda n: n / 1000),
)
def test_the_percentages_shown_agree_with_the_verdict(total, data, threshold):
    passed = data.draw(st.integers(min_value=0, max_value=total))
    document = scored(passed, total, threshold)
    scenario = document["scenarios"][0]
    cell = re.search(r"Checkout\s+\|?\s*([\d.]+)%", render_table(document))
    assert cell is not None and float(cell.group(1)) == scenario["satisfaction"]
    shown = re.search(r"satisfaction ([\d.]+)%.*threshold ([\d.]+)%", render_junit(document))
    if shown:  # a rendering that shows both shows them as the verdict compares them
        satisfaction, shown_threshold = float(shown.group(1)), float(shown.group(2))
        assert shown_threshold == threshold
        assert (satisfaction >= shown_threshold) == scenario["passed"]


# --- a large report: built redacted in one pass, written a scenario at a time ------------------

SECRET = "s3cr3t-token-zq"


def _filled(cls: type, **given: object) -> object:
    """An instance of a result type with every text field holding the secret (each field its
    own text), found from the type's fields: a text field added later is covered too."""
    import dataclasses

    values: dict[str, object] = {}
    for item in dataclasses.fields(cls):
        if item.name in given:
            values[item.name] = given[item.name]
        elif item.type in ("str", "str | None", "Any"):
            values[item.name] = f"{item.name}: {SECRET}"
        elif item.type in ("int", "int | None"):
            values[item.name] = 1
        elif item.type == "float":
            values[item.name] = 1.0
        elif item.type == "bool":
            values[item.name] = True
    return cls(**values)


def test_every_text_a_result_holds_is_redacted_in_the_report():
    from converge.model import FlakyCheck, ScenarioResult

    check = _filled(CheckResult, kind="body_equals", expected={SECRET: [SECRET]})
    step = _filled(StepResult, checks=(check,))
    run = _filled(RunResult, steps=(step,), secrets=frozenset({SECRET}))
    flaky = _filled(FlakyCheck, kind="body_equals")
    result = _filled(
        ScenarioResult, priority="critical", outcome="PASS", gate="mean", runs=(run, run),
        flaky_checks=(flaky,),
    )
    document = build_report(
        [result], api_url=f"http://x/{SECRET}", scenarios_dir=f"/s/{SECRET}", started_at=START,
        finished_at=START, exit_code=2, error=f"error: {SECRET}", thresholds=DEFAULT_THRESHOLDS,
        runs=2, redactor=Redactor(), shard={"note": SECRET}, merged={SECRET: 1},
    )
    text = json.dumps(document, ensure_ascii=False)
    assert SECRET not in text
    # Each text field is there, masked: none was left out of the report to pass this test.
    for name in ("name: ", "file: ", "path: ", "method: ", "error: ", "target: ", "message: "):
        assert f"{name}[REDACTED]" in text


def test_the_report_text_is_the_documents_json_written_a_scenario_at_a_time(tmp_path, document):
    from converge.report import report_chunks, report_json

    document = {**document, "after": {"ünï": [1.5, None, "\u2028"]}}  # a key after the scenarios
    expected = json.dumps(document, ensure_ascii=False) + "\n"
    assert report_json(document) == expected
    chunks = list(report_chunks(document))
    assert len(chunks) > len(document["scenarios"])  # never the whole text in one piece
    write_report_atomic(document, tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == expected


def test_a_long_run_says_when_it_writes_its_report_and_a_short_one_says_nothing():
    from converge.progress import note

    stream = io.StringIO()
    note(stream, "writing the report of 3 scenarios", since=10.0, clock=lambda: 11.0)
    assert stream.getvalue() == ""
    note(stream, "writing the report of 3 scenarios", since=10.0, clock=lambda: 13.0)
    assert stream.getvalue() == "converge: writing the report of 3 scenarios\n"


def test_a_run_past_the_quiet_start_says_it_writes_the_report(http_server, tmp_path, monkeypatch):
    import functools

    from converge import engine, progress
    from converge.engine import RunOptions, execute

    root = write_scenarios(tmp_path / "s", {
        "critical/a.yaml": "name: A\nsteps: [{path: /echo}]\n",
        "critical/b.yaml": "name: B\nsteps: [{path: /echo}]\n",
    })
    monkeypatch.setattr(engine, "note", functools.partial(progress.note, quiet_seconds=0))
    err = io.StringIO()
    options = RunOptions(
        scenarios_dir=root, api_url=http_server.url, report_file=tmp_path / "r.json"
    )
    assert execute(options, io.StringIO(), err) == 0
    assert "converge: writing the report of 2 scenarios\n" in err.getvalue()


def test_an_api_sending_a_lone_surrogate_still_gets_every_report_written(http_server, tmp_path):
    # "\ud800" is valid JSON text, but its value is no UTF-8 character: a hostile API once
    # crashed the report's writing with it, leaving the previous verdict in place.
    import subprocess
    import sys

    from converge.engine import RunOptions, execute

    http_server.route("GET", "/s", Reply(
        body=b'{"x": "\\ud800 tail"}', headers={"Content-Type": "application/json"}
    ))
    root = write_scenarios(tmp_path / "s", {
        "critical/a.yaml": """
            name: A lone surrogate
            steps:
              - path: /s
                expect: {status: 200, body_equals: {x: a}}
            """,
    })
    out = tmp_path / "out"
    options = RunOptions(
        scenarios_dir=root, api_url=http_server.url, report_file=out / "r.json",
        markdown_file=out / "r.md", junit_file=out / "r.xml", detail="full",
    )
    assert execute(options, io.StringIO(), io.StringIO()) == 1
    document = load_report(out / "r.json")
    actual = [c["actual"] for c in document["scenarios"][0]["steps"][0]["checks"]][-1]
    assert actual == "\ud800 tail"  # written as the API's own escape, read back as sent
    for name in ("r.md", "r.xml"):
        assert "\\ud800 tail" in (out / name).read_text(encoding="utf-8")
    ET.parse(out / "r.xml")
    done = subprocess.run(
        [sys.executable, "-m", "converge", "run", "--scenarios-dir", str(root),
         "--api-url", http_server.url, "--report-file", "-", "-v"],
        capture_output=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 1, done.stderr.decode("utf-8", "replace")
    assert json.loads(done.stdout)["scenarios"][0]["result"] == "FAIL"
    # Rendered again from the report: every rendering shows the value escaped, as it shows any
    # invisible character (converge.visible), never the raw surrogate.
    for form in ("markdown", "junit", "table"):
        shown = subprocess.run(
            [sys.executable, "-m", "converge", "report", str(out / "r.json"), "--format", form,
             "--detail", "full", "-v"],
            capture_output=True, timeout=120, check=False, cwd=tmp_path,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        assert shown.returncode == 0, shown.stderr.decode("utf-8", "replace")
        assert b"\\ud800 tail" in shown.stdout
