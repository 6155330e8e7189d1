"""``expand[]``: replace an id in an answer with the object it names, as Stripe does.

Each object type has expandable fields (``subscription.latest_invoice`` is an invoice id that
expands into the invoice) and includable ones that appear only when expanded
(``checkout.session.line_items``, ``invoice.payments``). Paths go deeper with dots, through
expanded objects and lists (``latest_invoice.payments``, ``items.data.price.product``), at most
four levels; on a list endpoint they start with ``data.``. A field that cannot be expanded is
Stripe's 400 ``This property cannot be expanded (…)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from converge_twins.mock_stripe.errors import StripeError
from converge_twins.mock_stripe.state import Call
from converge_twins.mock_stripe.store import Obj

MAX_DEPTH = 4
Include = Callable[[Call, Obj], Any]

# owner object type -> field path -> the object type its id names
EXPANDABLE: dict[str, dict[str, str]] = {
    "customer": {"invoice_settings.default_payment_method": "payment_method"},
    "product": {"default_price": "price"},
    "price": {"product": "product"},
    "checkout.session": {
        "customer": "customer",
        "invoice": "invoice",
        "payment_intent": "payment_intent",
        "subscription": "subscription",
    },
    "subscription": {
        "customer": "customer",
        "latest_invoice": "invoice",
        "default_payment_method": "payment_method",
    },
    "invoice": {"customer": "customer", "default_payment_method": "payment_method"},
    "invoice_payment": {"invoice": "invoice", "payment.payment_intent": "payment_intent"},
    "payment_intent": {
        "customer": "customer",
        "latest_charge": "charge",
        "payment_method": "payment_method",
    },
    "charge": {"customer": "customer", "payment_intent": "payment_intent"},
    "payment_method": {"customer": "customer"},
    "billing_portal.session": {},
}
# owner object type -> field -> how to compute it (registered by the resource modules)
INCLUDABLE: dict[str, dict[str, Include]] = {}


def includable(kind: str, name: str) -> Callable[[Include], Include]:
    def register(function: Include) -> Include:
        INCLUDABLE.setdefault(kind, {})[name] = function
        return function

    return register


def cannot(path: str, hint: str = "") -> StripeError:
    return StripeError(400, f"This property cannot be expanded ({path}).{hint}", param="expand")


def resolve(call: Call, kind: str, object_id: str) -> Any:
    found = call.store.find(kind, object_id)
    if found is not None:
        return copy.deepcopy(found)
    if call.store.was_deleted(kind, object_id):
        return {"id": object_id, "object": kind, "deleted": True}
    return object_id


def expand(call: Call, body: Obj, paths: list[str]) -> Obj:
    """``body`` with ``paths`` expanded (a copy when anything is expanded)."""
    if not paths:
        if "_total" in body:  # a search result's count, shown only when expanded
            body = {key: value for key, value in body.items() if key != "_total"}
        return body
    body = copy.deepcopy(body)
    is_list = body.get("object") in ("list", "search_result")
    for path in paths:
        segments = path.split(".")
        if not path or any(not segment for segment in segments):
            raise cannot(path)
        if is_list:
            if path == "total_count" and body.get("object") == "search_result":
                body["total_count"] = body.pop("_total", len(body["data"]))
                continue
            if segments[0] != "data":
                raise cannot(path, f" You may want to try expanding 'data.{path}' instead.")
        depth = len(segments) - (1 if is_list else 0)
        if depth > MAX_DEPTH:
            raise StripeError(
                400,
                f"You cannot expand more than {MAX_DEPTH} levels of a property ({path}).",
                param="expand",
            )
        _expand(call, body, segments, path)
    body.pop("_total", None)
    return body


def _expand(call: Call, node: Obj, segments: list[str], path: str) -> None:
    if node.get("object") in ("list", "search_result") and segments[0] == "data":
        for item in node.get("data") or []:
            if isinstance(item, dict) and len(segments) > 1:
                _expand(call, item, segments[1:], path)
        return
    kind = str(node.get("object"))
    fields, includes = EXPANDABLE.get(kind, {}), INCLUDABLE.get(kind, {})
    for length in range(len(segments), 0, -1):
        key = ".".join(segments[:length])
        if key not in fields and key not in includes:
            continue
        container = node
        for segment in segments[: length - 1]:
            inner = container.get(segment)
            if not isinstance(inner, dict):
                return  # a null parent: nothing to expand
            container = inner
        last = segments[length - 1]
        if key in includes:
            container[last] = includes[key](call, node)
        elif isinstance(container.get(last), str):
            container[last] = resolve(call, fields[key], container[last])
        rest = segments[length:]
        value = container.get(last)
        if rest and isinstance(value, dict):
            _expand(call, value, rest, path)
        return
    value = node.get(segments[0])
    if isinstance(value, dict) and len(segments) > 1:
        # A plain nested hash (items, payment) or an object already there (an item's price).
        _expand(call, value, segments[1:], path)
        return
    raise cannot(path)
