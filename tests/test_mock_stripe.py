"""mock-stripe against the official ``stripe`` SDK, raw form posts, and a real webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from converge_twins.mock_stripe.app import create_app
from converge_twins.mock_stripe.forms import decode
from tests.support.asgi import serve_asgi

KEY = "sk_test_converge"
SECRET = "whsec_test_secret_for_the_twin"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Receiver:
    """A real HTTP endpoint that keeps what mock-stripe delivered to it."""

    status: int = 200
    deliveries: list[tuple[bytes, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.deliveries.append((await request.body(), request.headers["stripe-signature"]))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/v1/billing/webhook", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    sink = Receiver()
    with serve_asgi(sink.app()) as base:
        yield sink, f"{base}/v1/billing/webhook"


@pytest.fixture
def url(receiver) -> Iterator[str]:
    env = {"STRIPE_WEBHOOK_URL": receiver[1], "STRIPE_WEBHOOK_SECRET": SECRET, "TWIN_SEED": "s"}
    with serve_asgi(create_app(env)) as base:
        yield base


@pytest.fixture
def client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)


def subscription_price(client: stripe.StripeClient, **extra: str) -> stripe.Price:
    params = {
        "currency": "usd",
        "unit_amount": 1900,
        "recurring": {"interval": "month"},
        "product_data": {"name": "Gravix Pro"},
        **extra,
    }
    return client.v1.prices.create(params=params)  # type: ignore[arg-type]


def open_checkout(client: stripe.StripeClient, **extra: object) -> stripe.checkout.Session:
    price = subscription_price(client)
    params = {
        "mode": "subscription",
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1/ok",
        "cancel_url": "http://127.0.0.1/cancel",
        "client_reference_id": "user-1",
        "metadata": {"user_id": "user-1", "tier": "pro"},
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]


def test_sdk_creates_and_retrieves_a_customer(client):
    created = client.v1.customers.create(
        params={"email": "ada@example.com", "metadata": {"user_id": "u1"}}
    )
    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert created.metadata["user_id"] == "u1"
    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.email == "ada@example.com"
    listed = client.v1.customers.list(params={"email": "ada@example.com"})
    assert [c.id for c in listed.data] == [created.id]


def test_sdk_creates_a_recurring_price_with_its_product(client):
    price = subscription_price(client, lookup_key="pro_monthly")
    assert price.id.startswith("price_")
    assert price.type == "recurring"
    assert price.recurring is not None and price.recurring.interval == "month"
    product = client.v1.products.retrieve(str(price.product))
    assert product.name == "Gravix Pro"
    found = client.v1.prices.list(params={"lookup_keys": ["pro_monthly"]})
    assert [p.id for p in found.data] == [price.id]


def test_sdk_checkout_session_is_open_with_a_url(client, url):
    session = open_checkout(client, customer_email="ada@example.com")
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.mode == "subscription"
    assert session.url is not None and session.url.startswith(url)
    assert session.amount_total == 1900
    assert httpx.get(session.url).status_code == 200
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert items.data[0].quantity == 1


def test_completing_checkout_delivers_signed_webhooks(client, url, receiver):
    sink, _ = receiver
    session = open_checkout(client, customer_email="ada@example.com")
    completed = httpx.post(f"{url}/_twin/checkout/{session.id}/complete")
    assert completed.status_code == 200
    outcome = completed.json()
    assert [d["status"] for d in outcome["deliveries"]] == [200, 200]
    events = [
        stripe.Webhook.construct_event(payload, signature, SECRET)
        for payload, signature in sink.deliveries
    ]
    assert [event.type for event in events] == [
        "checkout.session.completed",
        "customer.subscription.updated",
    ]
    checkout = events[0].data.object
    assert checkout["status"] == "complete"
    assert checkout["client_reference_id"] == "user-1"
    assert checkout["metadata"]["tier"] == "pro"
    subscription = events[1].data.object
    assert subscription["status"] == "active"
    assert subscription["id"] == checkout["subscription"]
    assert events[1].data.previous_attributes["status"] == "incomplete"
    refreshed = client.v1.checkout.sessions.retrieve(session.id)
    assert refreshed.status == "complete"
    assert refreshed.payment_status == "paid"
    assert client.v1.subscriptions.retrieve(str(refreshed.subscription)).status == "active"
    assert client.v1.customers.retrieve(str(refreshed.customer)).email == "ada@example.com"


def test_a_wrong_secret_fails_verification(client, url, receiver):
    sink, _ = receiver
    session = open_checkout(client)
    httpx.post(f"{url}/_twin/checkout/{session.id}/complete")
    payload, signature = sink.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, "whsec_other")


def test_a_completed_session_cannot_complete_again(client, url):
    session = open_checkout(client)
    assert httpx.post(f"{url}/_twin/checkout/{session.id}/complete").status_code == 200
    assert httpx.post(f"{url}/_twin/checkout/{session.id}/complete").status_code == 409


def test_failed_delivery_is_journaled_not_raised(client, url, receiver):
    sink, _ = receiver
    sink.status = 500
    session = open_checkout(client)
    completed = httpx.post(f"{url}/_twin/checkout/{session.id}/complete")
    assert completed.status_code == 200
    httpx.post(f"{url}/_twin/webhooks", json={"url": "http://127.0.0.1:9/nowhere"})
    second = open_checkout(client)
    refused = httpx.post(f"{url}/_twin/checkout/{second.id}/complete").json()["deliveries"]
    assert refused[0]["status"] is None
    assert refused[0]["error"]
    journal = httpx.get(f"{url}/_twin/journal", params={"kind": "webhook"}).json()["entries"]
    assert [entry["status"] for entry in journal] == [500, 500, None, None]
    assert all(entry["error"] for entry in journal)


def test_stale_clock_makes_signatures_fail_tolerance(client, url, receiver):
    sink, _ = receiver
    httpx.post(f"{url}/_twin/clock", json={"advance": -3600})
    session = open_checkout(client)
    httpx.post(f"{url}/_twin/checkout/{session.id}/complete")
    payload, signature = sink.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, SECRET)


def test_sdk_billing_portal_session(client, url):
    customer = client.v1.customers.create(params={"email": "p@example.com"})
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://127.0.0.1/account"}
    )
    assert portal.object == "billing_portal.session"
    assert portal.url.startswith(url)


def test_sdk_cancel_subscription_delivers_deleted_event(client, url, receiver):
    sink, _ = receiver
    customer = client.v1.customers.create(params={"email": "c@example.com"})
    price = subscription_price(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert subscription.status == "active"
    canceled = client.v1.subscriptions.cancel(subscription.id)
    assert canceled.status == "canceled"
    deadline = time.monotonic() + 5
    while len(sink.deliveries) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    types = [stripe.Webhook.construct_event(p, s, SECRET).type for p, s in sink.deliveries]
    assert types == ["customer.subscription.created", "customer.subscription.deleted"]


def test_live_key_is_refused_with_stripes_401(url):
    client = stripe.StripeClient(
        "sk_live_abcdefghijklmnop", base_addresses={"api": url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.customers.create(params={"email": "x@example.com"})
    assert caught.value.http_status == 401
    body = httpx.get(
        f"{url}/v1/customers", headers={"Authorization": "Bearer sk_live_abcdefghijklmnop"}
    ).json()
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Invalid API Key provided: sk_live_")
    assert "abcdefghijkl" not in body["error"]["message"]


def test_missing_key_is_401(url):
    response = httpx.get(f"{url}/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You did not provide an API key")


def test_missing_object_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve("cus_nope")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


def test_missing_and_unknown_params_name_the_param(url):
    missing = httpx.post(
        f"{url}/v1/checkout/sessions", data={"success_url": "http://x"}, headers=AUTH
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "mode"
    assert missing.json()["error"]["code"] == "parameter_missing"
    unknown = httpx.post(f"{url}/v1/customers", data={"emial": "x@example.com"}, headers=AUTH)
    assert unknown.json()["error"] == {
        "message": "Received unknown parameter: emial",
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "param": "emial",
    }


def test_subscription_mode_needs_a_recurring_price(client):
    price = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "One-off"}}
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": price.id, "quantity": 1}],
                "success_url": "http://127.0.0.1/ok",
            }
        )


def test_idempotency_key_replays_the_same_response(url):
    headers = {**AUTH, "Idempotency-Key": "key-1"}
    first = httpx.post(f"{url}/v1/customers", data={"email": "i@example.com"}, headers=headers)
    again = httpx.post(f"{url}/v1/customers", data={"email": "i@example.com"}, headers=headers)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = httpx.get(f"{url}/v1/customers", headers=AUTH).json()["data"]
    assert len(listed) == 1


def test_idempotency_key_with_other_params_is_an_idempotency_error(url, client):
    headers = {**AUTH, "Idempotency-Key": "key-2"}
    httpx.post(f"{url}/v1/customers", data={"email": "a@example.com"}, headers=headers)
    other = httpx.post(f"{url}/v1/customers", data={"email": "b@example.com"}, headers=headers)
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "key-3"}
    )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(
            params={"email": "z@example.com"}, options={"idempotency_key": "key-3"}
        )


def test_lists_are_newest_first_and_paginate(client):
    ids = [client.v1.customers.create(params={"name": str(n)}).id for n in range(3)]
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == [ids[2], ids[1]]
    assert page.has_more is True
    rest = client.v1.customers.list(params={"limit": 2, "starting_after": ids[1]})
    assert [c.id for c in rest.data] == [ids[0]]


def test_same_seed_gives_the_same_ids_after_reset(url, client):
    first = client.v1.customers.create(params={"email": "d@example.com"}).id
    httpx.post(f"{url}/_twin/reset")
    assert client.v1.customers.create(params={"email": "d@example.com"}).id == first


def test_fault_answers_with_a_stripe_error_body(url, client):
    httpx.post(
        f"{url}/_twin/faults", json={"method": "POST", "path": "/v1/customers", "status": 429}
    )
    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.customers.create(params={"email": "r@example.com"})
    assert caught.value.error is not None and caught.value.error.type == "rate_limit_error"


def test_decode_reads_bracket_notation():
    pairs = [
        ("line_items[0][price]", "p"),
        ("line_items[0][quantity]", "2"),
        ("metadata[k]", "v"),
        ("expand[]", "a"),
        ("expand[]", "b"),
    ]
    assert decode(pairs) == {
        "line_items": [{"price": "p", "quantity": "2"}],
        "metadata": {"k": "v"},
        "expand": ["a", "b"],
    }


def test_metadata_update_merges_and_empty_value_deletes(client):
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = client.v1.customers.update(customer.id, params={"metadata": {"a": "", "c": "3"}})
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
