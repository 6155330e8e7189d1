"""The control plane every twin shares: health, reset, journal, faults, clock, seeded ids."""

from __future__ import annotations

import json
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
from tests.support.processes import assert_group_gone

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
        start_new_session=True,
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
    assert_group_gone(process.pid)
    with pytest.raises(ConnectionRefusedError):  # and nothing answers on its port any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


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


# journal queries ------------------------------------------------------------------------------


def journal(url: str, **params: object) -> list[dict]:
    return httpx.get(f"{url}/_twin/journal", params=params).json()["entries"]  # type: ignore[arg-type]


def test_journal_is_queried_by_header_query_body_status_and_regex(url):
    ask(url, **{"anthropic-beta": "files-api-2025-04-14"})
    ask(url)
    httpx.get(f"{url}/v1/models", params={"limit": "1"}, headers=CLAUDE)
    httpx.post(
        f"{url}/v1/messages", json={**MESSAGE, "model": "claude-imaginary-9"}, headers=CLAUDE
    )

    def seqs(**params: object) -> list[int]:
        return [entry["seq"] for entry in journal(url, **params)]

    assert seqs(header="anthropic-beta") == [1]
    assert seqs(header="anthropic-beta:files-api-2025-04-14") == [1]
    assert seqs(header="anthropic-beta:other") == []
    assert seqs(query="limit=1") == [3]
    assert seqs(query="limit") == [3]
    assert seqs(body_contains="imaginary") == [4]
    assert seqs(status=404) == [4]
    assert seqs(path_regex=r"^/v1/mod") == [3]
    assert seqs(method="post", header="anthropic-version:2023-06-01") == [1, 2, 4]
    assert httpx.get(f"{url}/_twin/journal", params={"status": "x"}).status_code == 400


def test_journal_find_and_count_take_a_request_pattern(url):
    ask(url)
    httpx.post(f"{url}/v1/messages", json={**MESSAGE, "max_tokens": 7}, headers=CLAUDE)
    pattern = {"method": "POST", "body": {"json": {"max_tokens": 7, "messages.0.role": "user"}}}
    found = httpx.post(f"{url}/_twin/journal/find", json=pattern).json()
    assert [entry["seq"] for entry in found["entries"]] == [2]
    counted = httpx.post(
        f"{url}/_twin/journal/count",
        json={"headers": {"x-api-key": {"present": True}}, "body": {"contains": "claude"}},
    )
    assert counted.json() == {"count": 2}
    bad = httpx.post(f"{url}/_twin/journal/find", json={"body": {"like": "x"}})
    assert bad.status_code == 400 and "body" in bad.json()["error"]


def test_verify_answers_200_when_the_count_holds_and_409_with_near_misses(url):
    ask(url)
    ask(url)
    exactly_two = {"request": {"method": "POST", "path": "/v1/messages"}, "count": 2}
    held = httpx.post(f"{url}/_twin/journal/verify", json=exactly_two)
    assert held.status_code == 200
    assert held.json() == {"verified": True, "count": 2, "expected": "exactly 2"}
    wanted = {
        "request": {
            "method": "POST",
            "path": "/v1/messages",
            "body": {"json": {"model": "claude-opus-4-6"}},
        },
        "at_least": 1,
    }
    missed = httpx.post(f"{url}/_twin/journal/verify", json=wanted)
    assert missed.status_code == 409
    body = missed.json()
    assert (body["verified"], body["count"], body["expected"]) == (False, 0, "at least 1")
    assert [entry["body"]["model"] for entry in body["near_misses"]] == ["claude-haiku-4-5"] * 2
    bounded = {"request": {"path": "/v1/messages"}, "at_least": 1, "at_most": 1}
    assert httpx.post(f"{url}/_twin/journal/verify", json=bounded).status_code == 409
    assert httpx.post(f"{url}/_twin/journal/verify", json={"count": -1}).status_code == 400


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("mock-anthropic", "/v1/mesages"),
        ("mock-stripe", "/v1/custmers"),
        ("mock-supabase", "/auth/v1/sigup"),
    ],
)
def test_unmatched_requests_are_listed_with_their_near_misses(name, path):
    with serve_asgi(FACTORIES[name]({})) as base:
        httpx.post(f"{base}{path}", json={})
        httpx.get(f"{base}/_twin/health")
        unmatched = httpx.get(f"{base}/_twin/journal/unmatched").json()
        assert unmatched["count"] == 1
        entry = unmatched["requests"][0]
        assert (entry["method"], entry["path"], entry["matched"]) == ("POST", path, False)
        assert any(
            path.replace("sigup", "signup")
            .replace("custmers", "customers")
            .replace("mesages", "messages")
            in miss
            for miss in entry["near_misses"]
        )
        assert journal(base, matched="false") == [
            {k: v for k, v in entry.items() if k != "near_misses"}
        ]


