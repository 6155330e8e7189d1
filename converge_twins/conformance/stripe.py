"""The Stripe behaviours: what an app billing with Stripe relies on, as Stripe documents it.

Each behaviour is one short story through the official ``stripe`` SDK (raw requests only where
the SDK will not send the mistake): idempotent retries, cursor pagination, the error object,
parameters, metadata rules, ``expand[]``, API versions, connected accounts, events, the invoice
and payment intent behind a subscription, invoices and payment intents on their own, checkout
expiry, search, webhook endpoints. A story raises :class:`BehaviourFailed` naming how the
service departs from the documentation; the conformance diff compares the two sides'
observations (that error included), and the fidelity measure counts the stories that hold.
Every answer is also checked against Stripe's published spec adapted to today's objects
(:mod:`.stripe_spec`); the problems found are the fact ``response problems``.

Three behaviours use the twin's control plane (a webhook endpoint receiving signed events, a
failing endpoint retried on the twin's clock, a completed checkout's invoice and payment
intent) and run only against twins.

Against Stripe's test mode (``STRIPE_API_KEY``, a test-mode secret key; a live key is refused)
the suite creates a few dozen test objects, each tagged in its email or metadata with the run's
tag so that the account's other data never disturbs a check. Search is eventually consistent on
Stripe: the search behaviours wait up to ``CONFORMANCE_STRIPE_SEARCH_WAIT`` seconds (default 70
against a remote service, none against a twin).
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from converge_twins.conformance.serve import serve_app
from converge_twins.conformance.stripe_spec import StripeSpec, spec_available
from converge_twins.conformance.suite import (
    Behaviour,
    ConformanceError,
    Credential,
    Exchange,
    Observation,
    Outcome,
    Recorder,
    Suite,
)

TWIN_KEY = "sk_test_conformance_twin"
BEHAVIOURS_ROW = "documented behaviours, through the official SDK"
LOCAL = frozenset({"127.0.0.1", "localhost", "::1"})
Obj = Any  # a StripeObject, read with obj["field"] (its attribute types vary with the SDK)


class BehaviourFailed(AssertionError):
    """The service did not behave as Stripe documents; the message says how."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise BehaviourFailed(message)


class RecordingHTTPClient(stripe.RequestsClient):
    """The SDK's own (requests) HTTP client, handing every exchange it makes to a recorder."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(timeout=60)
        self.recorder = recorder

    # RequestsClient's request departs from the signature HTTPClient declares (bytes, no
    # _usage); this one keeps RequestsClient's, which is what the SDK calls.
    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, answered = super().request(method, url, headers, post_data)
        self.recorder.record(
            Exchange(
                method.upper(),
                url,
                status,
                {str(key).lower(): str(value) for key, value in answered.items()},
                content,
            )
        )
        return content, status, answered


@dataclass
class StripeContext:
    """What a behaviour runs with: an SDK client for one base URL and key, and a run tag."""

    client: stripe.StripeClient
    recorder: Recorder
    base_url: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    search_wait: float = 0.0  # seconds to wait for search to catch up (Stripe: under a minute)

    @property
    def v1(self) -> Any:
        """The SDK's v1 services, untyped: behaviours pass parameters the SDK's types forbid
        (an unknown parameter, a missing one) to see how the service answers."""
        return self.client.v1

    def email(self, label: str) -> str:
        return f"{label}.{self.tag}@example.com"

    def customer(self, label: str = "c", **params: Any) -> Obj:
        metadata = {"conformance": self.tag, **params.pop("metadata", {})}
        return self.v1.customers.create(
            params={"email": self.email(label), "metadata": metadata, **params}
        )

    def raw(self, method: str, path: str, **params: Any) -> Obj:
        """A request the SDK has no method for (or whose parameters it would not allow)."""
        response = self.client.raw_request(method, path, **params)
        return self.client.deserialize(response, api_mode="V1")

    def recurring_price(self, amount: int = 1900, **params: Any) -> Obj:
        return self.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": "month"},
                "product_data": {"name": f"Plan {self.tag}"},
                "metadata": {"conformance": self.tag},
                **params,
            }
        )

    def paying_customer(self, label: str = "payer") -> Obj:
        """A customer whose default payment method is Stripe's always-succeeding test card."""
        return self.customer(
            label,
            payment_method="pm_card_visa",
            invoice_settings={"default_payment_method": "pm_card_visa"},
        )

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The twin's control plane (only behaviours that need a twin call it)."""
        return httpx.request(method, f"{self.base_url}/_twin{path}", timeout=30, **kwargs)


