"""pipeline.converge: twins up, pull, run, twins down, in that order, whatever goes wrong.

The twins here are a stand-in backend whose "gravix-api" is a real HTTP server on 127.0.0.1, so
the real holdouts copy and the real engine run; the whole stack end to end is in test_tasks.py.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from converge import config, pipeline, twins
from converge.errors import EXIT_ERROR, HoldoutsError, TwinsError
from converge.report import schema_problems
from tests.support.servers import TestServer

PASSING = """\
name: The service answers
steps:
  - name: ok answers 200
    path: /ok
    expect: {status: 200, body_equals: {ok: true}}
"""
FAILING = """\
name: The service is a teapot
steps:
  - name: teapot answers 418
    path: /ok
    expect: {status: 418}
"""


class FakeBackend:
    """Records the lifecycle calls; its API is the test's HTTP server."""

    name = "fake"

    def __init__(self, api_url: str | None, fail_up: bool = False) -> None:
        self.url = api_url
        self.fail_up = fail_up
        self.calls: list[str] = []

    def up(self) -> list[twins.ServiceStatus]:
        self.calls.append("up")
        if self.fail_up:
            raise TwinsError("mock-stripe did not become healthy")
        return [twins.ServiceStatus(twins.API_SERVICE, self.url, True)]

    def down(self) -> None:
        self.calls.append("down")

    def status(self) -> list[twins.ServiceStatus]:
        return []

    def logs(self, service: str | None, tail: int) -> str:
        return ""

    def api_url(self) -> str | None:
        self.calls.append("api_url")
        return self.url


@pytest.fixture
def api(http_server: TestServer) -> TestServer:
    http_server.json("/ok", {"ok": True})
    return http_server


def project(tmp_path: Path, scenario: str = PASSING, **values: str) -> Path:
    (tmp_path / "fixture/critical").mkdir(parents=True)
    (tmp_path / "fixture/critical/service.yaml").write_text(scenario)
    values = {"holdouts_repo": "fixture", **values}
    cfg = "".join(f"{key} = {value}\n" for key, value in values.items())
    (tmp_path / "setup.cfg").write_text(f"[converge]\n{cfg}")
    return tmp_path


def settings(root: Path, **environ: str) -> config.Settings:
    return config.load(root, environ=environ)


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: FakeBackend) -> list[twins.TwinsConfig]:
    chosen: list[twins.TwinsConfig] = []

    def select(cfg: twins.TwinsConfig, say: Callable[[str], None]) -> FakeBackend:
        chosen.append(cfg)
        return backend

    monkeypatch.setattr(pipeline.twins, "select_backend", select)
    return chosen


