"""The conformance diff: a service's behaviours run against the twin and against another base
URL, and the differences found (none against the twin itself, the changed one against a twin
whose behaviour was deliberately changed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins import conformance
from converge_twins.conformance.anthropic import SUITE, TWIN_KEY
from converge_twins.conformance.diff import Comparison, compare, render_table
from converge_twins.conformance.serve import serve_twin
from converge_twins.conformance.shapes import fold, parse_sse, shape_of, stream_shape
from converge_twins.conformance.suite import Exchange, Observation, observe
from converge_twins.mock_anthropic.app import create_app
from tests.support.asgi import serve_asgi

REPO = Path(__file__).resolve().parents[1]


def twin_env(**extra: str) -> dict[str, str]:
    return {**SUITE.twin_env, "TWIN_SEED": "another-seed", **extra}


@pytest.fixture
def other_twin() -> Iterator[str]:
    with serve_asgi(create_app(twin_env())) as base:
        yield base


class DropHeader:
    """A twin with one deliberate change: no request-id on the answers of /v1/models."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/models"):
            await self.app(scope, receive, send)
            return

        async def without(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v) for k, v in message["headers"] if k.lower() != b"request-id"
                ]
            await send(message)

        await self.app(scope, receive, without)


# shapes ------------------------------------------------------------------------------------


def test_a_shape_is_paths_to_json_types_with_list_items_merged():
    shape = shape_of({"id": "x", "n": 1, "content": [{"type": "text"}, {"type": 3}], "e": []})
    assert shape == {
        "": "object",
        "id": "string",
        "n": "integer",
        "content": "array",
        "content[]": "object",
        "content[].type": "integer|string",
        "e": "array",
    }


def test_an_event_stream_is_its_folded_sequence_and_the_shape_of_each_event():
    text = (
        'event: a\ndata: {"type": "a", "x": 1}\n\n'
        'event: b\ndata: {"type": "b"}\n\n'
        'event: b\ndata: {"type": "b", "y": "z"}\n\n'
        "event: c\ndata: not json\n\n"
    )
    events = parse_sse(text)
    assert [name for name, _ in events] == ["a", "b", "b", "c"]
    sequence, shape = stream_shape(events)
    assert sequence == ["a", "b*", "c"]
    assert shape["event:b.y"] == "string"
    assert shape["event:c"] == "string"
    assert fold(["x", "x", "y", "x"]) == ["x*", "y", "x"]


def test_observe_keeps_only_the_headers_of_interest_as_the_rules_say():
    exchange = Exchange(
        "GET",
        "http://127.0.0.1/v1/models",
        200,
        {
            "content-type": "application/json; charset=utf-8",
            "request-id": "req_1",
            "anthropic-ratelimit-requests-limit": "50",
            "date": "today",
        },
        b'{"data": []}',
    )
    seen = observe("b", exchange, SUITE.header_rules, {"fact": 1})
    assert seen.headers == {
        "content-type": "application/json",
        "request-id": "present",
        "anthropic-ratelimit-requests-limit": "present",
    }
    assert seen.shape == {"": "object", "data": "array"}
    assert seen.facts == {"fact": 1}


def test_compare_names_every_aspect_that_differs_and_honours_ignores():
    mine = Observation("b", 200, {"request-id": "present"}, {"id": "string"}, {"f": 1})
    theirs = Observation("b", 201, {}, {"id": "integer", "more": "string"}, {"f": 2})
    found = {(d.aspect, d.where) for d in compare(mine, theirs)}
    assert found == {
        ("status", ""),
        ("header", "request-id"),
        ("shape", "id"),
        ("shape", "more"),
        ("fact", "f"),
    }
    kept = compare(mine, theirs, ignore=("shape:*", "header:request-*"))
    assert {(d.aspect, d.where) for d in kept} == {("status", ""), ("fact", "f")}


def test_a_behaviour_that_failed_on_one_side_is_one_error_difference():
    broken = Observation("b", error="ConnectError")
    assert [(d.aspect, d.target) for d in compare(Observation("b", 200), broken)] == [
        ("error", "ConnectError")
    ]
    assert compare(broken, Observation("b", error="ConnectError")) == []


# against twins -----------------------------------------------------------------------------


def test_the_twin_against_itself_has_no_differences(other_twin):
    comparison = conformance.compare_service("anthropic", other_twin, {})
    assert comparison.differences == [], render_table(comparison)
    assert len(comparison.twin) == len(SUITE.behaviours)
    assert comparison.skipped == []
    assert "no differences" in render_table(comparison)
    # Every answer of every behaviour that ran is valid by the SDK's own types.
    problems = {
        seen.behaviour: seen.facts["response problems"]
        for seen in comparison.twin
        if seen.error is None
    }
    assert len(problems) > 40
    assert all(found == [] for found in problems.values()), problems


def test_a_deliberately_changed_twin_is_found_out():
    with serve_asgi(DropHeader(create_app(twin_env()))) as changed:
        comparison = conformance.compare_service("anthropic", changed, {})
    assert {(d.aspect, d.where, d.twin, d.target) for d in comparison.differences} == {
        ("header", "request-id", "present", "(absent)")
    }
    assert set(comparison.differing_behaviours) == {
        "models.list",
        "models.retrieve",
        "models come in pages",
    }
    table = render_table(comparison)
    assert "models.retrieve" in table and "request-id" in table
    assert "3 differences in 3 of them" in table