def connect(base_url: str, credentials: Mapping[str, str], recorder: Recorder) -> StripeContext:
    key = credentials["api_key"]
    if not key.startswith(("sk_test_", "rk_test_")):
        raise ConformanceError(
            "STRIPE_API_KEY must be a test-mode secret key (sk_test_… or rk_test_…): the suite "
            "creates objects and is never run against live data"
        )
    client = stripe.StripeClient(
        key,
        base_addresses={"api": base_url},
        http_client=RecordingHTTPClient(recorder),
        max_network_retries=0,
    )
    local = (urlsplit(base_url).hostname or "") in LOCAL
    wait = float(os.environ.get("CONFORMANCE_STRIPE_SEARCH_WAIT") or (0 if local else 70))
    return StripeContext(client, recorder, base_url, search_wait=wait)


def failure(call: Callable[[], object]) -> stripe.StripeError:
    """The error ``call`` raises; a BehaviourFailed when it succeeds instead."""
    try:
        call()
    except stripe.StripeError as error:
        return error
    raise BehaviourFailed("the request succeeded where Stripe refuses it")


def error_field(error: stripe.StripeError, name: str) -> Any:
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    inner = body.get("error")
    return inner.get(name) if isinstance(inner, Mapping) else None


def header(obj: Obj, name: str) -> str | None:
    response = obj.last_response
    if response is None:
        return None
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def waited(search: Callable[[], Obj], wanted: Callable[[Obj], bool], ctx: StripeContext) -> Obj:
    """Run a search until ``wanted`` holds or ``ctx.search_wait`` seconds have passed."""
    deadline = time.monotonic() + ctx.search_wait
    while True:
        result = search()
        if wanted(result) or time.monotonic() >= deadline:
            return result
        time.sleep(min(2.0, ctx.search_wait / 10))


def ids(listing: Obj) -> list[str]:
    return [item["id"] for item in listing["data"]]


# --- requests: idempotency, pagination, errors, parameters -----------------------------------


def idempotent_replay(ctx: StripeContext) -> None:
    key = f"replay-{ctx.tag}"
    params = {"email": ctx.email("idem"), "metadata": {"conformance": ctx.tag}}
    first = ctx.v1.customers.create(params=params, options={"idempotency_key": key})
    again = ctx.v1.customers.create(params=params, options={"idempotency_key": key})
    expect(again["id"] == first["id"], "a replayed request created a second customer")
    expect(
        header(again, "Idempotent-Replayed") == "true",
        "a replayed answer lacks the Idempotent-Replayed: true header",
    )


def idempotency_conflict(ctx: StripeContext) -> None:
    key = f"conflict-{ctx.tag}"
    ctx.v1.customers.create(params={"email": ctx.email("a")}, options={"idempotency_key": key})
    error = failure(
        lambda: ctx.v1.customers.create(
            params={"email": ctx.email("b")}, options={"idempotency_key": key}
        )
    )
    expect(isinstance(error, stripe.IdempotencyError), f"got {type(error).__name__}")
    expect(error.http_status == 400, f"status {error.http_status}, not 400")
    expect(error_field(error, "type") == "idempotency_error", "type is not idempotency_error")


def cursor_pagination(ctx: StripeContext) -> None:
    email = ctx.email("page")
    made = [ctx.customer("page", name=f"p{n}")["id"] for n in range(3)]
    newest_first = list(reversed(made))
    page = ctx.v1.customers.list(params={"email": email, "limit": 2})
    expect(ids(page) == newest_first[:2], f"first page {ids(page)}, not newest first")
    expect(page["has_more"] is True, "has_more is not true with a third customer left")
    rest = ctx.v1.customers.list(
        params={"email": email, "limit": 2, "starting_after": newest_first[1]}
    )
    expect(ids(rest) == newest_first[2:], f"starting_after gave {ids(rest)}")
    expect(rest["has_more"] is False, "has_more is true on the last page")
    before = ctx.v1.customers.list(
        params={"email": email, "limit": 1, "ending_before": newest_first[2]}
    )
    expect(ids(before) == [newest_first[1]], f"ending_before gave {ids(before)}")
    walked = [c["id"] for c in page.auto_paging_iter()]
    expect(walked == newest_first, f"auto-pagination gave {walked}")


def list_limit_bounds(ctx: StripeContext) -> None:
    error = failure(lambda: ctx.v1.customers.list(params={"limit": 101}))
    expect(error.http_status == 400, f"limit 101: status {error.http_status}")
    expect(error_field(error, "param") == "limit", "the error does not name limit")


