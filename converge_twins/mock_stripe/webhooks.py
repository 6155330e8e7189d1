"""Webhook deliveries: signed the way Stripe signs them, retried with backoff on the twin's clock.

Each event goes to every enabled endpoint of its account whose ``enabled_events`` include its
type (``*`` is every type): the endpoints created through ``/v1/webhook_endpoints``, each with
its own secret, and the URL given by ``STRIPE_WEBHOOK_URL`` (the platform account's, signed with
``STRIPE_WEBHOOK_SECRET``), which receives every event as ``stripe listen`` would forward them.

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``; the time is the
twin's clock, so a frozen or moved clock produces signatures a receiver's tolerance check
refuses, as it should. A delivery fails on a refused connection, a timeout or a non-2xx answer;
it is then retried after the delays of the schedule (Stripe's test mode retries three times over
a few hours: 5 minutes, 30 minutes, 2 hours by default; ``STRIPE_WEBHOOK_RETRY_SCHEDULE`` takes
other delays in seconds, comma-separated, at most 10), measured on the twin's clock: advancing the
clock through the control plane makes a retry due without waiting. After the last retry the
delivery is abandoned. An event's ``pending_webhooks`` counts its deliveries not yet succeeded
nor abandoned. Every attempt is journaled (kind ``webhook``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from converge_twins.control import Twin
from converge_twins.mock_stripe.store import Obj

if TYPE_CHECKING:
    from converge_twins.mock_stripe.state import Account

DEFAULT_WEBHOOK_SECRET = "whsec_converge_test_secret"
DELIVERY_TIMEOUT = 10.0
DEFAULT_SCHEDULE = (300, 1800, 7200)
MAX_RETRIES = 10
LISTENER = "listener"  # the endpoint id of STRIPE_WEBHOOK_URL


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_schedule(text: str | None) -> tuple[int, ...]:
    """The retry delays; ValueError naming the problem for a bad value."""
    if not text or not text.strip():
        return DEFAULT_SCHEDULE
    try:
        delays = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"STRIPE_WEBHOOK_RETRY_SCHEDULE must be seconds separated by commas, got {text!r}"
        ) from None
    if len(delays) > MAX_RETRIES or any(delay < 0 for delay in delays):
        raise ValueError(
            f"STRIPE_WEBHOOK_RETRY_SCHEDULE takes at most {MAX_RETRIES} non-negative delays"
        )
    return delays


@dataclass
class Target:
    endpoint: str  # we_… or "listener"
    url: str
    secret: str
    api_version: str | None


@dataclass
class Delivery:
    event: Obj
    account: str
    target: Target
    attempts: int = 0
    next_at: int | None = None  # twin time of the next attempt; None once settled
    state: str = "pending"  # pending, succeeded, abandoned
    outcomes: list[Obj] = field(default_factory=list)
    busy: bool = False  # an attempt is on its way (the background and a control call may race)

    def waiting(self) -> bool:
        """Still to be attempted (now or later) and not on its way."""
        return self.next_at is not None and not self.busy

    def describe(self) -> Obj:
        return {
            "event": self.event["id"],
            "type": self.event["type"],
            "account": self.account,
            "endpoint": self.target.endpoint,
            "url": self.target.url,
            "state": self.state,
            "in_flight": self.busy,
            "attempts": self.attempts,
            "next_attempt_at": self.next_at,
            "outcomes": self.outcomes,
        }


class Webhooks:
    def __init__(
        self, twin: Twin, url: str | None, secret: str, schedule: tuple[int, ...] = DEFAULT_SCHEDULE
    ) -> None:
        self.twin = twin
        self.configured_url = url
        self.url = url
        self.secret = secret
        self.schedule = schedule
        self.secrets: dict[str, str] = {}  # endpoint id -> whsec_…
        self.connect_endpoints: set[str] = set()  # platform endpoints made with connect=true
        self.deliveries: list[Delivery] = []
        twin.on_reset(self.reset)

    def reset(self) -> None:
        self.url = self.configured_url
        self.secrets.clear()
        self.connect_endpoints.clear()
        self.deliveries.clear()

    def targets(self, account: Account, event: Obj, platform: Account) -> list[Target]:
        """Where an event of ``account`` goes: the listener and the account's own endpoints
        for the platform's events; a connected account's endpoints, and the platform's
        ``connect`` endpoints, for a connected account's."""
        found = []
        own = account is platform
        if self.url and own:
            found.append(Target(LISTENER, self.url, self.secret, None))
        candidates = [(e, False) for e in account.store.newest_first("webhook_endpoint")[::-1]]
        if not own:
            candidates += [(e, True) for e in platform.store.newest_first("webhook_endpoint")[::-1]]
        for endpoint, from_platform in candidates:
            connect = endpoint["id"] in self.connect_endpoints
            if connect != from_platform:
                continue  # a platform's connect endpoint hears connected accounts only
            wanted = endpoint["enabled_events"]
            if endpoint["status"] == "enabled" and ("*" in wanted or event["type"] in wanted):
                secret = self.secrets.get(str(endpoint["id"]), "")
                found.append(
                    Target(endpoint["id"], endpoint["url"], secret, endpoint["api_version"])
                )
        return found

    def enqueue(self, account: Account, event: Obj, platform: Account) -> list[Delivery]:
        now = self.twin.clock.timestamp()
        made = [
            Delivery(event, account.id, target, next_at=now)
            for target in self.targets(account, event, platform)
        ]
        self.deliveries.extend(made)
        event["pending_webhooks"] = len(made)
        return made

    def forget(self, event: Obj) -> None:
        """Drop the deliveries of an event that, after all, did not happen (a preview's)."""
        self.deliveries = [d for d in self.deliveries if d.event is not event]

    def payload(self, delivery: Delivery) -> str:
        event = dict(delivery.event)
        if delivery.target.api_version:
            event["api_version"] = delivery.target.api_version
        return json.dumps(event, indent=2)  # Stripe sends pretty-printed JSON

    def claim(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Mark deliveries as on their way at once, before the coroutine that sends them runs:
        a request arriving meanwhile must not see them due and send them a second time."""
        for delivery in deliveries:
            delivery.busy = True
        return deliveries

    async def send(self, deliveries: list[Delivery]) -> list[Obj]:
        """Attempt claimed deliveries, one after the other (events stay in order)."""
        outcomes = []
        try:
            for delivery in deliveries:
                outcomes.append(await self._attempt(delivery))
                delivery.busy = False
        finally:
            for delivery in deliveries:
                delivery.busy = False
        return outcomes

    async def _attempt(self, delivery: Delivery) -> Obj:
        delivery.attempts += 1
        now = self.twin.clock.timestamp()
        outcome: Obj = {
            "event": delivery.event["id"],
            "type": delivery.event["type"],
            "endpoint": delivery.target.endpoint,
            "url": delivery.target.url,
            "attempt": delivery.attempts,
            "status": None,
            "error": None,
        }
        payload = self.payload(delivery)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, delivery.target.secret, now),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT) as client:
                response = await client.post(delivery.target.url, content=payload, headers=headers)
            outcome["status"] = response.status_code
            if not response.is_success:
                outcome["error"] = f"receiver answered {response.status_code}"
        except httpx.HTTPError as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.settle(delivery, outcome, now)
        self.twin.note(
            "webhook",
            method="POST",
            path=urlsplit(delivery.target.url).path,
            **outcome,
        )
        return outcome

    def settle(self, delivery: Delivery, outcome: Obj, now: int) -> None:
        delivery.outcomes.append({**outcome, "at": now})
        retries_done = delivery.attempts - 1
        if outcome["error"] is None:
            delivery.state, delivery.next_at = "succeeded", None
        elif retries_done < len(self.schedule):
            delivery.next_at = now + self.schedule[retries_done]
            outcome["next_attempt_at"] = delivery.next_at
            return
        else:
            delivery.state, delivery.next_at = "abandoned", None
        event = delivery.event
        event["pending_webhooks"] = max(0, int(event["pending_webhooks"]) - 1)

    def due(self) -> list[Delivery]:
        """The deliveries whose time has come (and that no one is sending), claimed."""
        now = self.twin.clock.timestamp()
        return self.claim(
            [d for d in self.deliveries if d.waiting() and int(d.next_at or 0) <= now]
        )

    def first_attempts(self, events: list[Obj]) -> list[Delivery]:
        """The deliveries of ``events`` not yet attempted, claimed."""
        wanted = {id(event) for event in events}
        return self.claim(
            [d for d in self.deliveries if id(d.event) in wanted and d.waiting() and not d.attempts]
        )

    async def run_due(self) -> list[Obj]:
        """Attempt every delivery whose time has come, oldest event first."""
        return await self.send(self.due())

    async def deliver_now(self, events: list[Obj]) -> list[Obj]:
        """First attempts for ``events`` (in order), made now rather than in the background."""
        return await self.send(self.first_attempts(events))

    def describe(self) -> list[Any]:
        return [delivery.describe() for delivery in self.deliveries]
