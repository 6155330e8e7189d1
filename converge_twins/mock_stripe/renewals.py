"""What the twin's clock does to subscriptions, as Stripe's test clocks do.

When the clock passes the end of a period the subscription renews (a ``subscription_cycle``
invoice, charged at once; a failure makes it ``past_due``), a trial ends (billed, or canceled or
paused when there is no payment method and ``trial_settings`` say so), ``cancel_at`` cancels,
three days before a trial ends ``customer.subscription.trial_will_end`` is sent, and an
``incomplete`` subscription unpaid after 23 hours becomes ``incomplete_expired``.
"""

from __future__ import annotations

import copy

from converge_twins.mock_stripe import invoicing
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj
from converge_twins.mock_stripe.subscribing import (
    INCOMPLETE_SECONDS,
    MAX_RENEWALS,
    TRIAL_WARNING_SECONDS,
    bill,
    cancel,
    collect,
    ended,
    next_end,
    period_of,
    set_status,
)


def advance(call: Call) -> None:
    """What the twin's clock has made due for every subscription of the account."""
    now = call.now()
    for subscription in call.store.newest_first("subscription")[::-1]:
        if ended(subscription):
            continue
        status = subscription["status"]
        if status == "incomplete":
            if now >= subscription["created"] + INCOMPLETE_SECONDS:
                latest = call.store.find("invoice", str(subscription["latest_invoice"]))
                if latest is not None and latest["status"] == "open":
                    invoicing.void(call, latest)
                set_status(call, subscription, "incomplete_expired", ended_at=now)
            continue
        if subscription["cancel_at"] is not None and subscription["cancel_at"] <= now:
            _renew_until(call, subscription, subscription["cancel_at"])
            cancel(call, subscription, at=subscription["cancel_at"])
            continue
        if status == "trialing":
            _trial(call, subscription, now)
            continue
        if subscription["pause_collection"]:
            resumes = subscription["pause_collection"].get("resumes_at")
            if resumes is not None and resumes <= now:
                previous = changed(subscription, {"pause_collection": None})
                call.emit("customer.subscription.updated", subscription, previous)
        _renew_until(call, subscription, now)


def _renew_until(call: Call, subscription: Obj, moment: int) -> None:
    if subscription["status"] not in ("active", "past_due", "unpaid"):
        return
    for _ in range(MAX_RENEWALS):
        _, end = period_of(subscription)
        if end > moment or not subscription["items"]["data"]:
            return
        new_end = next_end(end, subscription["items"]["data"][0]["price"])
        previous = {
            "items": copy.deepcopy(subscription["items"]),
            "latest_invoice": subscription["latest_invoice"],
        }
        for item in subscription["items"]["data"]:
            item.update(current_period_start=end, current_period_end=new_end)
        if subscription["cancel_at_period_end"]:
            cancel(call, subscription, at=end)
            return
        invoice = bill(call, subscription, "subscription_cycle", (end, new_end))
        call.emit("customer.subscription.updated", subscription, previous)
        collect(call, subscription, invoice, "allow_incomplete")


def _trial(call: Call, subscription: Obj, now: int) -> None:
    trial_end = int(subscription["trial_end"])
    warned = f"trial_warned:{subscription['id']}"
    if now >= trial_end - TRIAL_WARNING_SECONDS and not call.account.counters.get(warned):
        call.account.counters[warned] = 1
        call.emit("customer.subscription.trial_will_end", subscription)
    if now < trial_end:
        return
    end_trial(call, subscription, trial_end)


def end_trial(call: Call, subscription: Obj, at: int) -> None:
    customer = call.store.get("customer", subscription["customer"])
    has_method = bool(
        subscription["default_payment_method"]
        or customer["invoice_settings"]["default_payment_method"]
    )
    missing_method = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
    if not has_method and missing_method == "cancel":
        cancel(call, subscription, at=at, reason="cancellation_requested")
        return
    price = subscription["items"]["data"][0]["price"]
    end = next_end(at, price)
    for item in subscription["items"]["data"]:
        item.update(current_period_start=at, current_period_end=end)
    if not has_method and missing_method == "pause":
        set_status(call, subscription, "paused", billing_cycle_anchor=at)
        call.emit("customer.subscription.paused", subscription)
        return
    set_status(call, subscription, "active", billing_cycle_anchor=at)
    invoice = bill(call, subscription, "subscription_cycle", (at, end))
    collect(call, subscription, invoice, "allow_incomplete")
    if invoice["status"] == "open" and subscription["status"] == "active":
        set_status(call, subscription, "past_due")