def error_object(ctx: StripeContext) -> None:
    missing = f"cus_missing{ctx.tag.replace('-', '')}"
    error = failure(lambda: ctx.v1.customers.retrieve(missing))
    expect(isinstance(error, stripe.InvalidRequestError), f"got {type(error).__name__}")
    expect(error.http_status == 404, f"status {error.http_status}, not 404")
    expect(error_field(error, "type") == "invalid_request_error", "wrong error type")
    expect(error_field(error, "code") == "resource_missing", "code is not resource_missing")
    expect(error_field(error, "param") == "id", "param is not id")
    expect(
        error_field(error, "message") == f"No such customer: '{missing}'",
        f"message {error_field(error, 'message')!r}",
    )
    expect(
        error_field(error, "doc_url") == "https://stripe.com/docs/error-codes/resource-missing",
        f"doc_url {error_field(error, 'doc_url')!r}",
    )
    expect(error_field(error, "request_log_url"), "no request_log_url")
    expect(str(error.request_id or "").startswith("req_"), "no Request-Id header")


def unknown_parameter(ctx: StripeContext) -> None:
    error = failure(lambda: ctx.v1.customers.create(params={"emial": "x@example.com"}))
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "code") == "parameter_unknown", "code is not parameter_unknown")
    expect(error_field(error, "param") == "emial", "param does not name the parameter")
    expect(
        error_field(error, "message") == "Received unknown parameter: emial",
        f"message {error_field(error, 'message')!r}",
    )


def missing_parameter(ctx: StripeContext) -> None:
    error = failure(
        lambda: ctx.v1.prices.create(params={"unit_amount": 100, "product_data": {"name": "x"}})
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "code") == "parameter_missing", "code is not parameter_missing")
    expect(error_field(error, "param") == "currency", "param is not currency")


def invalid_integer(ctx: StripeContext) -> None:
    error = failure(
        lambda: ctx.raw(
            "post", "/v1/prices", currency="usd", unit_amount="twelve", product_data={"name": "x"}
        )
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "param") == "unit_amount", "param is not unit_amount")


def unknown_url(ctx: StripeContext) -> None:
    error = failure(lambda: ctx.raw("get", "/v1/customerz"))
    expect(error.http_status == 404, f"status {error.http_status}, not 404")
    message = str(error_field(error, "message"))
    expect(
        message.startswith("Unrecognized request URL (GET: /v1/customerz)"),
        f"message {message!r}",
    )


# --- metadata ---------------------------------------------------------------------------------


def metadata_updates(ctx: StripeContext) -> None:
    customer = ctx.customer("meta", metadata={"a": "1", "b": "2"})
    merged = ctx.v1.customers.update(customer["id"], params={"metadata": {"a": "", "c": "3"}})
    got = merged["metadata"].to_dict()
    expect(got == {"conformance": ctx.tag, "b": "2", "c": "3"}, f"merged metadata {got}")
    cleared = ctx.raw("post", f"/v1/customers/{customer['id']}", metadata="")
    expect(cleared["metadata"].to_dict() == {}, "metadata='' did not clear every key")


def metadata_limits(ctx: StripeContext) -> None:
    too_many = {f"k{n}": "v" for n in range(51)}
    long_key = {"k" * 41: "v"}
    long_value = {"k": "v" * 501}
    for metadata, what in (
        (too_many, "51 keys"),
        (long_key, "a 41-character key"),
        (long_value, "a 501-character value"),
    ):
        error = failure(partial(ctx.v1.customers.create, params={"metadata": metadata}))
        expect(error.http_status == 400, f"{what}: status {error.http_status}")
        expect(
            str(error_field(error, "param") or "").startswith("metadata"),
            f"{what}: the error does not name metadata",
        )


# --- expand -------------------------------------------------------------------------------------


def expand_fields(ctx: StripeContext) -> None:
    customer = ctx.customer("expand")
    price = ctx.recurring_price()
    subscription = ctx.v1.subscriptions.create(
        params={"customer": customer["id"], "items": [{"price": price["id"]}]}
    )
    expanded = ctx.v1.subscriptions.retrieve(
        subscription["id"], params={"expand": ["customer", "latest_invoice"]}
    )
    expect(expanded["customer"]["object"] == "customer", "customer was not expanded")
    expect(expanded["latest_invoice"]["object"] == "invoice", "latest_invoice was not expanded")
    plain = ctx.v1.subscriptions.retrieve(subscription["id"])
    expect(isinstance(plain["customer"], str), "customer is expanded without expand[]")
    nested = ctx.v1.prices.retrieve(price["id"], params={"expand": ["product"]})
    expect(nested["product"]["object"] == "product", "price.product was not expanded")
    listed = ctx.v1.subscriptions.list(
        params={"customer": customer["id"], "expand": ["data.customer"]}
    )
    expect(
        [s["customer"]["id"] for s in listed["data"]] == [customer["id"]],
        "data.customer was not expanded in a list",
    )


