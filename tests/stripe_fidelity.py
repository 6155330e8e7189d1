"""Measure how faithfully mock-stripe behaves like Stripe: the figures of the README's table.

    python -m tests.stripe_fidelity [--json] [--verbose]

It serves a fresh mock-stripe on 127.0.0.1 and, through the official ``stripe`` SDK:

- **operations**: calls every operation the current SDK has for the resources Gravix-like apps
  use (customers, products, prices, checkout sessions, subscriptions, subscription items,
  invoices, payment intents, events, webhook endpoints, billing portal), counting those that
  answer the object Stripe would; of the rest, how many the twin refuses honestly (a 400 that
  names the unsupported operation, never a 404 that claims an object does not exist). The
  operations of the published 2023 spec are counted apart ("core").
- **responses**: validates every response body the run produced against the 2023 spec adapted
  to today's objects (``tests/support/stripe_spec.py``), and against the plain 2023 spec.
- **fields**: for each object of ``fixtures.json`` (today's example objects), the share of its
  top-level fields the twin's object of that type has, with today's names.
- **behaviours**: the SDK-level behaviours of :mod:`tests.stripe_behaviours`
  plus the twin-only ones here (webhook endpoints receiving signed events, retries with backoff
  on the twin's clock, the invoice and payment intent behind a completed checkout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from converge_twins.mock_stripe.app import create_app
from tests.stripe_behaviours import BEHAVIOURS, BehaviourFailed, Context, expect
from tests.stripe_behaviours import run as run_behaviour
from tests.support.asgi import serve_asgi
from tests.support.stripe_responses import validating
from tests.support.stripe_spec import ResponseLog, StripeSpec, field_coverage, fixtures

KEY = "sk_test_fidelity"
SECRET = "whsec_fidelity"
# The 200 fields the first measure counted: today's objects the twin had then.
FIRST_MEASURE = (
    "customer",
    "product",
    "price",
    "checkout.session",
    "subscription",
    "subscription_item",
    "billing_portal.session",
    "event",
)


@dataclass
class Receiver:
    """A real webhook endpoint on 127.0.0.1 that answers ``status`` and keeps what it got."""

    status: int = 200
    deliveries: list[tuple[bytes, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.deliveries.append((await request.body(), request.headers["stripe-signature"]))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@contextmanager
def twin(*logs: ResponseLog) -> Iterator[str]:
    app = create_app({"TWIN_SEED": "fidelity", "STRIPE_WEBHOOK_SECRET": SECRET})
    for log in logs:
        app = validating(app, log)
    with serve_asgi(app) as base:
        yield base


def sdk(base: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": base}, max_network_retries=0)


# --- operations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    name: str  # the SDK's name for the operation
    method: str
    template: str
    call: Callable[[stripe.StripeClient, dict[str, str]], Any]
    answers: str  # the object Stripe answers with ("list", "search_result", "customer", ...)


def _world(client: stripe.StripeClient, base: str) -> dict[str, str]:
    """The objects the probes act on, each made the simplest way that works."""
    world: dict[str, str] = {}
    _paused(client, base, world)

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
            params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
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


def _paused(client: stripe.StripeClient, base: str, world: dict[str, str]) -> None:
    """A subscription whose trial ended without a payment method, paused (to resume): made
    first, as it moves the twin's clock a day on."""
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
        httpx.post(f"{base}/_twin/clock", json={"advance": 86_401}, timeout=30)


def _line(client: stripe.StripeClient, w: dict[str, str]) -> str:
    lines = client.v1.invoices.line_items.list(w["invoice"])
    return str(lines["data"][0]["id"])


def _fresh_invoice(client: stripe.StripeClient, w: dict[str, str], finalize: bool) -> str:
    invoice = client.v1.invoices.create(params={"customer": w["customer"]})
    client.v1.invoices.add_lines(
        invoice["id"], params={"lines": [{"amount": 400, "description": "one-off"}]}
    )
    if finalize:
        client.v1.invoices.finalize_invoice(invoice["id"])
    return str(invoice["id"])


