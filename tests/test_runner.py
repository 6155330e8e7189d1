from __future__ import annotations

import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest

from converge.errors import ApiUnreachableError, ConfigError
from converge.model import Scenario
from converge.runner import ApiOrigin, OriginError, RunnerConfig, preflight, run_all
from converge.scenario import load_dir
from converge.tokens import DEFAULT_JWT_SECRET
from tests.support.servers import Reply, TestServer, free_port


def scenarios_from(tmp_path: Path, files: dict[str, str]) -> list[Scenario]:
    root = tmp_path / "scenarios"
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return load_dir(root)


def one(tmp_path: Path, text: str) -> Scenario:
    return scenarios_from(tmp_path, {"critical/s.yaml": text})[0]


def run_one(server: TestServer, scenario: Scenario, **config: object):
    return run_all([scenario], RunnerConfig(api_url=server.url, **config))[0][0]  # type: ignore[arg-type]


def messages(run) -> list[str]:
    return [check.message for step in run.steps for check in step.checks if not check.passed]


def test_steps_run_in_order_and_captures_chain(http_server, tmp_path):
    http_server.json("/v1/things", {"items": [{"id": "t-1"}, {"id": "t-2"}]}, method="POST")
    http_server.json("/v1/things/t-2", {"id": "t-2", "count": 3})
    scenario = one(tmp_path, """
        name: chain
        steps:
          - {method: POST, path: /v1/things, capture: {second: "response.items[1].id"}}
          - path: /v1/things/{{second}}
            capture: {count: response.count}
          - method: POST
            path: /echo
            body: {n: "{{count}}", label: "n={{count}}", ids: ["{{second}}"]}
            expect:
              body_equals: {body.n: 3, body.label: "n=3", body.ids.0: t-2}
        """)
    run = run_one(http_server, scenario)
    assert messages(run) == []
    assert [r.path for r in http_server.requests] == ["/v1/things", "/v1/things/t-2", "/echo"]
    sent = http_server.requests[2].json
    assert sent["n"] == 3 and isinstance(sent["n"], int)  # typed template kept the integer


def test_a_failed_check_does_not_stop_later_steps(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: partial
        steps:
          - {path: /missing, expect: {status: 200}}
          - {path: /echo, expect: {status: 200, body_contains: ['"GET"']}}
        """)
    run = run_one(http_server, scenario)
    assert (run.checks_passed, run.checks_total) == (2, 3)
    assert len(http_server.requests) == 2


def test_a_step_using_a_failed_capture_is_not_sent(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: broken chain
        steps:
          - {path: /echo, capture: {token: response.no.such.field}}
          - path: /echo
            headers: {X-Token: "{{token}}"}
            expect: {status: 200, body_contains: [a, b]}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    skipped = run.steps[1]
    assert skipped.status_code is None
    assert [c.passed for c in skipped.checks] == [False, False, False]
    assert all("'token'" in c.message for c in skipped.checks)
    assert len(http_server.requests) == 2  # steps 1 and 3; step 2 never left the runner
    assert run.steps[2].checks[0].passed



@pytest.mark.parametrize("second", ["/html", "/reset"])
def test_a_failed_re_capture_does_not_send_the_earlier_value(http_server, tmp_path, second):
    # The id of the resource made first must not stand in for the one the second step failed to
    # make: the third step would check the old resource and pass by accident.
    http_server.json("/v1/things", {"id": "old-1"})
    http_server.route("GET", "/html", Reply(body="<html>down</html>"))
    http_server.route("GET", "/reset", Reply(action="reset"))
    scenario = one(tmp_path, f"""
        name: re-capture
        steps:
          - {{path: /v1/things, capture: {{id: response.id}}}}
          - {{path: {second}, capture: {{id: response.id}}}}
          - {{path: "/echo?id={{{{id}}}}", expect: {{status: 200}}}}
        """)
    run = run_one(http_server, scenario)
    third = run.steps[2]
    assert third.status_code is None and not third.checks[0].passed
    assert "'id'" in third.checks[0].message
    assert [urlsplit(r.path).path for r in http_server.requests] == ["/v1/things", second]

def test_a_timeout_fails_the_step_and_the_run_goes_on(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: slow
        steps:
          - {path: "/slow?seconds=5", timeout: 0.3, expect: {status: 200, body_contains: [slow]}}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[0].error is not None and "timed out" in run.steps[0].error
    assert [c.passed for c in run.steps[0].checks] == [False, False]
    assert run.steps[1].checks[0].passed


def test_the_default_timeout_applies_when_the_step_sets_none(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: slow default
        steps: [{path: "/slow?seconds=5"}]
        """)
    run = run_one(http_server, scenario, timeout=0.3)
    assert "within 0.3s" in (run.steps[0].error or "")