def expand_refuses_unknown_fields(ctx: StripeContext) -> None:
    customer = ctx.customer("noexpand")
    error = failure(
        lambda: ctx.v1.customers.retrieve(customer["id"], params={"expand": ["nothing"]})
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    message = str(error_field(error, "message"))
    expect(message.startswith("This property cannot be expanded (nothing)"), f"message {message!r}")


# --- versions and accounts ----------------------------------------------------------------------


def invalid_api_version(ctx: StripeContext) -> None:
    error = failure(lambda: ctx.v1.customers.list(options={"stripe_version": "2020-13-45"}))
    expect(error.http_status == 400, f"status {error.http_status}, not 400")
    message = str(error_field(error, "message"))
    expect(message == "Invalid Stripe API version: 2020-13-45", f"message {message!r}")


def api_version_per_request(ctx: StripeContext) -> None:
    version = "2024-06-20"
    listing = ctx.v1.customers.list(params={"limit": 1}, options={"stripe_version": version})
    expect(header(listing, "Stripe-Version") == version, "Stripe-Version is not echoed")
    default = ctx.v1.customers.list(params={"limit": 1})
    expect(
        header(default, "Stripe-Version") == stripe.api_version,
        "the SDK's pinned version is not the one used",
    )


def events_use_the_account_version(ctx: StripeContext) -> None:
    made = ctx.v1.customers.create(
        params={"email": ctx.email("ver")}, options={"stripe_version": "2024-06-20"}
    )
    events = ctx.v1.events.list(params={"type": "customer.created", "limit": 20})
    mine = [e for e in events["data"] if e["data"]["object"]["id"] == made["id"]]
    expect(mine, "no customer.created event for the new customer")
    expect(
        mine[0]["api_version"] != "2024-06-20",
        "the event follows the request's Stripe-Version instead of the account's",
    )


def unknown_connected_account(ctx: StripeContext) -> None:
    account = "acct_1NotARealAccount00"
    error = failure(lambda: ctx.v1.customers.list(options={"stripe_account": account}))
    expect(error.http_status in (400, 403), f"status {error.http_status}")
    expect(account in str(error_field(error, "message")), "the message does not name it")


# --- events -----------------------------------------------------------------------------------


def created_events(ctx: StripeContext) -> None:
    customer = ctx.customer("events")
    product = ctx.v1.products.create(params={"name": f"Product {ctx.tag}"})
    for kind, obj in (("customer.created", customer), ("product.created", product)):
        events = ctx.v1.events.list(params={"type": kind, "limit": 20})
        found = [e for e in events["data"] if e["data"]["object"]["id"] == obj["id"]]
        expect(found, f"no {kind} event for {obj['id']}")
        expect(found[0]["data"]["object"]["object"] == obj["object"], f"{kind} payload")


def updated_event_previous_attributes(ctx: StripeContext) -> None:
    customer = ctx.customer("upd", name="Before")
    ctx.v1.customers.update(customer["id"], params={"name": "After"})
    events = ctx.v1.events.list(params={"type": "customer.updated", "limit": 20})
    found = [e for e in events["data"] if e["data"]["object"]["id"] == customer["id"]]
    expect(found, "no customer.updated event")
    data = found[0]["data"]
    expect(data["object"]["name"] == "After", "the event carries the old object")
    expect(data["previous_attributes"]["name"] == "Before", "previous_attributes lacks name")


# --- customers, products ------------------------------------------------------------------------


def deleted_customer(ctx: StripeContext) -> None:
    customer = ctx.customer("gone")
    deleted = ctx.v1.customers.delete(customer["id"])
    expect(deleted["deleted"] is True, "delete did not answer deleted: true")
    again = ctx.v1.customers.retrieve(customer["id"])
    expect(again["deleted"] is True, "a deleted customer does not read as deleted: true")
    listed = ctx.v1.customers.list(params={"email": ctx.email("gone")})
    expect(customer["id"] not in ids(listed), "a deleted customer is still listed")
    events = ctx.v1.events.list(params={"type": "customer.deleted", "limit": 20})
    expect(
        any(e["data"]["object"]["id"] == customer["id"] for e in events["data"]),
        "no customer.deleted event",
    )


def product_with_prices_is_not_deletable(ctx: StripeContext) -> None:
    price = ctx.recurring_price()
    error = failure(lambda: ctx.v1.products.delete(price["product"]))
    expect(error.http_status == 400, f"status {error.http_status}")
    bare = ctx.v1.products.create(params={"name": f"Bare {ctx.tag}"})
    expect(ctx.v1.products.delete(bare["id"])["deleted"] is True, "bare product kept")
    gone = failure(lambda: ctx.v1.products.retrieve(bare["id"]))
    expect(gone.http_status == 404, f"a deleted product reads as {gone.http_status}, not 404")


def livemode_is_false(ctx: StripeContext) -> None:
    customer = ctx.customer("live")
    expect(customer["livemode"] is False, "a test-mode object has livemode true")


# --- subscriptions, invoices, payment intents ----------------------------------------------------


def subscription_invoice(ctx: StripeContext) -> None:
    customer = ctx.paying_customer()
    price = ctx.recurring_price(2500)
    subscription = ctx.v1.subscriptions.create(
        params={"customer": customer["id"], "items": [{"price": price["id"]}]}
    )
    expect(subscription["status"] == "active", f"status {subscription['status']}")
    item = subscription["items"]["data"][0]
    expect(
        isinstance(item["current_period_start"], int)
        and item["current_period_end"] > item["current_period_start"],
        "the item has no current period",
    )
    expect("current_period_end" not in subscription, "the subscription has a top-level period")
    invoice_id = subscription["latest_invoice"]
    expect(isinstance(invoice_id, str) and invoice_id.startswith("in_"), "no latest_invoice")
    invoice = ctx.v1.invoices.retrieve(invoice_id)
    expect(invoice["status"] == "paid", f"invoice status {invoice['status']}")
    expect(invoice["amount_paid"] == 2500, f"amount_paid {invoice['amount_paid']}")
    expect(invoice["billing_reason"] == "subscription_create", "billing_reason")
    parent = invoice["parent"]
    expect(
        parent["subscription_details"]["subscription"] == subscription["id"],
        "the invoice's parent does not name the subscription",
    )
    lines = ctx.v1.invoices.line_items.list(invoice_id)
    expect([line["amount"] for line in lines["data"]] == [2500], "invoice lines")


def subscription_without_payment_method(ctx: StripeContext) -> None:
    customer = ctx.customer("nopm")
    price = ctx.recurring_price()
    subscription = ctx.v1.subscriptions.create(
        params={
            "customer": customer["id"],
            "items": [{"price": price["id"]}],
            "payment_behavior": "default_incomplete",
            "expand": ["latest_invoice.payments"],
        }
    )
    expect(subscription["status"] == "incomplete", f"status {subscription['status']}")
    invoice = subscription["latest_invoice"]
    expect(invoice["status"] == "open", f"invoice status {invoice['status']}")
    payment = invoice["payments"]["data"][0]["payment"]
    intent = ctx.v1.payment_intents.retrieve(payment["payment_intent"])
    expect(intent["status"] == "requires_payment_method", f"intent {intent['status']}")
    confirmed = ctx.v1.payment_intents.confirm(
        intent["id"], params={"payment_method": "pm_card_visa"}
    )
    expect(confirmed["status"] == "succeeded", f"confirmed intent {confirmed['status']}")
    after = ctx.v1.subscriptions.retrieve(subscription["id"])
    expect(after["status"] == "active", f"after payment the subscription is {after['status']}")


def canceled_subscription(ctx: StripeContext) -> None:
    customer = ctx.paying_customer("cancel")
    price = ctx.recurring_price()
    subscription = ctx.v1.subscriptions.create(
        params={"customer": customer["id"], "items": [{"price": price["id"]}]}
    )
    canceled = ctx.v1.subscriptions.cancel(subscription["id"])
    expect(canceled["status"] == "canceled", f"status {canceled['status']}")
    expect(isinstance(canceled["canceled_at"], int), "no canceled_at")
    error = failure(
        lambda: ctx.v1.subscriptions.update(
            subscription["id"], params={"cancel_at_period_end": True}
        )
    )
    expect(error.http_status == 400, f"updating a canceled subscription: {error.http_status}")


def invoice_lifecycle(ctx: StripeContext) -> None:
    customer = ctx.paying_customer("inv")
    invoice = ctx.v1.invoices.create(params={"customer": customer["id"], "auto_advance": False})
    expect(invoice["status"] == "draft", f"new invoice is {invoice['status']}")
    price = ctx.v1.prices.create(
        params={"currency": "usd", "unit_amount": 700, "product_data": {"name": "Setup"}}
    )
    added = ctx.v1.invoices.add_lines(
        invoice["id"], params={"lines": [{"pricing": {"price": price["id"]}}]}
    )
    expect(added["amount_due"] == 700, f"amount_due {added['amount_due']}")
    final = ctx.v1.invoices.finalize_invoice(invoice["id"])
    expect(final["status"] == "open", f"finalized invoice is {final['status']}")
    expect(final["number"], "a finalized invoice has no number")
    error = failure(lambda: ctx.v1.invoices.delete(invoice["id"]))
    expect(error.http_status == 400, "a finalized invoice was deleted")
    paid = ctx.v1.invoices.pay(invoice["id"])
    expect(paid["status"] == "paid", f"paid invoice is {paid['status']}")
    expect(paid["amount_paid"] == 700, f"amount_paid {paid['amount_paid']}")
    draft = ctx.v1.invoices.create(params={"customer": customer["id"]})
    removed = ctx.v1.invoices.delete(draft["id"])
    expect(removed["deleted"] is True, "a draft invoice could not be deleted")


def payment_intent_lifecycle(ctx: StripeContext) -> None:
    intents = ctx.v1.payment_intents
    card = {"payment_method": "pm_card_visa", "payment_method_types": ["card"]}
    paid = intents.create(params={"amount": 1000, "currency": "usd", "confirm": True, **card})
    expect(paid["status"] == "succeeded", f"confirmed intent is {paid['status']}")
    expect(paid["amount_received"] == 1000, "amount_received")
    expect(str(paid["latest_charge"]).startswith("ch_"), "no latest_charge")
    manual = intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "capture_method": "manual",
            "confirm": True,
            **card,
        }
    )
    expect(manual["status"] == "requires_capture", f"manual intent is {manual['status']}")
    captured = intents.capture(manual["id"])
    expect(captured["status"] == "succeeded", f"captured intent is {captured['status']}")
    open_intent = intents.create(params={"amount": 300, "currency": "usd"})
    expect(open_intent["status"] == "requires_payment_method", "a bare intent")
    canceled = intents.cancel(open_intent["id"])
    expect(canceled["status"] == "canceled", f"canceled intent is {canceled['status']}")
    declined = failure(
        lambda: intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "confirm": True,
                "payment_method": "pm_card_chargeDeclined",
                "payment_method_types": ["card"],
            }
        )
    )
    expect(isinstance(declined, stripe.CardError), f"a decline raised {type(declined).__name__}")
    expect(declined.http_status == 402, f"decline status {declined.http_status}")
    expect(error_field(declined, "decline_code") == "generic_decline", "decline_code")


