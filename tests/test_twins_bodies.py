"""The twins hold up under abuse: bounded bodies, bounded JSON depth, bounded form keys, and a
clock that refuses instants it cannot hold, each answered in the service's own 4xx shape."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from starlette.types import ASGIApp

from converge_twins import _bodies
from converge_twins.mock_anthropic.app import create_app as anthropic_app
from converge_twins.mock_stripe.app import create_app as stripe_app
from converge_twins.mock_supabase.app import create_app as supabase_app
from converge_twins.mock_supabase.tokens import DEFAULT_JWT_SECRET
from tests.support.asgi import serve_asgi

CLAUDE = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
STRIPE = {"authorization": "Bearer sk_test_bodies"}
DEEP = "[" * 5000 + "]" * 5000


def anon_key() -> str:
    import jwt

    return jwt.encode({"role": "anon", "iss": "supabase"}, DEFAULT_JWT_SECRET, algorithm="HS256")


# One service request per twin, with the check that its error body is the service's own shape.
Shape = Callable[[httpx.Response], None]


def anthropic_shape(response: httpx.Response, kind: str) -> None:
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert response.headers["request-id"] == body["request_id"]


def stripe_shape(response: httpx.Response) -> None:
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]


TWINS: dict[str, tuple[Callable[[dict[str, str]], ASGIApp], str, dict[str, str]]] = {
    "mock-anthropic": (anthropic_app, "/v1/messages", CLAUDE),
    "mock-stripe": (stripe_app, "/v1/customers", STRIPE),
    "mock-supabase": (supabase_app, "/rest/v1/notes", {}),
}


def headers_for(name: str) -> dict[str, str]:
    return {"apikey": anon_key()} if name == "mock-supabase" else dict(TWINS[name][2])


# body size --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TWINS))
def test_a_body_over_the_limit_is_a_413_in_the_services_shape(name):
    factory, path, _ = TWINS[name]
    with serve_asgi(factory({"TWIN_MAX_BODY_BYTES": "4096"})) as base:
        oversized = json.dumps({"text": "x" * 20_000})
        answer = httpx.post(
            f"{base}{path}",
            content=oversized,
            headers={**headers_for(name), "content-type": "application/json"},
        )
        assert answer.status_code == 413, answer.text
        if name == "mock-anthropic":
            anthropic_shape(answer, "request_too_large")
        elif name == "mock-stripe":
            stripe_shape(answer)
        else:
            assert answer.json() == {"message": "Request size limit exceeded"}
        entry = httpx.get(f"{base}/_twin/journal").json()["entries"][-1]
        assert (entry["status"], entry["body"]) == (413, None)
        assert entry["body_bytes"] == len(oversized)
        # Under the limit the twin answers as usual: the refusal left nothing behind.
        assert httpx.get(f"{base}/_twin/health").status_code == 200


def test_the_sdk_sees_a_request_too_large_error():
    import anthropic

    with serve_asgi(anthropic_app({"TWIN_MAX_BODY_BYTES": "2048"})) as base:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=5,
                messages=[{"role": "user", "content": "y" * 5000}],
            )
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_the_control_plane_refuses_an_oversized_body_in_its_own_shape():
    with serve_asgi(anthropic_app({"TWIN_MAX_BODY_BYTES": "1024"})) as base:
        answer = httpx.post(
            f"{base}/_twin/faults", json={"status": 500, "body": {"pad": "z" * 4000}}
        )
        assert answer.status_code == 413
        assert "more than 1024 bytes" in answer.json()["error"]
        assert httpx.get(f"{base}/_twin/faults").json()["faults"] == []


def test_the_journal_keeps_only_the_start_of_a_large_body_with_secrets_blanked():
    key = anon_key()
    with serve_asgi(supabase_app({"TWIN_JOURNAL_BODY_BYTES": "1000"})) as base:
        sent = {"password": "hunter22-secret", "email": "a@example.com", "data": "d" * 50_000}
        raw = json.dumps(sent)
        httpx.post(
            f"{base}/auth/v1/signup",
            content=raw,
            headers={"apikey": key, "content-type": "application/json"},
        )
        entry = httpx.get(f"{base}/_twin/journal").json()["entries"][-1]
    assert entry["body_bytes"] == len(raw)
    kept = entry["body"]
    assert isinstance(kept, str) and kept.endswith("…")
    assert len(kept) == 1001
    assert "hunter22-secret" not in kept
    assert '"password": "[redacted]"' in kept


def test_a_body_within_the_journal_limit_stays_decoded():
    with serve_asgi(anthropic_app({})) as base:
        message = {
            "model": "claude-haiku-4-5",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        }
        raw = json.dumps(message)
        httpx.post(
            f"{base}/v1/messages",
            content=raw,
            headers={**CLAUDE, "content-type": "application/json"},
        )
        entry = httpx.get(f"{base}/_twin/journal").json()["entries"][-1]
    assert entry["body"] == message
    assert entry["body_bytes"] == len(raw)


# JSON depth -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TWINS))
def test_deeply_nested_json_is_a_400_in_the_services_shape(name):
    factory, path, _ = TWINS[name]
    if name == "mock-supabase":
        path = "/auth/v1/signup"
    with serve_asgi(factory({})) as base:
        answer = httpx.post(
            f"{base}{path}",
            content=DEEP,
            headers={**headers_for(name), "content-type": "application/json"},
        )
        assert answer.status_code == 400, answer.text
        if name == "mock-anthropic":
            anthropic_shape(answer, "invalid_request_error")
        elif name == "mock-stripe":
            stripe_shape(answer)
        else:
            assert answer.json()["error_code"] == "bad_json"
        assert "deeper than 100 levels" in answer.text


def test_deeply_nested_json_to_postgrest_is_pgrst102():
    with serve_asgi(supabase_app({})) as base:
        answer = httpx.post(
            f"{base}/rest/v1/notes",
            content=DEEP,
            headers={"apikey": anon_key(), "content-type": "application/json"},
        )
    assert answer.status_code == 400
    assert answer.json()["code"] == "PGRST102"


def test_deep_json_without_a_json_content_type_is_still_refused():
    with serve_asgi(anthropic_app({})) as base:
        answer = httpx.post(
            f"{base}/v1/messages/count_tokens",
            content=DEEP,
            headers={**CLAUDE, "content-type": "text/plain"},
        )
    assert answer.status_code == 400
    anthropic_shape(answer, "invalid_request_error")


@pytest.mark.parametrize("route", ["/_twin/faults", "/_twin/clock", "/_twin/rules"])
def test_deeply_nested_json_to_the_control_plane_is_a_400(route):
    with serve_asgi(anthropic_app({})) as base:
        answer = httpx.post(
            f"{base}{route}", content=DEEP, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
        assert "deeper than 100 levels" in answer.json()["error"]
        assert httpx.get(f"{base}/_twin/health").status_code == 200


def test_json_at_the_depth_limit_is_accepted():
    nested: object = "leaf"
    for _ in range(_bodies.MAX_JSON_DEPTH - 4):
        nested = {"a": nested}
    with serve_asgi(anthropic_app({})) as base:
        answer = httpx.post(
            f"{base}/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "metadata": {"user_id": "u"},
                "messages": [{"role": "user", "content": "hi"}],
                "extra": nested,
            },
            headers=CLAUDE,
        )
    # Refused for the unknown field, as the real API would, not for its depth.
    assert answer.status_code == 400
    assert "extra" in answer.json()["error"]["message"]


def test_depth_is_counted_without_recursion():
    assert _bodies.depth(1) == 0
    assert _bodies.depth({"a": [1, {"b": 2}]}) == 3
    assert _bodies.depth({"a": [1, {"b": []}]}) == 4
    value: list[object] = []
    for _ in range(50_000):
        value = [value]
    assert _bodies.depth(value) == _bodies.MAX_JSON_DEPTH + 1
    with pytest.raises(ValueError, match="deeper than"):
        _bodies.loads(json.dumps([[[1]]] * 2).replace("1", "[" * 200 + "]" * 200))


# Stripe's form keys -----------------------------------------------------------------------


def test_a_form_key_nested_5000_levels_is_stripes_400():
    with serve_asgi(stripe_app({})) as base:
        answer = httpx.post(
            f"{base}/v1/customers",
            content="metadata" + "[0]" * 5000 + "=1",
            headers={**STRIPE, "content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 400, answer.text
        stripe_shape(answer)
        assert answer.json()["error"]["param"] == "metadata"
        assert httpx.get(f"{base}/v1/customers", headers=STRIPE).status_code == 200


def test_a_form_key_repeated_5000_times_is_stripes_400():
    with serve_asgi(stripe_app({})) as base:
        answer = httpx.post(
            f"{base}/v1/customers",
            content="&".join(["a[0]=1"] * 5000),
            headers={**STRIPE, "content-type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 400
    stripe_shape(answer)
    assert answer.json()["error"]["code"] == "parameter_unknown"


# the clock ------------------------------------------------------------------------------


def test_a_clock_set_before_the_year_1_in_utc_is_refused_and_kept():
    with serve_asgi(anthropic_app({"TWIN_CLOCK": "2025-01-01T00:00:00Z"})) as base:
        answer = httpx.post(f"{base}/_twin/clock", json={"set": "0001-01-01T00:00:00+14:00"})
        assert answer.status_code == 400
        assert "outside the years 1 to 9999" in answer.json()["error"]
        assert httpx.get(f"{base}/_twin/clock").json()["now"] == "2025-01-01T00:00:00+00:00"
        assert httpx.post(f"{base}/_twin/clock", json={"set": "soon"}).status_code == 400


def test_a_twin_started_with_an_impossible_clock_says_so():
    with pytest.raises(SystemExit, match=r"TWIN_CLOCK is not usable: .*outside the years"):
        stripe_app({"TWIN_CLOCK": "0001-01-01T00:00:00+14:00"})


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_every_twin_works_at_the_ends_of_its_clock(instant):
    import anthropic
    import stripe

    with serve_asgi(anthropic_app({"TWIN_CLOCK": instant})) as base:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=0)
        reply = client.messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content
    with serve_asgi(stripe_app({"TWIN_CLOCK": instant})) as base:
        payments = stripe.StripeClient(
            "sk_test_clock", base_addresses={"api": base}, max_network_retries=0
        )
        customer = payments.v1.customers.create(params={"email": "a@example.com"})
        assert customer.id.startswith("cus_")
    with serve_asgi(supabase_app({"TWIN_CLOCK": instant})) as base:
        signup = httpx.post(
            f"{base}/auth/v1/signup",
            json={"email": "a@example.com", "password": "hunter22-secret"},
            headers={"apikey": anon_key()},
        )
        assert signup.status_code == 200, signup.text
