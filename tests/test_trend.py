"""``converge trend REPORT...`` and ``--plot FILE.png``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from converge.report import schema_problems
from converge.trend import load, render
from tests.support.processes import run_to_the_end

REPO = Path(__file__).resolve().parents[1]


def report(
    started: str, satisfactions: dict[str, float], error: str | None = None
) -> dict[str, Any]:
    """A minimal valid report whose scenarios have the given satisfactions."""
    scenarios = []
    for file, value in satisfactions.items():
        tier, _, stem = file.partition("/")
        step = {"name": "s", "method": "GET", "path": "/", "status_code": 200, "duration_ms": 1.0,
                "error": None, "checks_passed": 1, "checks_total": 1, "checks": []}
        scenarios.append({
            "name": stem.removesuffix(".yaml").title(), "file": file, "priority": tier,
            "satisfaction": value, "threshold": 85.0, "passed": value >= 85,
            "result": "PASS" if value >= 85 else "FAIL", "checks_passed": 1, "checks_total": 1,
            "pass_rate": 1.0, "duration_ms": 1.0, "steps_from_run": 1, "steps": [step],
            "runs": [{"run": 1, "satisfaction": value, "checks_passed": 1, "checks_total": 1,
                      "all_passed": True, "duration_ms": 1.0, "steps": [step]}],
        })
    tiers = {tier: {"total": 0, "passed": 0, "failed": 0, "PASS": 0, "FAIL": 0, "WARN": 0,
                    "INFO": 0} for tier in ("critical", "important", "nice-to-have")}
    document = {
        "version": "0", "format": 1, "api_url": "http://127.0.0.1:1", "scenarios_dir": "s",
        "started_at": started, "finished_at": started, "duration_ms": 0, "exit_code": 2 if error
        else 0, "error": error, "runs": 1,
        "thresholds": {"critical": 85.0, "important": 85.0, "nice-to-have": 85.0},
        "summary": {"total": 0, "passed": 0, "failed": 0, "checks_passed": 0, "checks_total": 0,
                    "by_result": {"PASS": 0, "FAIL": 0, "WARN": 0, "INFO": 0}, "by_tier": tiers},
        "scenarios": scenarios,
    }
    assert schema_problems(document) == []
    return document


@pytest.fixture
def reports(tmp_path: Path) -> list[Path]:
    """Three reports, written (and passed) out of time order; one could not judge."""
    documents = {
        "c.json": report("2026-11-03T10:00:00+00:00", {"critical/login.yaml": 90.0,
                                                      "important/search.yaml": 80.0}),
        "a.json": report("2026-11-01T10:00:00+00:00", {"critical/login.yaml": 70.0}),
        "b.json": report("2026-11-02T10:00:00+00:00", {}, error="the API did not answer"),
    }
    paths = []
    for name, document in documents.items():
        (tmp_path / name).write_text(json.dumps(document))
        paths.append(tmp_path / name)
    return paths


def converge(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_to_the_end([sys.executable, *args], cwd=cwd, env={**os.environ, **env},
                          timeout=120)


def test_reports_are_put_in_time_order_and_each_scenario_followed_through_them(reports):
    trend = load(reports)
    assert [path.name for path, _started, _error in trend.reports] == ["a.json", "b.json",
                                                                       "c.json"]
    login = next(s for s in trend.series if s.file == "critical/login.yaml")
    assert [(p.report, p.satisfaction) for p in login.points] == [(1, 70.0), (3, 90.0)]
    text = render(trend)
    rows = {line.split()[1]: line.split() for line in text.splitlines()
            if line.startswith(("critical", "important"))}
    assert rows["Login"] == ["critical", "Login", "70%", "-", "90%", "+20"]
    assert rows["Search"] == ["important", "Search", "-", "-", "80%"]
    assert "#2  2026-11-02T10:00+00:00" in text
    assert "could not judge: the API did not answer" in text


def test_converge_trend_prints_the_table(reports, tmp_path):
    result = converge("-m", "converge", "trend", *map(str, reports), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Login" in result.stdout and "+20" in result.stdout


def test_a_file_that_is_not_a_report_is_a_one_line_error(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    result = converge("-m", "converge", "trend", str(tmp_path / "x.json"), cwd=tmp_path)
    assert result.returncode == 2 and "not a converge report" in result.stderr
    assert "Traceback" not in result.stderr


def test_plot_draws_a_png(reports, tmp_path):
    target = tmp_path / "out" / "trend.png"
    result = converge("-m", "converge", "trend", *map(str, reports), "--plot", str(target),
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(target) in result.stderr  # says where it went


def test_plot_without_matplotlib_says_how_to_get_it(reports, tmp_path):
    # matplotlib made unimportable for this one process, as on an install without the extra.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['matplotlib'] = None\n"
    )
    result = converge(
        "-m", "converge", "trend", *map(str, reports), "--plot", str(tmp_path / "t.png"),
        cwd=tmp_path, PYTHONPATH=f"{blocker}{os.pathsep}{REPO}",
    )
    assert result.returncode == 2
    assert "pip install 'converge[plot]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "t.png").exists()
