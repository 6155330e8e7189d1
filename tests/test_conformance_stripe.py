"""The Stripe suite of the conformance diff: Stripe's documented behaviours through the official
SDK, held by mock-stripe, compared with another twin (no differences) and with a twin changed on
purpose (the change found). Its fidelity rows are checked with the README's table in
test_fidelity."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins import conformance
from converge_twins.conformance.diff import render_table
from converge_twins.conformance.stripe import SUITE, TWIN_KEY, holds
from converge_twins.conformance.suite import run_behaviours
from converge_twins.mock_stripe.app import create_app
from tests.support.asgi import serve_asgi

BEHAVIOURS = list(SUITE.behaviours)


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[b.name for b in BEHAVIOURS])
def test_the_twin_holds_the_documented_behaviour(behaviour, stripe_twin):
    [seen] = run_behaviours(SUITE, stripe_twin.url, {"api_key": TWIN_KEY}, [behaviour])
    assert holds(seen) == []


def test_a_behaviour_that_does_not_hold_is_named_with_why():
    failing = conformance.Observation("x", error="BehaviourFailed", detail="status 200, not 404")
    assert holds(failing) == ["status 200, not 404"]
    with_problems = conformance.Observation("x", facts={"response problems": ["a", "b"]})
    assert holds(with_problems) == ["response problems: a; b"]
    assert holds(conformance.Observation("x", facts={"response problems": []})) == []


@pytest.fixture
def other_twin() -> Iterator[str]:
    with serve_asgi(create_app({"TWIN_SEED": "another-seed"})) as base:
        yield base


class NoRequestLogUrl:
    """A twin with one deliberate change: its errors lose ``request_log_url``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.twin = getattr(app, "twin", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started: list[Message] = []

        async def edit(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)
                return
            if message["type"] == "http.response.body" and started:
                body = message.get("body", b"")
                if started[0]["status"] >= 400 and b"request_log_url" in body:
                    document = json.loads(body)
                    document["error"].pop("request_log_url", None)
                    body = json.dumps(document).encode()
                    headers = [(k, v) for k, v in started[0]["headers"] if k != b"content-length"]
                    headers.append((b"content-length", str(len(body)).encode()))
                    started[0] = {**started[0], "headers": headers}
                await send(started.pop())
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, edit)


def test_the_twin_against_another_twin_has_no_differences(other_twin):
    comparison = conformance.compare_service("stripe", other_twin, {})
    assert comparison.differences == [], render_table(comparison)
    assert len(comparison.twin) == len(BEHAVIOURS)
    assert comparison.skipped == []
    assert all(seen.error is None for seen in comparison.twin), [
        (seen.behaviour, seen.detail) for seen in comparison.twin if seen.error
    ]


def test_a_deliberately_changed_twin_is_found_out(stripe_response_log):
    names = ["error_object", "unknown_parameter", "idempotent_replay"]
    with serve_asgi(NoRequestLogUrl(create_app({"TWIN_SEED": "changed"}))) as changed:
        comparison = conformance.compare_service("stripe", changed, {}, names=names)
    found = {(d.behaviour, d.aspect, d.where) for d in comparison.differences}
    assert ("error_object", "error", "") in found  # the story saw no request_log_url
    assert ("unknown_parameter", "shape", "error.request_log_url") in found
    assert not any(d.behaviour == "idempotent_replay" for d in comparison.differences)
    assert "error_object" in render_table(comparison)
    stripe_response_log.problems.clear()  # the changed twin's errors are off-spec on purpose


def test_a_live_key_is_never_used():
    with pytest.raises(conformance.ConformanceError, match="test-mode secret key"):
        list(run_behaviours(SUITE, "http://127.0.0.1:9", {"api_key": "sk_live_x"}, BEHAVIOURS))


def test_a_remote_stripe_needs_its_key_and_a_local_twin_uses_the_twins():
    with pytest.raises(conformance.ConformanceError, match="STRIPE_API_KEY"):
        conformance.credentials_for(SUITE, "https://api.stripe.example", {})
    assert conformance.credentials_for(SUITE, "http://127.0.0.1:9", {}) == {"api_key": TWIN_KEY}
