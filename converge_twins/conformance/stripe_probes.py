"""The Stripe rows of the fidelity table, measured against a twin through the official SDK.

- **operations**: every operation the current SDK has for the resources a Gravix-like app uses
  (customers, products, prices, checkout sessions, subscriptions, subscription items, invoices,
  payment intents, events, webhook endpoints, billing portal) is called once on a small world of
  objects; it counts when it answers the object Stripe would. Of the rest, those refused with a
  400 that names the operation (never a 404 claiming an object does not exist) are counted too.
  The operations of the published 2023 spec are counted apart.
- **responses**: every answer of the run (probes and behaviours) against Stripe's spec adapted to
  today's objects (:mod:`.stripe_spec`).
- **fields**: for each of today's example objects (``fixtures.json``), the share of its
  top-level fields the twin's object of that type has, with today's names.
- **behaviours**: the suite's documented behaviours (:mod:`.stripe`), each one item.

``python scripts/fidelity.py --only stripe`` prints the rows; ``--before CHECKOUT`` measures an
older checkout's twin with today's probes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import stripe

from converge_twins.conformance.fidelity import FidelityRow
from converge_twins.conformance.stripe import (
    BEHAVIOURS_ROW,
    SUITE,
    TWIN_KEY,
    StripeContext,
    connect,
)
from converge_twins.conformance.stripe_spec import ResponseLog, StripeSpec, field_coverage, fixtures
from converge_twins.conformance.suite import Recorder

TWIN = "Stripe"


@dataclass(frozen=True)
class Probe:
    name: str  # the SDK's name for the operation
    method: str
    template: str
    call: Callable[[Any, dict[str, str]], Any]  # (the SDK's v1 services, the world)
    answers: str  # the object Stripe answers with ("list", "search_result", "customer", ...)


def _world(ctx: StripeContext) -> dict[str, str]:
    """The objects the probes act on, each made the simplest way that works."""
    world: dict[str, str] = {}
    _paused(ctx, world)
    client: Any = ctx.client

    def attempt(name: str, make: Callable[[], Any]) -> None:
        with contextlib.suppress(stripe.StripeError, KeyError):
            world[name] = str(make()["id"])

    attempt("customer", lambda: client.v1.customers.create(params={"email": "w@example.com"}))
    attempt("product", lambda: client.v1.products.create(params={"name": "World"}))
    attempt(
        "price",
        lambda: client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
                "product": world.get("product", ""),
            }
        ),
    )
    attempt(
        "price2",
        lambda: client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 300,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Add-on"},
            }
        ),
    )
    attempt(
        "subscription",
        lambda: client.v1.subscriptions.create(
            params={"customer": world.get("customer", ""), "items": [{"price": world["price"]}]}
        ),
    )
    attempt(
        "item",
        lambda: client.v1.subscription_items.create(
            params={"subscription": world.get("subscription", ""), "price": world["price2"]}
        ),
    )
    attempt("invoice", lambda: client.v1.invoices.create(params={"customer": world["customer"]}))
    attempt(
        "intent",
        lambda: client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"}),
    )
    attempt(
        "endpoint",
        lambda: client.v1.webhook_endpoints.create(
            # A rare event, so that the probes' endpoint (unreachable) delays no other check.
            params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["invoice.sent"]}
        ),
    )
    attempt(
        "session",
        lambda: client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "success_url": "http://127.0.0.1/ok",
                "line_items": [{"price": world["price"], "quantity": 1}],
            }
        ),
    )
    with contextlib.suppress(stripe.StripeError, IndexError):
        world["event"] = str(client.v1.events.list(params={"limit": 1})["data"][0]["id"])
    return world


def _paused(ctx: StripeContext, world: dict[str, str]) -> None:
    """A subscription whose trial ended without a payment method, paused (to resume): made
    first, as it moves the twin's clock a day on."""
    client: Any = ctx.client
    with contextlib.suppress(stripe.StripeError, KeyError, IndexError):
        customer = client.v1.customers.create(params={"email": "paused@example.com"})
        price = client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 700,
                "recurring": {"interval": "month"},
                "product_data": {"name": "Paused"},
            }
        )
        subscription = client.v1.subscriptions.create(
            params={
                "customer": customer["id"],
                "items": [{"price": price["id"]}],
                "trial_period_days": 1,
                "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
            }
        )
        world["paused"] = str(subscription["id"])
        ctx.control("POST", "/clock", json={"advance": 86_401})