def test_a_wrong_method_is_unmatched_and_a_missing_resource_is_not(url):
    httpx.get(f"{url}/v1/messages", headers=CLAUDE)  # 405: no such route for GET
    httpx.get(f"{url}/v1/models/claude-imaginary-9", headers=CLAUDE)  # 404 from the route
    entries = journal(url)
    assert [(e["status"], e["matched"]) for e in entries] == [(405, False), (404, True)]
    near = httpx.get(f"{url}/_twin/journal/unmatched").json()["requests"][0]["near_misses"]
    assert "POST /v1/messages" in near


# faults: patterns, chance, latency, broken answers ------------------------------------------


def test_a_fault_matches_a_full_request_pattern(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={
            "request": {"headers": {"x-chaos": "on"}, "body": {"contains": "haiku"}},
            "status": 503,
            "times": 5,
        },
    )
    assert ask(url).status_code == 200
    assert ask(url, **{"x-chaos": "on"}).status_code == 503
    assert httpx.get(f"{url}/v1/models", headers={**CLAUDE, "x-chaos": "on"}).status_code == 200


def statuses_under_a_chance_fault(seed: str) -> list[int]:
    with serve_asgi(anthropic_app({"TWIN_SEED": seed})) as base:
        armed = httpx.post(f"{base}/_twin/faults", json={"status": 500, "probability": 0.5})
        assert armed.json()["faults"][0]["remaining"] is None  # no limit with a probability
        return [httpx.get(f"{base}/v1/models", headers=CLAUDE).status_code for _ in range(40)]


def test_a_probabilistic_fault_is_seeded_and_deterministic():
    first = statuses_under_a_chance_fault("chaos")
    assert statuses_under_a_chance_fault("chaos") == first
    assert 5 <= first.count(500) <= 35
    assert set(first) == {200, 500}
    assert statuses_under_a_chance_fault("other") != first


def test_random_latency_waits_within_its_range(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={"path": "/v1/models", "latency_ms": {"min": 200, "max": 300}, "times": 2},
    )
    started = time.monotonic()
    assert httpx.get(f"{url}/v1/models", headers=CLAUDE).status_code == 200
    assert time.monotonic() - started >= 0.19
    lognormal = {"latency_ms": {"median": 5, "sigma": 0.3}, "path": "/v1/models"}
    assert httpx.post(f"{url}/_twin/faults", json=lognormal).status_code == 201


@pytest.mark.parametrize("kind", ["malformed", "empty", "random"])
def test_a_broken_body_keeps_the_real_status_and_headers(url, kind):
    httpx.post(f"{url}/_twin/faults", json={"path": "/v1/messages", "body_fault": kind})
    broken = ask(url)
    assert broken.status_code == 200
    assert broken.headers["request-id"]
    assert int(broken.headers["content-length"]) == len(broken.content)
    if kind == "empty":
        assert broken.content == b""
    with pytest.raises(ValueError):
        json.loads(broken.content)
    assert ask(url).json()["type"] == "message"


def test_a_malformed_body_is_an_sdk_error():
    import anthropic

    with serve_asgi(anthropic_app({})) as base:
        httpx.post(f"{base}/_twin/faults", json={"path": "/v1/models", "body_fault": "malformed"})
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=0)
        with pytest.raises((anthropic.APIResponseValidationError, ValueError)):
            client.models.retrieve("claude-haiku-4-5")


def test_a_truncated_body_ends_in_a_cut_connection(url):
    httpx.post(f"{url}/_twin/faults", json={"path": "/v1/messages", "body_fault": "truncated"})
    with pytest.raises(httpx.RemoteProtocolError):
        ask(url)
    assert ask(url).status_code == 200


