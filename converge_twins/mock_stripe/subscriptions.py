"""Subscriptions: ``/v1/subscriptions``.

The billing itself is :mod:`~converge_twins.mock_stripe.subscribing`'s, and what time does to a
subscription is :mod:`~converge_twins.mock_stripe.renewals`'; this module is the API: create,
retrieve, update (items, cancellation, pause of collection, trial end, payment method), cancel,
resume a paused one, migrate to flexible billing, list and search.
"""

from __future__ import annotations

import copy

from converge_twins.mock_stripe import search
from converge_twins.mock_stripe.api import SEARCH, names, operation
from converge_twins.mock_stripe.catalog import search_result
from converge_twins.mock_stripe.errors import invalid, missing, param_missing, state_error
from converge_twins.mock_stripe.expand import includable
from converge_twins.mock_stripe.forms import as_int
from converge_twins.mock_stripe.renewals import end_trial
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.subscribing import (
    PRORATIONS,
    attached_method,
    bill,
    cancel,
    change_items,
    collect,
    ended,
    invoice_prorations_now,
    live_customer,
    new_subscription,
    next_end,
    period_of,
    set_status,
    trial_end_of,
)

CREATE_FIELDS = names(
    """
    customer items add_invoice_items application_fee_percent automatic_tax backdate_start_date
    billing_cycle_anchor billing_mode billing_thresholds cancel_at cancel_at_period_end
    collection_method currency days_until_due default_payment_method default_source
    default_tax_rates description discounts invoice_settings metadata off_session on_behalf_of
    payment_behavior payment_settings pending_invoice_item_interval proration_behavior
    transfer_data trial_end trial_from_plan trial_period_days trial_settings
    """
)
UPDATE_FIELDS = names(
    """
    items add_invoice_items application_fee_percent automatic_tax billing_cycle_anchor
    billing_thresholds cancel_at cancel_at_period_end cancellation_details collection_method
    days_until_due default_payment_method default_source default_tax_rates description discounts
    invoice_settings metadata off_session on_behalf_of pause_collection payment_behavior
    payment_settings pending_invoice_item_interval proration_behavior proration_date
    transfer_data trial_end trial_from_plan trial_settings
    """
)


@operation("subscriptions.create", "POST", "/v1/subscriptions", CREATE_FIELDS)
def create_subscription(call: Call) -> Obj:
    customer = live_customer(call, call.params.required_text("customer"))
    return new_subscription(call, customer, call.params)


@operation("subscriptions.retrieve", "GET", "/v1/subscriptions/{subscription_exposed_id}")
def retrieve_subscription(call: Call) -> Obj:
    return call.store.get("subscription", call.path["subscription_exposed_id"])


@operation(
    "subscriptions.update", "POST", "/v1/subscriptions/{subscription_exposed_id}", UPDATE_FIELDS
)
def update_subscription(call: Call) -> Obj:
    subscription = call.store.get("subscription", call.path["subscription_exposed_id"])
    params = call.params
    if ended(subscription):
        allowed = {"metadata", "cancellation_details", "expand"}
        if any(name not in allowed for name in params.values):
            raise state_error(
                "A canceled subscription can only update its cancellation_details and metadata."
            )
    before = copy.deepcopy(subscription)
    proration = str(params.choice("proration_behavior", PRORATIONS, "create_prorations"))
    if "items" in params:
        change_items(call, subscription, params.items("items"), proration)
    _cancellation(call, subscription)
    _collection(call, subscription)
    if "trial_end" in params and subscription["status"] == "trialing":
        if params.text("trial_end") == "now":
            end_trial(call, subscription, call.now())
        else:
            subscription["trial_end"] = trial_end_of(call, params, [])
    previous = {key: value for key, value in before.items() if subscription.get(key) != value}
    if previous:
        call.emit("customer.subscription.updated", subscription, previous)
    if proration == "always_invoice":
        invoice_prorations_now(call, subscription)
    return subscription


def _cancellation(call: Call, subscription: Obj) -> None:
    """cancel_at_period_end, cancel_at and cancellation_details of an update."""
    params = call.params
    _, end = period_of(subscription)
    if "cancel_at_period_end" in params:
        at_end = params.boolean("cancel_at_period_end") is True
        subscription.update(cancel_at_period_end=at_end, cancel_at=end if at_end else None)
    if "cancel_at" in params:
        raw = params.text("cancel_at")
        subscription.update(
            cancel_at=params.integer("cancel_at") if raw else None, cancel_at_period_end=False
        )
    if "cancellation_details" in params:
        details = params.mapping("cancellation_details")
        subscription["cancellation_details"].update(
            {key: details.get(key) or None for key in ("comment", "feedback") if key in details}
        )


def _collection(call: Call, subscription: Obj) -> None:
    """How an update changes the way the subscription is paid, described and paused."""
    params = call.params
    if "default_payment_method" in params:
        value = params.text("default_payment_method")
        subscription["default_payment_method"] = (
            attached_method(call, value, subscription["customer"], "default_payment_method")
            if value
            else None
        )
    if "description" in params:
        subscription["description"] = params.text("description")
    if "collection_method" in params:
        subscription["collection_method"] = params.choice(
            "collection_method", ("charge_automatically", "send_invoice")
        )
    if "days_until_due" in params:
        subscription["days_until_due"] = params.integer("days_until_due", minimum=0)
    if "metadata" in params:
        subscription["metadata"] = params.metadata(subscription["metadata"])
    if "pause_collection" in params:
        pause = params.mapping("pause_collection")
        if params.raw("pause_collection") == "":
            subscription["pause_collection"] = None
        else:
            behavior = pause.get("behavior")
            if behavior not in ("keep_as_draft", "mark_uncollectible", "void"):
                raise param_missing("pause_collection[behavior]")
            resumes = pause.get("resumes_at")
            subscription["pause_collection"] = {
                "behavior": behavior,
                "resumes_at": as_int(resumes, "pause_collection[resumes_at]") if resumes else None,
            }


