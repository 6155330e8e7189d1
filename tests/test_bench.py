"""The benchmark compares like with like: every loop of ``bench/loops.py`` sends the benchmark
scenario's requests, each with the token its log-in answered, and reads every answer; converge
passes every check of the benchmark scenario against the bench's own server, which stops when
its standard input closes. Nothing here times anything (the bench measures; tests never do)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import assert_gone
from tests.support.servers import Recorded, Reply, TestServer

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
KINDS = ("requests", "lean", "urllib3", "httpclient")


def scenario_api(server: TestServer) -> None:
    """The bench scenario's API on the test server, which records what each loop sends."""

    def login(request: Recorded) -> Reply:
        return Reply(json={"token": f"tok-{request.json['user']}"})

    server.route("POST", "/login", login)
    for n in range(2):
        server.json(f"/items/{n}", {"id": n, "owner": f"u{n}"})
        server.json(f"/items/{n}/notes", {"saved": True}, status=201, method="POST")


@pytest.mark.parametrize("kind", KINDS)
def test_each_loop_sends_the_benchmark_scenario_with_the_logged_in_token(http_server, kind):
    scenario_api(http_server)
    done = subprocess.run(
        [sys.executable, str(BENCH / "loops.py"), kind, http_server.url, "2"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    sent = [(r.method, r.path, r.headers.get("Authorization")) for r in http_server.requests]
    assert sent == [
        ("POST", "/login", None),
        ("GET", "/items/0", "Bearer tok-u0"),
        ("POST", "/items/0/notes", "Bearer tok-u0"),
        ("POST", "/login", None),
        ("GET", "/items/1", "Bearer tok-u1"),
        ("POST", "/items/1/notes", "Bearer tok-u1"),
    ]
    assert http_server.requests[2].json == {"text": "note 0"}
    # One keep-alive connection for the whole loop, as converge's one worker uses.
    assert len({r.client_port for r in http_server.requests}) == 1


def test_converge_passes_the_benchmark_scenario_on_the_bench_server(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("converge_bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    bench_run = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench_run)  # its dataclasses look it up there
    spec.loader.exec_module(bench_run)
    folder = bench_run.write_scenarios(tmp_path / "scenarios", 3)
    server = subprocess.Popen(
        [sys.executable, str(BENCH / "server.py")], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        report = tmp_path / "report.json"
        for api in (url, f"{url}/slow"):
            done = subprocess.run(
                [sys.executable, "-m", "converge", "run", "--scenarios-dir", str(folder),
                 "--api-url", api, "--report-file", str(report)],
                capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            summary = json.loads(report.read_text())["summary"]
            assert (summary["checks_passed"], summary["checks_total"]) == (33, 33)
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server's signal to stop
        server.wait(timeout=30)
    assert_gone(server.pid)