def test_a_dribbled_body_arrives_slowly_in_pieces_and_whole(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={"path": "/v1/models", "dribble": {"chunks": 4, "total_ms": 400}},
    )
    started = time.monotonic()
    with httpx.stream("GET", f"{url}/v1/models", headers=CLAUDE) as answer:
        pieces = list(answer.iter_raw())
    assert time.monotonic() - started >= 0.35
    assert len([piece for piece in pieces if piece]) >= 2
    assert json.loads(b"".join(pieces))["data"]


STREAM = {**MESSAGE, "stream": True}


def stream_events(url: str) -> list[str]:
    with httpx.stream("POST", f"{url}/v1/messages", json=STREAM, headers=CLAUDE) as answer:
        return [line for line in answer.iter_lines() if line.startswith(("event:", "data:"))]


def test_an_error_event_inside_a_stream_ends_it(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={"path": "/v1/messages", "stream": {"after_events": 2, "action": "error"}},
    )
    lines = stream_events(url)
    assert [line for line in lines if line.startswith("event:")] == [
        "event: message_start",
        "event: content_block_start",
        "event: error",
    ]
    assert json.loads(lines[-1].removeprefix("data: "))["error"]["type"] == "overloaded_error"


def test_the_sdk_raises_on_an_error_event_mid_stream():
    import anthropic

    with serve_asgi(anthropic_app({})) as base:
        httpx.post(
            f"{base}/_twin/faults",
            json={"path": "/v1/messages", "stream": {"after_events": 3, "action": "error"}},
        )
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=0)
        with (
            pytest.raises(anthropic.APIError),
            client.messages.stream(
                model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "x"}]
            ) as stream,
        ):
            for _ in stream:
                pass


def test_a_stream_can_be_cut_or_stalled_after_some_events(url):
    httpx.post(
        f"{url}/_twin/faults",
        json={"path": "/v1/messages", "stream": {"after_events": 1, "action": "drop"}},
    )
    with pytest.raises(httpx.RemoteProtocolError):
        stream_events(url)
    httpx.post(
        f"{url}/_twin/faults",
        json={
            "path": "/v1/messages",
            "stream": {"after_events": 2, "action": "stall", "stall_ms": 300},
        },
    )
    started = time.monotonic()
    lines = stream_events(url)
    assert time.monotonic() - started >= 0.28
    assert lines[-2] == "event: message_stop"


def test_retry_after_is_injected_and_the_sdk_honours_it():
    import anthropic

    with serve_asgi(anthropic_app({})) as base:
        httpx.post(
            f"{base}/_twin/faults",
            json={
                "path": "/v1/models",
                "status": 503,
                "retry_after": 1,
                "response_headers": {"x-upstream": "busy"},
            },
        )
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=1)
        started = time.monotonic()
        assert client.models.retrieve("claude-haiku-4-5").id
        assert time.monotonic() - started >= 0.9
        first = journal(base)[0]
        assert first["status"] == 503
        httpx.post(f"{base}/_twin/faults", json={"status": 429, "retry_after": 3})
        refused = httpx.get(f"{base}/v1/models", headers=CLAUDE)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")


def test_headers_alone_are_added_to_the_real_answer(url):
    httpx.post(f"{url}/_twin/faults", json={"response_headers": {"x-extra": "1"}})
    answer = httpx.get(f"{url}/v1/models", headers=CLAUDE)
    assert (answer.status_code, answer.headers["x-extra"]) == (200, "1")


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 500, "body_fault": "malformed"},
        {"body_fault": "mangled"},
        {"stream": {"after_events": 1, "action": "explode"}},
        {"dribble": {"chunks": 0, "total_ms": 10}},
        {"status": 500, "probability": 1.5},
        {"latency_ms": {"min": 10, "max": 5}},
        {"drop": True, "retry_after": 1},
        {"request": {"headers": {"x": {"like": "y"}}}, "status": 500},
        {"request": {"path": "/v1"}, "path": "/v2", "status": 500},
    ],
)
def test_more_unusable_fault_specs_are_refused(url, spec):
    answer = httpx.post(f"{url}/_twin/faults", json=spec)
    assert answer.status_code == 400, answer.text


