"""Where mock-stripe keeps one account's objects, and how it lists them.

Objects are kept by kind (``customer``, ``invoice``, ...) in creation order; lists are newest
first, paginated by cursor as Stripe's are (``limit`` 1 to 100, default 10, ``starting_after`` or
``ending_before`` an id of the list, ``has_more``). A deleted object leaves a tombstone, so
retrieving a deleted customer answers ``{"id", "object", "deleted": true}`` as Stripe does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from converge_twins.mock_stripe.errors import StripeError, invalid, missing
from converge_twins.mock_stripe.forms import Params

Obj = dict[str, Any]

# How Stripe names each kind in "No such <label>" messages.
LABELS = {
    "checkout.session": "checkout.session",
    "billing_portal.session": "billing_portal.session",
    "subscription_item": "subscription item",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "webhook_endpoint": "webhook endpoint",
    "line_item": "invoice line item",
}


def label(kind: str) -> str:
    return LABELS.get(kind, kind)


@dataclass
class Store:
    objects: dict[str, dict[str, Obj]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)

    def put(self, obj: Obj) -> Obj:
        self.objects.setdefault(str(obj["object"]), {})[str(obj["id"])] = obj
        return obj

    def find(self, kind: str, object_id: str) -> Obj | None:
        return self.objects.get(kind, {}).get(object_id)

    def get(self, kind: str, object_id: str, param: str = "id") -> Obj:
        found = self.find(kind, object_id)
        if found is None:
            raise missing(label(kind), object_id, param)
        return found

    def was_deleted(self, kind: str, object_id: str) -> bool:
        return object_id in self.deleted.get(kind, set())

    def remove(self, kind: str, object_id: str) -> Obj:
        obj = self.objects.get(kind, {}).pop(object_id)
        self.deleted.setdefault(kind, set()).add(object_id)
        return obj

    def newest_first(self, kind: str, keep: Callable[[Obj], bool] = lambda obj: True) -> list[Obj]:
        return [obj for obj in reversed(self.objects.get(kind, {}).values()) if keep(obj)]

    def snapshot(self) -> Obj:
        return {"objects": copy.deepcopy(self.objects), "deleted": copy.deepcopy(self.deleted)}


def limit_of(params: Params) -> int:
    limit = params.integer("limit")
    if limit is None:
        return 10
    if not 1 <= limit <= 100:
        raise invalid(
            "limit",
            f"Invalid limit: must be at least 1 and at most 100 (got {limit})",
            code="parameter_invalid_integer",
        )
    return limit


def page(items: Iterable[Obj], params: Params, url: str, kind: str = "object") -> Obj:
    """A cursor-paginated list object of ``items`` (already newest first)."""
    items = list(items)
    ids = [str(obj.get("id")) for obj in items]
    after, before = params.text("starting_after"), params.text("ending_before")
    if after is not None and before is not None:
        raise StripeError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    limit = limit_of(params)
    if after is not None:
        if after not in ids:
            raise missing(label(kind), after, "starting_after")
        rest = items[ids.index(after) + 1 :]
        chosen, more = rest[:limit], len(rest) > limit
    elif before is not None:
        if before not in ids:
            raise missing(label(kind), before, "ending_before")
        rest = items[: ids.index(before)]
        chosen, more = rest[-limit:], len(rest) > limit
    else:
        chosen, more = items[:limit], len(items) > limit
    return {"object": "list", "data": chosen, "has_more": more, "url": url}


def created_filter(params: Params) -> Callable[[Obj], bool]:
    """Stripe's ``created`` list filter: a timestamp, or ``created[gt|gte|lt|lte]``."""
    raw = params.raw("created")
    if raw is None or raw == "":
        return lambda obj: True
    if isinstance(raw, str):
        exact = params.integer("created")
        return lambda obj: obj.get("created") == exact
    if not isinstance(raw, dict):
        raise invalid("created", "Invalid created: a timestamp or a hash of gt, gte, lt, lte")
    bounds: dict[str, int] = {}
    for name, value in raw.items():
        if name not in ("gt", "gte", "lt", "lte"):
            raise StripeError(
                400,
                f"Received unknown parameter: created[{name}]",
                code="parameter_unknown",
                param=f"created[{name}]",
            )
        try:
            bounds[name] = int(value)
        except (TypeError, ValueError):
            raise StripeError(
                400,
                f"Invalid integer: {value}",
                code="parameter_invalid_integer",
                param=f"created[{name}]",
            ) from None

    def keep(obj: Obj) -> bool:
        when = int(obj.get("created") or 0)
        return (
            ("gt" not in bounds or when > bounds["gt"])
            and ("gte" not in bounds or when >= bounds["gte"])
            and ("lt" not in bounds or when < bounds["lt"])
            and ("lte" not in bounds or when <= bounds["lte"])
        )

    return keep
