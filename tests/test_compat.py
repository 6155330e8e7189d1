"""Every scenario that was valid before the scenario language grew still loads and scores the same.

``tests/resources/compat/`` holds the holdouts fixture as it was, and the corpus of every valid
scenario the test suite loaded at that time (collected by running the suite). ``expected.json``
is what converge made of them then: the model the loader built (``model``) and, run against the
deterministic server below, every request sent and every check's verdict (``runs``). Both were
written by the loader and runner of that time; this test reads the same files with today's and
compares. A difference is a scenario that changed meaning: fix the code, never the expectations
(regenerate them only with the code from before the change, ``python -m tests.test_compat``).
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from converge.model import Scenario
from converge.runner import RunnerConfig, run_all
from converge.scenario import load_file
from tests.support.servers import Recorded, Reply, TestServer

COMPAT = Path(__file__).resolve().parent / "resources" / "compat"
EXPECTED = COMPAT / "expected.json"
SETS = ("fixture", "corpus")

# Headers whose value depends on the machine, the port, the HTTP library's version or the run,
# or that converge added on purpose for every request: Accept-Encoding names br when a brotli
# decoder is installed; baggage carries each run's own seed to the twins.
_UNSTABLE_HEADERS = frozenset({"host", "user-agent", "accept-encoding", "connection", "baggage"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class CorpusServer(TestServer):
    """Answers every request at once, the same way every time, with a body most corpus
    scenarios can read fields from (so captures, templates and comparisons all get exercised)."""

    def _answer(self, request: Recorded) -> Reply:
        path = urlsplit(request.path).path
        if "missing" in path:
            return Reply(status=404, json={"error": {"code": "not_found"}})
        if path == "/go":
            return Reply(status=302, headers={"Location": "/elsewhere"}, body="")
        if path == "/text":
            return Reply(body="plain text, not JSON")
        try:
            echoed: Any = json.loads(request.body) if request.body else None
        except ValueError:
            echoed = request.body.decode("latin-1")
        payload = {
            "id": "id-1",
            "ok": True,
            "count": 2,
            "tier": "free",
            "next": "/v1/next",
            "usage": {"used": 1, "limit": 3, "remaining": 2},
            "items": [{"id": "item-1", "name": "first"}, {"id": "item-2", "name": "second"}],
            "method": request.method,
            "path": request.path,
            "body": echoed,
        }
        return Reply(status=201 if request.method == "POST" else 200, json=payload)


def scenario_files(name: str) -> list[Path]:
    return sorted(p for p in (COMPAT / name).rglob("*") if p.suffix in (".yaml", ".yml"))


def load(name: str) -> list[tuple[str, Scenario]]:
    root = COMPAT / name
    loaded = []
    for path in scenario_files(name):
        [scenario] = load_file(path, root)  # no parameters then: one scenario per file
        assert scenario.parameters is None
        loaded.append((path.relative_to(root).as_posix(), scenario))
    return loaded


def model_of(scenario: Scenario) -> dict[str, Any]:
    """The model as the loader of that time built it (only the fields it had)."""
    return {
        "name": scenario.name,
        "priority": scenario.priority,
        "file": scenario.file,
        "steps": [
            {
                "index": step.index,
                "name": step.name,
                "method": step.method,
                "path": step.path.source,
                "headers": step.headers.source,
                "body": None if step.body is None else step.body.source,
                "timeout": step.timeout,
                "line": step.line,
                "variables": sorted(step.variables),
                "checks": [
                    {
                        "kind": check.kind,
                        "target": check.target,
                        "line": check.line,
                        "expected": None if check.expected is None else check.expected.source,
                        "path": None if check.path is None else list(check.path.segments),
                        "statuses": list(check.statuses),
                    }
                    for check in step.checks
                ],
            }
            for step in scenario.steps
        ],
    }


def normalise(text: str, api_url: str) -> str:
    return _JWT.sub("{jwt}", text.replace(api_url, "{api_url}"))


def run_set(name: str) -> dict[str, Any]:
    """Each scenario of the set run once, in order, against a fresh corpus server."""
    loaded = load(name)
    server = CorpusServer()
    server.start()
    try:
        results = run_all(
            [scenario for _file, scenario in loaded],
            RunnerConfig(api_url=server.url, workers=1, timeout=5),
        )
        requests = [
            {
                "method": r.method,
                "path": normalise(r.path, server.url),
                "headers": {
                    key.lower(): normalise(value, server.url)
                    for key, value in sorted(r.headers.items())
                    if key.lower() not in _UNSTABLE_HEADERS
                },
                "body": normalise(r.body.decode("latin-1"), server.url),
            }
            for r in server.sent()
        ]
    finally:
        server.stop()
    assert not server.running
    verdicts = {
        file: [
            {
                "step": step.name,
                "status": step.status_code,
                "sent": step.error is None or not step.error.startswith("not sent"),
                "checks": [[check.kind, check.target, check.passed] for check in step.checks],
            }
            for step in runs[0].steps
        ]
        for (file, _scenario), runs in zip(loaded, results, strict=True)
    }
    return {"requests": requests, "verdicts": verdicts}


def _collapsed(path: str) -> str:
    return "/" + path.lstrip("/")


def reading() -> dict[str, Any]:
    return {
        name: {
            "model": {file: model_of(scenario) for file, scenario in load(name)},
            "runs": run_set(name),
        }
        for name in SETS
    }


@cache
def expectations() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXPECTED.read_text(encoding="utf-8"))
    return document


def test_the_old_fixture_and_corpus_are_all_there() -> None:
    assert len(scenario_files("fixture")) == 4
    assert len(scenario_files("corpus")) == len(expectations()["corpus"]["model"]) > 50


def test_every_scenario_builds_the_same_model_as_before() -> None:
    for name in SETS:
        now = {file: model_of(scenario) for file, scenario in load(name)}
        before = expectations()[name]["model"]
        assert now.keys() == before.keys()
        for file, model in now.items():
            assert json.loads(json.dumps(model)) == before[file], f"{name}/{file} changed meaning"


def test_every_scenario_sends_the_same_requests_and_scores_the_same() -> None:
    for name in SETS:
        now = run_set(name)
        before = expectations()[name]["runs"]
        assert json.loads(json.dumps(now["verdicts"])) == before["verdicts"], name
        assert len(now["requests"]) == len(before["requests"]), name
        for sent, expected in zip(now["requests"], before["requests"], strict=True):
            # One deliberate change: a template's value in a path is percent-encoded now, so
            # a captured "/v1/next" in "/{{next}}" goes out as "/%2Fv1%2Fnext", not "//v1/next"
            # (a value can add no segment, query or fragment). Decoded, the path is the same.
            # (The test server, as Python's http.server does, reads a leading "//" as "/".)
            assert _collapsed(unquote(sent["path"])) == _collapsed(unquote(expected["path"])), name
            same_path = {**sent, "path": expected["path"]}
            assert json.loads(json.dumps(same_path)) == expected, name


if __name__ == "__main__":  # regenerate, with the code from before the change only
    EXPECTED.write_text(json.dumps(reading(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {EXPECTED}\n")
