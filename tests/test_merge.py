"""`converge merge`: the shards' reports of one run become the report that run would have given;
anything else (a shard missing, twice, of another run, or that could not judge) is an exit 2 that
names the report, and the merged report is still written."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from converge import merge
from converge.engine import RunOptions, execute
from converge.errors import ConvergeError
from converge.report import render_junit, render_markdown, render_table, schema_problems
from converge.shards import Shard
from tests.support.processes import run_to_the_end
from tests.support.servers import Recorded, Reply, free_port

REPO = Path(__file__).resolve().parents[1]
SEED = 4242


def scenarios(root: Path) -> None:
    """Seven scenarios over the tiers: some always pass, one critical always fails, and some
    checks hold or not by the run's seed (flaky over runs, the same for the same seed)."""
    files = {
        "critical/login.yaml": """
            name: Login
            steps:
              - {path: /ok, expect: {status: 200, body_equals: {ok: true}}}
              - {path: /seeded, expect: {body_equals: {lucky: true}}}
        """,
        "critical/broken.yaml": """
            name: Broken
            steps:
              - {path: /ok, expect: {status: 201}}
        """,
        "critical/long.yaml": """
            name: Long
            steps:
              - {path: /ok, expect: {status: 200}}
              - {path: /ok, expect: {status: 200}}
              - {path: /ok, expect: {status: 200}}
              - {path: /seeded, expect: {status: 200}}
        """,
        "important/search.yaml": """
            name: Search
            steps:
              - {path: /seeded, expect: {body_equals: {lucky: true}}}
        """,
        "important/feedback.yaml": """
            name: Feedback
            steps:
              - {path: /ok, expect: {status: 200}}
        """,
        "nice-to-have/match.yaml": """
            name: Match
            steps:
              - {path: /seeded, expect: {body_equals: {lucky: false}}}
        """,
        "nice-to-have/extra.yaml": """
            name: Extra
            steps:
              - {path: /ok, expect: {status: 200}}
              - {path: /ok, expect: {status: 200}}
        """,
    }
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


def lucky(request: Recorded) -> Reply:
    seed = int(request.headers.get("baggage", "converge-seed=0").partition("=")[2])
    return Reply(json={"lucky": seed % 3 != 0})


@pytest.fixture
def api(http_server):
    http_server.json("/ok", {"ok": True})
    http_server.route("GET", "/seeded", lucky)
    return http_server


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    scenarios(tmp_path / "scenarios")
    return tmp_path


def run(folder: Path, url: str, report: str, **more: Any) -> dict[str, Any]:
    options = RunOptions(
        scenarios_dir=folder / "scenarios", api_url=url, report_file=folder / report,
        **{"seed": SEED, "runs": 4, **more},
    )
    with contextlib.suppress(ConvergeError):  # an exit 2: the report says it
        execute(options, io.StringIO(), io.StringIO())
    document: dict[str, Any] = json.loads((folder / report).read_text())
    return document


def shard_reports(folder: Path, url: str, total: int = 3, **more: Any) -> list[Path]:
    for k in range(1, total + 1):
        run(folder, url, f"shard-{k}.json", shard=Shard(k, total), **more)
    return [folder / f"shard-{k}.json" for k in range(1, total + 1)]