def test_a_body_that_keeps_trickling_times_out_the_step(http_server, tmp_path):
    # Each byte comes well within the socket timeout; the whole body would take 10 s.
    http_server.route("GET", "/trickle", Reply(body="x" * 100, trickle=0.1))
    scenario = one(tmp_path, """
        name: trickle
        steps:
          - {path: /trickle, timeout: 0.5, expect: {status: 200, body_contains: [x]}}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[0].error == "timed out: the body was still arriving after 0.5s"
    assert run.steps[0].status_code == 200
    assert [c.passed for c in run.steps[0].checks] == [False, False]
    assert run.steps[1].checks[0].passed
    assert run.steps[0].duration_ms < 10_000 / 4  # the step's deadline ended it, not the server


def test_trickled_headers_time_out_the_step_at_its_deadline(http_server, tmp_path):
    # The status line and headers one byte every 0.1 s: about 15 s from this server.
    http_server.route("GET", "/slow-head", Reply(body="ok", trickle_headers=0.1))
    scenario = one(tmp_path, """
        name: slow head
        steps:
          - {path: /slow-head, timeout: 0.5}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[0].error == "timed out: no answer within 0.5s"
    assert run.steps[0].duration_ms < 15_000 / 4
    assert run.steps[1].checks[0].passed


def test_cookies_never_travel_between_scenarios_or_runs(http_server, tmp_path):
    http_server.route("GET", "/login", Reply(json={"ok": True}, cookies={"session": "s3cr3t-id"}))
    http_server.route(
        "GET", "/cookies", lambda request: Reply(json={"cookie": request.headers.get("Cookie")})
    )
    scenarios = scenarios_from(tmp_path, {
        "critical/a.yaml": """
            name: logs in
            steps:
              - {path: /cookies, expect: {body_equals: {cookie: null}}}
              - {path: /login}
              - {path: /cookies, expect: {body_equals: {cookie: "session=s3cr3t-id"}}}
            """,
        "critical/b.yaml": """
            name: expects no cookie
            steps:
              - {path: /cookies, expect: {body_equals: {cookie: null}}}
            """,
    })
    outcomes = []
    for workers in (1, 8):
        results = run_all(scenarios, RunnerConfig(api_url=http_server.url, workers=workers, runs=3))
        outcomes.append([[messages(run) for run in runs] for runs in results])
    assert outcomes[0] == [[[], [], []], [[], [], []]]  # every check of every run holds
    assert outcomes[1] == outcomes[0]  # and scheduling changes nothing


def test_a_body_over_the_size_limit_fails_the_step_unread(http_server, tmp_path):
    http_server.route("GET", "/big", Reply(body="y" * 5000))
    http_server.route("GET", "/small", Reply(body="y" * 1000))
    scenario = one(tmp_path, """
        name: big
        steps:
          - {path: /big, expect: {body_contains: [y]}}
          - {path: /small, expect: {body_contains: [y]}}
        """)
    run = run_one(http_server, scenario, max_body_bytes=1000)
    assert run.steps[0].error == "the response body is larger than 1000 bytes: not read"
    assert not run.steps[0].checks[0].passed
    assert run.steps[1].error is None and run.steps[1].checks[0].passed


@pytest.mark.parametrize("action", ["drop", "reset"])
def test_a_dropped_connection_fails_the_step_and_the_run_goes_on(http_server, tmp_path, action):
    http_server.route("GET", "/broken", Reply(action=action))
    scenario = one(tmp_path, """
        name: broken
        steps:
          - {path: /broken, expect: {status: 200}}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[0].status_code is None
    assert run.steps[0].error
    assert not run.steps[0].checks[0].passed
    assert run.steps[1].checks[0].passed



def test_deeply_nested_response_bodies_fail_checks_never_the_run(http_server, tmp_path):
    # A hostile or broken API: too deep for the JSON parser, and deep enough that comparing or
    # re-sending a captured value would recurse past Python's limit.
    http_server.route("GET", "/abyss", Reply(body="[" * 5000 + "]" * 5000))
    http_server.route("GET", "/deep", Reply(body='{"a": ' + "[" * 900 + "]" * 900 + "}"))
    scenario = one(tmp_path, """
        name: deep
        steps:
          - {path: /abyss, expect: {status: 200, body_equals: {"0": 1}}}
          - path: /deep
            expect: {body_equals: {a: [[1]]}, body_matches: {a: x}}
            capture: {a: response.a}
          - {method: POST, path: /echo, body: {a: "{{a}}"}}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert [c.passed for step in run.steps for c in step.checks] == [
        True, False, False, False, False, False, True
    ]
    assert "not JSON" in run.steps[0].checks[1].message
    assert "more than 100 levels deep" in run.steps[1].checks[2].message
    assert run.steps[2].status_code is None  # not sent: its variable could not be captured


def test_a_header_value_http_cannot_encode_fails_its_step_not_the_run(http_server, tmp_path):
    http_server.json("/me", {"name": "Zoë ✓"})
    scenario = one(tmp_path, """
        name: unicode header
        steps:
          - {path: /me, capture: {name: response.name}}
          - {path: /echo, headers: {X-Name: "{{name}}"}, expect: {status: 200}}
          - {path: /echo}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[1].status_code is None
    assert "header 'X-Name' is not Latin-1 text" in run.steps[1].checks[0].message
    assert run.steps[2].checks[0].passed
    assert [r.path for r in http_server.requests] == ["/me", "/echo"]

def test_connection_refused_fails_every_step_with_a_clear_message(tmp_path):
    scenario = one(tmp_path, """
        name: nobody home
        steps: [{path: /a}, {path: /b, expect: {status: 200, body_contains: [x]}}]
        """)
    run = run_all([scenario], RunnerConfig(api_url=f"http://127.0.0.1:{free_port()}"))[0][0]
    assert run.checks_passed == 0 and run.checks_total == 3
    assert all(step.error == "connection refused" for step in run.steps)


def test_non_json_body_fails_field_checks_but_not_the_run(http_server, tmp_path):
    http_server.route("GET", "/html", Reply(body="<html>oops</html>"))
    scenario = one(tmp_path, """
        name: html
        steps:
          - path: /html
            expect: {status: 200, body_contains: [oops], body_equals: {a: 1}}
            capture: {v: response.a}
        """)
    run = run_one(http_server, scenario)
    assert [c.passed for c in run.steps[0].checks] == [True, True, False, False]
    assert "not JSON" in run.steps[0].checks[2].message


def test_redirects_are_not_followed(http_server, tmp_path):
    elsewhere = TestServer()
    elsewhere.start()
    try:
        http_server.route("GET", "/go", Reply(status=302, headers={"Location": elsewhere.url}))
        scenario = one(tmp_path, """
            name: redirect
            steps: [{path: /go, expect: {status: 302}}]
            """)
        run = run_one(http_server, scenario)
        assert run.checks_passed == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()
    assert not elsewhere.running


def test_a_rendered_path_never_changes_the_origin(http_server, tmp_path):
    http_server.json("/v1/next", {"next": "@127.0.0.2:1/steal"})
    scenario = one(tmp_path, """
        name: hostile capture
        steps:
          - {path: /v1/next, capture: {next: response.next}}
          - {path: "/{{next}}"}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[1].status_code == 404  # answered by our server's catch-all
    # The value is percent-encoded into one segment of a path appended to the base URL.
    assert http_server.requests[-1].path == "/%40127.0.0.2%3A1%2Fsteal"


def test_a_whole_template_path_must_render_a_path_of_the_api(http_server, tmp_path):
    http_server.json("/v1/next", {"next": "@127.0.0.2:1/steal", "url": "http://127.0.0.2:1/x"})
    scenario = one(tmp_path, """
        name: hostile link
        steps:
          - {path: /v1/next, capture: {next: response.next, url: response.url}}
          - {path: "{{next}}"}
          - {path: "{{url}}"}
        """)
    run = run_one(http_server, scenario)
    for step in run.steps[1:]:
        assert step.status_code is None
        assert step.error is not None and "neither a path starting with '/'" in step.error
    assert len(http_server.requests) == 1


def test_origin_check_rejects_paths_that_would_leave_the_api():
    origin = ApiOrigin("http://127.0.0.1:9/api/")
    assert origin.url_for("/v1/x?a=1") == "http://127.0.0.1:9/api/v1/x?a=1"
    for hostile in ["http://127.0.0.2/x", "@127.0.0.2/x", "/x\r\nHost: evil", ""]:
        with pytest.raises(OriginError):
            origin.url_for(hostile)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http://u:p@127.0.0.1/",
                                 "file:///etc/passwd"])
def test_only_http_api_urls_are_accepted(url):
    with pytest.raises(ConfigError):
        ApiOrigin(url)


def test_tokens_are_fresh_per_run_and_recorded_as_secrets(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: auth
        steps:
          - path: /echo
            headers: {Authorization: "Bearer {{free_user_token}}"}
        """)
    results = run_all([scenario], RunnerConfig(api_url=http_server.url, runs=3))[0]
    assert len(results) == 3
    sent = [r.headers["Authorization"] for r in http_server.requests]
    subs = {
        jwt.decode(v.split()[1], DEFAULT_JWT_SECRET, ["HS256"], audience="authenticated")["sub"]
        for v in sent
    }
    assert len(subs) == 3  # a fresh user per run
    for run in results:  # runs go in parallel: match each run to the value it sent
        mine = [v for v in sent if v in run.secrets]
        assert len(mine) == 1 and mine[0].split()[1] in run.secrets


def test_one_connection_per_worker_is_reused(http_server, tmp_path):
    scenario = one(tmp_path, """
        name: many
        steps: [{path: /echo}, {path: /echo}, {path: /echo}, {path: /echo}]
        """)
    run_all([scenario], RunnerConfig(api_url=http_server.url, workers=1, runs=3))
    assert len(http_server.requests) == 12
    assert len({r.client_port for r in http_server.requests}) == 1


def test_workers_run_scenarios_in_parallel_with_steps_in_order(http_server, tmp_path):
    files = {
        f"critical/s{i}.yaml": f"""
            name: parallel {i}
            steps:
              - {{path: "/slow?seconds=0.3&s={i}&step=1"}}
              - {{path: "/echo?s={i}&step=2"}}
            """
        for i in range(4)
    }
    scenarios = scenarios_from(tmp_path, files)
    results = run_all(scenarios, RunnerConfig(api_url=http_server.url, workers=4))
    assert all(runs[0].all_passed for runs in results)
    assert http_server.max_in_flight > 1
    for i in range(4):
        order = [r.path for r in http_server.requests if f"s={i}&" in r.path]
        assert order == [f"/slow?seconds=0.3&s={i}&step=1", f"/echo?s={i}&step=2"]


def test_results_line_up_with_the_scenarios(http_server, tmp_path):
    # Each scenario expects the answer only its own path gives (a status and a body naming it),
    # so a response filed under another scenario fails a check there.
    files = {
        f"critical/s{i}.yaml": f"""
            name: s{i}
            steps:
              - path: /x{i}
                expect: {{status: {210 + i}, body_equals: {{scenario: {i}}}}}
            """
        for i in range(6)
    }
    for i in range(6):
        http_server.json(f"/x{i}", {"scenario": i}, status=210 + i)
    scenarios = scenarios_from(tmp_path, files)
    results = run_all(scenarios, RunnerConfig(api_url=http_server.url, workers=3, runs=2))
    for scenario, runs in zip(scenarios, results, strict=True):
        index = int(scenario.name[1:])
        assert len(runs) == 2
        for run in runs:
            assert run.steps[0].path == f"/x{index}"
            assert run.steps[0].status_code == 210 + index
            assert all(check.passed for check in run.steps[0].checks), run.steps[0].checks
    assert sorted(r.path for r in http_server.requests) == sorted([f"/x{i}" for i in range(6)] * 2)


def test_preflight_accepts_any_http_answer(http_server):
    preflight(ApiOrigin(http_server.url))  # "/" is a 404 on this server
    assert http_server.requests[0].path == "/"


def test_preflight_reads_no_body(http_server):
    # An API whose "/" streams without end (256 MiB here) is there: its status line says so.
    http_server.route("GET", "/", Reply(stream=4096))
    preflight(ApiOrigin(http_server.url))
    assert http_server.streamed < 64 * 2**20  # what socket buffers hold, not the whole stream


def test_preflight_without_an_answer_is_an_error():
    with pytest.raises(ApiUnreachableError, match="does not answer"):
        preflight(ApiOrigin(f"http://127.0.0.1:{free_port()}"), timeout=2)


def test_a_lone_surrogate_captured_from_an_answer_is_never_sent_in_a_url_or_form(
    http_server, tmp_path
):
    # "\ud800" is valid JSON text but no UTF-8 character: a hostile API once crashed the run
    # with it (the URL could not be encoded, then the redactor could not spell the secret).
    http_server.route("GET", "/s", Reply(
        body=b'{"x": "tok\\ud800en-123"}', headers={"Content-Type": "application/json"}
    ))
    scenario = one(tmp_path, """
        name: Surrogate
        steps:
          - path: /s
            capture: {x: response.x}
          - path: "/items/{{x}}"
          - {path: /echo, query: {v: "{{x}}"}}
          - {method: POST, path: /echo, form: {v: "{{x}}"}}
          - {method: POST, path: /echo, body: {v: "{{x}}"}}
        """)
    run = run_one(http_server, scenario)
    errors = [step.error for step in run.steps]
    assert errors[0] is None and errors[4] is None
    for error in errors[1:4]:
        assert error is not None and error.startswith("not sent:") and "lone surrogate" in error
    # The JSON body carries it as JSON does, escaped.
    assert [r.path for r in http_server.requests] == ["/s", "/echo"]
    assert http_server.requests[1].body == b'{"v": "tok\\ud800en-123"}'


@pytest.mark.parametrize("charset", ["undefined", "idna", "punycode", "base64"])
def test_a_charset_python_cannot_decode_with_is_read_as_utf8(http_server, tmp_path, charset):
    # Each one made the run an internal error: a codec Python knows but cannot use to decode
    # text with "replace".
    http_server.route("GET", "/a", Reply(
        body='{"a": "é"}'.encode(), headers={"Content-Type": f"application/json; charset={charset}"}
    ))
    scenario = one(tmp_path, """
        name: Charset
        steps:
          - {path: /a, expect: {status: 200, body_equals: {a: é}}}
        """)
    run = run_one(http_server, scenario)
    assert run.steps[0].error is None and run.all_passed


def test_a_json_body_holding_nan_is_not_sent_and_says_why(http_server, tmp_path):
    from converge.runner import run_step
    from converge.transport import Transport

    scenario = one(tmp_path, """
        name: NaN
        steps:
          - {path: /echo, capture: {score: response.score}}
          - {method: POST, path: /echo, body: {score: "{{score}}"}}
        """)
    with Transport() as transport:  # as if the capture had read a NaN
        result, _ = run_step(
            scenario.steps[1], transport, ApiOrigin(http_server.url), {"score": float("nan")},
            default_timeout=5, secrets=set(),
        )
    assert result.error == "not sent: the request cannot be encoded (InvalidJSONError)"
    assert http_server.requests == []


def test_scenarios_still_being_read_run_as_they_come_and_a_reading_error_stops_them(
    http_server, tmp_path
):
    loaded = scenarios_from(tmp_path, {
        f"critical/s{i}.yaml": f'name: S{i}\nsteps: [{{path: "/slow?seconds={i}"}}]\n'
        for i in range(3)
    })
    taken: list[str] = []

    def reading():
        yield loaded[0]  # takes no time
        yield loaded[1]  # takes a second
        deadline = time.monotonic() + 30
        while not http_server.sent("/slow?seconds=1") and time.monotonic() < deadline:
            time.sleep(0.005)  # until the second one is in flight
        raise RuntimeError("a file could not be read")

    config = RunnerConfig(api_url=http_server.url, workers=4, timeout=30)
    with pytest.raises(RuntimeError, match="could not be read"):
        run_all(reading(), config, on_run=lambda s, _r: taken.append(s.name))
    assert taken == ["S0"], "the run in flight was abandoned, not waited for"
    assert not http_server.sent("/slow?seconds=2")