def checkout_expiry(ctx: StripeContext) -> None:
    price = ctx.recurring_price()
    session = ctx.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price["id"], "quantity": 1}],
            "success_url": "https://example.com/ok",
        }
    )
    expect(session["status"] == "open", f"new session is {session['status']}")
    expired = ctx.v1.checkout.sessions.expire(session["id"])
    expect(expired["status"] == "expired", f"expired session is {expired['status']}")
    error = failure(lambda: ctx.v1.checkout.sessions.expire(session["id"]))
    expect(error.http_status == 400, "an expired session expired again")


# --- search ---------------------------------------------------------------------------------


def search_query_language(ctx: StripeContext) -> None:
    customer = ctx.customer("search", name="Searchable", metadata={"plan": "pro"})
    email = ctx.email("search")
    query = f"email:'{email}' AND metadata['plan']:'pro'"
    found = waited(
        lambda: ctx.v1.customers.search(params={"query": query}),
        lambda result: bool(result["data"]),
        ctx,
    )
    expect(found["object"] == "search_result", f"object {found['object']}")
    expect(ids(found) == [customer["id"]], f"search found {ids(found)}")
    negated = ctx.v1.customers.search(params={"query": f"-email:'{email}'", "limit": 100})
    expect(customer["id"] not in ids(negated), "a negated clause still matched")
    error = failure(lambda: ctx.v1.customers.search(params={"query": "email:"}))
    expect(error.http_status == 400, f"a malformed query: status {error.http_status}")


