"""The reference gravix-api against the real twins, all four running as local processes.

Every test makes its own users (a fresh ``sub`` per token), so tests share the session's stack
without sharing state; the few that arm twin faults disarm them whatever happens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from converge.tokens import DEFAULT_JWT_SECRET, mint_token
from converge_gravix.analyses import parse_result
from converge_gravix.config import DEFAULT_WEBHOOK_SECRET, Settings, SettingsError
from converge_gravix.errors import ApiError, UpstreamError
from converge_gravix.stripe_client import encode_form, verify_signature
from tests.support.stack import FIXTURE_AT_100, ReferenceStack, fixture_report, fixture_scores

# --- helpers --------------------------------------------------------------------------------


def token(
    tier: str = "free",
    *,
    role: str = "authenticated",
    sub: str | None = None,
    secret: str = DEFAULT_JWT_SECRET,
    ttl: int = 3600,
) -> str:
    sub = sub or str(uuid.uuid4())
    return mint_token(
        secret,
        tier=tier,
        role=role,
        sub=sub,
        email=f"{tier}-{sub[:8]}@converge.test",
        now=int(time.time()),
        ttl=ttl,
    )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def sub_of(value: str) -> str:
    return str(jwt.decode(value, options={"verify_signature": False})["sub"])


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body["error"]) >= {"code", "message"}, body
    return str(body["error"]["code"])


def analyse(
    api: httpx.Client, auth: str, text: str = "Great glue, fast and reliable."
) -> httpx.Response:
    return api.post("/v1/analyses", json={"text": text}, headers=bearer(auth))


def journal(stack: ReferenceStack, service: str, method: str, path: str) -> list[dict[str, Any]]:
    response = httpx.get(
        stack.url(service) + "/_twin/journal", params={"method": method, "path": path}, timeout=10
    )
    response.raise_for_status()
    return list(response.json()["entries"])


def sign(payload: bytes, secret: str = DEFAULT_WEBHOOK_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@pytest.fixture(scope="module")
def stack(reference_stack: ReferenceStack) -> ReferenceStack:
    return reference_stack


@pytest.fixture
def api(stack: ReferenceStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=20) as client:
        yield client


@pytest.fixture
def fault(stack: ReferenceStack) -> Iterator[Any]:
    """Arm a fault on a twin; every twin's faults are cleared after the test."""
    touched: set[str] = set()

    def arm(service: str, **spec: Any) -> None:
        touched.add(service)
        response = httpx.post(stack.url(service) + "/_twin/faults", json=spec, timeout=10)
        assert response.status_code in (200, 201), response.text

    yield arm
    for service in touched:
        httpx.delete(stack.url(service) + "/_twin/faults", timeout=10)


# --- health and errors ------------------------------------------------------------------------


@pytest.mark.slow
def test_health_is_ok_without_a_token(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.slow
def test_unknown_path_is_a_json_404(api: httpx.Client) -> None:
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


# --- authentication and gating ----------------------------------------------------------------


@pytest.mark.slow
def test_me_reports_the_token_user_and_an_empty_quota(api: httpx.Client) -> None:
    free = token("free")
    response = api.get("/v1/me", headers=bearer(free))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == sub_of(free)
    assert body["email"].endswith("@converge.test")
    assert (body["tier"], body["is_admin"]) == ("free", False)
    assert body["usage"]["used"] == 0
    assert body["usage"]["limit"] == body["usage"]["remaining"] == 3


@pytest.mark.slow
def test_missing_token_is_401_missing_token(api: httpx.Client) -> None:
    response = api.get("/v1/me")
    assert response.status_code == 401
    assert error_code(response) == "missing_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer", "Token abc"],
)
@pytest.mark.slow
def test_malformed_authorization_is_401_invalid_token(
    api: httpx.Client, authorization: str
) -> None:
    response = api.get("/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"


@pytest.mark.slow
def test_token_signed_with_another_secret_is_401(api: httpx.Client) -> None:
    forged = token("enterprise", secret="another-secret-that-is-long-enough-to-sign-tokens")
    response = api.get("/v1/me", headers=bearer(forged))
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"


@pytest.mark.slow
def test_expired_token_is_401_token_expired(api: httpx.Client) -> None:
    response = api.get("/v1/me", headers=bearer(token("pro", ttl=-60)))
    assert response.status_code == 401
    assert error_code(response) == "token_expired"


@pytest.mark.slow
def test_token_for_another_audience_is_401(api: httpx.Client) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "anon", "role": "anon", "iat": now, "exp": now + 600}
    response = api.get("/v1/me", headers=bearer(jwt.encode(claims, DEFAULT_JWT_SECRET, "HS256")))
    assert response.status_code == 401


