from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from converge.engine import RunOptions, execute, select
from converge.errors import ApiUnreachableError, ConfigError, NoScenariosError, ScenarioError
from converge.model import Scenario
from converge.report import schema_problems
from converge.scenario import load_dir
from tests.support.servers import free_port


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_execute_returns_the_exit_code_and_writes_every_output(http_server, tmp_path):
    write(tmp_path / "s", "critical/a.yaml", "name: A\nsteps: [{path: /echo}]\n")
    options = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=http_server.url,
        report_file=tmp_path / "r.json", markdown_file=tmp_path / "r.md",
        junit_file=tmp_path / "r.xml",
    )
    out, err = io.StringIO(), io.StringIO()
    assert execute(options, out, err) == 0
    assert "PASS" in out.getvalue()
    assert schema_problems(json.loads((tmp_path / "r.json").read_text())) == []
    assert (tmp_path / "r.md").exists() and (tmp_path / "r.xml").exists()


@pytest.mark.parametrize(
    ("files", "api", "error"),
    [
        ({"critical/a.yaml": "name: A\nsteps: [{path: /}]\n"}, "dead", ApiUnreachableError),
        ({"critical/a.yaml": "name: A\nsteps: [{path: x}]\n"}, "live", ScenarioError),
        ({}, "live", NoScenariosError),
    ],
)
def test_exit_2_errors_are_raised_after_the_report_is_written(
    http_server, tmp_path, files, api, error
):
    root = tmp_path / "s"
    root.mkdir()
    for name, text in files.items():
        write(root, name, text)
    url = http_server.url if api == "live" else f"http://127.0.0.1:{free_port()}"
    report = tmp_path / "r.json"
    options = RunOptions(scenarios_dir=root, api_url=url, report_file=report)
    with pytest.raises(error):
        execute(options, io.StringIO(), io.StringIO())
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2 and document["error"]
    assert schema_problems(document) == []



def test_a_crash_still_replaces_the_previous_report(http_server, tmp_path, monkeypatch):
    # Otherwise CI would post the last run's PASS next to a job that failed.
    write(tmp_path / "s", "critical/a.yaml", "name: A\nsteps: [{path: /echo}]\n")
    report = tmp_path / "r.json"
    options = RunOptions(scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report)
    assert execute(options, io.StringIO(), io.StringIO()) == 0

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("converge.engine.score", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        execute(options, io.StringIO(), io.StringIO())
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2
    assert document["error"] == "internal error in converge: RuntimeError: a bug"
    assert schema_problems(document) == []

def test_error_messages_are_redacted_before_they_reach_the_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDOUT_PAT", "ghp_secretpat_abcdef")
    options = RunOptions(scenarios_dir=tmp_path / "ghp_secretpat_abcdef", api_url="http://127.0.0.1:1",
                         report_file=tmp_path / "r.json")
    with pytest.raises(NoScenariosError) as raised:
        execute(options, io.StringIO(), io.StringIO())
    assert "ghp_secretpat_abcdef" not in str(raised.value)
    assert "ghp_secretpat_abcdef" not in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize("change", [{"runs": 0}, {"workers": 0}, {"timeout": 0},
                                    {"runs": 10**23}, {"workers": 10**6},  # memory, threads
                                    {"timeout": 1e300},  # the socket raised OverflowError
                                    {"thresholds": {"critical": 101, "important": 85,
                                                    "nice-to-have": 85}}])
def test_impossible_options_are_config_errors(tmp_path, change):
    options = RunOptions(scenarios_dir=tmp_path, api_url="http://127.0.0.1:1", **change)
    with pytest.raises(ConfigError) as raised:
        execute(options, io.StringIO(), io.StringIO())
    assert f"--{next(iter(change))}" in str(raised.value) or "threshold" in str(raised.value)


def test_impossible_options_still_replace_the_previous_report(http_server, tmp_path):
    write(tmp_path / "s", "critical/a.yaml", "name: A\nsteps: [{path: /echo}]\n")
    report = tmp_path / "r.json"
    options = RunOptions(scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report)
    assert execute(options, io.StringIO(), io.StringIO()) == 0

    bad = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report, runs=0
    )
    with pytest.raises(ConfigError):
        execute(bad, io.StringIO(), io.StringIO())
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2
    assert "--runs" in document["error"]
    assert document["scenarios"] == []
    assert schema_problems(document) == []


def test_select_filters_by_tier_and_case_insensitive_name():
    scenarios = [Scenario("Login works", "critical", "a.yaml", ()),
                 Scenario("Billing", "important", "b.yaml", ())]
    assert [s.name for s in select(scenarios, None, "LOGIN")] == ["Login works"]
    assert [s.name for s in select(scenarios, "important", None)] == ["Billing"]
    with pytest.raises(NoScenariosError, match="priority nice-to-have"):
        select(scenarios, "nice-to-have", None)


