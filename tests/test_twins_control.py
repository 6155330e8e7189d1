"""The control plane every twin shares: health, reset, journal, faults, clock, seeded ids."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import requests
from starlette.types import ASGIApp

from converge_twins.mock_anthropic.app import create_app as anthropic_app
from converge_twins.mock_stripe.app import create_app as stripe_app
from converge_twins.mock_supabase.app import create_app as supabase_app
from tests.support.asgi import serve_asgi

Factory = Callable[[dict[str, str]], ASGIApp]
FACTORIES: dict[str, Factory] = {
    "mock-anthropic": anthropic_app,
    "mock-supabase": supabase_app,
    "mock-stripe": stripe_app,
}
CLAUDE = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
def url() -> Iterator[str]:
    with serve_asgi(anthropic_app({"TWIN_SEED": "control"})) as base:
        yield base


def ask(url: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=MESSAGE, headers={**CLAUDE, **headers})


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_twin_answers_health_and_reset(name):
    with serve_asgi(FACTORIES[name]({"TWIN_SEED": "h"})) as base:
        health = httpx.get(f"{base}/_twin/health").json()
        assert health["status"] == "ok"
        assert health["twin"] == name
        assert health["seed"] == "h"
        assert httpx.post(f"{base}/_twin/reset").json() == {"status": "reset", "twin": name}


# journal -------------------------------------------------------------------------------------


def test_journal_records_requests_but_not_control_calls(url):
    ask(url)
    httpx.get(f"{url}/_twin/health")
    entries = httpx.get(f"{url}/_twin/journal").json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/v1/messages", 200)
    assert entry["body"]["model"] == "claude-haiku-4-5"
    assert entry["kind"] == "request"


def test_journal_filters_by_method_and_path_prefix(url):
    ask(url)
    httpx.get(f"{url}/v1/models", headers=CLAUDE)
    httpx.get(f"{url}/v1/models/claude-haiku-4-5", headers=CLAUDE)

    def paths(**query: str) -> list[str]:
        found = httpx.get(f"{url}/_twin/journal", params=query).json()["entries"]
        return [entry["path"] for entry in found]

    assert paths(method="get") == ["/v1/models", "/v1/models/claude-haiku-4-5"]
    assert paths(path="/v1/messages") == ["/v1/messages"]
    assert paths(method="POST", path="/v1/models") == []
    assert paths(limit="1") == ["/v1/models/claude-haiku-4-5"]


def test_journal_keeps_only_the_newest_entries():
    with serve_asgi(anthropic_app({"TWIN_JOURNAL_SIZE": "3"})) as base:
        for _ in range(5):
            httpx.get(f"{base}/v1/models", headers=CLAUDE)
        body = httpx.get(f"{base}/_twin/journal").json()
        assert body["capacity"] == 3
        assert [entry["seq"] for entry in body["entries"]] == [3, 4, 5]


def test_journal_never_stores_secret_values(url):
    ask(url, authorization="Bearer sk-ant-secret-bearer", apikey="secret-apikey")
    with serve_asgi(supabase_app({})) as supabase:
        httpx.post(
            f"{supabase}/auth/v1/signup",
            json={"email": "a@example.com", "password": "hunter22"},
            headers={"apikey": "not-a-key"},
        )
        supabase_journal = httpx.get(f"{supabase}/_twin/journal").text
    journal = httpx.get(f"{url}/_twin/journal").text
    for secret in ("sk-ant-test", "sk-ant-secret-bearer", "secret-apikey"):
        assert secret not in journal
    assert "not-a-key" not in supabase_journal
    assert "hunter22" not in supabase_journal
    entry = httpx.get(f"{url}/_twin/journal").json()["entries"][0]
    assert entry["headers"]["x-api-key"] == "[redacted]"
    assert entry["headers"]["anthropic-version"] == "2023-06-01"


def test_reset_clears_journal_and_faults(url):
    ask(url)
    httpx.post(f"{url}/_twin/faults", json={"status": 500, "times": 5})
    httpx.post(f"{url}/_twin/reset")
    assert httpx.get(f"{url}/_twin/journal").json()["entries"] == []
    assert httpx.get(f"{url}/_twin/faults").json()["faults"] == []
    assert ask(url).status_code == 200


# faults --------------------------------------------------------------------------------------


def test_status_fault_applies_to_the_next_n_matching_requests(url):
    armed = httpx.post(
        f"{url}/_twin/faults",
        json={"method": "POST", "path": "/v1/messages", "status": 529, "times": 2},
    )
    assert armed.status_code == 201
    assert httpx.get(f"{url}/v1/models", headers=CLAUDE).status_code == 200
    first, second, third = ask(url), ask(url), ask(url)
    assert [first.status_code, second.status_code, third.status_code] == [529, 529, 200]
    assert first.json()["error"]["type"] == "overloaded_error"
    journal = httpx.get(f"{url}/_twin/journal", params={"path": "/v1/messages"}).json()["entries"]
    fault_id = armed.json()["faults"][0]["id"]
    assert [entry["fault"] for entry in journal] == [fault_id, fault_id, None]


def test_fault_with_a_path_regex_and_a_custom_body(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={"path_regex": r"^/v1/models/.+", "status": 503, "body": {"custom": True}},
    )
    assert httpx.get(f"{url}/v1/models", headers=CLAUDE).status_code == 200
    hit = httpx.get(f"{url}/v1/models/claude-haiku-4-5", headers=CLAUDE)
    assert (hit.status_code, hit.json()) == (503, {"custom": True})


def test_latency_fault_delays_then_answers_normally(url):
    httpx.post(f"{url}/_twin/faults", json={"path": "/v1/models", "latency_ms": 300})
    started = time.monotonic()
    slow = httpx.get(f"{url}/v1/models", headers=CLAUDE)
    elapsed = time.monotonic() - started
    assert slow.status_code == 200
    assert elapsed >= 0.25


def test_latency_fault_trips_a_client_timeout(url):
    httpx.post(f"{url}/_twin/faults", json={"latency_ms": 2000})
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=0.2)


def test_drop_fault_closes_the_connection_without_a_response(url):
    httpx.post(f"{url}/_twin/faults", json={"path": "/v1/messages", "drop": True, "times": 2})
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        ask(url)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/v1/messages", json=MESSAGE, headers=CLAUDE, timeout=5)
    assert ask(url).status_code == 200
    statuses = [e["status"] for e in httpx.get(f"{url}/_twin/journal").json()["entries"]]
    assert statuses == [None, None, 200]


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "/v1"},
        {"status": 200},
        {"status": 500, "drop": True},
        {"path": "v1", "status": 500},
        {"path_regex": "(", "status": 500},
        {"status": 500, "times": 0},
        {"status": 500, "colour": "red"},
    ],
)
def test_unusable_fault_specs_are_refused(url, spec):
    response = httpx.post(f"{url}/_twin/faults", json=spec)
    assert response.status_code == 400
    assert response.json()["error"]


def test_faults_can_be_listed_and_removed_one_by_one(url):
    armed = httpx.post(
        f"{url}/_twin/faults", json=[{"status": 500, "times": 3}, {"latency_ms": 10}]
    ).json()["faults"]
    listed = httpx.get(f"{url}/_twin/faults").json()["faults"]
    assert [f["remaining"] for f in listed] == [3, 1]
    assert httpx.delete(f"{url}/_twin/faults/{armed[0]['id']}").status_code == 204
    assert httpx.delete(f"{url}/_twin/faults/{armed[0]['id']}").status_code == 404
    assert ask(url).status_code == 200
    assert httpx.delete(f"{url}/_twin/faults").json() == {"removed": 0}


def test_control_plane_is_never_faulted(url):
    httpx.post(f"{url}/_twin/faults", json={"status": 500, "times": 100})
    assert httpx.get(f"{url}/_twin/health").status_code == 200


# clock and ids -------------------------------------------------------------------------------


def test_frozen_clock_advances_and_resets_to_its_start():
    with serve_asgi(anthropic_app({"TWIN_CLOCK": "2025-01-01T00:00:00Z"})) as base:
        assert httpx.get(f"{base}/_twin/clock").json() == {
            "now": "2025-01-01T00:00:00+00:00",
            "frozen": True,
        }
        moved = httpx.post(f"{base}/_twin/clock", json={"advance": 90}).json()
        assert moved["now"] == "2025-01-01T00:01:30+00:00"
        httpx.post(f"{base}/_twin/clock", json={"set": "2030-06-01T12:00:00Z"})
        ask(base)
        entry = httpx.get(f"{base}/_twin/journal").json()["entries"][0]
        assert entry["at"] == "2030-06-01T12:00:00+00:00"
        httpx.post(f"{base}/_twin/reset")
        assert httpx.get(f"{base}/_twin/clock").json()["now"] == "2025-01-01T00:00:00+00:00"


def test_clock_refuses_to_move_out_of_range_and_keeps_working(url):
    # An advance past the last date was a 500, and in real time it broke every later request.
    for seconds in (1e300, 3e11, -3e11):
        answer = httpx.post(f"{url}/_twin/clock", json={"advance": seconds})
        assert answer.status_code == 400, answer.text
        assert "out of the years 1 to 9999" in answer.json()["error"]
    assert ask(url).status_code == 200
    httpx.post(f"{url}/_twin/clock", json={"set": "9999-12-31T23:59:00Z"})
    assert httpx.post(f"{url}/_twin/clock", json={"advance": 120}).status_code == 400
    assert httpx.get(f"{url}/_twin/clock").json()["now"] == "9999-12-31T23:59:00+00:00"
    assert ask(url).status_code == 200


def test_clock_refuses_unclear_requests(url):
    assert httpx.post(f"{url}/_twin/clock", json={"advance": "soon"}).status_code == 400
    assert httpx.post(f"{url}/_twin/clock", json={"set": "x", "advance": 1}).status_code == 400


def test_real_clock_can_be_advanced_without_freezing(url):
    before = httpx.get(f"{url}/_twin/clock").json()
    assert before["frozen"] is False
    after = httpx.post(f"{url}/_twin/clock", json={"advance": 86400}).json()
    assert after["frozen"] is False
    assert after["now"][:10] != before["now"][:10]


def message_ids(seed: str) -> list[str]:
    with serve_asgi(anthropic_app({"TWIN_SEED": seed})) as base:
        return [ask(base).json()["id"] for _ in range(3)]


def test_same_seed_gives_the_same_ids_and_another_seed_does_not():
    first = message_ids("alpha")
    assert message_ids("alpha") == first
    assert message_ids("beta") != first
    assert len(set(first)) == 3


def test_unknown_route_answers_in_the_twins_error_shape(url):
    response = httpx.get(f"{url}/v1/nothing", headers=CLAUDE)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


# started the way both backends start them ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "module",
    [f"converge_twins.mock_{name}.app" for name in ("anthropic", "supabase", "stripe")],
)
def test_twin_starts_with_the_uvicorn_factory_command(module, tmp_path: Path):
    port = free_port()
    log = (tmp_path / "twin.log").open("w")
    command = [sys.executable, "-m", "uvicorn", "--factory", f"{module}:create_app"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TWIN_SEED": "subprocess"},
    )
    try:
        deadline = time.monotonic() + 20
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/_twin/health").status_code == 200
            except httpx.TransportError:
                healthy = False
            if healthy:
                break
            time.sleep(0.1)
        assert healthy, (tmp_path / "twin.log").read_text()[-2000:]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
    assert process.poll() is not None, "the twin process is still running"


def test_request_seed_is_read_from_w3c_baggage():
    from converge_twins._determinism import request_seed

    assert request_seed([("Baggage", "userId=7, converge-seed=1234;meta=x")]) == "1234"
    assert request_seed([("baggage", "a=1"), ("baggage", "converge-seed= 99 ")]) == "99"
    assert request_seed([("baggage", "converge-seedling=5,other=converge-seed")]) is None
    assert request_seed([("x-baggage", "converge-seed=5")]) is None
    assert request_seed([("baggage", "converge-seed=")]) is None


def test_seed_streams_restart_after_forget_and_stay_bounded():
    from converge_twins._determinism import SeedStreams

    streams = SeedStreams("t", capacity=2)
    first = [streams.stream("1").random() for _ in range(3)]
    streams.forget("1")
    assert [streams.stream("1").random() for _ in range(3)] == first
    assert streams.stream("2").random() != first[0]
    streams.stream("3")
    assert len(streams) == 2  # the least recently used seed went


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_reset_scoped_to_a_seed_keeps_the_shared_state(name):
    with serve_asgi(FACTORIES[name]({"TWIN_SEED": "h"})) as base:
        httpx.post(f"{base}/_twin/faults", json={"path": "/nowhere", "status": 500})
        answer = httpx.post(f"{base}/_twin/reset", json={"seed": 1234})
        assert answer.json() == {"status": "reset", "twin": name, "seed": "1234"}
        # Other runs go on meanwhile: faults (and journal, clock, state) are theirs too.
        assert len(httpx.get(f"{base}/_twin/faults").json()["faults"]) == 1


@pytest.mark.parametrize(
    "body", [b"[1]", b'{"seed": ""}', b'{"seed": true}', b'{"seed": 1, "all": true}', b"{"]
)
def test_an_unclear_reset_is_refused_and_changes_nothing(url, body):
    httpx.post(f"{url}/_twin/faults", json={"path": "/nowhere", "status": 500})
    answer = httpx.post(f"{url}/_twin/reset", content=body)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert len(httpx.get(f"{url}/_twin/faults").json()["faults"]) == 1
