"""`--shard K/N`: a stable, balanced share of the scenarios, each in exactly one shard."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from converge import shards
from converge.engine import RunOptions, execute
from converge.errors import ConvergeError
from converge.scenario import load_dir
from converge.shards import Shard


def write(root: Path, name: str, steps: int, *, note: str = "") -> None:
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(
        f"  - {{name: step {i}, path: /ok/{i}, expect: {{status: 200}}}}\n" for i in range(steps)
    )
    target.write_text(f"name: {name}{note}\nsteps:\n{body}", encoding="utf-8")


def many(root: Path, order: list[int]) -> None:
    """Twelve scenarios of 1 to 6 steps, written in the given order."""
    for n in order:
        write(root, f"{('critical', 'important', 'nice-to-have')[n % 3]}/s{n:02d}.yaml", 1 + n % 6)


@pytest.mark.parametrize(
    ("text", "shard"), [("2/4", Shard(2, 4)), ("1/1", Shard(1, 1)), (" 3 / 3 ", Shard(3, 3))]
)
def test_a_shard_is_k_of_n(text, shard):
    assert shards.parse(text) == shard
    assert str(shard) == f"{shard.index}/{shard.total}"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("0/3", "K must be from 1 to N"),
        ("4/3", "K must be from 1 to N"),
        ("1/0", "N must be from 1"),
        ("1/1001", "N must be from 1 to 1000"),
        ("2", "expected K/N"),
        ("a/b", "expected K/N"),
        ("-1/2", "expected K/N"),
    ],
)
def test_a_shard_that_cannot_be_says_why(text, said):
    with pytest.raises(ValueError, match=said):
        shards.parse(text)


def test_every_scenario_is_in_exactly_one_shard_and_the_shards_are_balanced(tmp_path):
    many(tmp_path, list(range(12)))
    scenarios = load_dir(tmp_path)
    for total in (1, 2, 3, 5, 12, 20):
        chosen = [shards.select(scenarios, Shard(k, total)) for k in range(1, total + 1)]
        files = [scenario.file for share in chosen for scenario in share]
        assert sorted(files) == sorted(s.file for s in scenarios), f"{total} shards"
        steps = [sum(len(s.steps) for s in share) for share in chosen]
        largest = max(len(s.steps) for s in scenarios)
        assert max(steps) - min(steps) <= largest, f"{total} shards: {steps}"


def test_largest_first_to_the_lightest_shard():
    # 6, 5, 4, 3, 2, 1 steps over 2 shards: 6+3+2 and 5+4+1, eleven steps each.
    assert shards.assign([_steps(n) for n in (6, 5, 4, 3, 2, 1)], 2) == [1, 2, 2, 1, 1, 2]


def _steps(count: int):  # a stand-in with only what assign reads
    class Scenario:
        steps = (None,) * count

    return Scenario()


def test_the_same_shard_takes_the_same_files_whatever_the_order_they_were_written_in(tmp_path):
    forwards, backwards = tmp_path / "a", tmp_path / "b"
    many(forwards, list(range(12)))
    many(backwards, list(reversed(range(12))))
    one, other = load_dir(forwards), load_dir(backwards)
    for k in (1, 2, 3):
        assert [s.file for s in shards.select(one, Shard(k, 3))] == [
            s.file for s in shards.select(other, Shard(k, 3))
        ]
    assert shards.fingerprint(one) == shards.fingerprint(other), "where the folder is: no matter"


def test_the_fingerprint_changes_with_a_file_its_contents_or_the_selection(tmp_path):
    many(tmp_path, list(range(6)))
    before = load_dir(tmp_path)
    print_ = shards.fingerprint(before)
    assert print_.startswith("sha256:") and len(print_) == len("sha256:") + 64
    assert shards.fingerprint(before[:-1]) != print_, "another selection"
    write(tmp_path, "critical/s00.yaml", 1, note="  # a comment changes the file")
    assert shards.fingerprint(load_dir(tmp_path)) != print_, "another file content"


# --- through a run --------------------------------------------------------------------------


def run(tmp_path: Path, url: str, *, shard: Shard | None, **more) -> tuple[int, dict, str]:
    err = io.StringIO()
    report = tmp_path / f"report-{shard.index if shard else 0}.json"
    options = RunOptions(
        scenarios_dir=tmp_path / "scenarios", api_url=url, report_file=report, shard=shard,
        **more,
    )
    try:
        code = execute(options, io.StringIO(), err)
    except ConvergeError as error:
        code = error.exit_code
        err.write(error.message)
    return code, json.loads(report.read_text()), err.getvalue()


@pytest.fixture
def api(http_server):
    for i in range(6):
        http_server.json(f"/ok/{i}", {"ok": True})
    return http_server


def test_each_shard_runs_its_share_and_its_report_records_the_shard(api, tmp_path):
    many(tmp_path / "scenarios", list(range(7)))
    everything = load_dir(tmp_path / "scenarios")
    sent = 0
    for k in (1, 2, 3):
        code, report, err = run(tmp_path, api.url, shard=Shard(k, 3))
        mine = shards.select(everything, Shard(k, 3))
        assert code == 0
        assert sorted(s["file"] for s in report["scenarios"]) == sorted(s.file for s in mine)
        assert report["shard"] == {
            "index": k,
            "total": 3,
            "fingerprint": shards.fingerprint(everything),
            "scenarios_total": 7,
            "scenarios": len(mine),
            "steps": sum(len(s.steps) for s in mine),
        }
        assert f"shard {k}/3: {len(mine)} of 7 scenarios" in err
        sent += sum(len(s.steps) for s in mine)
    assert len(api.sent("/ok")) == sent, "every step of every scenario, once"


def test_a_shard_with_no_scenario_sends_nothing_and_passes(api, tmp_path):
    many(tmp_path / "scenarios", [0, 1])
    code, report, _ = run(tmp_path, api.url, shard=Shard(3, 3))
    assert code == 0 and report["scenarios"] == [] and report["shard"]["scenarios"] == 0
    assert api.requests == [], "not even the pre-flight request"


def test_a_shard_that_cannot_load_still_says_which_shard_it_was(api, tmp_path):
    (tmp_path / "scenarios" / "critical").mkdir(parents=True)
    (tmp_path / "scenarios" / "critical" / "bad.yaml").write_text("name: [")
    code, report, _ = run(tmp_path, api.url, shard=Shard(2, 4))
    assert code == 2 and report["error"]
    assert report["shard"] == {
        "index": 2, "total": 4, "fingerprint": None, "scenarios_total": None,
        "scenarios": None, "steps": None,
    }


def test_a_baseline_belongs_to_the_merge_not_to_one_shard(api, tmp_path):
    many(tmp_path / "scenarios", [0])
    code, report, err = run(tmp_path, api.url, shard=Shard(1, 2), baseline=tmp_path / "x.json")
    assert code == 2 and "give it to `converge merge`" in err
    assert report["exit_code"] == 2


def test_the_shard_flag_is_checked_before_anything_runs(tmp_path):
    import subprocess
    import sys

    process = subprocess.run(
        [sys.executable, "-m", "converge", "run", "--shard", "5/4", "--api-url", "http://127.0.0.1:9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        "converge run: error: argument --shard: the shard K must be from 1 to N (got '5/4')"
    )
    assert "Traceback" not in process.stderr
