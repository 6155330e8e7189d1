"""Stripe's documented behaviours, as short scripts through the official ``stripe`` SDK.

Each behaviour is something an app like Gravix relies on and Stripe's documentation states:
idempotent retries, cursor pagination, the error object's fields, metadata rules, ``expand[]``,
API versions, connected accounts, events, the invoice and payment intent behind a subscription,
search. A behaviour raises :class:`BehaviourFailed` naming the difference, so the same script
judges mock-stripe (the test suite, ``python -m tests.stripe_fidelity``) and, through the
conformance suite, Stripe's own test mode: nothing here is specific to the twin.

Against a real account the objects a behaviour makes are tagged with ``Context.tag`` (in emails
and metadata) and filtered by it, so an account's existing data does not disturb the checks.
Search is eventually consistent on Stripe (under a minute): search behaviours wait for it,
bounded by ``Context.search_wait``.

Importing this module needs the ``stripe`` SDK (the ``sdk`` extra); the twin never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import stripe

Obj = Any  # a StripeObject, read with obj["field"] (its attribute types vary with the SDK)


class BehaviourFailed(AssertionError):
    """The service did not behave as Stripe documents; the message says how."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise BehaviourFailed(message)


@dataclass
class Context:
    """What a behaviour runs with: an SDK client for one base URL and key, and a run tag."""

    client: stripe.StripeClient
    tag: str
    search_wait: float = 0.0  # seconds to wait for search to catch up (Stripe: up to ~60)

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


def waited(search: Callable[[], Obj], wanted: Callable[[Obj], bool], ctx: Context) -> Obj:
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


def idempotent_replay(ctx: Context) -> None:
    key = f"replay-{ctx.tag}"
    params = {"email": ctx.email("idem"), "metadata": {"conformance": ctx.tag}}
    first = ctx.v1.customers.create(params=params, options={"idempotency_key": key})
    again = ctx.v1.customers.create(params=params, options={"idempotency_key": key})
    expect(again["id"] == first["id"], "a replayed request created a second customer")
    expect(
        header(again, "Idempotent-Replayed") == "true",
        "a replayed answer lacks the Idempotent-Replayed: true header",
    )


def idempotency_conflict(ctx: Context) -> None:
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


def cursor_pagination(ctx: Context) -> None:
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


def list_limit_bounds(ctx: Context) -> None:
    error = failure(lambda: ctx.v1.customers.list(params={"limit": 101}))
    expect(error.http_status == 400, f"limit 101: status {error.http_status}")
    expect(error_field(error, "param") == "limit", "the error does not name limit")


def error_object(ctx: Context) -> None:
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


def unknown_parameter(ctx: Context) -> None:
    error = failure(lambda: ctx.v1.customers.create(params={"emial": "x@example.com"}))
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "code") == "parameter_unknown", "code is not parameter_unknown")
    expect(error_field(error, "param") == "emial", "param does not name the parameter")
    expect(
        error_field(error, "message") == "Received unknown parameter: emial",
        f"message {error_field(error, 'message')!r}",
    )


def missing_parameter(ctx: Context) -> None:
    error = failure(
        lambda: ctx.v1.prices.create(params={"unit_amount": 100, "product_data": {"name": "x"}})
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "code") == "parameter_missing", "code is not parameter_missing")
    expect(error_field(error, "param") == "currency", "param is not currency")


