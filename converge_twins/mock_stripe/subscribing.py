"""Subscriptions as Stripe bills them: items, the first invoice, status, changes, prorations.

Creating a subscription bills its first period at once: an invoice (``latest_invoice``) with a
line per item, finalized, with a payment intent charged to the subscription's or the customer's
default payment method. Paid, the subscription is ``active``; with no payment method, a declined
card or ``payment_behavior=default_incomplete`` it is ``incomplete`` until its payment intent is
confirmed or its invoice paid. A trial makes it ``trialing`` with a zero invoice. Billing
periods live on the items (``current_period_start`` and ``current_period_end``), as in today's
API. Price and quantity changes are prorated (``create_prorations``: on the next invoice;
``always_invoice``: invoiced now; ``none``).
"""

from __future__ import annotations

import copy
from typing import Any

from converge_twins.mock_stripe import invoicing, payments
from converge_twins.mock_stripe.catalog import price_from
from converge_twins.mock_stripe.errors import StripeError, invalid, missing, param_missing
from converge_twins.mock_stripe.forms import Params, as_bool, as_int, merge_metadata
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj
from converge_twins.mock_stripe.values import add_interval

INCOMPLETE_SECONDS = 23 * 3600
TRIAL_WARNING_SECONDS = 3 * 86_400
MAX_RENEWALS = 60  # periods one sweep may bill, however far the clock jumped
ENDED = ("canceled", "incomplete_expired")
BEHAVIORS = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)
PRORATIONS = ("always_invoice", "create_prorations", "none")


# --- building ----------------------------------------------------------------------------------


def plan_of(price: Obj) -> Obj:
    """The legacy ``plan`` view of a recurring price that items still carry."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": recurring.get("meter"),
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def new_item(
    call: Call,
    subscription: Obj,
    price: Obj,
    *,
    quantity: int,
    metadata: dict[str, str],
    period: tuple[int, int],
) -> Obj:
    item: Obj = {
        "id": call.new_id("si_", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": call.now(),
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": metadata,
        "plan": plan_of(price),
        "price": copy.deepcopy(price),
        "quantity": quantity,
        "subscription": subscription["id"],
        "tax_rates": [],
    }
    subscription["items"]["data"].append(item)
    call.store.put(item)  # the same dict: the item and the subscription's list stay one
    return item


def period_of(subscription: Obj) -> tuple[int, int]:
    items = subscription["items"]["data"]
    if not items:
        return subscription["start_date"], subscription["start_date"]
    return items[0]["current_period_start"], items[0]["current_period_end"]


def _interval(price: Obj) -> tuple[str, int]:
    recurring = price["recurring"] or {}
    return str(recurring.get("interval", "month")), int(recurring.get("interval_count", 1))


def next_end(start: int, price: Obj) -> int:
    interval, count = _interval(price)
    return add_interval(start, interval, count)


def _entries(
    call: Call, raw: list[dict[str, Any]], param: str = "items"
) -> list[tuple[Obj, int, dict[str, str]]]:
    """(price, quantity, metadata) of each new item, with Stripe's checks."""
    chosen = []
    for index, entry in enumerate(raw):
        where = f"{param}[{index}]"
        price = price_from(call, entry, where)
        if price["type"] != "recurring":
            raise invalid(
                f"{where}[price]",
                "The price specified is set to `type=one_time` but this field only accepts "
                "prices with `type=recurring`.",
            )
        quantity = as_int(entry.get("quantity", "1"), f"{where}[quantity]")
        if quantity < 0:
            raise invalid(f"{where}[quantity]", "Invalid quantity: must be at least 0")
        metadata = merge_metadata(entry.get("metadata"), None, f"{where}[metadata]")
        chosen.append((price, quantity, metadata))
    currencies = {price["currency"] for price, _, _ in chosen}
    if len(currencies) > 1:
        raise invalid(param, "All prices on a subscription must have the same `currency`.")
    intervals = {_interval(price) for price, _, _ in chosen}
    if len(intervals) > 1:
        raise invalid(
            param,
            "All prices on a subscription must have the same "
            "`recurring.interval` and `recurring.interval_count`.",
        )
    return chosen


