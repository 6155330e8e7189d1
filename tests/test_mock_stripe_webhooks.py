"""mock-stripe's webhooks: endpoints made through the API, signatures a real receiver verifies
with the official SDK, and retries with backoff measured on the twin's clock (no sleeping)."""

from __future__ import annotations

import json

import httpx
import pytest
import stripe

from converge_twins.mock_stripe.app import create_app
from converge_twins.mock_stripe.webhooks import parse_schedule
from tests.support.asgi import serve_asgi
from tests.support.stripe_twin import SECRET, Receiver, StripeTwin, open_checkout, recurring_price


def endpoint(client: stripe.StripeClient, url: str, *events: str, **extra: object):
    params = {"url": url, "enabled_events": list(events) or ["*"], **extra}
    return client.v1.webhook_endpoints.create(params=params)  # type: ignore[arg-type]


def test_completing_checkout_delivers_signed_events_before_answering(
    stripe_twin: StripeTwin, stripe_sdk
):
    session = open_checkout(stripe_sdk, customer_email="ada@example.com")
    completed = stripe_twin.complete(session.id)
    assert completed.status_code == 200
    deliveries = completed.json()["deliveries"]
    assert deliveries and all(d["status"] == 200 for d in deliveries)
    events = stripe_twin.receiver.events()
    types = [event.type for event in events]
    assert types[-1] == "checkout.session.completed"
    assert "customer.subscription.created" in types
    checkout = events[-1].data.object
    assert checkout["status"] == "complete"
    assert checkout["client_reference_id"] == "user-1"
    assert checkout["metadata"]["tier"] == "pro"
    created = next(e for e in events if e.type == "customer.subscription.created").data.object
    assert created["status"] == "active"
    assert created["id"] == checkout["subscription"]


def test_a_wrong_secret_fails_verification(stripe_twin: StripeTwin, stripe_sdk):
    stripe_twin.complete(open_checkout(stripe_sdk).id)
    payload, signature = stripe_twin.receiver.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, "whsec_other")


def test_stale_clock_makes_signatures_fail_tolerance(stripe_twin: StripeTwin, stripe_sdk):
    stripe_twin.advance(-3600)
    stripe_twin.complete(open_checkout(stripe_sdk).id)
    payload, signature = stripe_twin.receiver.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, SECRET)


def test_api_calls_deliver_their_events_after_answering(stripe_twin: StripeTwin, stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "c@example.com"})
    assert stripe_twin.receiver.wait_for(1)
    event = stripe_twin.receiver.events()[0]
    assert event.type == "customer.created"
    assert event.data.object["id"] == customer.id
    assert event.request["id"] == customer.last_response.request_id


def test_an_endpoint_made_through_the_api_gets_its_events_signed_with_its_secret(
    stripe_twin: StripeTwin, stripe_sdk, asgi_server
):
    sink = Receiver()
    url = asgi_server(sink.app()) + "/hook"
    made = endpoint(stripe_sdk, url, "customer.created", "product.created")
    assert made.secret.startswith("whsec_")
    stripe_sdk.v1.prices.create(
        params={"currency": "usd", "unit_amount": 100, "product_data": {"name": "P"}}
    )
    stripe_sdk.v1.customers.create(params={"email": "e@example.com"})
    assert sink.wait_for(2)
    assert sorted(sink.types(made.secret)) == ["customer.created", "product.created"]
    with pytest.raises(stripe.SignatureVerificationError):
        sink.events(SECRET)  # not the listener's secret
    assert stripe_twin.receiver.wait_for(3)  # the listener still gets every event
    assert sorted(stripe_twin.receiver.types()) == [
        "customer.created",
        "price.created",
        "product.created",
    ]


def test_disabled_and_deleted_endpoints_get_nothing(
    stripe_twin: StripeTwin, stripe_sdk, asgi_server
):
    sink = Receiver()
    url = asgi_server(sink.app()) + "/hook"
    disabled = endpoint(stripe_sdk, url)
    stripe_sdk.v1.webhook_endpoints.update(disabled.id, params={"disabled": True})
    assert stripe_sdk.v1.webhook_endpoints.retrieve(disabled.id).status == "disabled"
    deleted = endpoint(stripe_sdk, url)
    assert stripe_sdk.v1.webhook_endpoints.delete(deleted.id).deleted is True
    stripe_sdk.v1.customers.create(params={"email": "none@example.com"})
    stripe_twin.settle()
    assert sink.deliveries == []
    listed = stripe_sdk.v1.webhook_endpoints.list()
    assert [e.id for e in listed.data] == [disabled.id]


def test_an_endpoint_pinned_to_a_version_gets_payloads_of_that_version(
    stripe_twin: StripeTwin, stripe_sdk, asgi_server
):
    sink = Receiver()
    url = asgi_server(sink.app()) + "/hook"
    made = endpoint(stripe_sdk, url, "customer.created", api_version="2025-03-31.basil")
    stripe_sdk.v1.customers.create(params={"email": "v@example.com"})
    assert sink.wait_for(1)
    assert json.loads(sink.deliveries[0][0])["api_version"] == "2025-03-31.basil"
    assert made.api_version == "2025-03-31.basil"


def test_endpoint_parameters_are_checked(stripe_sdk):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        endpoint(stripe_sdk, "ftp://example.com/hook")
    assert caught.value.param == "url"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.webhook_endpoints.create(params={"url": "https://example.com/hook"})  # type: ignore[typeddict-item]
    assert caught.value.param == "enabled_events"
    with pytest.raises(stripe.InvalidRequestError):
        endpoint(stripe_sdk, "https://example.com/hook", "not an event")