def _fresh_intent(client: stripe.StripeClient, **params: Any) -> str:
    return str(
        client.v1.payment_intents.create(params={"amount": 800, "currency": "usd", **params})["id"]
    )


def _probes() -> list[Probe]:
    v = lambda c: c.v1  # noqa: E731 (short accessors keep the table readable)
    card = {"payment_method": "pm_card_visa", "payment_method_types": ["card"]}
    return [
        Probe(
            "customers.create",
            "POST",
            "/v1/customers",
            lambda c, w: v(c).customers.create(params={"name": "P"}),
            "customer",
        ),
        Probe(
            "customers.retrieve",
            "GET",
            "/v1/customers/{customer}",
            lambda c, w: v(c).customers.retrieve(w["customer"]),
            "customer",
        ),
        Probe(
            "customers.update",
            "POST",
            "/v1/customers/{customer}",
            lambda c, w: v(c).customers.update(w["customer"], params={"name": "Q"}),
            "customer",
        ),
        Probe("customers.list", "GET", "/v1/customers", lambda c, w: v(c).customers.list(), "list"),
        Probe(
            "customers.search",
            "GET",
            "/v1/customers/search",
            lambda c, w: v(c).customers.search(params={"query": "name:'Q'"}),
            "search_result",
        ),
        Probe(
            "customers.delete",
            "DELETE",
            "/v1/customers/{customer}",
            lambda c, w: v(c).customers.delete(v(c).customers.create()["id"]),
            "customer",
        ),
        Probe(
            "customers.delete_discount",
            "DELETE",
            "/v1/customers/{customer}/discount",
            lambda c, w: v(c).customers.delete_discount(w["customer"]),
            "discount",
        ),
        Probe(
            "products.create",
            "POST",
            "/v1/products",
            lambda c, w: v(c).products.create(params={"name": "P"}),
            "product",
        ),
        Probe(
            "products.retrieve",
            "GET",
            "/v1/products/{id}",
            lambda c, w: v(c).products.retrieve(w["product"]),
            "product",
        ),
        Probe(
            "products.update",
            "POST",
            "/v1/products/{id}",
            lambda c, w: v(c).products.update(w["product"], params={"name": "Q"}),
            "product",
        ),
        Probe("products.list", "GET", "/v1/products", lambda c, w: v(c).products.list(), "list"),
        Probe(
            "products.search",
            "GET",
            "/v1/products/search",
            lambda c, w: v(c).products.search(params={"query": "active:'true'"}),
            "search_result",
        ),
        Probe(
            "products.delete",
            "DELETE",
            "/v1/products/{id}",
            lambda c, w: v(c).products.delete(v(c).products.create(params={"name": "D"})["id"]),
            "product",
        ),
        Probe(
            "prices.create",
            "POST",
            "/v1/prices",
            lambda c, w: v(c).prices.create(
                params={"currency": "usd", "unit_amount": 100, "product": w["product"]}
            ),
            "price",
        ),
        Probe(
            "prices.retrieve",
            "GET",
            "/v1/prices/{price}",
            lambda c, w: v(c).prices.retrieve(w["price"]),
            "price",
        ),
        Probe(
            "prices.update",
            "POST",
            "/v1/prices/{price}",
            lambda c, w: v(c).prices.update(w["price"], params={"nickname": "n"}),
            "price",
        ),
        Probe("prices.list", "GET", "/v1/prices", lambda c, w: v(c).prices.list(), "list"),
        Probe(
            "prices.search",
            "GET",
            "/v1/prices/search",
            lambda c, w: v(c).prices.search(params={"query": "currency:'usd'"}),
            "search_result",
        ),
        Probe(
            "checkout.sessions.create",
            "POST",
            "/v1/checkout/sessions",
            lambda c, w: v(c).checkout.sessions.create(
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
            lambda c, w: v(c).checkout.sessions.retrieve(w["session"]),
            "checkout.session",
        ),
        Probe(
            "checkout.sessions.update",
            "POST",
            "/v1/checkout/sessions/{session}",
            lambda c, w: v(c).checkout.sessions.update(
                w["session"], params={"metadata": {"k": "v"}}
            ),
            "checkout.session",
        ),
        Probe(
            "checkout.sessions.list",
            "GET",
            "/v1/checkout/sessions",
            lambda c, w: v(c).checkout.sessions.list(),
            "list",
        ),
        Probe(
            "checkout.sessions.line_items.list",
            "GET",
            "/v1/checkout/sessions/{session}/line_items",
            lambda c, w: v(c).checkout.sessions.line_items.list(w["session"]),
            "list",
        ),
        Probe(
            "checkout.sessions.expire",
            "POST",
            "/v1/checkout/sessions/{session}/expire",
            lambda c, w: v(c).checkout.sessions.expire(
                v(c).checkout.sessions.create(
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
            lambda c, w: v(c).subscriptions.create(
                params={"customer": w["customer"], "items": [{"price": w["price"]}]}
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.retrieve",
            "GET",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda c, w: v(c).subscriptions.retrieve(w["subscription"]),
            "subscription",
        ),
        Probe(
            "subscriptions.update",
            "POST",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda c, w: v(c).subscriptions.update(
                w["subscription"], params={"metadata": {"k": "v"}}
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.list",
            "GET",
            "/v1/subscriptions",
            lambda c, w: v(c).subscriptions.list(),
            "list",
        ),
        Probe(
            "subscriptions.search",
            "GET",
            "/v1/subscriptions/search",
            lambda c, w: v(c).subscriptions.search(params={"query": "status:'active'"}),
            "search_result",
        ),
        Probe(
            "subscriptions.cancel",
            "DELETE",
            "/v1/subscriptions/{subscription_exposed_id}",
            lambda c, w: v(c).subscriptions.cancel(
                v(c).subscriptions.create(
                    params={"customer": w["customer"], "items": [{"price": w["price"]}]}
                )["id"]
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.resume",
            "POST",
            "/v1/subscriptions/{subscription}/resume",
            lambda c, w: v(c).subscriptions.resume(w["paused"]),
            "subscription",
        ),
        Probe(
            "subscriptions.pause",
            "POST",
            "/v1/subscriptions/{subscription}/pause",
            lambda c, w: v(c).subscriptions.pause(w["subscription"]),
            "subscription",
        ),
        Probe(
            "subscriptions.migrate",
            "POST",
            "/v1/subscriptions/{subscription}/migrate",
            lambda c, w: v(c).subscriptions.migrate(
                w["subscription"], params={"billing_mode": {"type": "flexible"}}
            ),
            "subscription",
        ),
        Probe(
            "subscriptions.delete_discount",
            "DELETE",
            "/v1/subscriptions/{subscription_exposed_id}/discount",
            lambda c, w: v(c).subscriptions.delete_discount(w["subscription"]),
            "discount",
        ),
        Probe(
            "subscription_items.create",
            "POST",
            "/v1/subscription_items",
            lambda c, w: v(c).subscription_items.create(
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
            lambda c, w: v(c).subscription_items.retrieve(w["item"]),
            "subscription_item",
        ),
        Probe(
            "subscription_items.update",
            "POST",
            "/v1/subscription_items/{item}",
            lambda c, w: v(c).subscription_items.update(w["item"], params={"quantity": 2}),
            "subscription_item",
        ),
        Probe(
            "subscription_items.list",
            "GET",
            "/v1/subscription_items",
            lambda c, w: v(c).subscription_items.list(params={"subscription": w["subscription"]}),
            "list",
        ),
        Probe(
            "subscription_items.delete",
            "DELETE",
            "/v1/subscription_items/{item}",
            lambda c, w: v(c).subscription_items.delete(w["item"]),
            "subscription_item",
        ),
        Probe(
            "invoices.create",
            "POST",
            "/v1/invoices",
            lambda c, w: v(c).invoices.create(params={"customer": w["customer"]}),
            "invoice",
        ),
        Probe(
            "invoices.retrieve",
            "GET",
            "/v1/invoices/{invoice}",
            lambda c, w: v(c).invoices.retrieve(w["invoice"]),
            "invoice",
        ),
        Probe(
            "invoices.update",
            "POST",
            "/v1/invoices/{invoice}",
            lambda c, w: v(c).invoices.update(w["invoice"], params={"description": "d"}),
            "invoice",
        ),
        Probe("invoices.list", "GET", "/v1/invoices", lambda c, w: v(c).invoices.list(), "list"),
        Probe(
            "invoices.search",
            "GET",
            "/v1/invoices/search",
            lambda c, w: v(c).invoices.search(params={"query": "status:'draft'"}),
            "search_result",
        ),
        Probe(
            "invoices.add_lines",
            "POST",
            "/v1/invoices/{invoice}/add_lines",
            lambda c, w: v(c).invoices.add_lines(
                w["invoice"], params={"lines": [{"amount": 250, "description": "x"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.line_items.list",
            "GET",
            "/v1/invoices/{invoice}/lines",
            lambda c, w: v(c).invoices.line_items.list(w["invoice"]),
            "list",
        ),
        Probe(
            "invoices.line_items.update",
            "POST",
            "/v1/invoices/{invoice}/lines/{line_item_id}",
            lambda c, w: v(c).invoices.line_items.update(
                w["invoice"], _line(c, w), params={"description": "y"}
            ),
            "line_item",
        ),
        Probe(
            "invoices.update_lines",
            "POST",
            "/v1/invoices/{invoice}/update_lines",
            lambda c, w: v(c).invoices.update_lines(
                w["invoice"], params={"lines": [{"id": _line(c, w), "description": "z"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.remove_lines",
            "POST",
            "/v1/invoices/{invoice}/remove_lines",
            lambda c, w: v(c).invoices.remove_lines(
                w["invoice"], params={"lines": [{"id": _line(c, w), "behavior": "delete"}]}
            ),
            "invoice",
        ),
        Probe(
            "invoices.create_preview",
            "POST",
            "/v1/invoices/create_preview",
            lambda c, w: v(c).invoices.create_preview(params={"subscription": w["subscription"]}),
            "invoice",
        ),
        Probe(
            "invoices.finalize_invoice",
            "POST",
            "/v1/invoices/{invoice}/finalize",
            lambda c, w: v(c).invoices.finalize_invoice(_fresh_invoice(c, w, False)),
            "invoice",
        ),
        Probe(
            "invoices.pay",
            "POST",
            "/v1/invoices/{invoice}/pay",
            lambda c, w: v(c).invoices.pay(
                _fresh_invoice(c, w, True), params={"paid_out_of_band": True}
            ),
            "invoice",
        ),
        Probe(
            "invoices.send_invoice",
            "POST",
            "/v1/invoices/{invoice}/send",
            lambda c, w: v(c).invoices.send_invoice(_fresh_invoice(c, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.void_invoice",
            "POST",
            "/v1/invoices/{invoice}/void",
            lambda c, w: v(c).invoices.void_invoice(_fresh_invoice(c, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.mark_uncollectible",
            "POST",
            "/v1/invoices/{invoice}/mark_uncollectible",
            lambda c, w: v(c).invoices.mark_uncollectible(_fresh_invoice(c, w, True)),
            "invoice",
        ),
        Probe(
            "invoices.attach_payment",
            "POST",
            "/v1/invoices/{invoice}/attach_payment",
            lambda c, w: v(c).invoices.attach_payment(
                _fresh_invoice(c, w, True), params={"payment_intent": _fresh_intent(c)}
            ),
            "invoice",
        ),
        Probe(
            "invoices.delete",
            "DELETE",
            "/v1/invoices/{invoice}",
            lambda c, w: v(c).invoices.delete(
                v(c).invoices.create(params={"customer": w["customer"]})["id"]
            ),
            "invoice",
        ),
        Probe(
            "payment_intents.create",
            "POST",
            "/v1/payment_intents",
            lambda c, w: v(c).payment_intents.create(params={"amount": 100, "currency": "usd"}),
            "payment_intent",
        ),
        Probe(
            "payment_intents.retrieve",
            "GET",
            "/v1/payment_intents/{intent}",
            lambda c, w: v(c).payment_intents.retrieve(w["intent"]),
            "payment_intent",
        ),
        Probe(
            "payment_intents.update",
            "POST",
            "/v1/payment_intents/{intent}",
            lambda c, w: v(c).payment_intents.update(w["intent"], params={"description": "d"}),
            "payment_intent",
        ),
        Probe(
            "payment_intents.list",
            "GET",
            "/v1/payment_intents",
            lambda c, w: v(c).payment_intents.list(),
            "list",
        ),
        Probe(
            "payment_intents.search",
            "GET",
            "/v1/payment_intents/search",
            lambda c, w: v(c).payment_intents.search(params={"query": "currency:'usd'"}),
            "search_result",
        ),
        Probe(
            "payment_intents.confirm",
            "POST",
            "/v1/payment_intents/{intent}/confirm",
            lambda c, w: v(c).payment_intents.confirm(_fresh_intent(c), params=card),
            "payment_intent",
        ),
        Probe(
            "payment_intents.capture",
            "POST",
            "/v1/payment_intents/{intent}/capture",
            lambda c, w: v(c).payment_intents.capture(
                _fresh_intent(c, capture_method="manual", confirm=True, **card)
            ),
            "payment_intent",
        ),
        Probe(
            "payment_intents.cancel",
            "POST",
            "/v1/payment_intents/{intent}/cancel",
            lambda c, w: v(c).payment_intents.cancel(_fresh_intent(c)),
            "payment_intent",
        ),
        Probe(
            "payment_intents.increment_authorization",
            "POST",
            "/v1/payment_intents/{intent}/increment_authorization",
            lambda c, w: v(c).payment_intents.increment_authorization(
                _fresh_intent(c, capture_method="manual", confirm=True, **card),
                params={"amount": 900},
            ),
            "payment_intent",
        ),
        Probe(
            "payment_intents.apply_customer_balance",
            "POST",
            "/v1/payment_intents/{intent}/apply_customer_balance",
            lambda c, w: v(c).payment_intents.apply_customer_balance(w["intent"]),
            "payment_intent",
        ),
        Probe(
            "payment_intents.verify_microdeposits",
            "POST",
            "/v1/payment_intents/{intent}/verify_microdeposits",
            lambda c, w: v(c).payment_intents.verify_microdeposits(
                w["intent"], params={"amounts": [32, 45]}
            ),
            "payment_intent",
        ),
        Probe("events.list", "GET", "/v1/events", lambda c, w: v(c).events.list(), "list"),
        Probe(
            "events.retrieve",
            "GET",
            "/v1/events/{id}",
            lambda c, w: v(c).events.retrieve(w["event"]),
            "event",
        ),
        Probe(
            "webhook_endpoints.create",
            "POST",
            "/v1/webhook_endpoints",
            lambda c, w: v(c).webhook_endpoints.create(
                params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]}
            ),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.retrieve",
            "GET",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda c, w: v(c).webhook_endpoints.retrieve(w["endpoint"]),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.update",
            "POST",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda c, w: v(c).webhook_endpoints.update(w["endpoint"], params={"description": "d"}),
            "webhook_endpoint",
        ),
        Probe(
            "webhook_endpoints.list",
            "GET",
            "/v1/webhook_endpoints",
            lambda c, w: v(c).webhook_endpoints.list(),
            "list",
        ),
        Probe(
            "webhook_endpoints.delete",
            "DELETE",
            "/v1/webhook_endpoints/{webhook_endpoint}",
            lambda c, w: v(c).webhook_endpoints.delete(
                v(c).webhook_endpoints.create(
                    params={"url": "http://127.0.0.1:9/y", "enabled_events": ["*"]}
                )["id"]
            ),
            "webhook_endpoint",
        ),
        Probe(
            "billing_portal.sessions.create",
            "POST",
            "/v1/billing_portal/sessions",
            lambda c, w: v(c).billing_portal.sessions.create(
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


def probe_operations(client: stripe.StripeClient, base: str) -> list[ProbeResult]:
    world = _world(client, base)
    results = []
    for probe in _probes():
        try:
            answer = probe.call(client, world)
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


# --- twin-only behaviours -------------------------------------------------------------------------


def _events(receiver: Receiver, secret: str) -> list[Any]:
    return [stripe.Webhook.construct_event(p, s, secret) for p, s in receiver.deliveries]


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def endpoint_receives_signed_events(client: stripe.StripeClient, base: str) -> None:
    sink = Receiver()
    with serve_asgi(sink.app()) as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": f"{receiver}/hook", "enabled_events": ["customer.created"]}
        )
        client.v1.products.create(params={"name": "not wanted by the endpoint"})
        customer = client.v1.customers.create(params={"email": "hook@example.com"})
        expect(_wait_for(lambda: len(sink.deliveries) >= 1), "no delivery arrived")
        time.sleep(0.2)  # a delivery of the product event would have come by now
        events = _events(sink, str(endpoint["secret"]))
        expect([e.type for e in events] == ["customer.created"], "enabled_events not honoured")
        expect(events[0].data.object["id"] == customer["id"], "the payload")


def retries_with_backoff(client: stripe.StripeClient, base: str) -> None:
    sink = Receiver(status=500)
    with serve_asgi(sink.app()) as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": f"{receiver}/hook", "enabled_events": ["customer.created"]}
        )
        httpx.post(f"{base}/_twin/clock", json={"set": "2031-01-01T00:00:00Z"})  # frozen
        client.v1.customers.create(params={"email": "retry@example.com"})
        expect(_wait_for(lambda: len(sink.deliveries) == 1), "no first attempt")
        httpx.post(f"{base}/_twin/clock", json={"advance": 30})
        expect(len(sink.deliveries) == 1, "retried before the backoff elapsed")
        sink.status = 200
        httpx.post(f"{base}/_twin/clock", json={"advance": 3600})
        expect(len(sink.deliveries) == 2, "not retried once the backoff elapsed")
        events = _events(sink, str(endpoint["secret"]))
        expect(events[0].id == events[1].id, "a retry is not the same event")
        expect(
            client.v1.events.retrieve(events[0].id)["pending_webhooks"] == 0,
            "pending_webhooks still counts a delivered event",
        )


def completed_checkout_bills(client: stripe.StripeClient, base: str) -> None:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro"},
        }
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "success_url": "http://127.0.0.1/ok",
            "line_items": [{"price": price["id"], "quantity": 1}],
        }
    )
    httpx.post(f"{base}/_twin/checkout/{session['id']}/complete", timeout=20)
    done = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["subscription.latest_invoice.payments"]}
    )
    invoice = done["subscription"]["latest_invoice"]
    expect(done["invoice"] == invoice["id"], "the session does not name its invoice")
    expect(invoice["status"] == "paid", f"invoice {invoice['status']}")
    intent_id = invoice["payments"]["data"][0]["payment"]["payment_intent"]
    intent = client.v1.payment_intents.retrieve(intent_id)
    expect(intent["status"] == "succeeded", f"intent {intent['status']}")


TWIN_ONLY: tuple[tuple[str, Callable[[stripe.StripeClient, str], None]], ...] = (
    ("endpoint_receives_signed_events", endpoint_receives_signed_events),
    ("retries_with_backoff", retries_with_backoff),
    ("completed_checkout_bills", completed_checkout_bills),
)


def run_twin_only(name: str, check: Callable[[stripe.StripeClient, str], None]) -> str | None:
    with twin(ResponseLog()) as base:
        try:
            check(sdk(base), base)
        except BehaviourFailed as failed:
            return str(failed)
        except (stripe.StripeError, httpx.HTTPError, KeyError, TypeError, IndexError) as error:
            return f"unexpected {type(error).__name__}: {error}"
    return None


# --- the measure ---------------------------------------------------------------------------------


def measure(verbose: bool = False) -> dict[str, Any]:
    log = ResponseLog()
    plain = ResponseLog(StripeSpec(adapted=False))
    with twin(log, plain) as base:
        probes = probe_operations(sdk(base), base)
        behaviour_results = {}
        for behaviour in BEHAVIOURS:
            ctx = Context(sdk(base), tag=uuid.uuid4().hex[:10])
            behaviour_results[behaviour.name] = run_behaviour(behaviour, ctx)
    for name, check in TWIN_ONLY:
        behaviour_results[name] = run_twin_only(name, check)
    core = {(op.method, op.template) for op in StripeSpec().operations}
    in_core = [r for r in probes if (r.probe.method, r.probe.template) in core]
    coverage = {}
    for kind in fixtures():
        obj = log.objects.get(kind)
        present, total, missing = (
            field_coverage(kind, obj)
            if obj
            else (0, len(fixtures()[kind]), sorted(fixtures()[kind]))
        )
        coverage[kind] = {"present": present, "total": total, "missing": missing}
    first = [coverage[k] for k in FIRST_MEASURE]
    report: dict[str, Any] = {
        "operations": {
            "core_supported": sum(r.supported for r in in_core),
            "core_total": len(in_core),
            "sdk_supported": sum(r.supported for r in probes),
            "sdk_total": len(probes),
            "unsupported_refused_honestly": sum(r.honest_refusal for r in probes),
            "unsupported": [r.probe.name for r in probes if not r.supported],
        },
        "responses": {
            "validated": log.responses,
            "valid": log.responses - log.invalid,
            "valid_against_plain_2023_spec": plain.responses - plain.invalid,
            "problems": log.problems,
        },
        "fields": {
            "first_measure_present": sum(c["present"] for c in first),
            "first_measure_total": sum(c["total"] for c in first),
            "present": sum(c["present"] for c in coverage.values()),
            "total": sum(c["total"] for c in coverage.values()),
            "by_object": coverage,
        },
        "behaviours": {
            "passed": sum(result is None for result in behaviour_results.values()),
            "total": len(behaviour_results),
            "failed": {k: v for k, v in behaviour_results.items() if v is not None},
        },
    }
    if verbose:
        report["operations"]["detail"] = {r.probe.name: r.detail for r in probes}
    return report


def summary(report: dict[str, Any]) -> str:
    ops, res, fields, beh = (report[k] for k in ("operations", "responses", "fields", "behaviours"))
    share = 100 * fields["present"] / fields["total"]
    return "\n".join(
        [
            f"operations:  {ops['core_supported']} of {ops['core_total']} core (2023 spec), "
            f"{ops['sdk_supported']} of {ops['sdk_total']} in the current SDK; "
            f"{ops['unsupported_refused_honestly']} of the "
            f"{ops['sdk_total'] - ops['sdk_supported']} others refused with a 400 naming them",
            f"responses:   {res['valid']} of {res['validated']} valid against the adapted spec "
            f"({res['valid_against_plain_2023_spec']} against the plain 2023 spec)",
            f"fields:      {fields['present']} of {fields['total']} ({share:.1f}%) of today's "
            f"objects; {fields['first_measure_present']} of {fields['first_measure_total']} "
            "in the first measure's eight objects",
            f"behaviours:  {beh['passed']} of {beh['total']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--verbose", action="store_true", help="what each operation answered")
    args = parser.parse_args(argv)
    report = measure(verbose=args.verbose)
    print(json.dumps(report, indent=2) if args.json else summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