def attached_method(call: Call, value: str, customer: str, param: str) -> str:
    pm = call.store.find("payment_method", value)
    if pm is None or pm["customer"] != customer:
        raise invalid(
            param,
            f"The customer does not have a payment method with the ID {value}. The payment "
            "method must be attached to the customer.",
            code="resource_missing",
        )
    return str(pm["id"])


def live_customer(call: Call, customer_id: str) -> Obj:
    if call.store.was_deleted("customer", customer_id):
        raise missing("customer", customer_id, "customer")
    return call.store.get("customer", customer_id, "customer")


def trial_end_of(call: Call, params: Params, prices: list[Obj]) -> int | None:
    now = call.now()
    if "trial_end" in params:
        raw = params.text("trial_end")
        if raw == "now" or raw is None:
            return None
        end = params.integer("trial_end")
        assert end is not None
        if end <= now:
            raise invalid(
                "trial_end", "Invalid timestamp: must be an integer Unix timestamp in the future."
            )
        return end
    days = params.integer("trial_period_days", minimum=0)
    if days is None and params.boolean("trial_from_plan"):
        days = next(
            (
                p["recurring"]["trial_period_days"]
                for p in prices
                if p["recurring"]["trial_period_days"]
            ),
            None,
        )
    return now + days * 86_400 if days else None


def bill(
    call: Call, subscription: Obj, reason: str, period: tuple[int, int], *, trial: bool = False
) -> Obj:
    """The invoice for ``period`` of ``subscription`` (items, then pending prorations)."""
    customer = call.store.get("customer", subscription["customer"])
    invoice = invoicing.new_invoice(
        call,
        customer,
        currency=subscription["currency"],
        billing_reason=reason,
        collection_method=subscription["collection_method"],
        subscription=subscription,
        auto_advance=True,
        days_until_due=subscription["days_until_due"],
        period=period if reason != "subscription_create" else (call.now(), call.now()),
    )
    for item in subscription["items"]["data"]:
        price = item["price"]
        name = _product_name(call, price)
        quantity = item["quantity"]
        label = f"Trial period for {name}" if trial else f"{quantity} x {name}"
        invoicing.add_line(
            call,
            invoice,
            amount=0 if trial else int(price["unit_amount"] or 0) * quantity,
            description=label,
            price=price,
            quantity=quantity,
            period=period,
            subscription_item=item,
        )
    for pending in call.account.pending_lines.pop(subscription["id"], []):
        invoicing.add_line(call, invoice, **pending)
    subscription["latest_invoice"] = invoice["id"]
    call.emit("invoice.created", invoice)
    return invoice


def _product_name(call: Call, price: Obj) -> str:
    product = call.store.find("product", price["product"])
    return str(product["name"]) if product else str(price["product"])


def collect(call: Call, subscription: Obj, invoice: Obj, behavior: str) -> None:
    """Finalize ``invoice`` and, unless told not to, charge it."""
    pause = subscription["pause_collection"]
    if pause and invoice["billing_reason"] != "subscription_create":
        if pause["behavior"] == "keep_as_draft":
            return
        invoicing.finalize(call, invoice)
        if pause["behavior"] == "void" and invoice["status"] == "open":
            invoicing.void(call, invoice)
        elif invoice["status"] == "open":
            invoice["status"] = "uncollectible"
            invoice["status_transitions"]["marked_uncollectible_at"] = call.now()
            call.emit("invoice.marked_uncollectible", invoice)
        return
    invoicing.finalize(call, invoice)
    if invoice["status"] != "open" or invoice["collection_method"] != "charge_automatically":
        return
    invoice["next_payment_attempt"] = None
    if behavior == "default_incomplete":
        return
    method = invoicing.default_method(call, invoice)
    if method is None:
        if invoice["billing_reason"] != "subscription_create":
            invoicing.fail(call, invoice)
        return
    invoicing.attempt(call, invoice, method, raise_decline=False)


def ended(subscription: Obj) -> bool:
    return subscription["status"] in ENDED


def set_status(call: Call, subscription: Obj, status: str, **values: Any) -> None:
    previous = changed(subscription, {"status": status, **values})
    if previous and subscription["id"] not in call.creating:
        call.emit("customer.subscription.updated", subscription, previous)