def search_pagination(ctx: StripeContext) -> None:
    made = [ctx.customer("spage", metadata={"batch": ctx.tag})["id"] for _ in range(3)]
    query = f"metadata['batch']:'{ctx.tag}'"
    first = waited(
        lambda: ctx.v1.customers.search(params={"query": query, "limit": 2}),
        lambda result: len(result["data"]) == 2 and result["has_more"],
        ctx,
    )
    expect(first["has_more"] is True and first["next_page"], "no next_page with more left")
    second = ctx.v1.customers.search(
        params={"query": query, "limit": 2, "page": first["next_page"]}
    )
    expect(sorted(ids(first) + ids(second)) == sorted(made), "pages do not cover the results")


# --- webhook endpoints ------------------------------------------------------------------------


def webhook_endpoint_secret(ctx: StripeContext) -> None:
    created = ctx.v1.webhook_endpoints.create(
        params={
            "url": f"https://example.com/hooks/{ctx.tag}",
            "enabled_events": ["customer.created"],
        }
    )
    expect(str(created["secret"]).startswith("whsec_"), "create did not return the secret")
    again = ctx.v1.webhook_endpoints.retrieve(created["id"])
    expect("secret" not in again, "retrieve shows the secret")
    ctx.v1.webhook_endpoints.delete(created["id"])


