"""mock-stripe served for one test, with a real webhook receiver and the official SDK.

``stripe_receiver`` is a real HTTP endpoint on 127.0.0.1 that keeps what it is sent and answers
the status it is told; ``stripe_twin`` serves a fresh mock-stripe (its listener pointed at the
receiver) and yields a :class:`StripeTwin` to reach its API, control plane and clock;
``stripe_sdk`` is a ``stripe.StripeClient`` on it. Every response the twin gives is validated
against Stripe's spec by ``tests/support/stripe_responses.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from converge_twins.mock_stripe.app import create_app
from tests.support.asgi import serve_asgi

KEY = "sk_test_converge"
SECRET = "whsec_test_secret_for_the_twin"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Receiver:
    """A real HTTP endpoint that keeps what mock-stripe delivered to it."""

    status: int = 200
    url: str = ""
    deliveries: list[tuple[bytes, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:  # the twin went away mid-delivery at the end of a test
                return Response(status_code=499)
            self.deliveries.append((body, request.headers["stripe-signature"]))
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def events(self, secret: str = SECRET) -> list[Any]:
        """The deliveries as events, each signature verified with ``secret``."""
        return [stripe.Webhook.construct_event(p, s, secret) for p, s in self.deliveries]

    def types(self, secret: str = SECRET) -> list[str]:
        return [event.type for event in self.events(secret)]

    def wait_for(self, count: int, seconds: float = 5.0) -> bool:
        """Whether ``count`` deliveries arrived within ``seconds`` (a bounded wait)."""
        deadline = time.monotonic() + seconds
        while len(self.deliveries) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@dataclass
class StripeTwin:
    url: str
    receiver: Receiver

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/_twin{path}", timeout=30, **kwargs)

    def advance(self, seconds: float) -> None:
        """Move the twin's clock; what becomes due runs before this returns."""
        answer = self.control("POST", "/clock", json={"advance": seconds})
        assert answer.status_code == 200, answer.text

    def complete(self, session_id: str, **body: Any) -> httpx.Response:
        return self.control("POST", f"/checkout/{session_id}/complete", json=body)

    def settle(self, seconds: float = 10.0) -> None:
        """Wait (bounded) until no first delivery attempt is still on its way, so the twin
        stops with no delivery cut off half-way."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            listed = self.control("GET", "/webhooks/deliveries").json()["deliveries"]
            if not any(
                d["in_flight"] or (d["attempts"] == 0 and d["state"] == "pending") for d in listed
            ):
                return
            time.sleep(0.02)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**AUTH, **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def stripe_receiver() -> Iterator[Receiver]:
    sink = Receiver()
    with serve_asgi(sink.app()) as base:
        sink.url = f"{base}/hook"
        yield sink


@pytest.fixture
def stripe_twin(stripe_receiver: Receiver) -> Iterator[StripeTwin]:
    env = {
        "STRIPE_WEBHOOK_URL": stripe_receiver.url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "TWIN_SEED": "stripe-tests",
    }
    with serve_asgi(create_app(env)) as base:
        twin = StripeTwin(base, stripe_receiver)
        yield twin
        twin.settle()


@pytest.fixture
def stripe_sdk(stripe_twin: StripeTwin) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": stripe_twin.url}, max_network_retries=0)


def recurring_price(client: stripe.StripeClient, amount: int = 1900, **extra: Any) -> Any:
    params = {
        "currency": "usd",
        "unit_amount": amount,
        "recurring": {"interval": "month"},
        "product_data": {"name": "Gravix Pro"},
        **extra,
    }
    return client.v1.prices.create(params=params)  # type: ignore[arg-type]


def paying_customer(client: stripe.StripeClient, **extra: Any) -> Any:
    params = {
        "email": "payer@example.com",
        "payment_method": "pm_card_visa",
        "invoice_settings": {"default_payment_method": "pm_card_visa"},
        **extra,
    }
    return client.v1.customers.create(params=params)  # type: ignore[arg-type]


def open_checkout(client: stripe.StripeClient, **extra: Any) -> Any:
    price = recurring_price(client)
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
