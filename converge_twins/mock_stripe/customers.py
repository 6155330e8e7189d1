"""Customers: ``/v1/customers``.

A deleted customer still answers ``GET`` as ``{"id", "object": "customer", "deleted": true}``
(and is gone from lists and search); deleting one cancels its subscriptions. ``payment_method``
on create attaches a payment method (a test token such as ``pm_card_visa`` makes a new one), and
``invoice_settings[default_payment_method]`` may name it by the same token.
"""

from __future__ import annotations

import copy

from converge_twins.mock_stripe import payments, search, subscribing
from converge_twins.mock_stripe.api import SEARCH, names, operation
from converge_twins.mock_stripe.catalog import search_result
from converge_twins.mock_stripe.errors import StripeError, invalid, missing
from converge_twins.mock_stripe.expand import includable
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.values import address, shipping

CREATE_FIELDS = names(
    """
    address balance business_name cash_balance description email individual_name invoice_prefix
    invoice_settings metadata name next_invoice_sequence payment_method phone preferred_locales
    shipping source tax tax_exempt tax_id_data test_clock validate
    """
)
UPDATE_FIELDS = names(
    """
    address balance business_name cash_balance default_source description email individual_name
    invoice_prefix invoice_settings metadata name next_invoice_sequence phone preferred_locales
    shipping source tax tax_exempt validate
    """
)
TAX_EXEMPT = ("exempt", "none", "reverse")


def _invoice_prefix(call: Call) -> str:
    return call.stripe.twin.ids.token(8, "ABCDEF0123456789")


def _default_method(call: Call, customer: Obj, attached: dict[str, str]) -> str | None:
    settings = call.params.mapping("invoice_settings")
    value = settings.get("default_payment_method")
    if not value:
        return None
    if value in attached:
        return attached[value]
    pm = call.store.find("payment_method", str(value))
    if pm is None or pm["customer"] != customer["id"]:
        raise invalid(
            "invoice_settings[default_payment_method]",
            f"No such PaymentMethod: '{value}'; it must be attached to this customer first.",
            code="resource_missing",
        )
    return str(pm["id"])


@operation("customers.create", "POST", "/v1/customers", CREATE_FIELDS)
def create_customer(call: Call) -> Obj:
    params = call.params
    prefix = params.text("invoice_prefix")
    if prefix is not None and not (3 <= len(prefix) <= 12 and prefix.isalnum()):
        raise invalid(
            "invoice_prefix", "Invalid invoice_prefix: 3 to 12 uppercase letters or numbers."
        )
    customer: Obj = {
        "id": call.new_id("cus_", 14),
        "object": "customer",
        "address": address(params.raw("address")),
        "balance": params.integer("balance") or 0,
        "created": call.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.text("description"),
        "discount": None,
        "email": params.text("email", max_length=512),
        "invoice_prefix": (prefix or _invoice_prefix(call)).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": params.mapping("invoice_settings").get("footer") or None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": params.metadata(),
        "name": params.text("name", max_length=256),
        "next_invoice_sequence": params.integer("next_invoice_sequence", minimum=1) or 1,
        "phone": params.text("phone", max_length=20),
        "preferred_locales": params.strings("preferred_locales"),
        "shipping": shipping(params.raw("shipping")),
        "tax_exempt": params.choice("tax_exempt", TAX_EXEMPT, "none"),
        "test_clock": None,
    }
    call.store.put(customer)
    attached: dict[str, str] = {}
    try:
        value = params.text("payment_method")
        if value:
            attached[value] = payments.attach(call, value, customer["id"], "payment_method")["id"]
        customer["invoice_settings"]["default_payment_method"] = _default_method(
            call, customer, attached
        )
    except StripeError:
        call.store.objects["customer"].pop(customer["id"])  # Stripe creates nothing on an error
        raise
    call.emit("customer.created", customer)
    return customer