# --- behaviours that need the twin's control plane ---------------------------------------------


@dataclass
class Receiver:
    """A real webhook endpoint on 127.0.0.1 that answers ``status`` and keeps what it got."""

    status: int = 200
    deliveries: list[tuple[bytes, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)
            self.deliveries.append((body, request.headers.get("stripe-signature", "")))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def events(self, secret: str) -> list[Any]:
        return [stripe.Webhook.construct_event(p, s, secret) for p, s in self.deliveries]

    def wait_for(self, count: int, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while len(self.deliveries) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def endpoint_receives_signed_events(ctx: StripeContext) -> None:
    sink = Receiver()
    with serve_app(sink.app()) as receiver:
        endpoint = ctx.v1.webhook_endpoints.create(
            params={"url": f"{receiver}/hook", "enabled_events": ["customer.created"]}
        )
        ctx.v1.products.create(params={"name": f"Not for the endpoint {ctx.tag}"})
        customer = ctx.customer("hook")
        expect(sink.wait_for(1), "no delivery arrived")
        ctx.control("POST", "/due")  # any delivery still on its way has arrived by its answer
        events = sink.events(str(endpoint["secret"]))
        expect([e.type for e in events] == ["customer.created"], "enabled_events not honoured")
        expect(events[0].data.object["id"] == customer["id"], "the payload is another object")
        ctx.v1.webhook_endpoints.delete(endpoint["id"])


def retries_with_backoff(ctx: StripeContext) -> None:
    sink = Receiver(status=500)
    with serve_app(sink.app()) as receiver:
        endpoint = ctx.v1.webhook_endpoints.create(
            params={"url": f"{receiver}/hook", "enabled_events": ["customer.created"]}
        )
        now = ctx.control("GET", "/clock").json()["now"]
        ctx.control("POST", "/clock", json={"set": now})  # frozen where it is
        ctx.customer("retry")
        expect(sink.wait_for(1), "no first attempt")
        ctx.control("POST", "/clock", json={"advance": 30})
        expect(len(sink.deliveries) == 1, "retried before the backoff elapsed")
        first = sink.events(str(endpoint["secret"]))[0]
        pending = ctx.v1.events.retrieve(first.id)["pending_webhooks"]
        expect(pending >= 1, "pending_webhooks does not count the failed delivery")
        sink.status = 200
        ctx.control("POST", "/clock", json={"advance": 3600})
        expect(len(sink.deliveries) == 2, "not retried once the backoff elapsed")
        events = sink.events(str(endpoint["secret"]))
        expect(events[0].id == events[1].id, "a retry is not the same event")
        expect(
            ctx.v1.events.retrieve(first.id)["pending_webhooks"] == pending - 1,
            "pending_webhooks still counts the delivered event",
        )
        ctx.v1.webhook_endpoints.delete(endpoint["id"])
        ctx.control("POST", "/clock", json={"real": True})


def completed_checkout_bills(ctx: StripeContext) -> None:
    price = ctx.recurring_price()
    session = ctx.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "success_url": "https://example.com/ok",
            "line_items": [{"price": price["id"], "quantity": 1}],
        }
    )
    answer = ctx.control("POST", f"/checkout/{session['id']}/complete")
    expect(answer.status_code == 200, f"completing the session: {answer.status_code}")
    done = ctx.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["subscription.latest_invoice.payments"]}
    )
    invoice = done["subscription"]["latest_invoice"]
    expect(done["invoice"] == invoice["id"], "the session does not name its invoice")
    expect(invoice["status"] == "paid", f"invoice {invoice['status']}")
    intent_id = invoice["payments"]["data"][0]["payment"]["payment_intent"]
    intent = ctx.v1.payment_intents.retrieve(intent_id)
    expect(intent["status"] == "succeeded", f"intent {intent['status']}")


