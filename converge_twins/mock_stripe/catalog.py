"""Products and prices: ``/v1/products`` and ``/v1/prices``.

A product with prices cannot be deleted (archive it with ``active=false``), a price cannot be
deleted at all, and a lookup key names one price at a time (``transfer_lookup_key`` moves it).
Every change is an event (``product.created``, ``price.updated``, ...).
"""

from __future__ import annotations

import copy
from typing import Any

from converge_twins.mock_stripe import search
from converge_twins.mock_stripe.api import SEARCH, names, operation
from converge_twins.mock_stripe.errors import StripeError, invalid, param_missing
from converge_twins.mock_stripe.forms import Params, as_int
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.values import INTERVALS, amount, checked_currency, currency

PRODUCT_FIELDS = names(
    """
    active default_price_data description id images marketing_features metadata name
    package_dimensions shippable statement_descriptor tax_code tax_details type unit_label url
    """
)
PRODUCT_UPDATES = names(
    """
    active default_price description images marketing_features metadata name package_dimensions
    shippable statement_descriptor tax_code tax_details unit_label url
    """
)
PRICE_FIELDS = names(
    """
    active billing_scheme currency custom_unit_amount lookup_key metadata nickname product
    product_data recurring tax_behavior transfer_lookup_key transform_quantity unit_amount
    unit_amount_decimal
    """
)
PRICE_UPDATES = frozenset(
    {"active", "lookup_key", "metadata", "nickname", "tax_behavior", "transfer_lookup_key"}
)
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")


# --- products ---------------------------------------------------------------------------------


def _features(raw: Any) -> list[Obj]:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise invalid("marketing_features", "Invalid array: marketing_features")
    return [{"name": item.get("name")} for item in raw if isinstance(item, dict)]


def _dimensions(raw: Any) -> Obj | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid("package_dimensions", "Invalid hash: package_dimensions")
    try:
        return {key: float(raw[key]) for key in ("height", "length", "weight", "width")}
    except (KeyError, ValueError):
        raise param_missing("package_dimensions[height]") from None


def new_product(call: Call, name: str | None, values: Params | None = None) -> Obj:
    if not name:
        raise param_missing("name")
    params = values or Params({})
    now = call.now()
    product_id = params.text("id") or call.new_id("prod_", 14)
    if call.store.find("product", product_id) is not None:
        raise StripeError(
            400, f"Product already exists: {product_id}", code="resource_already_exists", param="id"
        )
    product: Obj = {
        "id": product_id,
        "object": "product",
        "active": params.boolean("active") is not False,
        "created": now,
        "default_price": None,
        "description": params.text("description"),
        "images": params.strings("images"),
        "livemode": False,
        "marketing_features": _features(params.raw("marketing_features")),
        "metadata": params.metadata(),
        "name": name,
        "package_dimensions": _dimensions(params.raw("package_dimensions")),
        "shippable": params.boolean("shippable"),
        "statement_descriptor": params.text("statement_descriptor"),
        "tax_code": params.text("tax_code"),
        "type": params.choice("type", ("good", "service"), "service"),
        "unit_label": params.text("unit_label"),
        "updated": now,
        "url": params.text("url"),
    }
    call.store.put(product)
    call.emit("product.created", product)
    return product


@operation("products.create", "POST", "/v1/products", PRODUCT_FIELDS)
def create_product(call: Call) -> Obj:
    product = new_product(call, call.params.text("name", required=True), call.params)
    data = call.params.mapping("default_price_data")
    if data:
        price = new_price(call, Params(data), product_id=product["id"], param="default_price_data")
        previous = changed(product, {"default_price": price["id"]})
        call.emit("product.updated", product, previous)
    return product


@operation("products.retrieve", "GET", "/v1/products/{id}")
def retrieve_product(call: Call) -> Obj:
    # Unlike a customer, a deleted product is simply gone: Stripe's retrieve answers a product
    # or a 404, never a deleted stub.
    return call.store.get("product", call.path["id"])


@operation("products.update", "POST", "/v1/products/{id}", PRODUCT_UPDATES)
def update_product(call: Call) -> Obj:
    product = call.store.get("product", call.path["id"])
    params = call.params
    values: Obj = {}
    for name in ("description", "statement_descriptor", "tax_code", "unit_label", "url"):
        if name in params:
            values[name] = params.text(name)
    if "name" in params:
        values["name"] = params.text("name", required=True)
    for name in ("active", "shippable"):
        if name in params:
            values[name] = params.boolean(name)
    if "images" in params:
        values["images"] = params.strings("images")
    if "marketing_features" in params:
        values["marketing_features"] = _features(params.raw("marketing_features"))
    if "package_dimensions" in params:
        values["package_dimensions"] = _dimensions(params.raw("package_dimensions"))
    if "default_price" in params:
        price_id = params.text("default_price")
        if price_id is not None:
            price = call.store.get("price", price_id, "default_price")
            if price["product"] != product["id"]:
                raise invalid(
                    "default_price",
                    f"The price {price_id} does not belong to product {product['id']}.",
                )
        values["default_price"] = price_id
    if "metadata" in params:
        values["metadata"] = params.metadata(product["metadata"])
    previous = changed(product, values)
    if previous:
        product["updated"] = call.now()
        call.emit("product.updated", product, previous)
    return product


