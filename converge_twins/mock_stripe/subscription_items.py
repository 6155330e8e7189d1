"""Subscription items: ``/v1/subscription_items``.

Adding, changing or removing an item changes its subscription (``customer.subscription.updated``)
and is prorated as asked; a subscription keeps at least one item (cancel it instead).
"""

from __future__ import annotations

import copy
from typing import Any

from converge_twins.mock_stripe.api import names, operation
from converge_twins.mock_stripe.errors import param_missing, state_error
from converge_twins.mock_stripe.state import Call
from converge_twins.mock_stripe.store import Obj, page
from converge_twins.mock_stripe.subscribing import (
    PRORATIONS,
    change_items,
    ended,
    invoice_prorations_now,
    remove_item,
)

ITEM_FIELDS = names(
    """
    subscription price price_data quantity metadata proration_behavior proration_date
    payment_behavior billing_thresholds discounts tax_rates
    """
)


def _live(call: Call, subscription_id: str, param: str) -> Obj:
    subscription = call.store.get("subscription", subscription_id, param)
    if ended(subscription):
        raise state_error(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    return subscription


@operation("subscription_items.create", "POST", "/v1/subscription_items", ITEM_FIELDS)
def create_item(call: Call) -> Obj:
    params = call.params
    subscription = _live(call, params.required_text("subscription"), "subscription")
    entry: dict[str, Any] = {
        key: params.values[key]
        for key in ("price", "price_data", "quantity", "metadata")
        if key in params.values
    }
    if not entry.get("price") and not entry.get("price_data"):
        raise param_missing("price")
    proration = str(params.choice("proration_behavior", PRORATIONS, "create_prorations"))
    previous = {"items": copy.deepcopy(subscription["items"])}
    before = {item["id"] for item in subscription["items"]["data"]}
    change_items(call, subscription, [entry], proration)
    items: list[Obj] = subscription["items"]["data"]
    item = next(i for i in items if i["id"] not in before)
    call.emit("customer.subscription.updated", subscription, previous)
    if proration == "always_invoice":
        invoice_prorations_now(call, subscription)
    return item


@operation("subscription_items.retrieve", "GET", "/v1/subscription_items/{item}")
def retrieve_item(call: Call) -> Obj:
    return call.store.get("subscription_item", call.path["item"])


@operation(
    "subscription_items.update",
    "POST",
    "/v1/subscription_items/{item}",
    ITEM_FIELDS - {"subscription"} | {"off_session"},
)
def update_item(call: Call) -> Obj:
    item = call.store.get("subscription_item", call.path["item"])
    subscription = _live(call, item["subscription"], "item")
    params = call.params
    entry: dict[str, Any] = {"id": item["id"]}
    entry.update(
        {
            key: params.values[key]
            for key in ("price", "price_data", "quantity", "metadata")
            if key in params.values
        }
    )
    proration = str(params.choice("proration_behavior", PRORATIONS, "create_prorations"))
    previous = {"items": copy.deepcopy(subscription["items"])}
    change_items(call, subscription, [entry], proration)
    call.emit("customer.subscription.updated", subscription, previous)
    if proration == "always_invoice":
        invoice_prorations_now(call, subscription)
    return item


@operation(
    "subscription_items.delete",
    "DELETE",
    "/v1/subscription_items/{item}",
    {"clear_usage", "proration_behavior", "proration_date"},
)
def delete_item(call: Call) -> Obj:
    item = call.store.get("subscription_item", call.path["item"])
    subscription = _live(call, item["subscription"], "item")
    proration = str(call.params.choice("proration_behavior", PRORATIONS, "create_prorations"))
    previous = {"items": copy.deepcopy(subscription["items"])}
    remove_item(call, subscription, item, proration)
    call.emit("customer.subscription.updated", subscription, previous)
    return {"id": item["id"], "object": "subscription_item", "deleted": True}


@operation(
    "subscription_items.list", "GET", "/v1/subscription_items", {"subscription"}, listing=True
)
def list_items(call: Call) -> Obj:
    subscription = call.store.get(
        "subscription", call.params.required_text("subscription"), "subscription"
    )
    items = list(subscription["items"]["data"])
    return page(items, call.params, "/v1/subscription_items", "subscription_item")