def merged(folder: Path, reports: list[Path], **more: Any) -> tuple[int, dict[str, Any], str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = merge.MergeOptions(
        reports=tuple(reports), report_file=folder / "merged.json", color="never", **more
    )
    try:
        code = merge.execute(options, out, err)
    except ConvergeError as error:
        code, message = error.exit_code, error.message
    else:
        message = ""
    document = json.loads((folder / "merged.json").read_text())
    assert schema_problems(document) == [], "the merged report matches the report schema"
    return code, document, out.getvalue(), message


def timeless(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every time set to zero: two runs of the same scenarios differ there."""
    document = copy.deepcopy(document)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in value:
                if key == "duration_ms":
                    value[key] = 0
                else:
                    walk(value[key])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    for key in ("started_at", "finished_at", "shard", "merged", "version"):
        document.pop(key, None)
    return document


# --- the merge is the single run ------------------------------------------------------------


def test_the_merged_shards_give_the_table_scores_and_exit_code_of_one_run(api, folder):
    whole = run(folder, api.url, "whole.json")
    code, document, out, _ = merged(folder, shard_reports(folder, api.url))
    assert code == whole["exit_code"] == 1, "a critical scenario fails in one of the shards"
    assert document["summary"]["flaky_checks"] > 0, "the comparison covers flaky checks too"
    assert timeless(document) == timeless(whole)
    assert render_table(timeless(document)) == render_table(timeless(whole))
    assert render_markdown(timeless(document)) == render_markdown(timeless(whole))
    assert render_junit(timeless(document)) == render_junit(timeless(whole))
    assert "FAIL: 1 of 3 critical scenarios below threshold" in out, "the table is shown"
    assert document["merged"]["shards"] == 3
    assert [r["shard"] for r in document["merged"]["reports"]] == [1, 2, 3]
    assert document["merged"]["fingerprint"].startswith("sha256:")


def test_a_merge_scores_again_from_the_runs_not_from_the_shards_numbers(api, folder):
    reports = shard_reports(folder, api.url)
    for path in reports:  # a shard report that lies about its scores is not believed
        document = json.loads(path.read_text())
        for scenario in document["scenarios"]:
            scenario["satisfaction"], scenario["satisfaction_lower_bound"] = 100.0, 100.0
            scenario["passed"], scenario["result"] = True, "PASS"
        path.write_text(json.dumps(document))
    code, document, _, _ = merged(folder, reports)
    broken = next(s for s in document["scenarios"] if s["name"] == "Broken")
    assert code == 1 and broken["satisfaction"] == 0 and broken["result"] == "FAIL"


def test_a_merge_of_one_shard_gives_back_its_report(api, folder):
    (only,) = shard_reports(folder, api.url, total=1)
    code, document, _, _ = merged(folder, [only])
    mine = json.loads(only.read_text())
    assert code == mine["exit_code"]
    # Every field a run writes is read back: durations to the rounding of the report.
    assert json.dumps(timeless(document), sort_keys=True) == json.dumps(
        timeless(mine), sort_keys=True
    )
    steps = [step["duration_ms"] for s in document["scenarios"] for r in s["runs"]
             for step in r["steps"]]
    assert steps == [step["duration_ms"] for s in mine["scenarios"] for r in s["runs"]
                     for step in r["steps"]]


def test_a_merge_compares_the_whole_run_with_a_baseline(api, folder):
    run(folder, api.url, "before.json")
    code, document, out, _ = merged(
        folder, shard_reports(folder, api.url), baseline=folder / "before.json"
    )
    assert code == 1
    assert document["baseline"]["removed"] == [] and document["baseline"]["new"] == []
    assert all(s["delta"] == 0 for s in document["scenarios"])
    assert "Delta" in out


# --- what is not the shards of one run ------------------------------------------------------


def refused(folder: Path, reports: list[Path], *said: str) -> dict[str, Any]:
    code, document, _, message = merged(folder, reports)
    assert code == 2, message
    for words in said:
        assert words in message, message
    assert document["exit_code"] == 2 and document["error"] == message
    assert "Traceback" not in message
    return document


def test_a_missing_shard_is_named(api, folder):
    one, two, _three = shard_reports(folder, api.url)
    document = refused(folder, [one, two], "missing shard 3/3")
    assert document["scenarios"] == [], "no verdict on part of a run"


def test_a_shard_given_twice_is_named(api, folder):
    one, two, three = shard_reports(folder, api.url)
    copy_of_two = folder / "again.json"
    copy_of_two.write_text(two.read_text())
    refused(
        folder, [one, two, three, copy_of_two], f"shard 2/3 given 2 times: {two}, {copy_of_two}"
    )


def test_a_shard_of_another_number_of_shards_is_named(api, folder):
    one, two, _ = shard_reports(folder, api.url)
    run(folder, api.url, "of-two.json", shard=Shard(2, 2))
    refused(folder, [one, two, folder / "of-two.json"],
            f"shard 2/2 ({folder / 'of-two.json'}) is a shard of 2, the other reports of 3")


@pytest.mark.parametrize(
    ("more", "said"),
    [
        ({"runs": 2}, "is of another run: --runs 2; the other shards: --runs 4"),
        (
            {"thresholds": {"critical": 90.0, "important": 85.0, "nice-to-have": 85.0}},
            "thresholds critical=90, important=85, nice-to-have=85; the other shards: "
            "thresholds critical=85",
        ),
        ({"gate": "lower-bound"}, "is of another run: --gate lower-bound; the other shards: "
                                  "--gate mean"),
    ],
)
def test_a_shard_run_with_other_rules_is_named(api, folder, more, said):
    one, two, _ = shard_reports(folder, api.url)
    third = folder / "other.json"
    run(folder, api.url, "other.json", shard=Shard(3, 3), **more)
    refused(folder, [one, two, third], f"shard 3/3 ({third}) {said}" if "is of" in said else said)


def test_a_shard_of_other_scenarios_is_named(api, folder):
    one, two, _ = shard_reports(folder, api.url)
    (folder / "scenarios" / "critical" / "login.yaml").write_text(
        "name: Login\nsteps:\n  - {path: /ok}\n"
    )
    run(folder, api.url, "changed.json", shard=Shard(3, 3))
    refused(folder, [one, two, folder / "changed.json"],
            f"shard 3/3 ({folder / 'changed.json'}) is of another run: the scenario list sha256:")


def test_a_shard_that_could_not_judge_is_named_with_its_error(api, folder):
    one, _, three = shard_reports(folder, api.url)
    run(folder, f"http://127.0.0.1:{free_port()}", "down.json", shard=Shard(2, 3))
    document = refused(folder, [one, folder / "down.json", three],
                       f"shard 2/3 ({folder / 'down.json'}) could not judge: the API at")
    assert {s["name"] for s in document["scenarios"]}, "what the other shards ran is kept"


def test_a_shard_that_lost_scenarios_is_named(api, folder):
    one, two, three = shard_reports(folder, api.url)
    document = json.loads(two.read_text())
    chosen = len(document["scenarios"])
    document["scenarios"] = document["scenarios"][1:]
    two.write_text(json.dumps(document))
    refused(folder, [one, two, three],
            f"shard 2/3 ({two}) holds {chosen - 1} scenarios of the {chosen} its run chose")


def test_reports_that_are_not_shards_are_named(api, folder):
    one, two, three = shard_reports(folder, api.url)
    run(folder, api.url, "whole.json")
    refused(folder, [one, two, three, folder / "whole.json"],
            f"{folder / 'whole.json'}: not a shard's report (no shard section")
    merged(folder, [one, two, three])
    (folder / "previous.json").write_text((folder / "merged.json").read_text())
    refused(folder, [one, two, three, folder / "previous.json"],
            f"{folder / 'previous.json'}: already a merged report")
    refused(folder, [one, folder / "nowhere.json"], f"{folder / 'nowhere.json'}: no such report")


# --- the command and the task ---------------------------------------------------------------


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "API_URL"}
    return run_to_the_end([sys.executable, *args], cwd=cwd, env=env, timeout=120)


def test_converge_merge_and_invoke_report_merge(api, folder):
    reports = shard_reports(folder, api.url, total=2)
    process = command("-m", "converge", "merge", *map(str, reports), "--report-file", "out.json",
                      "--color", "never", cwd=folder)
    assert process.returncode == 1, process.stderr
    assert "FAIL: 1 of 3 critical scenarios below threshold" in process.stdout
    assert json.loads((folder / "out.json").read_text())["merged"]["shards"] == 2

    task = command("-m", "invoke", "-r", str(REPO), "report.merge", "--shards", "shard-*.json",
                   "--report-file", "task.json", cwd=folder)
    assert task.returncode == 1, task.stderr
    assert json.loads((folder / "task.json").read_text())["summary"] == json.loads(
        (folder / "out.json").read_text()
    )["summary"]

    missing = command("-m", "converge", "merge", str(reports[0]), "--report-file", "out.json",
                      cwd=folder)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == "missing shard 2/2"
    assert json.loads((folder / "out.json").read_text())["exit_code"] == 2