@pytest.mark.slow
def test_admin_endpoint_is_403_for_users_and_open_to_service_role(api: httpx.Client) -> None:
    enterprise = token("enterprise")
    user_id = sub_of(enterprise)
    assert analyse(api, enterprise).status_code == 201
    forbidden = api.get(f"/v1/admin/users/{user_id}/usage", headers=bearer(enterprise))
    assert forbidden.status_code == 403
    assert error_code(forbidden) == "admin_required"
    allowed = api.get(
        f"/v1/admin/users/{user_id}/usage", headers=bearer(token("enterprise", role="service_role"))
    )
    assert allowed.status_code == 200
    assert allowed.json()["usage"]["used"] == 1


@pytest.mark.slow
def test_batch_analysis_is_403_below_quality_and_201_from_quality(api: httpx.Client) -> None:
    texts = {"texts": ["Bad bond, it failed.", "Excellent hold on steel."]}
    pro = api.post("/v1/analyses/batch", json=texts, headers=bearer(token("pro")))
    assert pro.status_code == 403
    assert pro.json()["error"]["code"] == "tier_required"
    assert pro.json()["error"]["required_tier"] == "quality"
    quality = api.post("/v1/analyses/batch", json=texts, headers=bearer(token("quality")))
    assert quality.status_code == 201
    assert [item["text"] for item in quality.json()["items"]] == texts["texts"]


# --- analyses and the quota -------------------------------------------------------------------


@pytest.mark.slow
def test_analysis_calls_anthropic_with_its_wire_format_and_stores_the_row(
    api: httpx.Client, stack: ReferenceStack
) -> None:
    user = token("free")
    text = f"The new adhesive is terrible, it failed twice ({uuid.uuid4()})."
    response = analyse(api, user, text)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["result"]["sentiment"] == "negative"
    assert body["usage"] == {"month": body["usage"]["month"], "used": 1, "limit": 3, "remaining": 2}
    sent = [
        entry
        for entry in journal(stack, "mock-anthropic", "POST", "/v1/messages")
        if text in json.dumps(entry.get("body"))
    ]
    assert len(sent) == 1
    headers = {name.lower(): value for name, value in dict(sent[0]["headers"]).items()}
    assert headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" in headers
    rows = httpx.get(
        stack.url("mock-supabase") + "/rest/v1/analyses",
        params={"id": f"eq.{body['id']}"},
        headers={
            "apikey": Settings().service_role_key(),
            "Authorization": f"Bearer {Settings().service_role_key()}",
        },
        timeout=10,
    )
    assert rows.status_code == 200
    assert [row["user_id"] for row in rows.json()] == [sub_of(user)]


@pytest.mark.slow
def test_free_quota_runs_out_with_429_and_an_upgrade_message(
    api: httpx.Client, stack: ReferenceStack
) -> None:
    user = token("free")
    for used in (1, 2, 3):
        response = analyse(api, user, f"Analysis number {used}")
        assert response.status_code == 201
        assert response.json()["usage"]["remaining"] == 3 - used
    marker = f"over the limit {uuid.uuid4()}"
    refused = analyse(api, user, marker)
    assert refused.status_code == 429
    assert error_code(refused) == "quota_exceeded"
    assert "upgrade" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) > 0
    # The refusal costs nothing: Anthropic was never asked, and the count did not move.
    calls = journal(stack, "mock-anthropic", "POST", "/v1/messages")
    assert not [entry for entry in calls if marker in json.dumps(entry.get("body"))]
    assert api.get("/v1/me", headers=bearer(user)).json()["usage"]["used"] == 3


@pytest.mark.slow
def test_paid_tiers_are_not_limited(api: httpx.Client) -> None:
    user = token("pro")
    for _ in range(4):
        response = analyse(api, user)
        assert response.status_code == 201
    assert response.json()["usage"]["limit"] is None
    assert response.json()["usage"]["used"] == 4