def _on_paid(call: Call, invoice: Obj) -> None:
    subscription = _subscription_of(call, invoice)
    if subscription is not None and subscription["status"] in ("incomplete", "past_due", "unpaid"):
        set_status(call, subscription, "active")


def _on_payment_failed(call: Call, invoice: Obj) -> None:
    subscription = _subscription_of(call, invoice)
    if subscription is not None and subscription["status"] == "active":
        set_status(call, subscription, "past_due")


def _subscription_of(call: Call, invoice: Obj) -> Obj | None:
    details = (invoice["parent"] or {}).get("subscription_details") or {}
    subscription_id = details.get("subscription")
    return call.store.find("subscription", subscription_id) if subscription_id else None


invoicing.ON_PAID.append(_on_paid)
invoicing.ON_PAYMENT_FAILED.append(_on_payment_failed)


def new_subscription(call: Call, customer: Obj, params: Params) -> Obj:
    """A subscription from create parameters (also used by a completed checkout session)."""
    raw_items = params.items("items")
    if not raw_items:
        raise param_missing("items")
    entries = _entries(call, raw_items)
    prices = [price for price, _, _ in entries]
    behavior = str(params.choice("payment_behavior", BEHAVIORS, "allow_incomplete"))
    method = str(
        params.choice(
            "collection_method", ("charge_automatically", "send_invoice"), "charge_automatically"
        )
    )
    days = params.integer("days_until_due", minimum=0)
    if method == "send_invoice" and days is None:
        raise param_missing("days_until_due")
    default_pm = params.text("default_payment_method")
    if default_pm:
        default_pm = attached_method(call, default_pm, customer["id"], "default_payment_method")
    trial_end = trial_end_of(call, params, prices)
    if behavior == "error_if_incomplete" and trial_end is None and method == "charge_automatically":
        chosen = default_pm or customer["invoice_settings"]["default_payment_method"]
        total = sum(int(p["unit_amount"] or 0) * q for p, q, _ in entries)
        if total > 0 and not chosen:
            raise StripeError(
                400,
                "This customer has no attached payment source or default payment method. "
                "Please consider adding a default payment method.",
                param="customer",
            )
        if total > 0 and chosen:
            decline = payments.card_of(call, call.store.get("payment_method", chosen)).decline
            if decline is not None:
                raise payments.card_error(decline)
    now = call.now()
    subscription_id = call.new_id("sub_")
    period_end = trial_end or next_end(now, prices[0])
    settings = params.mapping("trial_settings").get("end_behavior") or {}
    cancel_at = params.integer("cancel_at")
    subscription: Obj = {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_end if trial_end else now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": cancel_at,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": method,
        "created": now,
        "currency": prices[0]["currency"],
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": days,
        "default_payment_method": default_pm,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.text("description"),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": params.metadata(),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {
            "end_behavior": {
                "missing_payment_method": settings.get("missing_payment_method", "create_invoice")
            }
        },
        "trial_start": now if trial_end else None,
    }
    call.store.put(subscription)
    call.creating.add(subscription_id)
    for price, quantity, metadata in entries:
        new_item(
            call,
            subscription,
            price,
            quantity=quantity,
            metadata=metadata,
            period=(now, period_end),
        )
    if params.boolean("cancel_at_period_end"):
        subscription.update(cancel_at_period_end=True, cancel_at=period_end)
    if customer["currency"] is None:
        customer["currency"] = subscription["currency"]
    if trial_end:
        subscription["status"] = "trialing"
        invoice = bill(call, subscription, "subscription_create", (now, trial_end), trial=True)
        collect(call, subscription, invoice, behavior)
    else:
        invoice = bill(call, subscription, "subscription_create", (now, period_end))
        if method == "send_invoice":
            subscription["status"] = "active"
        collect(call, subscription, invoice, behavior)
        if invoice["status"] == "paid":
            subscription["status"] = "active"
    call.creating.discard(subscription_id)
    call.emit("customer.subscription.created", subscription)
    return subscription


# --- changes -----------------------------------------------------------------------------------