@operation(
    "subscriptions.cancel",
    "DELETE",
    "/v1/subscriptions/{subscription_exposed_id}",
    {"cancellation_details", "invoice_now", "prorate"},
)
def cancel_subscription(call: Call) -> Obj:
    subscription = call.store.get("subscription", call.path["subscription_exposed_id"])
    if ended(subscription):
        raise state_error(
            f"This subscription is already {subscription['status'].replace('_', ' ')}."
        )
    details = call.params.mapping("cancellation_details")
    if call.params.boolean("invoice_now"):
        invoice_prorations_now(call, subscription)
    cancel(
        call,
        subscription,
        comment=details.get("comment") or None,
        feedback=details.get("feedback") or None,
    )
    return subscription


@operation(
    "subscriptions.resume",
    "POST",
    "/v1/subscriptions/{subscription}/resume",
    {"billing_cycle_anchor", "proration_behavior", "proration_date"},
)
def resume_subscription(call: Call) -> Obj:
    subscription = call.store.get("subscription", call.path["subscription"])
    if subscription["status"] != "paused":
        raise state_error(
            f"Subscription {subscription['id']} cannot be resumed because its status is "
            f"{subscription['status']}; only paused subscriptions can be resumed."
        )
    now = call.now()
    price = subscription["items"]["data"][0]["price"]
    end = next_end(now, price)
    for item in subscription["items"]["data"]:
        item.update(current_period_start=now, current_period_end=end)
    set_status(call, subscription, "active", billing_cycle_anchor=now)
    call.emit("customer.subscription.resumed", subscription)
    invoice = bill(call, subscription, "subscription_cycle", (now, end))
    collect(call, subscription, invoice, "allow_incomplete")
    return subscription


@operation(
    "subscriptions.migrate", "POST", "/v1/subscriptions/{subscription}/migrate", {"billing_mode"}
)
def migrate_subscription(call: Call) -> Obj:
    subscription = call.store.get("subscription", call.path["subscription"])
    mode = call.params.mapping("billing_mode")
    if mode.get("type") != "flexible":
        raise invalid(
            "billing_mode[type]",
            "Subscriptions can only be migrated to `billing_mode[type]=flexible`.",
        )
    if subscription["billing_mode"]["type"] == "flexible":
        raise state_error("This subscription already uses flexible billing mode.")
    previous = changed(
        subscription,
        {
            "billing_mode": {
                "flexible": {"proration_discounts": "included"},
                "type": "flexible",
                "updated_at": call.now(),
            }
        },
    )
    call.emit("customer.subscription.updated", subscription, previous)
    return subscription


@operation(
    "subscriptions.delete_discount",
    "DELETE",
    "/v1/subscriptions/{subscription_exposed_id}/discount",
)
def delete_subscription_discount(call: Call) -> Obj:
    subscription = call.store.get("subscription", call.path["subscription_exposed_id"])
    raise missing("discount on subscription", subscription["id"], "subscription_exposed_id")


@operation(
    "subscriptions.list",
    "GET",
    "/v1/subscriptions",
    names(
        """
        automatic_tax collection_method created current_period_end current_period_start customer
        customer_account price status test_clock
        """
    ),
    listing=True,
)
def list_subscriptions(call: Call) -> Obj:
    params = call.params
    customer, price, method = (
        params.text("customer"),
        params.text("price"),
        params.text("collection_method"),
    )
    status = params.choice(
        "status",
        (
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ),
    )
    created = created_filter(params)

    def keep(subscription: Obj) -> bool:
        if status is None:
            wanted = not ended(subscription)
        elif status == "all":
            wanted = True
        elif status == "ended":
            wanted = ended(subscription)
        else:
            wanted = subscription["status"] == status
        return (
            wanted
            and (customer is None or subscription["customer"] == customer)
            and (
                price is None
                or any(i["price"]["id"] == price for i in subscription["items"]["data"])
            )
            and (method is None or subscription["collection_method"] == method)
            and created(subscription)
        )

    return page(
        call.store.newest_first("subscription", keep), params, "/v1/subscriptions", "subscription"
    )


@operation("subscriptions.search", "GET", "/v1/subscriptions/search", SEARCH)
def search_subscriptions(call: Call) -> Obj:
    return search_result(call, "subscription", search.SUBSCRIPTION_FIELDS, "subscriptions")


@includable("customer", "subscriptions")
def _customer_subscriptions(call: Call, customer: Obj) -> Obj:
    found = call.store.newest_first(
        "subscription", lambda s: s["customer"] == customer["id"] and not ended(s)
    )
    return {
        "object": "list",
        "data": copy.deepcopy(found),
        "has_more": False,
        "url": f"/v1/customers/{customer['id']}/subscriptions",
    }