def _line(v: Any, w: dict[str, str]) -> str:
    lines = v.invoices.line_items.list(w["invoice"])
    return str(lines["data"][0]["id"])


def _fresh_invoice(v: Any, w: dict[str, str], finalize: bool) -> str:
    invoice = v.invoices.create(params={"customer": w["customer"]})
    v.invoices.add_lines(
        invoice["id"], params={"lines": [{"amount": 400, "description": "one-off"}]}
    )
    if finalize:
        v.invoices.finalize_invoice(invoice["id"])
    return str(invoice["id"])


def _fresh_intent(v: Any, **params: Any) -> str:
    return str(v.payment_intents.create(params={"amount": 800, "currency": "usd", **params})["id"])


def _probes() -> list[Probe]:
    card = {"payment_method": "pm_card_visa", "payment_method_types": ["card"]}
    return [
        Probe(
            "customers.create",
            "POST",
            "/v1/customers",
            lambda v, w: v.customers.create(params={"name": "P"}),
            "customer",
        ),
        Probe(
            "customers.retrieve",
            "GET",
            "/v1/customers/{customer}",
            lambda v, w: v.customers.retrieve(w["customer"]),
            "customer",
        ),
        Probe(
            "customers.update",
            "POST",
            "/v1/customers/{customer}",
            lambda v, w: v.customers.update(w["customer"], params={"name": "Q"}),
            "customer",
        ),
        Probe("customers.list", "GET", "/v1/customers", lambda v, w: v.customers.list(), "list"),
        Probe(
            "customers.search",
            "GET",
            "/v1/customers/search",
            lambda v, w: v.customers.search(params={"query": "name:'Q'"}),
            "search_result",
        ),
        Probe(
            "customers.delete",
            "DELETE",
            "/v1/customers/{customer}",
            lambda v, w: v.customers.delete(v.customers.create()["id"]),
            "customer",
        ),
        Probe(
            "customers.delete_discount",
            "DELETE",
            "/v1/customers/{customer}/discount",
            lambda v, w: v.customers.delete_discount(w["customer"]),
            "discount",
        ),
        Probe(
            "products.create",
            "POST",
            "/v1/products",
            lambda v, w: v.products.create(params={"name": "P"}),
            "product",
        ),
        Probe(
            "products.retrieve",
            "GET",
            "/v1/products/{id}",
            lambda v, w: v.products.retrieve(w["product"]),
            "product",
        ),
        Probe(
            "products.update",
            "POST",
            "/v1/products/{id}",
            lambda v, w: v.products.update(w["product"], params={"name": "Q"}),
            "product",
        ),
        Probe("products.list", "GET", "/v1/products", lambda v, w: v.products.list(), "list"),
        Probe(
            "products.search",
            "GET",
            "/v1/products/search",
            lambda v, w: v.products.search(params={"query": "active:'true'"}),
            "search_result",
        ),
        Probe(
            "products.delete",
            "DELETE",
            "/v1/products/{id}",
            lambda v, w: v.products.delete(v.products.create(params={"name": "D"})["id"]),
            "product",
        ),
        Probe(
            "prices.create",
            "POST",
            "/v1/prices",
            lambda v, w: v.prices.create(
                params={"currency": "usd", "unit_amount": 100, "product": w["product"]}
            ),
            "price",
        ),
        Probe(
            "prices.retrieve",
            "GET",
            "/v1/prices/{price}",
            lambda v, w: v.prices.retrieve(w["price"]),
            "price",
        ),
        Probe(
            "prices.update",
            "POST",
            "/v1/prices/{price}",
            lambda v, w: v.prices.update(w["price"], params={"nickname": "n"}),
            "price",
        ),
        Probe("prices.list", "GET", "/v1/prices", lambda v, w: v.prices.list(), "list"),
        Probe(
            "prices.search",
            "GET",
            "/v1/prices/search",
            lambda v, w: v.prices.search(params={"query": "currency:'usd'"}),
            "search_result",
        ),
        Probe(
            "checkout.sessions.create",
            "POST",
            "/v1/checkout/sessions",
            lambda v, w: v.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "success_url": "http://127.0.0.1/ok",
                    "line_items": [
                        {
                            "price_data": {
                                "currency": "usd",
                                "unit_amount": 500,
                                "product_data": {"name": "One"},
                            },
                            "quantity": 1,
                        }
                    ],
                }
            ),
            "checkout.session",
        ),
        Probe(
            "checkout.sessions.retrieve",
            "GET",
            "/v1/checkout/sessions/{session}",
            lambda v, w: v.checkout.sessions.retrieve(w["session"]),
            "checkout.session",
        ),
        Probe(
            "checkout.sessions.update",
            "POST",
            "/v1/checkout/sessions/{session}",
            lambda v, w: v.checkout.sessions.update(w["session"], params={"metadata": {"k": "v"}}),
            "checkout.session",
        ),
        Probe(
            "checkout.sessions.list",
            "GET",
            "/v1/checkout/sessions",
            lambda v, w: v.checkout.sessions.list(),
            "list",
        ),
        Probe(
            "checkout.sessions.line_items.list",
            "GET",
            "/v1/checkout/sessions/{session}/line_items",
            lambda v, w: v.checkout.sessions.line_items.list(w["session"]),
            "list",
        ),
        Probe(
            "checkout.sessions.expire",
            "POST",
            "/v1/checkout/sessions/{session}/expire",
            lambda v, w: v.checkout.sessions.expire(
                v.checkout.sessions.create(
                    params={
                        "mode": "subscription",
                        "success_url": "http://127.0.0.1/ok",
                        "line_items": [{"price": w["price"], "quantity": 1}],
                    }
                )["id"]
            ),
            "checkout.session",
        ),
        Probe(
            "subscriptions.create",
            "POST",
            "/v1/subscriptions",
            lambda v, w: v.subscriptions.create(
                params={"customer": w["customer"], "items": [{"price": w["price"]}]}
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.retrieve",
            "GET",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda v, w: v.subscriptions.retrieve(w["subscription"]),
            "subscription",
        ),
        Probe(
            "subscriptions.update",
            "POST",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda v, w: v.subscriptions.update(w["subscription"], params={"metadata": {"k": "v"}}),
            "subscription",
        ),
        Probe(
            "subscriptions.list",
            "GET",
            "/v1/subscriptions",
            lambda v, w: v.subscriptions.list(),
            "list",
        ),
        Probe(
            "subscriptions.search",
            "GET",
            "/v1/subscriptions/search",
            lambda v, w: v.subscriptions.search(params={"query": "status:'active'"}),
            "search_result",
        ),
        Probe(
            "subscriptions.cancel",
            "DELETE",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda v, w: v.subscriptions.cancel(
                v.subscriptions.create(
                    params={"customer": w["customer"], "items": [{"price": w["price"]}]}
                )["id"]
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.resume",
            "POST",
            "/v1/subscriptions/{subscription}/resume",
            lambda v, w: v.subscriptions.resume(w["paused"]),
            "subscription",
        ),
        Probe(
            "subscriptions.pause",
            "POST",
            "/v1/subscriptions/{subscription}/pause",
            lambda v, w: v.subscriptions.pause(w["subscription"]),
            "subscription",
        ),
        Probe(
            "subscriptions.migrate",
            "POST",
            "/v1/subscriptions/{subscription}/migrate",
            lambda v, w: v.subscriptions.migrate(
                w["subscription"], params={"billing_mode": {"type": "flexible"}}
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.delete_discount",
            "DELETE",
            "/v1/subscriptions/{subscription_exposed_id}/discount",
            lambda v, w: v.subscriptions.delete_discount(w["subscription"]),
            "discount",
        ),
        Probe(
            "subscription_items.create",
            "POST",
            "/v1/subscription_items",
            lambda v, w: v.subscription_items.create(
                params={
                    "subscription": w["subscription"],
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 100,
                        "product": w["product"],
                        "recurring": {"interval": "month"},
                    },
                }
            ),
            "subscription_item",
        ),
        Probe(
            "subscription_items.retrieve",
            "GET",
            "/v1/subscription_items/{item}",
            lambda v, w: v.subscription_items.retrieve(w["item"]),
            "subscription_item",
        ),
        Probe(
            "subscription_items.update",
            "POST",
            "/v1/subscription_items/{item}",
            lambda v, w: v.subscription_items.update(w["item"], params={"quantity": 2}),
            "subscription_item",
        ),
        Probe(
            "subscription_items.list",
            "GET",
            "/v1/subscription_items",
            lambda v, w: v.subscription_items.list(params={"subscription": w["subscription"]}),
            "list",
        ),
        Probe(
            "subscription_items.delete",
            "DELETE",
            "/v1/subscription_items/{item}",
            lambda v, w: v.subscription_items.delete(w["item"]),
            "subscription_item",
        ),
        Probe(
            "invoices.create",
            "POST",
            "/v1/invoices",
            lambda v, w: v.invoices.create(params={"customer": w["customer"]}),
            "invoice",
        ),
        Probe(
            "invoices.retrieve",
            "GET",
            "/v1/invoices/{invoice}",
            lambda v, w: v.invoices.retrieve(w["invoice"]),
            "invoice",
        ),
        Probe(
            "invoices.update",
            "POST",
            "/v1/invoices/{invoice}",
            lambda v, w: v.invoices.update(w["invoice"], params={"description": "d"}),
            "invoice",
        ),
        Probe("invoices.list", "GET", "/v1/invoices", lambda v, w: v.invoices.list(), "list"),
        Probe(
            "invoices.search",
            "GET",
            "/v1/invoices/search",
            lambda v, w: v.invoices.search(params={"query": "status:'draft'"}),
            "search_result",
        ),
        Probe(
            "invoices.add_lines",
            "POST",
            "/v1/invoices/{invoice}/add_lines",
            lambda v, w: v.invoices.add_lines(
                w["invoice"], params={"lines": [{"amount": 250, "description": "x"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.line_items.list",
            "GET",
            "/v1/invoices/{invoice}/lines",
            lambda v, w: v.invoices.line_items.list(w["invoice"]),
            "list",
        ),
        Probe(
            "invoices.line_items.update",
            "POST",
            "/v1/invoices/{invoice}/lines/{line_item_id}",
            lambda v, w: v.invoices.line_items.update(
                w["invoice"], _line(v, w), params={"description": "y"}
            ),
            "line_item",
        ),
        Probe(
            "invoices.update_lines",
            "POST",
            "/v1/invoices/{invoice}/update_lines",
            lambda v, w: v.invoices.update_lines(
                w["invoice"], params={"lines": [{"id": _line(v, w), "description": "z"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.remove_lines",
            "POST",
            "/v1/invoices/{invoice}/remove_lines",
            lambda v, w: v.invoices.remove_lines(
                w["invoice"], params={"lines": [{"id": _line(v, w), "behavior": "delete"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.create_preview",
            "POST",
            "/v1/invoices/create_preview",
            lambda v, w: v.invoices.create_preview(params={"subscription": w["subscription"]}),
            "invoice",
        ),
        Probe(
            "invoices.finalize_invoice",
            "POST",
            "/v1/invoices/{invoice}/finalize",
            lambda v, w: v.invoices.finalize_invoice(_fresh_invoice(v, w, False)),
            "invoice",
        ),
        Probe(
            "invoices.pay",
            "POST",
            "/v1/invoices/{invoice}/pay",
            lambda v, w: v.invoices.pay(
                _fresh_invoice(v, w, True), params={"paid_out_of_band": True}
            ),
            "invoice",
        ),
        Probe(
            "invoices.send_invoice",
            "POST",
            "/v1/invoices/{invoice}/send",
            lambda v, w: v.invoices.send_invoice(_fresh_invoice(v, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.void_invoice",
            "POST",
            "/v1/invoices/{invoice}/void",
            lambda v, w: v.invoices.void_invoice(_fresh_invoice(v, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.mark_uncollectible",
            "POST",
            "/v1/invoices/{invoice}/mark_uncollectible",
            lambda v, w: v.invoices.mark_uncollectible(_fresh_invoice(v, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.attach_payment",
            "POST",
            "/v1/invoices/{invoice}/attach_payment",
            lambda v, w: v.invoices.attach_payment(
                _fresh_invoice(v, w, True), params={"payment_intent": _fresh_intent(v)}
            ),
            "invoice",
        ),
        Probe(
            "invoices.delete",
            "DELETE",
            "/v1/invoices/{invoice}",
            lambda v, w: v.invoices.delete(
                v.invoices.create(params={"customer": w["customer"]})["id"]
            ),
            "invoice",
        ),
        Probe(
            "payment_intents.create",
            "POST",
            "/v1/payment_intents",
            lambda v, w: v.payment_intents.create(params={"amount": 100, "currency": "usd"}),
            "payment_intent",
        ),
        Probe(
            "payment_intents.retrieve",
            "GET",
            "/v1/payment_intents/{intent}",
            lambda v, w: v.payment_intents.retrieve(w["intent"]),
            "payment_intent",
        ),
        Probe(
            "payment_intents.update",
            "POST",
            "/v1/payment_intents/{intent}",
            lambda v, w: v.payment_intents.update(w["intent"], params={"description": "d"}),
            "payment_intent",
        ),
        Probe(
            "payment_intents.list",
            "GET",
            "/v1/payment_intents",
            lambda v, w: v.payment_intents.list(),
            "list",
        ),
        Probe(
            "payment_intents.search",
            "GET",
            "/v1/payment_intents/search",
            lambda v, w: v.payment_intents.search(params={"query": "currency:'usd'"}),
            "search_result",
        ),
        Probe(
            "payment_intents.confirm",
            "POST",
            "/v1/payment_intents/{intent}/confirm",
            lambda v, w: v.payment_intents.confirm(_fresh_intent(v), params=card),
            "payment_intent",
        ),
        Probe(
            "payment_intents.capture",
            "POST",
            "/v1/payment_intents/{intent}/capture",
            lambda v, w: v.payment_intents.capture(
                _fresh_intent(v, capture_method="manual", confirm=True, **card)
            ),
            "payment_intent",
        ),
        Probe(
            "payment_intents.cancel",
            "POST",
            "/v1/payment_intents/{intent}/cancel",
            lambda v, w: v.payment_intents.cancel(_fresh_intent(v)),
            "payment_intent",
        ),
        Probe(
            "payment_intents.increment_authorization",
            "POST",
            "/v1/payment_intents/{intent}/increment_authorization",
            lambda v, w: v.payment_intents.increment_authorization(
                _fresh_intent(v, capture_method="manual", confirm=True, **card),
                params={"amount": 900},
            ),
            "payment_intent",
        ),
        Probe(
            "payment_intents.apply_customer_balance",
            "POST",
            "/v1/payment_intents/{intent}/apply_customer_balance",
            lambda v, w: v.payment_intents.apply_customer_balance(w["intent"]),
            "payment_intent",
        ),
        Probe(
            "payment_intents.verify_microdeposits",
            "POST",
            "/v1/payment_intents/{intent}/verify_microdeposits",
            lambda v, w: v.payment_intents.verify_microdeposits(
                w["intent"], params={"amounts": [32, 45]}
            ),
            "payment_intent",
        ),
        Probe("events.list", "GET", "/v1/events", lambda v, w: v.events.list(), "list"),
        Probe(
            "events.retrieve",
            "GET",
            "/v1/events/{id}",
            lambda v, w: v.events.retrieve(w["event"]),
            "event",
        ),
        Probe(
            "webhook_endpoints.create",
            "POST",
            "/v1/webhook_endpoints",
            lambda v, w: v.webhook_endpoints.create(
                params={"url": "http://127.0.0.1:9/x", "enabled_events": ["invoice.sent"]}
            ),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.retrieve",
            "GET",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda v, w: v.webhook_endpoints.retrieve(w["endpoint"]),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.update",
            "POST",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda v, w: v.webhook_endpoints.update(w["endpoint"], params={"description": "d"}),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.list",
            "GET",
            "/v1/webhook_endpoints",
            lambda v, w: v.webhook_endpoints.list(),
            "list",
        ),
        Probe(
            "webhook_endpoints.delete",
            "DELETE",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda v, w: v.webhook_endpoints.delete(
                v.webhook_endpoints.create(
                    params={"url": "http://127.0.0.1:9/y", "enabled_events": ["*"]}
                )["id"]
            ),
            "webhook_endpoint",
        ),
        Probe(
            "billing_portal.sessions.create",
            "POST",
            "/v1/billing_portal/sessions",
            lambda v, w: v.billing_portal.sessions.create(
                params={"customer": w["customer"], "return_url": "http://127.0.0.1/a"}
            ),
            "billing_portal.session",
        ),
    ]


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    supported: bool
    honest_refusal: bool
    detail: str


def probe_operations(ctx: StripeContext) -> list[ProbeResult]:
    world = _world(ctx)
    results = []
    for probe in _probes():
        try:
            answer = probe.call(ctx.v1, world)
            kind = answer["object"]
            supported = kind == probe.answers
            results.append(ProbeResult(probe, supported, False, f"answered {kind}"))
        except stripe.StripeError as error:
            message = str(error.user_message or "")
            honest = error.http_status == 400 and probe.name.split(".")[-1] in message
            results.append(ProbeResult(probe, False, honest, f"{error.http_status} {message}"))
        except (KeyError, IndexError, TypeError) as error:
            results.append(ProbeResult(probe, False, False, f"setup failed: {error!r}"))
    return results


def _behaviours(ctx: StripeContext) -> FidelityRow:
    failures = []
    for behaviour in SUITE.behaviours:
        try:
            behaviour.run(ctx)
        except Exception as exc:  # one behaviour's failure is its item's verdict
            failures.append(f"{behaviour.name}: {type(exc).__name__}: {str(exc)[:300]}")
    total = len(SUITE.behaviours)
    return FidelityRow(TWIN, BEHAVIOURS_ROW, total - len(failures), total, tuple(failures))


def measure(base_url: str) -> list[FidelityRow]:
    """The Stripe rows for the twin at ``base_url``."""
    recorder = Recorder()
    ctx = connect(base_url, {"api_key": TWIN_KEY}, recorder)
    probes = probe_operations(ctx)
    behaviours = _behaviours(ctx)
    log = ResponseLog()
    for exchange in recorder.exchanges:
        if exchange.body:
            log.record(exchange.method, urlsplit(exchange.url).path, exchange.status, exchange.body)
    core = {(op.method, op.template) for op in StripeSpec().operations}
    in_core = [r for r in probes if (r.probe.method, r.probe.template) in core]
    others = [r for r in probes if not r.supported]
    present = total = 0
    missing: list[str] = []
    for kind in fixtures():
        obj = log.objects.get(kind)
        found, count, absent = (
            field_coverage(kind, obj)
            if obj
            else (0, len(fixtures()[kind]), sorted(fixtures()[kind]))
        )
        present, total = present + found, total + count
        missing += [f"{kind}.{name}" for name in absent]
    return [
        FidelityRow(
            TWIN,
            "operations of the current SDK's billing resources",
            sum(r.supported for r in probes),
            len(probes),
            tuple(f"{r.probe.name}: {r.detail}" for r in others),
        ),
        FidelityRow(
            TWIN,
            "operations of Stripe's 2023 spec",
            sum(r.supported for r in in_core),
            len(in_core),
            tuple(f"{r.probe.name}: {r.detail}" for r in in_core if not r.supported),
        ),
        FidelityRow(
            TWIN,
            "other operations refused with a 400 naming them",
            sum(r.honest_refusal for r in others),
            len(others),
            tuple(f"{r.probe.name}: {r.detail}" for r in others if not r.honest_refusal),
        ),
        FidelityRow(
            TWIN,
            "responses valid against Stripe's spec (adapted to today)",
            log.responses - log.invalid,
            log.responses,
            tuple(log.problems),
        ),
        FidelityRow(
            TWIN, "fields of today's objects (fixtures.json)", present, total, tuple(missing)
        ),
        behaviours,
    ]
