"""Webhook events signed the way Stripe signs them, delivered to ``STRIPE_WEBHOOK_URL``.

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the endpoint
secret>``. The time is the twin's clock, so a frozen or advanced clock produces stale signatures
that a receiver's tolerance check rightly refuses. A delivery that fails (refused connection,
timeout, non-2xx answer) is journaled with its error and never raised: Stripe would retry later,
the twin leaves that to whoever reads the journal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from converge_twins.control import Twin

DEFAULT_WEBHOOK_SECRET = "whsec_converge_test_secret"
DELIVERY_TIMEOUT = 10.0


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Webhooks:
    def __init__(self, twin: Twin, url: str | None, secret: str) -> None:
        self.twin = twin
        self.configured_url = url
        self.url = url
        self.secret = secret
        twin.on_reset(self.reset)

    def reset(self) -> None:
        self.url = self.configured_url

    async def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        outcome: dict[str, Any] = {
            "event": event["id"],
            "type": event["type"],
            "url": self.url,
            "status": None,
            "error": None,
        }
        if not self.url:
            outcome["error"] = "STRIPE_WEBHOOK_URL is not set"
        else:
            payload = json.dumps(event, indent=2)  # Stripe sends pretty-printed JSON
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(
                    payload, self.secret, self.twin.clock.timestamp()
                ),
                "User-Agent": "Stripe/1.0 (+mock-stripe webhooks)",
            }
            try:
                async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT) as client:
                    response = await client.post(self.url, content=payload, headers=headers)
                outcome["status"] = response.status_code
                if not response.is_success:
                    outcome["error"] = f"receiver answered {response.status_code}"
            except httpx.HTTPError as exc:
                outcome["error"] = (
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                )
        self.twin.note(
            "webhook",
            method="POST",
            path=urlsplit(self.url).path if self.url else None,
            **outcome,
        )
        return outcome