def test_an_api_that_alternates_200_and_500_gets_exact_scores_bounds_and_one_flaky_check(
    http_server, tmp_path
):
    from itertools import count
    from threading import Lock

    from tests.support.servers import Reply

    answers, lock = count(), Lock()

    def alternate(_request: object) -> Reply:
        with lock:
            status = 200 if next(answers) % 2 == 0 else 500
        return Reply(status=status, json={"ok": status == 200})

    http_server.route("GET", "/flip", alternate)
    http_server.json("/steady", {"ok": True})
    write(tmp_path / "s", "critical/flip.yaml", """\
name: Flip
steps:
  - {name: steady, path: /steady, expect: {status: 200}}
  - {name: flip, path: /flip, expect: {status: 200}}
""")
    report = tmp_path / "r.json"
    options = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report, runs=6,
        workers=3, gate="lower-bound",
    )
    out = io.StringIO()
    assert execute(options, out, io.StringIO()) == 1  # 75% is below 85 on either gate
    document = json.loads(report.read_text())
    assert schema_problems(document) == []
    assert document["gate"] == "lower-bound"
    scenario = document["scenarios"][0]
    # Six /flip answers, whatever the workers' interleaving: exactly three 200s, three 500s.
    assert (scenario["checks_passed"], scenario["checks_total"]) == (9, 12)
    assert scenario["satisfaction"] == 75.0
    # Wilson 95% lower bounds from statsmodels' proportion_confint(method="wilson"):
    # 9 of 12 -> 0.46769466506643426; 3 of 6 -> 0.18761630648265054.
    assert scenario["satisfaction_lower_bound"] == 46.77
    assert scenario["pass_rate"] == 0.5
    assert scenario["pass_rate_lower_bound"] == 0.1876
    assert scenario["runs_needed"] is None  # 75% can never clear 85
    assert scenario["flaky_checks"] == [
        {"step": 2, "step_name": "flip", "kind": "status", "target": "status",
         "passed": 3, "runs": 6, "pass_rate": 0.5}
    ]
    assert document["summary"]["flaky_checks"] == 1
    table = out.getvalue()
    assert "46.77%" in table
    assert "step 2 'flip': status held in 3 of 6 runs (50%)" in table
    assert "no number of runs at this rate can clear it" in table


# --- a folder of many files: read while the first scenarios run ------------------------------


def many_files(root: Path, count: int, bad: dict[int, str] | None = None) -> None:
    for i in range(count):
        text = (bad or {}).get(i) or f"name: S{i:02d}\nsteps: [{{path: /echo}}]\n"
        write(root, f"critical/s{i:02d}.yaml", text)


@pytest.fixture
def readers(monkeypatch):
    """Many files are read in a worker process whatever the machine's cores."""
    import multiprocessing

    from converge import scenario as scenario_module

    monkeypatch.setattr(scenario_module, "_readers_for", lambda files: 1)
    yield
    assert not multiprocessing.active_children(), "the reading process is gone"


def test_a_streamed_run_scores_what_a_run_read_first_scores(
    http_server, tmp_path, readers, monkeypatch
):
    from converge import scenario as scenario_module

    many_files(tmp_path / "s", 40)
    reports = []
    for readers_used in (1, 0):
        monkeypatch.setattr(scenario_module, "_readers_for", lambda files, n=readers_used: n)
        report = tmp_path / f"r-{readers_used}.json"
        options = RunOptions(
            scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report,
            verbose=True,
        )
        err = io.StringIO()
        assert execute(options, io.StringIO(), err) == 0
        reports.append(json.loads(report.read_text()))
        unit = "scenario file(s)" if readers_used else "scenario(s)"
        assert f"converge: 40 {unit} x 1 run(s) against {http_server.url}" in err.getvalue()
    assert [s["name"] for s in reports[0]["scenarios"]] == [f"S{i:02d}" for i in range(40)]
    assert [(s["name"], s["satisfaction"]) for s in reports[0]["scenarios"]] == [
        (s["name"], s["satisfaction"]) for s in reports[1]["scenarios"]
    ]
    assert len(http_server.sent("/echo")) == 80


def test_a_bad_file_among_many_is_exit_2_with_no_results_though_earlier_ones_ran(
    http_server, tmp_path, readers
):
    many_files(tmp_path / "s", 40, bad={35: "name: S35\nsteps: [{path: /echo, stauts: 200}]\n"})
    report = tmp_path / "r.json"
    options = RunOptions(scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=report)
    with pytest.raises(ScenarioError) as raised:
        execute(options, io.StringIO(), io.StringIO())
    with pytest.raises(ScenarioError) as validated:
        load_dir(tmp_path / "s")
    assert raised.value.problems == validated.value.problems
    document = json.loads(report.read_text())
    assert document["exit_code"] == 2
    assert "s35.yaml" in document["error"]
    assert document["scenarios"] == [], "no result of a run whose holdouts are not all valid"
    assert len(http_server.sent("/echo")) <= 35, "nothing after the bad file"


def test_what_the_files_say_comes_before_an_api_that_does_not_answer(tmp_path, readers):
    many_files(tmp_path / "s", 40, bad={39: "name: S39\nsteps: [{path: x}]\n"})
    options = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=f"http://127.0.0.1:{free_port()}",
        report_file=tmp_path / "r.json",
    )
    with pytest.raises(ScenarioError, match=r"s39\.yaml"):
        execute(options, io.StringIO(), io.StringIO())


def test_a_filter_that_leaves_none_of_many_files_sends_nothing(http_server, tmp_path, readers):
    many_files(tmp_path / "s", 40)
    options = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=tmp_path / "r.json",
        name_filter="nothing like it",
    )
    with pytest.raises(NoScenariosError, match=r"\(40 scenarios loaded\)"):
        execute(options, io.StringIO(), io.StringIO())
    assert http_server.requests == [], "not even the pre-flight request"


def test_a_duplicated_name_among_many_files_is_exit_2(http_server, tmp_path, readers):
    many_files(tmp_path / "s", 40, bad={30: "name: S03\nsteps: [{path: /echo}]\n"})
    options = RunOptions(
        scenarios_dir=tmp_path / "s", api_url=http_server.url, report_file=tmp_path / "r.json",
    )
    with pytest.raises(ScenarioError, match="S03"):
        execute(options, io.StringIO(), io.StringIO())
    assert json.loads((tmp_path / "r.json").read_text())["scenarios"] == []
