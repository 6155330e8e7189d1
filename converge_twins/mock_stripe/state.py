"""The twin's state: the platform account and connected accounts, and one request's context.

Every request runs in one :class:`Account` (the platform's, or a connected account named by the
``Stripe-Account`` header and known to the twin); each account has its own objects, events and
idempotency keys, as on Stripe. A handler receives a :class:`Call`: the parameters, the path's
ids, the account, and :meth:`Call.emit` to record an event, which the webhooks deliver once the
answer has gone out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from converge_twins.control import Twin
from converge_twins.mock_stripe.forms import Params
from converge_twins.mock_stripe.store import Obj, Store
from converge_twins.mock_stripe.versions import NEWEST, checked

if TYPE_CHECKING:
    from converge_twins.mock_stripe.webhooks import Webhooks

IDEMPOTENCY_SECONDS = 24 * 3600  # Stripe keeps an idempotency key's answer for 24 hours


@dataclass
class Replay:
    fingerprint: str
    status: int
    content: bytes
    at: int
    request_id: str


@dataclass
class Account:
    id: str
    payment_configuration: str = ""  # pmc_…: the account's default payment method configuration
    portal_configuration: str = ""  # bpc_…: its default billing portal configuration
    store: Store = field(default_factory=Store)
    idempotency: dict[str, Replay] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)  # idempotency keys being processed
    counters: dict[str, int] = field(default_factory=dict)
    # What Stripe knows and does not show: the test card behind a pm_…, the invoice behind a pi_….
    test_cards: dict[str, str] = field(default_factory=dict)
    invoice_of: dict[str, str] = field(default_factory=dict)
    # Prorations waiting for a subscription's next invoice (add_line arguments).
    pending_lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # A checkout session's line items, and what it passes on to the subscription or payment.
    checkout_items: dict[str, list[Obj]] = field(default_factory=dict)
    checkout_options: dict[str, Obj] = field(default_factory=dict)

    def next_number(self, series: str) -> int:
        self.counters[series] = self.counters.get(series, 0) + 1
        return self.counters[series]


DueHook = Callable[["Call"], None]


class Stripe:
    """Accounts, the account's API version, events and what the clock makes due."""

    def __init__(self, twin: Twin, env: Mapping[str, str]) -> None:
        self.twin = twin
        self.default_version = checked(env.get("STRIPE_API_VERSION") or NEWEST)
        self.connected_ids = tuple(
            item.strip() for item in (env.get("STRIPE_ACCOUNTS") or "").split(",") if item.strip()
        )
        self.webhooks: Webhooks | None = None
        self.due_hooks: list[DueHook] = []
        self.reset()
        twin.on_reset(self.reset)

    def reset(self) -> None:
        self.base_url = ""  # the twin's address as the latest request reached it
        self.hosted: dict[str, tuple[str, str]] = {}  # hosted invoice token -> account, invoice
        self.platform = self.new_account(self.twin.ids.prefixed("acct_", 16))
        self.connected: dict[str, Account] = {
            account_id: self.new_account(account_id) for account_id in self.connected_ids
        }

    def new_account(self, account_id: str) -> Account:
        return Account(
            account_id,
            payment_configuration=self.twin.ids.prefixed("pmc_", 24),
            portal_configuration=self.twin.ids.prefixed("bpc_", 24),
        )

    def accounts(self) -> list[Account]:
        return [self.platform, *self.connected.values()]

    def add_account(self, account_id: str | None = None) -> Account:
        account = self.new_account(account_id or self.twin.ids.prefixed("acct_", 16))
        self.connected[account.id] = account
        return account

    def background_call(self, account: Account) -> Call:
        """The context of work the twin does on its own (renewals, expiries): no request."""
        return Call(self, account, Params({}), {}, "POST", "", None, None, self.default_version)


@dataclass
class Call:
    """One request (or one piece of time-driven work) in one account."""

    stripe: Stripe
    account: Account
    params: Params
    path: Mapping[str, str]
    method: str
    base_url: str
    request_id: str | None
    idempotency_key: str | None
    version: str
    events: list[Obj] = field(default_factory=list)
    creating: set[str] = field(default_factory=set)  # subscriptions whose creation is under way

    @property
    def store(self) -> Store:
        return self.account.store

    def with_params(self, values: dict[str, Any]) -> Call:
        """The same request's context running another operation's handler with ``values``."""
        return Call(
            self.stripe,
            self.account,
            Params(values),
            {},
            "POST",
            self.base_url,
            self.request_id,
            None,
            self.version,
            self.events,
            self.creating,
        )

    @property
    def connected(self) -> bool:
        return self.account is not self.stripe.platform

    def now(self) -> int:
        return self.stripe.twin.clock.timestamp()

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.stripe.twin.ids.prefixed(prefix, length)

    def token(self, length: int = 24) -> str:
        return self.stripe.twin.ids.token(length)

    def emit(self, kind: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """Record the event ``kind`` about ``obj`` (a snapshot, as Stripe sends it)."""
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = json.loads(json.dumps(previous))
        event: Obj = {
            "id": self.new_id("evt_"),
            "object": "event",
        }
        if self.connected:
            event["account"] = self.account.id
        event.update(
            {
                "api_version": self.stripe.default_version,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
                "type": kind,
            }
        )
        self.store.put(event)
        if self.stripe.webhooks is not None:
            self.stripe.webhooks.enqueue(self.account, event, self.stripe.platform)
        self.events.append(event)
        return event


def changed(obj: Obj, values: Mapping[str, Any]) -> Obj:
    """Set ``values`` on ``obj``; the previous values of the fields that changed."""
    previous: Obj = {}
    for name, value in values.items():
        if obj.get(name) != value:
            previous[name] = copy.deepcopy(obj.get(name))
            obj[name] = value
    return previous