@operation("customers.retrieve", "GET", "/v1/customers/{customer}")
def retrieve_customer(call: Call) -> Obj:
    customer_id = call.path["customer"]
    if call.store.was_deleted("customer", customer_id):
        return {"id": customer_id, "object": "customer", "deleted": True}
    return call.store.get("customer", customer_id)


def _live(call: Call) -> Obj:
    customer_id = call.path["customer"]
    if call.store.was_deleted("customer", customer_id):
        raise missing("customer", customer_id)
    return call.store.get("customer", customer_id)


@operation("customers.update", "POST", "/v1/customers/{customer}", UPDATE_FIELDS)
def update_customer(call: Call) -> Obj:
    customer = _live(call)
    params = call.params
    values: Obj = {}
    for name, limit in (("email", 512), ("name", 256), ("description", 5000), ("phone", 20)):
        if name in params:
            values[name] = params.text(name, max_length=limit)
    if "address" in params:
        values["address"] = address(params.raw("address"))
    if "shipping" in params:
        values["shipping"] = shipping(params.raw("shipping"))
    if "balance" in params:
        values["balance"] = params.integer("balance") or 0
    if "tax_exempt" in params:
        values["tax_exempt"] = params.choice("tax_exempt", TAX_EXEMPT, "none")
    if "preferred_locales" in params:
        values["preferred_locales"] = params.strings("preferred_locales")
    if "invoice_prefix" in params:
        values["invoice_prefix"] = (params.text("invoice_prefix") or "").upper() or None
    if "next_invoice_sequence" in params:
        values["next_invoice_sequence"] = params.integer("next_invoice_sequence", minimum=1)
    if "invoice_settings" in params:
        settings = copy.deepcopy(customer["invoice_settings"])
        raw = params.mapping("invoice_settings")
        if "default_payment_method" in raw:
            settings["default_payment_method"] = _default_method(call, customer, {})
        if "footer" in raw:
            settings["footer"] = raw["footer"] or None
        values["invoice_settings"] = settings
    if "metadata" in params:
        values["metadata"] = params.metadata(customer["metadata"])
    previous = changed(customer, values)
    if previous:
        call.emit("customer.updated", customer, previous)
    return customer


@operation("customers.delete", "DELETE", "/v1/customers/{customer}")
def delete_customer(call: Call) -> Obj:
    customer = _live(call)
    for subscription in call.store.newest_first(
        "subscription", lambda s: s["customer"] == customer["id"]
    ):
        if subscription["status"] not in subscribing.ENDED:
            subscribing.cancel(call, subscription)
    call.store.remove("customer", customer["id"])
    call.emit("customer.deleted", customer)
    return {"id": customer["id"], "object": "customer", "deleted": True}


@operation("customers.delete_discount", "DELETE", "/v1/customers/{customer}/discount")
def delete_discount(call: Call) -> Obj:
    customer = _live(call)
    raise StripeError(
        404,
        f"No active discount for customer: '{customer['id']}'",
        code="resource_missing",
        param="customer",
    )


@operation(
    "customers.list", "GET", "/v1/customers", {"created", "email", "test_clock"}, listing=True
)
def list_customers(call: Call) -> Obj:
    email = call.params.text("email", max_length=512)
    created = created_filter(call.params)
    items = call.store.newest_first(
        "customer", lambda c: (email is None or c["email"] == email) and created(c)
    )
    return page(items, call.params, "/v1/customers", "customer")


@operation("customers.search", "GET", "/v1/customers/search", SEARCH)
def search_customers(call: Call) -> Obj:
    return search_result(call, "customer", search.CUSTOMER_FIELDS, "customers")


def _empty_list(url: str) -> Obj:
    return {"object": "list", "data": [], "has_more": False, "url": url}


@includable("customer", "tax_ids")
def _tax_ids(call: Call, customer: Obj) -> Obj:
    return _empty_list(f"/v1/customers/{customer['id']}/tax_ids")


@includable("customer", "sources")
def _sources(call: Call, customer: Obj) -> Obj:
    return _empty_list(f"/v1/customers/{customer['id']}/sources")