def _prorate(
    call: Call, subscription: Obj, item: Obj, *, old: int, new: int, behavior: str
) -> None:
    """Credit or charge the rest of the period after an item's amount changed."""
    if behavior == "none" or old == new:
        return
    start, end = period_of(subscription)
    now = call.now()
    if end <= now or subscription["status"] == "trialing":
        return
    share = (end - now) / max(1, end - start)
    name = _product_name(call, item["price"])
    lines = []
    if old:
        lines.append(
            {
                "amount": -round(old * share),
                "description": f"Unused time on {name}",
                "price": None,
                "quantity": 1,
                "period": (now, end),
                "subscription_item": item,
                "proration": True,
            }
        )
    if new:
        lines.append(
            {
                "amount": round(new * share),
                "description": f"Remaining time on {name}",
                "price": item["price"],
                "quantity": item["quantity"],
                "period": (now, end),
                "subscription_item": item,
                "proration": True,
            }
        )
    call.account.pending_lines.setdefault(subscription["id"], []).extend(lines)


def invoice_prorations_now(call: Call, subscription: Obj) -> None:
    pending = call.account.pending_lines.pop(subscription["id"], [])
    if not pending:
        return
    customer = call.store.get("customer", subscription["customer"])
    invoice = invoicing.new_invoice(
        call,
        customer,
        currency=subscription["currency"],
        billing_reason="subscription_update",
        collection_method=subscription["collection_method"],
        subscription=subscription,
        auto_advance=True,
        days_until_due=subscription["days_until_due"],
    )
    for line in pending:
        invoicing.add_line(call, invoice, **line)
    subscription["latest_invoice"] = invoice["id"]
    call.emit("invoice.created", invoice)
    collect(call, subscription, invoice, "allow_incomplete")


def _amount(item: Obj) -> int:
    return int(item["price"]["unit_amount"] or 0) * int(item["quantity"])


def change_items(call: Call, subscription: Obj, raw: list[dict[str, Any]], proration: str) -> None:
    start, end = period_of(subscription)
    for index, entry in enumerate(raw):
        where = f"items[{index}]"
        item_id = entry.get("id")
        current = subscription["items"]["data"]
        item = next((i for i in current if i["id"] == item_id), None) if item_id else None
        if item_id and item is None:
            raise missing("subscription item", str(item_id), f"{where}[id]")
        if (
            item is not None
            and entry.get("deleted")
            and as_bool(entry["deleted"], f"{where}[deleted]")
        ):
            remove_item(call, subscription, item, proration)
            continue
        if item is None:
            price, quantity, metadata = _entries(call, [entry], "items")[0]
            if price["currency"] != subscription["currency"]:
                raise invalid(
                    f"{where}[price]", "The price's currency must match the subscription's."
                )
            added = new_item(
                call, subscription, price, quantity=quantity, metadata=metadata, period=(start, end)
            )
            _prorate(call, subscription, added, old=0, new=_amount(added), behavior=proration)
            continue
        before = _amount(item)
        if entry.get("price") or entry.get("price_data"):
            price = _entries(call, [entry], "items")[0][0]
            item.update(price=copy.deepcopy(price), plan=plan_of(price))
        if "quantity" in entry:
            item["quantity"] = as_int(entry["quantity"], f"{where}[quantity]")
        if "metadata" in entry:
            item["metadata"] = merge_metadata(
                entry["metadata"], item["metadata"], f"{where}[metadata]"
            )
        _prorate(call, subscription, item, old=before, new=_amount(item), behavior=proration)


def remove_item(call: Call, subscription: Obj, item: Obj, proration: str) -> None:
    items = subscription["items"]["data"]
    if len(items) == 1:
        raise StripeError(
            400,
            "A subscription must have at least one active plan. To cancel a subscription, "
            "please use the cancel API endpoint on /v1/subscriptions.",
        )
    _prorate(call, subscription, item, old=_amount(item), new=0, behavior=proration)
    items.remove(item)
    call.store.remove("subscription_item", item["id"])


def cancel(
    call: Call,
    subscription: Obj,
    *,
    at: int | None = None,
    reason: str = "cancellation_requested",
    comment: str | None = None,
    feedback: str | None = None,
) -> None:
    when = at or call.now()
    subscription.update(
        status="canceled", canceled_at=call.now(), ended_at=when, cancel_at_period_end=False
    )
    subscription["cancellation_details"] = {
        "comment": comment,
        "feedback": feedback,
        "reason": reason,
    }
    call.account.pending_lines.pop(subscription["id"], None)
    call.emit("customer.subscription.deleted", subscription)