@operation("products.delete", "DELETE", "/v1/products/{id}")
def delete_product(call: Call) -> Obj:
    product = call.store.get("product", call.path["id"])
    if call.store.newest_first("price", lambda p: p["product"] == product["id"]):
        raise StripeError(
            400, "This product cannot be deleted because it has one or more user-created prices."
        )
    call.store.remove("product", product["id"])
    call.emit("product.deleted", product)
    return {"id": product["id"], "object": "product", "deleted": True}


@operation(
    "products.list",
    "GET",
    "/v1/products",
    {"active", "created", "ids", "shippable", "type", "url"},
    listing=True,
)
def list_products(call: Call) -> Obj:
    params = call.params
    active, shippable = params.boolean("active"), params.boolean("shippable")
    wanted_ids = set(params.strings("ids"))
    kind, url = params.text("type"), params.text("url")
    created = created_filter(params)
    items = call.store.newest_first(
        "product",
        lambda p: (
            (active is None or p["active"] == active)
            and (shippable is None or p["shippable"] == shippable)
            and (not wanted_ids or p["id"] in wanted_ids)
            and (kind is None or p["type"] == kind)
            and (url is None or p["url"] == url)
            and created(p)
        ),
    )
    return page(items, params, "/v1/products", "product")


@operation("products.search", "GET", "/v1/products/search", SEARCH)
def search_products(call: Call) -> Obj:
    return search_result(call, "product", search.PRODUCT_FIELDS, "products")


# --- prices -------------------------------------------------------------------------------------


def _recurring(raw: Any, param: str = "recurring") -> Obj | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid(param, f"Invalid hash: {param}")
    interval = raw.get("interval")
    if not interval:
        raise param_missing(f"{param}[interval]")
    if interval not in INTERVALS:
        raise invalid(
            f"{param}[interval]",
            f"Invalid {param}[interval]: must be one of day, week, month, or year",
        )
    count = as_int(raw.get("interval_count", "1"), f"{param}[interval_count]")
    limits = {"day": 1095, "week": 156, "month": 36, "year": 3}
    if not 1 <= count <= limits[interval]:
        raise invalid(
            f"{param}[interval_count]",
            "The maximum billing frequency is three years (1095 days, 156 weeks or 36 months).",
        )
    usage = raw.get("usage_type", "licensed")
    if usage not in ("licensed", "metered"):
        raise invalid(f"{param}[usage_type]", "Invalid usage_type: must be licensed or metered")
    trial = raw.get("trial_period_days")
    return {
        "interval": interval,
        "interval_count": count,
        "meter": raw.get("meter") or None,
        "trial_period_days": as_int(trial, f"{param}[trial_period_days]") if trial else None,
        "usage_type": usage,
    }


