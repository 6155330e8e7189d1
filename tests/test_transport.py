"""One deadline per exchange, whatever the server does; one cookie jar per caller; pooling.

Time is never asserted in absolute terms: each test compares how long the exchange took with
how long the server would have made it last (ratios), so a loaded machine cannot fail it.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from requests.cookies import RequestsCookieJar

from converge.transport import Answer, Stopped, Transport, TransportError
from tests.support.servers import Reply, TestServer, free_port


def timed(transport: Transport, url: str, timeout: float) -> tuple[float, Answer | TransportError]:
    started = time.monotonic()
    try:
        outcome: Answer | TransportError = transport.send(
            requests.Request("GET", url), timeout=timeout
        )
    except TransportError as error:
        outcome = error
    return time.monotonic() - started, outcome


def test_a_trickled_body_fails_at_the_deadline_not_when_the_server_is_done(http_server):
    # 100 bytes, one every 0.1 s: the server would take 10 s; every read is well within the
    # socket timeout, so only a deadline over the whole exchange can stop it.
    http_server.route("GET", "/trickle", Reply(body="x" * 100, trickle=0.1))
    with Transport() as transport:
        took, outcome = timed(transport, http_server.url + "/trickle", timeout=0.5)
    assert isinstance(outcome, TransportError)
    assert outcome.reason == "timed out: the body was still arriving after 0.5s"
    assert outcome.status == 200
    assert took < 10 * 0.5 / 2  # far from the server's 10 s: the deadline ended it


def test_trickled_headers_fail_at_the_deadline_too(http_server):
    # The status line and headers (~150 bytes) one byte every 0.1 s: 15 s from the server.
    http_server.route("GET", "/slow-head", Reply(body="ok", trickle_headers=0.1))
    with Transport() as transport:
        took, outcome = timed(transport, http_server.url + "/slow-head", timeout=0.5)
    assert isinstance(outcome, TransportError)
    assert outcome.reason == "timed out: no answer within 0.5s"
    assert outcome.status is None
    assert took < 15 * 0.5 / 2


def test_an_answer_within_the_deadline_is_whole(http_server):
    http_server.route("GET", "/trickle", Reply(body="abcde", trickle=0.01))
    with Transport() as transport:
        answer = transport.send(requests.Request("GET", http_server.url + "/trickle"), timeout=10)
    assert (answer.status, answer.body, answer.text) == (200, b"abcde", "abcde")
    assert answer.headers["content-type"].startswith("text/plain")


def test_the_body_is_bounded_in_size(http_server):
    http_server.route("GET", "/endless", Reply(stream=4096))  # 256 MiB if anyone read it all
    with Transport(max_body_bytes=2**20) as transport:
        _took, outcome = timed(transport, http_server.url + "/endless", timeout=30)
    assert isinstance(outcome, TransportError)
    assert outcome.reason == "the response body is larger than 1 MiB: not read"
    # What the server managed to write: the 1 MiB read plus what socket buffers hold.
    assert http_server.streamed < 64 * 2**20


def test_a_refused_connection_says_so():
    with Transport() as transport:
        _took, outcome = timed(transport, f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert isinstance(outcome, TransportError) and outcome.reason == "connection refused"


def test_cookies_go_to_the_jar_given_and_only_from_it(http_server):
    http_server.route("GET", "/login", Reply(json={}, cookies={"session": "abc123"}))
    mine, other = RequestsCookieJar(), RequestsCookieJar()
    with Transport() as transport:
        transport.send(requests.Request("GET", http_server.url + "/login"), timeout=5, cookies=mine)
        transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5, cookies=mine)
        transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5, cookies=other)
        transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5)
    sent = [r.headers.get("Cookie") for r in http_server.requests]
    assert sent == [None, "session=abc123", None, None]
    assert {c.name for c in mine} == {"session"} and not list(other)


def test_connections_are_pooled_per_thread(http_server):
    with Transport() as transport:
        for _ in range(5):
            transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5)
    assert len({r.client_port for r in http_server.requests}) == 1


def test_stopping_abandons_the_exchanges_in_flight(http_server):
    http_server.route("GET", "/hang", Reply(json={}, delay=30))
    stop = threading.Event()
    outcomes: list[float | BaseException] = []
    with Transport(stop=stop) as transport:

        def send() -> None:
            started = time.monotonic()
            try:
                transport.send(requests.Request("GET", http_server.url + "/hang"), timeout=60)
            except TransportError as error:
                outcomes.append(error)
            outcomes.append(time.monotonic() - started)

        worker = threading.Thread(target=send)
        worker.start()
        while not http_server.sent("/hang"):  # bounded by the join below
            time.sleep(0.01)
            if not worker.is_alive():
                break
        stopped_at = time.monotonic()
        stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive()
        abandoned_after = time.monotonic() - stopped_at
        with pytest.raises(Stopped):
            transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5)
    assert isinstance(outcomes[0], Stopped)
    assert abandoned_after < 30 / 10  # far from the server's 30 s delay
    assert len(http_server.sent("/echo")) == 0  # nothing new is sent once stopped


def test_the_watchdog_thread_ends_with_the_transport(http_server: TestServer):
    before = {t.ident for t in threading.enumerate()}
    with Transport() as transport:
        transport.send(requests.Request("GET", http_server.url + "/echo"), timeout=5)
        assert any(t.name == "converge-deadlines" for t in threading.enumerate())
    left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert [t.name for t in left if t.name == "converge-deadlines"] == []


@pytest.mark.parametrize(
    "request_",
    [
        requests.Request("GET", "http://127.0.0.1:9/items/a%2Fb?x=1"),
        requests.Request("POST", "http://127.0.0.1:9/j", json={"a": [1, "é"]},
                         headers={"X-Id": "7", "Accept": None}),
        requests.Request("POST", "http://127.0.0.1:9/f", data={"name": "Ada", "t": ["a", "b"]}),
        requests.Request("PUT", "http://127.0.0.1:9/t", data="raw text",
                         headers={"Content-Type": "text/plain"}),
        requests.Request("DELETE", "http://127.0.0.1:9/d", data=""),
        requests.Request("GET", "http://127.0.0.1:9/q", params={"q": "a b", "p": None}),
    ],
    ids=["get", "json", "form", "text", "empty-body", "params"],
)
@pytest.mark.parametrize("with_cookies", [False, True], ids=["no-cookie", "cookie"])
def test_a_request_is_prepared_as_requests_itself_prepares_it(request_, with_cookies):
    # converge skips the steps of PreparedRequest.prepare that would do nothing (an empty jar,
    # no hooks, no credentials): what goes on the wire must not change.
    from converge.transport import _headers, _prepare

    jar = RequestsCookieJar()
    if with_cookies:
        jar.set("session", "s-1", domain="127.0.0.1", path="/")
    ours = _prepare(request_, jar)
    theirs = requests.PreparedRequest()
    theirs.prepare(
        method=request_.method, url=request_.url, headers=_headers(request_.headers),
        files=request_.files, data=request_.data, json=request_.json, params=request_.params,
        auth=request_.auth, cookies=jar, hooks=request_.hooks,
    )
    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
    assert dict(ours.headers) == dict(theirs.headers)
    assert ("Cookie" in ours.headers) == with_cookies