# stubs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_twin_takes_stubs_until_they_are_used_up(name):
    with serve_asgi(FACTORIES[name]({})) as base:
        stub = {
            "request": {"method": "GET", "path": "/v9/hello"},
            "response": {
                "status": 202,
                "json": {"hello": "{{request.query.who}}"},
                "headers": {"x-stub": "yes"},
            },
            "times": 2,
        }
        created = httpx.post(f"{base}/_twin/stubs", json=stub)
        assert created.status_code == 201
        stub_id = created.json()["stubs"][0]["id"]
        for _ in range(2):
            answer = httpx.get(f"{base}/v9/hello", params={"who": "ada"})
            assert (answer.status_code, answer.json()) == (202, {"hello": "ada"})
            assert answer.headers["x-stub"] == "yes"
        assert httpx.get(f"{base}/v9/hello").status_code == 404
        assert [e["stub"] for e in journal(base)] == [stub_id, stub_id, None]
        assert httpx.get(f"{base}/_twin/stubs").json()["stubs"] == []


def test_a_stub_overrides_the_twins_own_answer_for_the_sdk(url):
    import anthropic

    model = {
        "type": "model",
        "id": "{{request.path}}",
        "display_name": "Claude Next",
        "created_at": "2027-01-01T00:00:00Z",
        "lifecycle": "active",
    }
    httpx.post(
        f"{url}/_twin/stubs",
        json={"request": {"path": "/v1/models/claude-next"}, "response": {"json": model}},
    )
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0)
    assert client.models.retrieve("claude-next").display_name == "Claude Next"


def test_stub_templates_keep_types_and_priorities_pick_the_stub(url):
    stubs = [
        {
            "request": {"path": "/v1/messages"},
            "priority": 5,
            "response": {"json": {"which": "plain"}},
        },
        {
            "request": {"path": "/v1/messages", "body": {"json": {"max_tokens": 64}}},
            "priority": 1,
            "response": {
                "json": {
                    "tokens": "{{request.json.max_tokens}}",
                    "model": "model {{request.json.model}}",
                    "id": "{{id msg_}}",
                    "method": "{{request.method}}",
                    "key": "{{request.headers.x-api-key}}",
                    "unknown": "{{request.json.nope}}",
                }
            },
        },
        {
            "request": {"path": "/v1/messages"},
            "priority": 5,
            "response": {"json": {"which": "newest"}},
        },
    ]
    assert httpx.post(f"{url}/_twin/stubs", json=stubs).status_code == 201
    answer = ask(url).json()
    assert answer["tokens"] == 64
    assert answer["model"] == "model claude-haiku-4-5"
    assert answer["id"].startswith("msg_")
    assert (answer["method"], answer["key"]) == ("POST", "sk-ant-test")
    assert answer["unknown"] == "{{request.json.nope}}"
    other = httpx.post(f"{url}/v1/messages", json={**MESSAGE, "max_tokens": 9}, headers=CLAUDE)
    assert other.json() == {"which": "newest"}


@pytest.mark.parametrize(
    "spec",
    [
        {"request": {"path": "/x"}},
        {"request": {"path": "/x"}, "response": {"status": 99}},
        {"request": {"path": "/x"}, "response": {"json": 1, "body": "x"}},
        {"request": {"path": "x"}, "response": {}},
        {"request": {}, "response": {}, "priority": 0},
        {"request": {}, "response": {}, "colour": "red"},
    ],
)
def test_unusable_stubs_are_refused(url, spec):
    answer = httpx.post(f"{url}/_twin/stubs", json=spec)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_stubs_are_removed_one_by_one_or_by_reset(url):
    created = httpx.post(
        f"{url}/_twin/stubs",
        json=[
            {"request": {"path": "/a"}, "response": {"body": "a"}},
            {"request": {"path": "/b"}, "response": {"body": "b"}},
        ],
    ).json()["stubs"]
    assert httpx.delete(f"{url}/_twin/stubs/{created[0]['id']}").status_code == 204
    assert httpx.delete(f"{url}/_twin/stubs/{created[0]['id']}").status_code == 404
    assert httpx.get(f"{url}/b").text == "b"
    httpx.post(f"{url}/_twin/reset")
    assert httpx.get(f"{url}/_twin/stubs").json()["stubs"] == []


