"""``converge run --replay REPORT --scenario NAME --run K``: one recorded trajectory again."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from converge import cli
from converge.errors import ConfigError, ReportError, guard
from tests.support.servers import Recorded, TestServer
from tests.support.stack import ReferenceStack

ECHO = "name: Echo\nsteps: [{name: echo, path: /echo}]\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def converge(*args: str) -> tuple[int, str, str]:
    """``converge`` in this process, as the console script runs it (exit codes through guard)."""
    parser = cli.build_parser()
    arguments = parser.parse_args(list(args))
    out, err = io.StringIO(), io.StringIO()
    code = 2
    with pytest.raises(SystemExit) as exited, guard(err):
        code = arguments.handler(arguments, out, err)
        raise SystemExit(code)
    return int(exited.value.code or 0), out.getvalue(), err.getvalue()


def seeds_sent(requests: list[Recorded]) -> list[str]:
    return [r.headers.get("baggage", "") for r in requests]


def recorded(http_server: TestServer, tmp_path: Path, runs: int = 3) -> dict[str, Any]:
    write(tmp_path / "s", {"critical/echo.yaml": ECHO})
    code, _, _ = converge(
        "run", "--scenarios-dir", str(tmp_path / "s"), "--api-url", http_server.url,
        "--report-file", str(tmp_path / "r.json"), "--runs", str(runs), "--seed", "4242",
    )
    assert code == 0
    document: dict[str, Any] = json.loads((tmp_path / "r.json").read_text())
    return document


def test_a_replay_sends_the_recorded_seed_again_and_shows_the_run_verbosely(
    http_server, tmp_path
):
    document = recorded(http_server, tmp_path)
    seed = document["scenarios"][0]["runs"][1]["seed"]
    http_server.requests.clear()
    code, out, err = converge(
        "run", "--replay", str(tmp_path / "r.json"), "--scenario", "Echo", "--run", "2",
        "--api-url", http_server.url,
    )
    assert code == 0
    assert seeds_sent(http_server.sent("/echo")) == [f"converge-seed={seed}"]
    assert f"replaying run 2 of 'Echo' with seed {seed}" in err
    assert "GET /echo -> 200" in out  # verbose: every step
    # The report replayed stays as it was: a replay writes one only where told to.
    assert json.loads((tmp_path / "r.json").read_text()) == document
    assert not (tmp_path / "reports").exists()


def test_a_replay_runs_the_scenarios_folder_and_rules_of_the_report(http_server, tmp_path):
    write(tmp_path / "s", {"critical/echo.yaml": ECHO})
    converge(
        "run", "--scenarios-dir", str(tmp_path / "s"), "--api-url", http_server.url,
        "--report-file", str(tmp_path / "r.json"), "--threshold", "critical=100",
        "--gate", "lower-bound",
    )
    code, _, _ = converge(
        "run", "--replay", str(tmp_path / "r.json"), "--scenario", "Echo", "--run", "1",
        "--api-url", http_server.url, "--report-file", str(tmp_path / "again.json"),
    )
    again = json.loads((tmp_path / "again.json").read_text())
    assert code == 1  # one check cannot hold a lower bound of 100
    assert again["gate"] == "lower-bound" and again["thresholds"]["critical"] == 100
    assert [s["name"] for s in again["scenarios"]] == ["Echo"]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--scenario", "Nope", "--run", "1"], ReportError, "no scenario named 'Nope'"),
        (["--scenario", "Echo", "--run", "4"], ConfigError, "--run 4: 'Echo' has runs 1 to 3"),
        (["--scenario", "Echo"], ConfigError, "--replay needs --scenario NAME and --run K"),
        (["--scenario", "Echo", "--run", "1", "--runs", "2"], ConfigError, "--runs"),
    ],
)
def test_an_unclear_replay_is_a_one_line_error(http_server, tmp_path, args, error, message):
    recorded(http_server, tmp_path)
    code, _, err = converge("run", "--replay", str(tmp_path / "r.json"), *args,
                            "--api-url", http_server.url)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_scenario_and_run_without_replay_are_refused(tmp_path):
    code, _, err = converge("run", "--scenario", "Echo", "--run", "1")
    assert code == 2 and "use them with --replay" in err


def test_a_report_without_seeds_cannot_be_replayed(http_server, tmp_path):
    document = recorded(http_server, tmp_path, runs=1)
    for run in document["scenarios"][0]["runs"]:
        del run["seed"]
    (tmp_path / "old.json").write_text(json.dumps(document))
    code, _, err = converge("run", "--replay", str(tmp_path / "old.json"), "--scenario", "Echo",
                            "--run", "1", "--api-url", http_server.url)
    assert code == 2 and "has no recorded seed" in err


ANALYSE = """\
name: What the model said
steps:
  - name: analyse
    method: POST
    path: /v1/analyses
    headers: {Authorization: "Bearer {{pro_user_token}}"}
    body: {text: "The glue held well but the cap broke and the smell was bad; good price though."}
    expect:
      status: 201
      body_equals: {result.sentiment: neutral}
  - name: analyse again
    method: POST
    path: /v1/analyses
    headers: {Authorization: "Bearer {{pro_user_token}}"}
    body: {text: "The glue held well but the cap broke and the smell was bad; good price though."}
    expect:
      status: 201
      body_equals: {result.sentiment: neutral}
"""


def answers(run: dict[str, Any]) -> list[Any]:
    return [check["actual"] for step in run["steps"] for check in step["checks"]]


def test_a_replay_against_the_twins_gets_the_recorded_answers(
    reference_stack: ReferenceStack, tmp_path: Path
) -> None:
    anthropic = reference_stack.url("mock-anthropic")
    httpx.post(f"{anthropic}/_twin/variability", json={"level": 1}).raise_for_status()
    try:
        write(tmp_path / "s", {"important/said.yaml": ANALYSE})
        twin = ("--twin-url", anthropic)
        _, _, err = converge(
            "run", "--scenarios-dir", str(tmp_path / "s"), "--api-url", reference_stack.api_url,
            "--report-file", str(tmp_path / "r.json"), "--runs", "6", "--seed", "7", *twin,
        )
        assert "cannot reset" not in err, err
        runs = json.loads((tmp_path / "r.json").read_text())["scenarios"][0]["runs"]
        # Variability makes the runs differ (the borderline text is not always neutral)...
        assert len({json.dumps(answers(run)) for run in runs}) > 1
        for number in (2, 5):
            _, _, err = converge(
                "run", "--replay", str(tmp_path / "r.json"), "--scenario", "What the model said",
                "--run", str(number), "--api-url", reference_stack.api_url, *twin,
                "--report-file", str(tmp_path / f"replay{number}.json"),
            )
            assert "cannot reset" not in err, err
            again = json.loads((tmp_path / f"replay{number}.json").read_text())
            # ...and a replay of one of them answers as it did, step after step.
            assert answers(again["scenarios"][0]["runs"][0]) == answers(runs[number - 1])
    finally:
        httpx.post(f"{anthropic}/_twin/variability", json={"level": 0}).raise_for_status()
