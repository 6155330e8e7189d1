"""Per-run seeds: sent with every request of a run, recorded in the report, repeatable."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from converge import seeds
from converge.engine import RunOptions, execute
from converge.errors import ConfigError
from converge.model import Scenario
from converge.report import schema_problems
from converge.runner import RunnerConfig, run_all
from converge.scenario import load_dir
from tests.support.servers import Recorded, Reply, TestServer, free_port

SCENARIO = "name: Echo twice\nsteps: [{path: /echo}, {path: /echo}]\n"


def scenarios(root: Path, files: dict[str, str] | None = None) -> list[Scenario]:
    for name, text in (files or {"critical/a.yaml": SCENARIO}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return load_dir(root)


def seed_sent(request: Recorded) -> int:
    value = {k.lower(): v for k, v in request.headers.items()}["baggage"]
    key, _, seed = value.partition("=")
    assert key == "converge-seed"
    return int(seed)


def test_run_seeds_derive_from_the_base_seed_scenario_and_run():
    assert seeds.run_seed(7, "critical/a.yaml", 1) == seeds.run_seed(7, "critical/a.yaml", 1)
    distinct = {
        seeds.run_seed(base, file, run)
        for base in (7, 8)
        for file in ("critical/a.yaml", "critical/b.yaml")
        for run in (1, 2, 3)
    }
    assert len(distinct) == 12
    assert all(1 <= seed <= seeds.MAX_SEED for seed in distinct)


def test_every_request_of_a_run_carries_its_seed_and_runs_differ(http_server, tmp_path):
    loaded = scenarios(tmp_path / "s")
    runs = run_all(loaded, RunnerConfig(api_url=http_server.url, runs=3, workers=2, seed=11))[0]
    recorded = [run.seed for run in runs]
    assert recorded == [seeds.run_seed(11, "critical/a.yaml", n) for n in (1, 2, 3)]
    sent = [seed_sent(request) for request in http_server.requests]
    assert sorted(sent) == sorted(seed for seed in recorded for _step in range(2))


def test_a_scenarios_own_baggage_header_is_sent_unchanged(http_server, tmp_path):
    loaded = scenarios(
        tmp_path / "s",
        {"critical/a.yaml": "name: B\nsteps: [{path: /echo, headers: {baggage: 'team=x'}}]\n"},
    )
    run_all(loaded, RunnerConfig(api_url=http_server.url, seed=5))
    assert http_server.requests[0].headers["baggage"] == "team=x"


def test_before_run_sees_each_seed_before_the_runs_first_request(http_server, tmp_path):
    loaded = scenarios(tmp_path / "s")
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def before(scenario: Scenario, seed: int) -> None:
        with lock:
            seen.append((seed, len(http_server.sent("/echo"))))

    runs = run_all(
        loaded, RunnerConfig(api_url=http_server.url, runs=2, workers=1, seed=3), before_run=before
    )[0]
    assert seen == [(runs[0].seed, 0), (runs[1].seed, 2)]


def test_the_report_records_the_base_seed_and_every_runs_seed(http_server, tmp_path):
    root = tmp_path / "s"
    scenarios(root)
    documents = []
    for attempt in ("a", "b"):
        report = tmp_path / f"{attempt}.json"
        options = RunOptions(
            scenarios_dir=root, api_url=http_server.url, report_file=report, runs=2, seed=99
        )
        assert execute(options, io.StringIO(), io.StringIO()) == 0
        documents.append(json.loads(report.read_text()))
    first, second = documents
    assert schema_problems(first) == []
    assert first["seed"] == 99
    run_seeds = [run["seed"] for run in first["scenarios"][0]["runs"]]
    assert run_seeds == [seeds.run_seed(99, "critical/a.yaml", n) for n in (1, 2)]
    assert [run["seed"] for run in second["scenarios"][0]["runs"]] == run_seeds


def test_without_a_seed_each_converge_run_draws_a_new_one(http_server, tmp_path):
    root = tmp_path / "s"
    scenarios(root)
    base_seeds = set()
    for attempt in range(3):
        report = tmp_path / f"{attempt}.json"
        options = RunOptions(scenarios_dir=root, api_url=http_server.url, report_file=report)
        execute(options, io.StringIO(), io.StringIO())
        base_seeds.add(json.loads(report.read_text())["seed"])
    assert len(base_seeds) == 3


@pytest.mark.parametrize("seed", [0, seeds.MAX_SEED + 1])
def test_a_seed_out_of_range_is_a_config_error_naming_the_option(tmp_path, seed):
    options = RunOptions(scenarios_dir=tmp_path, api_url="http://127.0.0.1:1", seed=seed,
                         report_file=tmp_path / "r.json")
    with pytest.raises(ConfigError, match="--seed"):
        execute(options, io.StringIO(), io.StringIO())
    assert schema_problems(json.loads((tmp_path / "r.json").read_text())) == []


def test_the_twins_are_reset_for_each_runs_seed_before_it_starts(http_server, tmp_path):
    twin = TestServer()
    twin.route("POST", "/_twin/reset", Reply(json={"status": "reset"}))
    twin.start()
    try:
        root = tmp_path / "s"
        scenarios(root)
        report = tmp_path / "r.json"
        options = RunOptions(
            scenarios_dir=root, api_url=http_server.url, report_file=report, runs=3, seed=21,
            twin_urls=(twin.url,),
        )
        err = io.StringIO()
        assert execute(options, io.StringIO(), err) == 0
    finally:
        twin.stop()
    assert not twin.running
    run_seeds = [run["seed"] for run in json.loads(report.read_text())["scenarios"][0]["runs"]]
    resets = [request.json for request in twin.sent("/_twin/reset")]
    assert sorted(resets, key=lambda r: r["seed"]) == sorted(
        ({"seed": str(seed)} for seed in run_seeds), key=lambda r: r["seed"]
    )
    assert err.getvalue() == ""


def test_a_twin_that_cannot_be_reset_is_one_warning_and_the_runs_go_on(http_server, tmp_path):
    root = tmp_path / "s"
    scenarios(root)
    gone = f"http://127.0.0.1:{free_port()}"
    options = RunOptions(
        scenarios_dir=root, api_url=http_server.url, report_file=tmp_path / "r.json", runs=3,
        twin_urls=(gone,),
    )
    err = io.StringIO()
    assert execute(options, io.StringIO(), err) == 0
    warnings = [line for line in err.getvalue().splitlines() if "cannot reset" in line]
    assert len(warnings) == 1 and gone in warnings[0]