def converge(s: config.Settings, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = pipeline.converge(s, pipeline.Options(**options), out, err)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_runs_against_the_started_stack_then_tears_it_down(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url)
    use_backend(monkeypatch, backend)
    code, out, _ = converge(settings(project(tmp_path)))
    assert code == 0
    assert backend.calls == ["up", "down"]
    assert api.sent("/ok"), "the scenario reached the started stack's API"
    assert "The service answers" in out
    report = json.loads((tmp_path / "reports/latest.json").read_text())
    assert report["exit_code"] == 0
    assert (tmp_path / ".holdouts/critical/service.yaml").exists()


def test_failing_critical_scenario_is_exit_1_and_still_tears_down(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url)
    use_backend(monkeypatch, backend)
    code, _, _ = converge(settings(project(tmp_path, FAILING)))
    assert code == 1
    assert backend.calls == ["up", "down"]


def test_keep_leaves_the_twins_up_and_says_how_to_stop_them(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url)
    use_backend(monkeypatch, backend)
    code, _, err = converge(settings(project(tmp_path)), keep=True)
    assert code == 0
    assert backend.calls == ["up"]
    assert "invoke twins.down" in err


def test_holdouts_that_cannot_be_pulled_are_exit_2_after_teardown(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url)
    use_backend(monkeypatch, backend)
    root = project(tmp_path, holdouts_repo=(tmp_path / "missing.git").as_uri())
    with pytest.raises(HoldoutsError) as raised:
        converge(settings(root))
    assert raised.value.exit_code == EXIT_ERROR
    assert backend.calls == ["up", "down"]
    assert not api.sent(), "no scenario ran"


def test_twins_that_fail_to_start_are_exit_2_before_any_pull(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url, fail_up=True)
    use_backend(monkeypatch, backend)
    root = project(tmp_path)
    with pytest.raises(TwinsError) as raised:
        converge(settings(root))
    assert raised.value.exit_code == EXIT_ERROR
    assert backend.calls == ["up", "down"], "down still runs to stop what up started"
    assert not (root / ".holdouts").exists()


@pytest.mark.parametrize("failure", ["twins", "holdouts"])
def test_a_run_stopped_before_the_engine_replaces_the_previous_report(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # Otherwise `invoke report.comment` would post the last run's PASS for a run that never ran.
    use_backend(monkeypatch, FakeBackend(api.url))
    root = project(tmp_path)
    assert converge(settings(root))[0] == 0
    use_backend(monkeypatch, FakeBackend(api.url, fail_up=failure == "twins"))
    if failure == "holdouts":
        shutil.rmtree(root / "fixture")

    with pytest.raises((TwinsError, HoldoutsError)):
        converge(settings(root))
    document = json.loads((root / "reports/latest.json").read_text())
    assert document["exit_code"] == EXIT_ERROR
    assert document["scenarios"] == []
    expected = "did not become healthy" if failure == "twins" else "holdouts"
    assert expected in document["error"]
    assert schema_problems(document) == []


def test_api_url_from_environment_wins_over_the_started_stack(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend("http://127.0.0.1:9")  # nothing answers there
    use_backend(monkeypatch, backend)
    code, _, _ = converge(settings(project(tmp_path), API_URL=api.url))
    assert code == 0
    assert api.sent("/ok")


def test_no_twins_with_api_url_never_touches_the_twins(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(None)
    use_backend(monkeypatch, backend)
    code, _, err = converge(settings(project(tmp_path), API_URL=api.url), no_twins=True)
    assert code == 0
    assert backend.calls == []
    assert f"api: {api.url} (from API_URL)" in err


def test_no_twins_finds_the_running_twins_api(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(api.url)
    use_backend(monkeypatch, backend)
    code, _, _ = converge(settings(project(tmp_path)), no_twins=True)
    assert code == 0
    assert backend.calls == ["api_url"], "neither started nor stopped"


def test_no_twins_and_nothing_running_uses_the_configured_url(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, FakeBackend(None))
    code, _, err = converge(settings(project(tmp_path, api_url=api.url)), no_twins=True)
    assert code == 0
    assert "setup.cfg [converge] api_url" in err


def test_run_options_come_from_settings_and_flags(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, FakeBackend(api.url))
    root = project(tmp_path, threshold_critical="50", report_file="out/r.json")
    code, _, _ = converge(settings(root), runs=2, priority="critical")
    assert code == 0
    report = json.loads((root / "out/r.json").read_text())
    assert report["scenarios"][0]["threshold"] == 50
    assert len(api.sent("/ok")) == 2


def test_twins_config_follows_settings(tmp_path: Path) -> None:
    s = settings(project(tmp_path, twins_backend="process"), CONVERGE_JWT_SECRET="x" * 40)
    cfg = pipeline.twins_config(s)
    assert cfg.backend == "process"
    assert cfg.state_dir == tmp_path / ".converge"
    assert cfg.jwt_secret == "x" * 40
    assert cfg.variability == 0
    assert cfg.compose_file == tmp_path / "compose/docker-compose.yml"
    assert pipeline.twins_config(s, "compose").backend == "compose"


def test_twins_variability_reaches_mock_anthropic_only(tmp_path: Path) -> None:
    cfg = pipeline.twins_config(settings(project(tmp_path, twins_variability="0.4")))
    urls = {service.name: "http://127.0.0.1:1" for service in cfg.services}
    env = {s.name: twins.service_env(s, urls, cfg) for s in cfg.services}
    assert env["mock-anthropic"]["TWIN_ANTHROPIC_VARIABILITY"] == "0.4"
    others = [name for name in env if name != "mock-anthropic"]
    assert all("TWIN_ANTHROPIC_VARIABILITY" not in env[name] for name in others)


def test_the_started_twins_are_reset_for_each_runs_seed(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = TestServer()
    twin.json("/_twin/reset", {"status": "reset"}, method="POST")
    twin.start()

    class WithTwin(FakeBackend):
        def up(self) -> list[twins.ServiceStatus]:
            return [*super().up(), twins.ServiceStatus("mock-anthropic", twin.url, True)]

    try:
        use_backend(monkeypatch, WithTwin(api.url))
        root = project(tmp_path)
        code, _, _ = converge(settings(root), runs=2)
    finally:
        twin.stop()
    assert code == 0
    report = json.loads((root / "reports/latest.json").read_text())
    run_seeds = sorted(str(run["seed"]) for run in report["scenarios"][0]["runs"])
    assert sorted(r.json["seed"] for r in twin.sent("/_twin/reset")) == run_seeds
    assert not api.sent("/_twin")  # the API under test is never reset


def test_the_gate_comes_from_settings_unless_the_flag_says_otherwise(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, FakeBackend(api.url))
    root = project(tmp_path, gate="lower-bound")
    code, out, _ = converge(settings(root))
    assert code == 1  # 2 checks held in one run: a lower bound of 34.24%
    assert json.loads((root / "reports/latest.json").read_text())["gate"] == "lower-bound"
    assert "lower bound 34.24% < 85%" in out
    code, _, _ = converge(settings(root), gate="mean")
    assert code == 0
    assert json.loads((root / "reports/latest.json").read_text())["gate"] == "mean"


def test_trust_env_comes_from_the_configuration_unless_the_flag_says(
    api: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = pipeline.engine.execute

    def execute(options: pipeline.engine.RunOptions, out: Any, err: Any) -> int:
        seen.append(options.trust_env)
        return real(options, out, err)

    monkeypatch.setattr(pipeline.engine, "execute", execute)
    root = project(tmp_path, trust_env="true")
    assert converge(settings(root, API_URL=api.url), no_twins=True)[0] == 0
    off = project(tmp_path / "off")
    assert converge(settings(off, API_URL=api.url), no_twins=True)[0] == 0
    assert converge(settings(off, API_URL=api.url), no_twins=True, trust_env=True)[0] == 0
    assert seen == [True, False, True]