def new_price(call: Call, params: Params, *, product_id: str | None = None, param: str = "") -> Obj:
    """A price from create-price parameters (also ``price_data`` and ``default_price_data``)."""
    prefix = f"{param}[" if param else ""
    suffix = "]" if param else ""

    def name(field: str) -> str:
        return f"{prefix}{field}{suffix}"

    code = params.text("currency")
    if code is None:
        raise param_missing(name("currency"))
    code = checked_currency(code, name("currency"))
    if product_id is None:
        product_id = params.text("product")
        if product_id:
            call.store.get("product", product_id, name("product"))
        else:
            data = params.mapping("product_data")
            if not data:
                raise param_missing(name("product"))
            product_id = new_product(call, data.get("name"), Params(data))["id"]
    unit_amount = _unit_amount(params, name)
    custom = params.mapping("custom_unit_amount")
    if unit_amount is None and not custom:
        raise StripeError(
            400,
            "You must pass either `unit_amount`, `unit_amount_decimal`, or `custom_unit_amount` "
            "(or `billing_scheme=tiered`).",
            code="parameter_missing",
            param=name("unit_amount"),
        )
    recurring = _recurring(params.raw("recurring"), name("recurring"))
    lookup_key = params.text("lookup_key")
    if lookup_key:
        for other in call.store.newest_first("price", lambda p: p["lookup_key"] == lookup_key):
            if not params.boolean("transfer_lookup_key"):
                raise invalid(
                    name("lookup_key"),
                    f"A price (`{other['id']}`) already uses that lookup key.",
                )
            previous = changed(other, {"lookup_key": None})
            call.emit("price.updated", other, previous)
    price: Obj = {
        "id": call.new_id("price_"),
        "object": "price",
        "active": params.boolean("active") is not False,
        "billing_scheme": "per_unit",
        "created": call.now(),
        "currency": code,
        "custom_unit_amount": _custom(custom) if custom else None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": params.metadata(),
        "nickname": params.text("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": params.choice("tax_behavior", TAX_BEHAVIORS, "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
    }
    call.store.put(price)
    call.emit("price.created", price)
    return price


def _unit_amount(params: Params, name: Any) -> int | None:
    if "unit_amount" in params:
        return amount(params.integer("unit_amount"), name("unit_amount"))
    decimal = params.text("unit_amount_decimal")
    if decimal is None:
        return None
    try:
        value = float(decimal)
    except ValueError:
        raise invalid(name("unit_amount_decimal"), f"Invalid decimal: {decimal}") from None
    return amount(round(value), name("unit_amount_decimal"))


def _custom(raw: dict[str, Any]) -> Obj:
    def number(key: str) -> int | None:
        value = raw.get(key)
        return as_int(value, f"custom_unit_amount[{key}]") if value else None

    return {"maximum": number("maximum"), "minimum": number("minimum"), "preset": number("preset")}


def price_from(call: Call, entry: dict[str, Any], param: str, product_id: str | None = None) -> Obj:
    """The price an item names (``price``) or describes (``price_data``), for checkout,
    subscriptions and invoices."""
    price_id = entry.get("price")
    if isinstance(price_id, str) and price_id:
        return call.store.get("price", price_id, f"{param}[price]")
    data = entry.get("price_data")
    if not isinstance(data, dict):
        raise param_missing(f"{param}[price]")
    inline = Params(data)
    product = product_id or inline.text("product")
    if product:
        call.store.get("product", product, f"{param}[price_data][product]")
    elif not inline.mapping("product_data"):
        raise param_missing(f"{param}[price_data][product]")
    price = new_price(call, inline, product_id=product, param=f"{param}[price_data]")
    price["active"] = False  # Stripe archives prices made inline: they are for this use only
    return price


@operation("prices.create", "POST", "/v1/prices", PRICE_FIELDS)
def create_price(call: Call) -> Obj:
    if "currency" not in call.params:
        raise param_missing("currency")
    currency(call.params)
    return new_price(call, call.params)


@operation("prices.retrieve", "GET", "/v1/prices/{price}")
def retrieve_price(call: Call) -> Obj:
    return call.store.get("price", call.path["price"])


@operation("prices.update", "POST", "/v1/prices/{price}", PRICE_UPDATES)
def update_price(call: Call) -> Obj:
    price = call.store.get("price", call.path["price"])
    params = call.params
    values: Obj = {}
    if "nickname" in params:
        values["nickname"] = params.text("nickname")
    if "active" in params:
        values["active"] = params.boolean("active")
    if "tax_behavior" in params:
        values["tax_behavior"] = params.choice("tax_behavior", TAX_BEHAVIORS)
    if "lookup_key" in params:
        key = params.text("lookup_key")
        for other in call.store.newest_first(
            "price", lambda p: key is not None and p["lookup_key"] == key and p is not price
        ):
            if not params.boolean("transfer_lookup_key"):
                raise invalid(
                    "lookup_key", f"A price (`{other['id']}`) already uses that lookup key."
                )
            call.emit("price.updated", other, changed(other, {"lookup_key": None}))
        values["lookup_key"] = key
    if "metadata" in params:
        values["metadata"] = params.metadata(price["metadata"])
    previous = changed(price, values)
    if previous:
        call.emit("price.updated", price, previous)
    return price


@operation(
    "prices.list",
    "GET",
    "/v1/prices",
    {"active", "created", "currency", "lookup_keys", "product", "recurring", "type"},
    listing=True,
)
def list_prices(call: Call) -> Obj:
    params = call.params
    keys = set(params.strings("lookup_keys"))
    active = params.boolean("active")
    product, kind = params.text("product"), params.text("type")
    code = params.text("currency")
    interval = params.mapping("recurring").get("interval")
    created = created_filter(params)
    items = call.store.newest_first(
        "price",
        lambda p: (
            (not keys or p["lookup_key"] in keys)
            and (active is None or p["active"] == active)
            and (product is None or p["product"] == product)
            and (kind is None or p["type"] == kind)
            and (code is None or p["currency"] == code.lower())
            and (interval is None or (p["recurring"] or {}).get("interval") == interval)
            and created(p)
        ),
    )
    return page(items, params, "/v1/prices", "price")


@operation("prices.search", "GET", "/v1/prices/search", SEARCH)
def search_prices(call: Call) -> Obj:
    return search_result(call, "price", search.PRICE_FIELDS, "prices")


# --- search, shared by every searchable resource ---------------------------------------------


def search_result(call: Call, kind: str, fields: dict[str, search.Field], resource: str) -> Obj:
    params = call.params
    query = params.text("query", required=True) or ""
    selects = search.matcher(query, fields, resource)
    limit = params.integer("limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise invalid("limit", f"Invalid limit: must be at least 1 and at most 100 (got {limit})")
    found = [copy.deepcopy(obj) for obj in call.store.newest_first(kind, selects)]
    start = search.page_offset(params.text("page"))
    chosen = found[start : start + limit]
    more = start + limit < len(found)
    return {
        "object": "search_result",
        "data": chosen,
        "has_more": more,
        "next_page": search.page_token(start + limit) if more else None,
        "url": f"/v1/{resource}/search",
        "_total": len(found),  # shown as total_count only with expand[]=total_count
    }