# --- the suite ---------------------------------------------------------------------------------


def holds(observation: Observation) -> list[str]:
    """Stripe's documentation holds when the story ran to its end."""
    if observation.error:
        return [observation.detail or observation.error]
    problems = observation.facts.get("response problems") or []
    return [f"response problems: {'; '.join(problems[:3])}"] if problems else []


def documented(
    name: str, story: Callable[[StripeContext], None], *, needs_control: bool = False
) -> Behaviour[StripeContext]:
    def run(ctx: StripeContext) -> Outcome:
        story(ctx)
        return Outcome()

    return Behaviour(name, run, row=BEHAVIOURS_ROW, expect=holds, needs_control=needs_control)


@functools.cache
def _spec() -> StripeSpec:
    return StripeSpec()


def validate(exchange: Exchange) -> list[str]:
    """What Stripe's spec (adapted to today's objects) finds wrong with one answer."""
    if not exchange.body or not spec_available():
        return []
    path = urlsplit(exchange.url).path
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [f"{exchange.method} {path} -> {exchange.status}: the body is not JSON"]
    return _spec().response_problems(exchange.method, path, exchange.status, body)


SUITE: Suite[StripeContext] = Suite(
    service="stripe",
    twin_app="converge_twins.mock_stripe.app:create_app",
    credentials={
        "api_key": Credential(
            "STRIPE_API_KEY", TWIN_KEY, "a test-mode secret key (sk_test_…) of the account"
        )
    },
    connect=connect,
    behaviours=[
        documented("idempotent_replay", idempotent_replay),
        documented("idempotency_conflict", idempotency_conflict),
        documented("cursor_pagination", cursor_pagination),
        documented("list_limit_bounds", list_limit_bounds),
        documented("error_object", error_object),
        documented("unknown_parameter", unknown_parameter),
        documented("missing_parameter", missing_parameter),
        documented("invalid_integer", invalid_integer),
        documented("unknown_url", unknown_url),
        documented("metadata_updates", metadata_updates),
        documented("metadata_limits", metadata_limits),
        documented("expand_fields", expand_fields),
        documented("expand_refuses_unknown_fields", expand_refuses_unknown_fields),
        documented("invalid_api_version", invalid_api_version),
        documented("api_version_per_request", api_version_per_request),
        documented("events_use_the_account_version", events_use_the_account_version),
        documented("unknown_connected_account", unknown_connected_account),
        documented("created_events", created_events),
        documented("updated_event_previous_attributes", updated_event_previous_attributes),
        documented("deleted_customer", deleted_customer),
        documented("product_with_prices_is_not_deletable", product_with_prices_is_not_deletable),
        documented("livemode_is_false", livemode_is_false),
        documented("subscription_invoice", subscription_invoice),
        documented("subscription_without_payment_method", subscription_without_payment_method),
        documented("canceled_subscription", canceled_subscription),
        documented("invoice_lifecycle", invoice_lifecycle),
        documented("payment_intent_lifecycle", payment_intent_lifecycle),
        documented("checkout_expiry", checkout_expiry),
        documented("search_query_language", search_query_language),
        documented("search_pagination", search_pagination),
        documented("webhook_endpoint_secret", webhook_endpoint_secret),
        documented(
            "endpoint_receives_signed_events", endpoint_receives_signed_events, needs_control=True
        ),
        documented("retries_with_backoff", retries_with_backoff, needs_control=True),
        documented("completed_checkout_bills", completed_checkout_bills, needs_control=True),
    ],
    header_rules={
        "request-id": "present",
        "stripe-version": "value",
        "idempotent-replayed": "value",
        "idempotency-key": "present",
        "content-type": "media-type",
    },
    twin_env={"TWIN_SEED": "conformance"},
    validate=validate,
)


def fidelity(urls: Mapping[str, str]) -> list[Any]:
    """The README's Stripe rows, measured against the twin at ``urls["stripe"]``."""
    from converge_twins.conformance.stripe_probes import measure

    return measure(urls["stripe"])