def test_a_failing_receiver_is_retried_with_backoff_on_the_clock(
    stripe_twin: StripeTwin, stripe_sdk
):
    stripe_twin.control("POST", "/clock", json={"set": "2030-01-01T00:00:00Z"})  # frozen
    sink = stripe_twin.receiver
    sink.status = 500
    stripe_sdk.v1.customers.create(params={"email": "r@example.com"})
    assert sink.wait_for(1)
    stripe_twin.settle()
    stripe_twin.advance(299)  # the first retry is due five minutes after the failure
    assert len(sink.deliveries) == 1
    stripe_twin.advance(1)
    assert len(sink.deliveries) == 2
    stripe_twin.advance(1799)
    assert len(sink.deliveries) == 2
    sink.status = 200
    stripe_twin.advance(1)
    assert len(sink.deliveries) == 3
    events = sink.events()
    assert len({event.id for event in events}) == 1
    assert stripe_sdk.v1.events.retrieve(events[0].id).pending_webhooks == 0
    stripe_twin.advance(7200)
    assert len(sink.deliveries) == 3  # delivered: no more attempts
    listed = stripe_twin.control("GET", "/webhooks/deliveries").json()["deliveries"]
    assert [d["state"] for d in listed] == ["succeeded"]
    assert [o["status"] for o in listed[0]["outcomes"]] == [500, 500, 200]
    journal = stripe_twin.control("GET", "/journal", params={"kind": "webhook"}).json()
    assert [entry["status"] for entry in journal["entries"]] == [500, 500, 200]


def test_retries_stop_after_the_schedule(stripe_receiver: Receiver):
    stripe_receiver.status = 503
    env = {
        "STRIPE_WEBHOOK_URL": stripe_receiver.url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_WEBHOOK_RETRY_SCHEDULE": "10,20",
    }
    with serve_asgi(create_app(env)) as base:
        twin = StripeTwin(base, stripe_receiver)
        client = stripe.StripeClient(
            "sk_test_x", base_addresses={"api": base}, max_network_retries=0
        )
        client.v1.customers.create(params={"email": "gone@example.com"})
        assert stripe_receiver.wait_for(1)
        twin.settle()
        twin.advance(10)
        twin.advance(20)
        twin.advance(86_400)
        assert len(stripe_receiver.deliveries) == 3
        listed = twin.control("GET", "/webhooks/deliveries").json()["deliveries"]
        assert [(d["state"], d["attempts"], d["next_attempt_at"]) for d in listed] == [
            ("abandoned", 3, None)
        ]
        event = client.v1.events.list().data[0]
        assert event.pending_webhooks == 0
        assert twin.control("GET", "/webhooks").json()["retry_schedule"] == [10, 20]


def test_a_refused_connection_is_journaled_and_retried(stripe_twin: StripeTwin, stripe_sdk):
    stripe_twin.control("POST", "/webhooks", json={"url": "http://127.0.0.1:9/nowhere"})
    completed = stripe_twin.complete(open_checkout(stripe_sdk).id).json()
    assert completed["deliveries"][0]["status"] is None
    assert completed["deliveries"][0]["error"]
    assert completed["deliveries"][0]["next_attempt_at"] is not None
    answered = stripe_twin.control("POST", "/due").json()
    assert answered["deliveries"] == []  # nothing due yet: the retry waits for the clock


def test_a_clock_advance_answers_once_what_became_due_is_delivered(
    stripe_twin: StripeTwin, stripe_sdk
):
    price = recurring_price(stripe_sdk)
    customer = stripe_sdk.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = stripe_sdk.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_twin.settle()
    before = len(stripe_twin.receiver.deliveries)
    item = subscription["items"].data[0]
    stripe_twin.advance(item.current_period_end - item.created)
    paid = [e for e in stripe_twin.receiver.events()[before:] if e.type == "invoice.paid"]
    assert [e.data.object["billing_reason"] for e in paid] == ["subscription_cycle"]


def test_due_work_can_be_run_explicitly(stripe_twin: StripeTwin, stripe_sdk):
    session = open_checkout(stripe_sdk)
    httpx.post(f"{stripe_twin.url}/_twin/clock", json={"set": "2100-01-01T00:00:00Z"})
    stripe_twin.settle()
    assert stripe_sdk.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert stripe_twin.control("POST", "/due").json() == {"events": [], "deliveries": []}


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, (300, 1800, 7200)), ("", (300, 1800, 7200)), ("0, 60", (0, 60))],
)
def test_retry_schedule_is_read_from_the_environment(text, expected):
    assert parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["soon", "-1", ",".join(["1"] * 11)])
def test_a_bad_retry_schedule_is_named(text):
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_RETRY_SCHEDULE"):
        parse_schedule(text)


def test_a_connect_endpoint_hears_the_connected_accounts_only(
    stripe_twin: StripeTwin, stripe_sdk, asgi_server
):
    own, connect = Receiver(), Receiver()
    own_url = asgi_server(own.app()) + "/hook"
    connect_url = asgi_server(connect.app()) + "/hook"
    account = stripe_twin.control("POST", "/accounts", json={}).json()["id"]
    mine = endpoint(stripe_sdk, own_url, "customer.created")
    theirs = endpoint(stripe_sdk, connect_url, "customer.created", connect=True)
    stripe_sdk.v1.customers.create(params={"email": "platform@example.com"})
    stripe_sdk.v1.customers.create(
        params={"email": "connected@example.com"}, options={"stripe_account": account}
    )
    stripe_twin.settle()
    assert [e.data.object["email"] for e in own.events(mine.secret)] == ["platform@example.com"]
    heard = connect.events(theirs.secret)
    assert [(e.account, e.data.object["email"]) for e in heard] == [
        (account, "connected@example.com")
    ]