def test_only_runs_the_named_behaviours(other_twin):
    comparison = conformance.compare_service(
        "anthropic", other_twin, {}, names=["an unknown model", "messages.create"]
    )
    assert [seen.behaviour for seen in comparison.target] == [
        "messages.create",
        "an unknown model",
    ]
    assert comparison.target[1].status == 404
    with pytest.raises(conformance.ConformanceError, match="no behaviour named 'nope'"):
        conformance.compare_service("anthropic", other_twin, {}, names=["nope"])


def test_a_remote_target_needs_its_credentials_and_a_local_one_uses_the_twins():
    with pytest.raises(conformance.ConformanceError, match="ANTHROPIC_API_KEY"):
        conformance.credentials_for(SUITE, "https://api.anthropic.example", {})
    assert conformance.credentials_for(
        SUITE, "https://api.anthropic.example", {"ANTHROPIC_API_KEY": "sk-ant-real"}
    ) == {"api_key": "sk-ant-real"}
    assert conformance.credentials_for(SUITE, "http://127.0.0.1:9", {}) == {"api_key": TWIN_KEY}


def test_behaviours_that_need_a_control_plane_are_skipped_against_a_plain_service():
    # Any server that is not a twin: here a twin's app behind a prefix-less facade that hides
    # its control plane.
    class NoControl:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith("/_twin"):
                scope = {**scope, "path": "/nowhere"}
            await self.app(scope, receive, send)

    with serve_asgi(NoControl(create_app(twin_env()))) as plain:
        comparison = conformance.compare_service(
            "anthropic", plain, {}, names=["429 says when to retry", "messages.create"]
        )
    assert comparison.skipped == ["429 says when to retry"]
    assert comparison.differences == []
    assert "skipped" in render_table(comparison)


def test_an_unknown_service_is_named():
    with pytest.raises(conformance.ConformanceError, match="--service: expected one of"):
        conformance.load_suite("twitter")


def test_the_json_has_both_sides_and_the_differences():
    comparison = Comparison(
        "anthropic",
        "twin",
        "target",
        [Observation("b", 200, shape={"a": "string"})],
        [Observation("b", 500)],
        compare(Observation("b", 200, shape={"a": "string"}), Observation("b", 500)),
    )
    data = json.loads(comparison.to_json())
    assert data["differences"] == 2
    assert data["behaviours"][0]["twin"]["shape"] == {"a": "string"}
    assert {d["aspect"] for d in data["behaviours"][0]["differences"]} == {"status", "shape"}


# the task ---------------------------------------------------------------------------------


def invoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "twins.conformance", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_task_exits_0_without_differences_and_writes_the_json(other_twin, tmp_path):
    target = tmp_path / "conformance.json"
    done = invoke(
        "--against",
        other_twin,
        "--json-file",
        str(target),
        "--only",
        "messages.create",
        "--only",
        "an unknown model",
    )
    assert done.returncode == 0, done.stderr
    assert "2 behaviours compared, no differences" in done.stdout
    assert json.loads(target.read_text())["differences"] == 0


def test_the_task_exits_1_on_differences(tmp_path):
    with serve_asgi(DropHeader(create_app(twin_env()))) as changed:
        done = invoke(
            "--against",
            changed,
            "--json-file",
            str(tmp_path / "c.json"),
            "--only",
            "models.retrieve",
        )
    assert done.returncode == 1, done.stderr
    assert "request-id" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--against", "https://api.anthropic.example"), "needs credentials"),
        (("--against", "http://127.0.0.1:9"), "no behaviour could run"),
        (("--service", "twitter", "--against", "http://127.0.0.1:9"), "--service"),
        ((), "--against"),
    ],
)
def test_the_task_exits_2_when_it_cannot_compare(args, message, tmp_path):
    done = invoke(*args, "--json-file", str(tmp_path / "c.json"))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "c.json").exists()


def test_the_task_lists_the_behaviours_and_credentials():
    done = invoke("--list")
    assert done.returncode == 0
    assert "an unknown model  (errors)" in done.stdout
    assert "ANTHROPIC_API_KEY" in done.stdout
    assert "--factory converge_twins.mock_anthropic.app:create_app" in done.stdout


# A second twin in a process of its own, started as --list says, as a team would compare a
# branch's build of a twin with today's: every service's suite finds no differences.
@pytest.mark.parametrize(
    ("service", "behaviours"),
    [
        ("anthropic", ["messages.create", "an unknown model"]),
        ("stripe", ["idempotent_replay", "error_object"]),
        ("supabase", ["POST /signup", "errors name their code in x-sb-error-code"]),
    ],
)
def test_the_task_compares_each_service_with_a_second_twin(service, behaviours, tmp_path):
    suite = conformance.load_suite(service)
    target = tmp_path / "conformance.json"
    only = [arg for name in behaviours for arg in ("--only", name)]
    with serve_twin(suite.twin_app, {**suite.twin_env, "TWIN_SEED": "second"}, REPO) as second:
        port = int(second.rsplit(":", 1)[1])
        done = invoke("--service", service, "--against", second, "--json-file", str(target), *only)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{service}: {len(behaviours)} behaviours compared, no differences" in done.stdout
    assert json.loads(target.read_text())["differences"] == 0
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the second twin still listens"