@pytest.mark.slow
def test_an_analysis_is_visible_to_its_owner_only(api: httpx.Client) -> None:
    owner, other = token("pro"), token("pro")
    created = analyse(api, owner).json()
    mine = api.get(f"/v1/analyses/{created['id']}", headers=bearer(owner))
    assert mine.status_code == 200
    assert mine.json()["id"] == created["id"]
    theirs = api.get(f"/v1/analyses/{created['id']}", headers=bearer(other))
    assert theirs.status_code == 404
    assert error_code(theirs) == "analysis_not_found"
    assert api.get("/v1/analyses/not-a-uuid", headers=bearer(owner)).status_code == 404
    assert api.get("/v1/analyses", headers=bearer(other)).json() == {"count": 0, "items": []}


@pytest.mark.slow
def test_list_holds_own_analyses_newest_first(api: httpx.Client) -> None:
    user = token("pro")
    ids = [analyse(api, user, f"text {n}").json()["id"] for n in range(3)]
    listed = api.get("/v1/analyses", headers=bearer(user)).json()
    assert [item["id"] for item in listed["items"]] == list(reversed(ids))


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[1, 2]", b'{"text": ""}', b'{"text": 42}', b'{"txt": "hello"}'],
)
@pytest.mark.slow
def test_analysis_body_must_hold_text(api: httpx.Client, content: bytes) -> None:
    response = api.post(
        "/v1/analyses",
        content=content,
        headers={**bearer(token("pro")), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert error_code(response) == "validation_error"


# --- feedback ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_feedback_is_stored_and_read_back_in_order(api: httpx.Client) -> None:
    user = token("pro")
    analysis_id = analyse(api, user).json()["id"]
    url = f"/v1/analyses/{analysis_id}/feedback"
    first = api.post(url, json={"rating": 5, "comment": "spot on"}, headers=bearer(user))
    second = api.post(url, json={"rating": 2}, headers=bearer(user))
    assert (first.status_code, second.status_code) == (201, 201)
    listed = api.get(url, headers=bearer(user)).json()
    assert [item["id"] for item in listed["items"]] == [first.json()["id"], second.json()["id"]]
    assert listed["items"][0]["comment"] == "spot on"
    assert listed["items"][1]["comment"] is None
    assert (listed["count"], listed["average_rating"]) == (2, 3.5)


@pytest.mark.slow
@pytest.mark.parametrize("rating", [0, 6, "4", True, None, 3.5])
def test_feedback_rating_must_be_an_integer_from_1_to_5(api: httpx.Client, rating: Any) -> None:
    user = token("pro")
    analysis_id = analyse(api, user).json()["id"]
    response = api.post(
        f"/v1/analyses/{analysis_id}/feedback", json={"rating": rating}, headers=bearer(user)
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "rating"


@pytest.mark.slow
def test_feedback_on_someone_elses_analysis_is_404(api: httpx.Client) -> None:
    analysis_id = analyse(api, token("pro")).json()["id"]
    intruder = token("pro")
    url = f"/v1/analyses/{analysis_id}/feedback"
    assert api.post(url, json={"rating": 1}, headers=bearer(intruder)).status_code == 404
    assert api.get(url, headers=bearer(intruder)).status_code == 404


# --- products ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_product_matching_caps_free_users_and_shows_more_to_pro(api: httpx.Client) -> None:
    query = {"q": "fast bond on glass"}
    free = api.get("/v1/products/match", params=query, headers=bearer(token("free"))).json()
    pro = api.post(
        "/v1/products/match", json={"query": query["q"]}, headers=bearer(token("pro"))
    ).json()
    assert (free["limit"], free["count"]) == (3, 3)
    assert pro["count"] == pro["total"] == free["total"] > 3
    assert [item["id"] for item in pro["items"][:3]] == [item["id"] for item in free["items"]]
    assert pro["items"][0]["id"] == "gx-uv-900"
    scores = [item["score"] for item in pro["items"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
def test_product_matching_needs_a_query(api: httpx.Client) -> None:
    user = bearer(token("pro"))
    assert api.get("/v1/products/match", headers=user).status_code == 422
    assert api.post("/v1/products/match", json={"query": "  "}, headers=user).status_code == 422
    limited = api.get("/v1/products/match", params={"q": "metal", "limit": "x"}, headers=user)
    assert limited.status_code == 422


# --- billing ----------------------------------------------------------------------------------


def checkout(api: httpx.Client, user: str, tier: str = "pro") -> httpx.Response:
    return api.post("/v1/billing/checkout", json={"tier": tier}, headers=bearer(user))


@pytest.mark.slow
def test_checkout_creates_a_customer_and_a_session_in_stripe(
    api: httpx.Client, stack: ReferenceStack
) -> None:
    user = token("free")
    response = checkout(api, user)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["session_id"].startswith("cs_")
    assert body["url"]
    assert body["customer_id"].startswith("cus_")
    sessions = journal(stack, "mock-stripe", "POST", "/v1/checkout/sessions")
    mine = [entry for entry in sessions if sub_of(user) in json.dumps(entry.get("body"))]
    assert len(mine) == 1
    # Starting a checkout does not upgrade anyone: only the webhook does.
    assert api.get("/v1/me", headers=bearer(user)).json()["tier"] == "free"


@pytest.mark.slow
def test_the_pricing_pages_form_is_redirected_to_stripes_hosted_checkout(
    api: httpx.Client,
) -> None:
    user = token("free")
    response = api.post(
        "/v1/billing/checkout", data={"tier": "pro"}, headers=bearer(user), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert "/c/pay/cs_" in location
    # The same session an API client gets as JSON: it pays at that URL.
    as_json = checkout(api, token("free"))
    assert "/c/pay/cs_" in as_json.json()["url"]
    refused = api.post(
        "/v1/billing/checkout", data={"tier": "platinum"}, headers=bearer(user),
        follow_redirects=False,
    )
    assert refused.status_code == 422


@pytest.mark.slow
def test_checkout_rejects_unknown_and_current_tiers(api: httpx.Client) -> None:
    assert checkout(api, token("free"), "platinum").status_code == 422
    assert checkout(api, token("free"), "enterprise").status_code == 422
    already = checkout(api, token("quality"), "pro")
    assert already.status_code == 409
    assert error_code(already) == "already_subscribed"


@pytest.mark.slow
def test_upgrade_flow_raises_the_tier_through_the_signed_webhook(
    api: httpx.Client, stack: ReferenceStack
) -> None:
    user = token("free")
    for n in range(3):
        assert analyse(api, user, f"before the upgrade {n}").status_code == 201
    assert analyse(api, user).status_code == 429
    session_id = checkout(api, user).json()["session_id"]
    completed = httpx.post(
        f"{stack.url('mock-stripe')}/_twin/checkout/{session_id}/complete", timeout=20
    )
    assert completed.status_code == 200, completed.text
    deliveries = completed.json()["deliveries"]
    assert all(d["status"] == 200 for d in deliveries), deliveries
    delivered = {d["type"] for d in deliveries}
    assert {"checkout.session.completed", "customer.subscription.created", "invoice.paid"} <= (
        delivered
    )
    me = api.get("/v1/me", headers=bearer(user)).json()
    assert me["tier"] == "pro"
    assert me["usage"]["limit"] is None
    assert analyse(api, user).status_code == 201
    assert checkout(api, user, "pro").status_code == 409


def webhook(api: httpx.Client, event: dict[str, Any], signature: str | None) -> httpx.Response:
    payload = json.dumps(event).encode()
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return api.post("/v1/billing/webhook", content=payload, headers=headers)


def completed_event(user_id: str, tier: str = "quality") -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_test_{uuid.uuid4().hex[:12]}",
                "object": "checkout.session",
                "customer": f"cus_{uuid.uuid4().hex[:12]}",
                "subscription": "sub_x",
                "client_reference_id": user_id,
                "metadata": {"user_id": user_id, "tier": tier},
            }
        },
    }


@pytest.mark.slow
def test_signed_webhook_raises_the_tier(api: httpx.Client) -> None:
    user = token("free")
    event = completed_event(sub_of(user))
    response = webhook(api, event, sign(json.dumps(event).encode()))
    assert response.status_code == 200
    assert response.json()["handled"] is True
    assert api.get("/v1/me", headers=bearer(user)).json()["tier"] == "quality"


@pytest.mark.slow
def test_signed_subscription_deleted_event_takes_the_raised_tier_away(api: httpx.Client) -> None:
    user = token("free")
    bought = completed_event(sub_of(user), "pro")
    assert webhook(api, bought, sign(json.dumps(bought).encode())).status_code == 200
    customer = bought["data"]["object"]["customer"]
    deleted = {
        "id": "evt_deleted",
        "type": "customer.subscription.deleted",
        "data": {"object": {"id": "sub_x", "customer": customer, "status": "canceled"}},
    }
    response = webhook(api, deleted, sign(json.dumps(deleted).encode()))
    assert response.json()["handled"] is True
    assert api.get("/v1/me", headers=bearer(user)).json()["tier"] == "free"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing", "garbage", "wrong secret", "stale", "other body"])
def test_webhook_with_a_bad_signature_is_400_and_changes_nothing(
    api: httpx.Client, kind: str
) -> None:
    user = token("free")
    event = completed_event(sub_of(user))
    payload = json.dumps(event).encode()
    signature = {
        "missing": None,
        "garbage": "not a signature",
        "wrong secret": sign(payload, secret="whsec_someone_else"),
        "stale": sign(payload, at=int(time.time()) - 3600),
        "other body": sign(b'{"type": "something else"}'),
    }[kind]
    response = webhook(api, event, signature)
    assert response.status_code == 400
    assert error_code(response) == "invalid_signature"
    assert api.get("/v1/me", headers=bearer(user)).json()["tier"] == "free"


@pytest.mark.slow
def test_webhook_ignores_events_it_does_not_use(api: httpx.Client) -> None:
    event = {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
    response = webhook(api, event, sign(json.dumps(event).encode()))
    assert response.status_code == 200
    assert response.json()["handled"] is False


# --- upstream failures ------------------------------------------------------------------------


@pytest.mark.slow
def test_anthropic_error_is_502_and_costs_no_quota(api: httpx.Client, fault: Any) -> None:
    user = token("free")
    fault("mock-anthropic", method="POST", path="/v1/messages", status=500, times=1)
    response = analyse(api, user)
    assert response.status_code == 502
    body = response.json()["error"]
    assert (body["code"], body["service"]) == ("upstream_error", "anthropic")
    assert api.get("/v1/me", headers=bearer(user)).json()["usage"]["used"] == 0


@pytest.mark.slow
def test_anthropic_dropping_the_connection_is_503(api: httpx.Client, fault: Any) -> None:
    fault("mock-anthropic", method="POST", path="/v1/messages", drop=True, times=1)
    response = analyse(api, token("pro"))
    assert response.status_code == 503
    assert error_code(response) == "upstream_unavailable"


@pytest.mark.slow
def test_anthropic_reply_without_json_is_502(api: httpx.Client, stack: ReferenceStack) -> None:
    marker = f"plain-text-please-{uuid.uuid4().hex}"
    rules = stack.url("mock-anthropic") + "/_twin/rules"
    armed = httpx.post(rules, json={"match": marker, "reply": "Sorry, no JSON today."}, timeout=10)
    assert armed.is_success, f"mock-anthropic refused a reply rule: {armed.status_code}"
    try:
        response = analyse(api, token("pro"), f"text {marker}")
        assert response.status_code == 502
        assert "no JSON" in response.json()["error"]["message"]
    finally:
        httpx.delete(rules, timeout=10)


@pytest.mark.slow
def test_supabase_error_is_502(api: httpx.Client, fault: Any) -> None:
    fault("mock-supabase", method="GET", path="/rest/v1/", status=503, times=1)
    response = api.get("/v1/me", headers=bearer(token("pro")))
    assert response.status_code == 502
    assert response.json()["error"]["service"] == "supabase"


@pytest.mark.slow
def test_stripe_error_is_502(api: httpx.Client, fault: Any) -> None:
    fault("mock-stripe", method="POST", path="/v1/customers", status=500, times=1)
    response = checkout(api, token("free"))
    assert response.status_code == 502
    assert response.json()["error"]["service"] == "stripe"


# --- the holdouts fixture through converge's engine -------------------------------------------


@pytest.mark.slow
def test_holdouts_fixture_scores_100_percent(stack: ReferenceStack, tmp_path: Path) -> None:
    assert fixture_scores(stack.api_url, tmp_path / "report.json") == FIXTURE_AT_100


@pytest.mark.slow
def test_the_fixture_as_it_was_before_the_language_grew_still_scores_100(
    stack: ReferenceStack, tmp_path: Path
) -> None:
    # tests/test_compat.py pins its model and requests; here it meets the real reference API.
    old = Path(__file__).parent / "resources" / "compat" / "fixture"
    document = fixture_report(stack.api_url, tmp_path / "report.json", old)
    scores = {s["file"]: (s["satisfaction"], s["checks_passed"], s["checks_total"])
              for s in document["scenarios"]}
    assert scores == {
        "critical/auth-gating.yaml": (100, 31, 31),
        "critical/free-tier-analysis.yaml": (100, 42, 42),
        "important/feedback-loop.yaml": (100, 29, 29),
        "nice-to-have/product-matching.yaml": (100, 27, 27),
    }


# --- single functions -------------------------------------------------------------------------


def test_signature_accepts_any_matching_v1_among_several() -> None:
    payload = b'{"id": "evt_1"}'
    good = sign(payload).split(",v1=")
    verify_signature(
        payload, f"{good[0]},v1=deadbeef,v1={good[1]}", DEFAULT_WEBHOOK_SECRET, tolerance=300
    )


def test_signature_tolerance_zero_accepts_old_timestamps() -> None:
    payload = b"{}"
    verify_signature(payload, sign(payload, at=1_000_000), DEFAULT_WEBHOOK_SECRET, tolerance=0)
    with pytest.raises(ApiError):
        verify_signature(
            payload, sign(payload, at=1_000_000), DEFAULT_WEBHOOK_SECRET, tolerance=300
        )


def test_form_encoding_nests_like_stripe() -> None:
    pairs = encode_form(
        {
            "customer": "cus_1",
            "line_items": [{"price": "price_1", "quantity": 1}],
            "metadata": {"tier": "pro"},
            "lookup_keys": ["a"],
            "active": True,
            "skip": None,
        }
    )
    assert pairs == [
        ("customer", "cus_1"),
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "1"),
        ("metadata[tier]", "pro"),
        ("lookup_keys[0]", "a"),
        ("active", "true"),
    ]


@pytest.mark.parametrize(
    "reply",
    ['{"summary": "s"}', '```json\n{"summary": "s"}\n```', 'Here it is: {"summary": "s"} done'],
)
def test_analysis_reply_parses_json_inside_fences_or_prose(reply: str) -> None:
    assert parse_result(reply) == {"summary": "s"}


@pytest.mark.parametrize("reply", ["no json", "[1, 2]", "{broken"])
def test_analysis_reply_without_an_object_is_an_upstream_error(reply: str) -> None:
    with pytest.raises(UpstreamError):
        parse_result(reply)


def test_settings_name_the_variable_they_cannot_use() -> None:
    assert Settings.from_env({"FREE_MONTHLY_QUOTA": "5"}).free_monthly_quota == 5
    with pytest.raises(SettingsError, match="FREE_MONTHLY_QUOTA"):
        Settings.from_env({"FREE_MONTHLY_QUOTA": "many"})
    with pytest.raises(SettingsError, match="UPSTREAM_TIMEOUT"):
        Settings.from_env({"UPSTREAM_TIMEOUT": "-1"})


def test_service_role_key_is_minted_from_the_jwt_secret() -> None:
    key = Settings(jwt_secret=DEFAULT_JWT_SECRET).service_role_key()
    claims = jwt.decode(key, DEFAULT_JWT_SECRET, algorithms=["HS256"])
    assert claims["role"] == "service_role"
    assert Settings(supabase_service_role_key="given").service_role_key() == "given"


def test_the_callers_baggage_reaches_the_dependencies_and_only_its_own(
    api: httpx.Client, stack: ReferenceStack
) -> None:
    # How converge's per-run seed reaches the twins: W3C baggage, propagated as OTel would.
    seeded, plain = f"seeded {uuid.uuid4()}", f"plain {uuid.uuid4()}"
    user = token("pro")
    answer = api.post(
        "/v1/analyses",
        json={"text": seeded},
        headers={**bearer(user), "baggage": "converge-seed=424242"},
    )
    assert answer.status_code == 201, answer.text
    assert analyse(api, user, plain).status_code == 201
    calls = journal(stack, "mock-anthropic", "POST", "/v1/messages")
    by_text = {
        text: [dict(e["headers"]).get("baggage") for e in calls if text in json.dumps(e["body"])]
        for text in (seeded, plain)
    }
    assert by_text == {seeded: ["converge-seed=424242"], plain: [None]}
    stored = journal(stack, "mock-supabase", "POST", "/rest/v1/analyses")
    assert any(dict(e["headers"]).get("baggage") == "converge-seed=424242" for e in stored)