def invalid_integer(ctx: Context) -> None:
    error = failure(
        lambda: ctx.raw(
            "post", "/v1/prices", currency="usd", unit_amount="twelve", product_data={"name": "x"}
        )
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    expect(error_field(error, "param") == "unit_amount", "param is not unit_amount")


def unknown_url(ctx: Context) -> None:
    error = failure(lambda: ctx.raw("get", "/v1/customerz"))
    expect(error.http_status == 404, f"status {error.http_status}, not 404")
    message = str(error_field(error, "message"))
    expect(
        message.startswith("Unrecognized request URL (GET: /v1/customerz)"),
        f"message {message!r}",
    )


# --- metadata ---------------------------------------------------------------------------------


def metadata_updates(ctx: Context) -> None:
    customer = ctx.customer("meta", metadata={"a": "1", "b": "2"})
    merged = ctx.v1.customers.update(customer["id"], params={"metadata": {"a": "", "c": "3"}})
    got = merged["metadata"].to_dict()
    expect(got == {"conformance": ctx.tag, "b": "2", "c": "3"}, f"merged metadata {got}")
    cleared = ctx.raw("post", f"/v1/customers/{customer['id']}", metadata="")
    expect(cleared["metadata"].to_dict() == {}, "metadata='' did not clear every key")


def metadata_limits(ctx: Context) -> None:
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


def expand_fields(ctx: Context) -> None:
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


def expand_refuses_unknown_fields(ctx: Context) -> None:
    customer = ctx.customer("noexpand")
    error = failure(
        lambda: ctx.v1.customers.retrieve(customer["id"], params={"expand": ["nothing"]})
    )
    expect(error.http_status == 400, f"status {error.http_status}")
    message = str(error_field(error, "message"))
    expect(message.startswith("This property cannot be expanded (nothing)"), f"message {message!r}")


# --- versions and accounts ----------------------------------------------------------------------


def invalid_api_version(ctx: Context) -> None:
    error = failure(lambda: ctx.v1.customers.list(options={"stripe_version": "2020-13-45"}))
    expect(error.http_status == 400, f"status {error.http_status}, not 400")
    message = str(error_field(error, "message"))
    expect(message == "Invalid Stripe API version: 2020-13-45", f"message {message!r}")


def api_version_per_request(ctx: Context) -> None:
    version = "2024-06-20"
    listing = ctx.v1.customers.list(params={"limit": 1}, options={"stripe_version": version})
    expect(header(listing, "Stripe-Version") == version, "Stripe-Version is not echoed")
    default = ctx.v1.customers.list(params={"limit": 1})
    expect(
        header(default, "Stripe-Version") == stripe.api_version,
        "the SDK's pinned version is not the one used",
    )


def events_use_the_account_version(ctx: Context) -> None:
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


def unknown_connected_account(ctx: Context) -> None:
    account = "acct_1NotARealAccount00"
    error = failure(lambda: ctx.v1.customers.list(options={"stripe_account": account}))
    expect(error.http_status in (400, 403), f"status {error.http_status}")
    expect(account in str(error_field(error, "message")), "the message does not name it")


# --- events -----------------------------------------------------------------------------------


def created_events(ctx: Context) -> None:
    customer = ctx.customer("events")
    product = ctx.v1.products.create(params={"name": f"Product {ctx.tag}"})
    for kind, obj in (("customer.created", customer), ("product.created", product)):
        events = ctx.v1.events.list(params={"type": kind, "limit": 20})
        found = [e for e in events["data"] if e["data"]["object"]["id"] == obj["id"]]
        expect(found, f"no {kind} event for {obj['id']}")
        expect(found[0]["data"]["object"]["object"] == obj["object"], f"{kind} payload")


def updated_event_previous_attributes(ctx: Context) -> None:
    customer = ctx.customer("upd", name="Before")
    ctx.v1.customers.update(customer["id"], params={"name": "After"})
    events = ctx.v1.events.list(params={"type": "customer.updated", "limit": 20})
    found = [e for e in events["data"] if e["data"]["object"]["id"] == customer["id"]]
    expect(found, "no customer.updated event")
    data = found[0]["data"]
    expect(data["object"]["name"] == "After", "the event carries the old object")
    expect(data["previous_attributes"]["name"] == "Before", "previous_attributes lacks name")


# --- customers, products ------------------------------------------------------------------------


def deleted_customer(ctx: Context) -> None:
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


def product_with_prices_is_not_deletable(ctx: Context) -> None:
    price = ctx.recurring_price()
    error = failure(lambda: ctx.v1.products.delete(price["product"]))
    expect(error.http_status == 400, f"status {error.http_status}")
    bare = ctx.v1.products.create(params={"name": f"Bare {ctx.tag}"})
    expect(ctx.v1.products.delete(bare["id"])["deleted"] is True, "bare product kept")
    gone = failure(lambda: ctx.v1.products.retrieve(bare["id"]))
    expect(gone.http_status == 404, f"a deleted product reads as {gone.http_status}, not 404")


def livemode_is_false(ctx: Context) -> None:
    customer = ctx.customer("live")
    expect(customer["livemode"] is False, "a test-mode object has livemode true")


# --- subscriptions, invoices, payment intents ----------------------------------------------------


def subscription_invoice(ctx: Context) -> None:
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


def subscription_without_payment_method(ctx: Context) -> None:
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


def canceled_subscription(ctx: Context) -> None:
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


def invoice_lifecycle(ctx: Context) -> None:
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


def payment_intent_lifecycle(ctx: Context) -> None:
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


def checkout_expiry(ctx: Context) -> None:
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


def search_query_language(ctx: Context) -> None:
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


def search_pagination(ctx: Context) -> None:
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


def webhook_endpoint_secret(ctx: Context) -> None:
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


@dataclass(frozen=True)
class Behaviour:
    name: str
    summary: str
    run: Callable[[Context], None]


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "idempotent_replay", "the same Idempotency-Key replays the answer", idempotent_replay
    ),
    Behaviour(
        "idempotency_conflict",
        "a reused key with other parameters is an idempotency_error",
        idempotency_conflict,
    ),
    Behaviour(
        "cursor_pagination",
        "newest first, limit, starting_after, ending_before, has_more",
        cursor_pagination,
    ),
    Behaviour("list_limit_bounds", "limit is refused outside 1..100", list_limit_bounds),
    Behaviour(
        "error_object",
        "errors carry type, code, param, message, doc_url, request_log_url",
        error_object,
    ),
    Behaviour("unknown_parameter", "an unknown parameter is parameter_unknown", unknown_parameter),
    Behaviour("missing_parameter", "a missing parameter is parameter_missing", missing_parameter),
    Behaviour("invalid_integer", "a malformed integer names its parameter", invalid_integer),
    Behaviour("unknown_url", "an unknown path is 404 Unrecognized request URL", unknown_url),
    Behaviour(
        "metadata_updates",
        "metadata merges, '' deletes a key, metadata='' clears",
        metadata_updates,
    ),
    Behaviour(
        "metadata_limits", "50 keys, 40-character keys, 500-character values", metadata_limits
    ),
    Behaviour("expand_fields", "expand[] expands ids, nested and in lists", expand_fields),
    Behaviour(
        "expand_refuses_unknown_fields",
        "expanding a field that cannot be is a 400",
        expand_refuses_unknown_fields,
    ),
    Behaviour("invalid_api_version", "an invalid Stripe-Version is refused", invalid_api_version),
    Behaviour(
        "api_version_per_request", "Stripe-Version is honoured and echoed", api_version_per_request
    ),
    Behaviour(
        "events_use_the_account_version",
        "events carry the account's API version",
        events_use_the_account_version,
    ),
    Behaviour(
        "unknown_connected_account",
        "an unknown Stripe-Account is refused",
        unknown_connected_account,
    ),
    Behaviour("created_events", "customer.created and product.created events", created_events),
    Behaviour(
        "updated_event_previous_attributes",
        "update events carry previous_attributes",
        updated_event_previous_attributes,
    ),
    Behaviour("deleted_customer", "a deleted customer reads as {deleted: true}", deleted_customer),
    Behaviour(
        "product_with_prices_is_not_deletable",
        "a product with prices cannot be deleted; a deleted one is gone",
        product_with_prices_is_not_deletable,
    ),
    Behaviour("livemode_is_false", "test-mode objects have livemode false", livemode_is_false),
    Behaviour(
        "subscription_invoice",
        "a subscription bills an invoice, periods live on items",
        subscription_invoice,
    ),
    Behaviour(
        "subscription_without_payment_method",
        "no payment method: incomplete, open invoice, payment intent to confirm",
        subscription_without_payment_method,
    ),
    Behaviour(
        "canceled_subscription", "a canceled subscription cannot be updated", canceled_subscription
    ),
    Behaviour(
        "invoice_lifecycle", "draft, lines, finalize, pay; only drafts delete", invoice_lifecycle
    ),
    Behaviour(
        "payment_intent_lifecycle",
        "confirm, manual capture, cancel, decline",
        payment_intent_lifecycle,
    ),
    Behaviour("checkout_expiry", "an open session expires once", checkout_expiry),
    Behaviour(
        "search_query_language",
        "search with clauses, AND, negation; bad queries refused",
        search_query_language,
    ),
    Behaviour("search_pagination", "search pages with next_page", search_pagination),
    Behaviour(
        "webhook_endpoint_secret",
        "an endpoint's secret is shown on create only",
        webhook_endpoint_secret,
    ),
)


def run(behaviour: Behaviour, ctx: Context) -> str | None:
    """None when the behaviour holds, else what differed (an unexpected error included)."""
    try:
        behaviour.run(ctx)
    except BehaviourFailed as failed:
        return str(failed)
    except stripe.StripeError as error:
        return f"unexpected {type(error).__name__} ({error.http_status}): {error.user_message}"
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        return f"unexpected shape: {type(error).__name__}: {error}"
    return None