# snapshots -----------------------------------------------------------------------------------


def test_a_stripe_snapshot_brings_back_its_customers_and_ids():
    import stripe

    with serve_asgi(stripe_app({"TWIN_SEED": "snap"})) as base:
        payments = stripe.StripeClient(
            "sk_test_snap", base_addresses={"api": base}, max_network_retries=0
        )
        first = payments.v1.customers.create(params={"email": "one@example.com"})
        assert httpx.post(f"{base}/_twin/snapshots", json={"name": "one"}).status_code == 201
        second = payments.v1.customers.create(params={"email": "two@example.com"})
        restored = httpx.post(f"{base}/_twin/snapshots/one/restore")
        assert restored.json()["restored"] is True
        again = payments.v1.customers.create(params={"email": "two@example.com"})
        assert again.id == second.id  # the id sequence is back where it was too
        httpx.post(f"{base}/_twin/snapshots/one/restore")
        assert [c.id for c in payments.v1.customers.list().data] == [first.id]
        httpx.post(f"{base}/_twin/reset")  # snapshots outlive a reset
        httpx.post(f"{base}/_twin/snapshots/one/restore")
        assert [c.id for c in payments.v1.customers.list().data] == [first.id]


def test_a_supabase_snapshot_brings_back_its_users():
    import jwt

    from converge_twins.mock_supabase.tokens import DEFAULT_JWT_SECRET

    anon = jwt.encode({"role": "anon", "iss": "supabase"}, DEFAULT_JWT_SECRET, algorithm="HS256")
    with serve_asgi(supabase_app({})) as base:

        def signup(email: str) -> int:
            return httpx.post(
                f"{base}/auth/v1/signup",
                headers={"apikey": anon},
                json={"email": email, "password": "hunter22-secret"},
            ).status_code

        def sign_in(email: str) -> int:
            return httpx.post(
                f"{base}/auth/v1/token",
                params={"grant_type": "password"},
                headers={"apikey": anon},
                json={"email": email, "password": "hunter22-secret"},
            ).status_code

        assert signup("a@example.com") == 200
        httpx.post(f"{base}/_twin/snapshots", json={"name": "with-a"})
        assert signup("b@example.com") == 200
        assert sign_in("b@example.com") == 200
        httpx.post(f"{base}/_twin/snapshots/with-a/restore")
        assert sign_in("a@example.com") == 200
        assert sign_in("b@example.com") == 400
        assert signup("b@example.com") == 200  # the restored state is live, not a copy


def test_an_anthropic_snapshot_holds_its_rules(url):
    httpx.post(f"{url}/_twin/rules", json={"match": "ping", "reply": "pong"})
    httpx.post(f"{url}/_twin/snapshots", json={"name": "pong"})
    httpx.delete(f"{url}/_twin/rules")
    assert httpx.get(f"{url}/_twin/rules").json()["posted"] == []
    httpx.post(f"{url}/_twin/snapshots/pong/restore")
    assert httpx.get(f"{url}/_twin/rules").json()["posted"] == [{"match": "ping", "reply": "pong"}]
    assert ask(url).status_code == 200


def test_snapshots_are_listed_deleted_and_refused_when_unclear(url):
    assert httpx.post(f"{url}/_twin/snapshots", json={"name": "a"}).status_code == 201
    listed = httpx.get(f"{url}/_twin/snapshots").json()["snapshots"]
    assert [s["name"] for s in listed] == ["a"]
    assert httpx.post(f"{url}/_twin/snapshots", json={"name": ""}).status_code == 400
    assert httpx.post(f"{url}/_twin/snapshots", json={"nom": "a"}).status_code == 400
    assert httpx.post(f"{url}/_twin/snapshots/b/restore").status_code == 404
    assert httpx.delete(f"{url}/_twin/snapshots/a").status_code == 204
    assert httpx.delete(f"{url}/_twin/snapshots/a").status_code == 404
    for number in range(20):
        httpx.post(f"{url}/_twin/snapshots", json={"name": f"s{number}"})
    full = httpx.post(f"{url}/_twin/snapshots", json={"name": "one-too-many"})
    assert full.status_code == 400 and "at most 20" in full.json()["error"]
