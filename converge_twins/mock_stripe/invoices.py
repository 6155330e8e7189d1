"""Invoices: ``/v1/invoices``, their lines, and previews of the next one.

A ``draft`` invoice's lines can be added, changed and removed (and it can be deleted); then it is
finalized, paid, sent, voided or marked uncollectible (:mod:`~converge_twins.mock_stripe.invoicing`
does the work). ``create_preview`` shows the next invoice of a subscription, with the changes
asked for and their prorations, without changing anything.
"""

from __future__ import annotations

import copy
from typing import Any

from converge_twins.mock_stripe import payments, search
from converge_twins.mock_stripe.api import SEARCH, names, operation
from converge_twins.mock_stripe.catalog import price_from, search_result
from converge_twins.mock_stripe.errors import (
    StripeError,
    invalid,
    missing,
    param_missing,
    state_error,
)
from converge_twins.mock_stripe.forms import Params, as_int, merge_metadata
from converge_twins.mock_stripe.invoicing import (
    add_line,
    attempt,
    finalize,
    intent_of,
    live_customer,
    mark_paid,
    new_invoice,
    record_payment,
    totals,
    void,
)
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.subscribing import (
    PRORATIONS,
    bill,
    change_items,
    new_subscription,
    next_end,
    period_of,
)
from converge_twins.mock_stripe.values import checked_currency

CREATE_FIELDS = names(
    """
    customer auto_advance collection_method currency custom_fields days_until_due
    default_payment_method default_source default_tax_rates description discounts due_date
    effective_at footer metadata number on_behalf_of payment_settings
    pending_invoice_items_behavior rendering shipping_cost shipping_details statement_descriptor
    subscription automatic_tax account_tax_ids issuer transfer_data application_fee_amount
    """
)
DRAFT_UPDATES = names(
    """
    auto_advance collection_method custom_fields days_until_due default_payment_method
    default_source default_tax_rates description discounts due_date effective_at footer metadata
    number on_behalf_of payment_settings rendering shipping_cost shipping_details
    statement_descriptor automatic_tax account_tax_ids issuer transfer_data
    application_fee_amount
    """
)
FINALIZED_UPDATES = frozenset(
    {"metadata", "auto_advance", "default_payment_method", "description", "footer", "rendering"}
)
LINE_FIELDS = names(
    """
    amount description discountable discounts invoice_item metadata period price_data pricing
    quantity quantity_decimal tax_amounts tax_rates
    """
)


@operation("invoices.create", "POST", "/v1/invoices", CREATE_FIELDS)
def create_invoice(call: Call) -> Obj:
    params = call.params
    customer = live_customer(call, params.required_text("customer"))
    method = params.choice(
        "collection_method", ("charge_automatically", "send_invoice"), "charge_automatically"
    )
    days = params.integer("days_until_due", minimum=0)
    if method == "send_invoice" and days is None and "due_date" not in params:
        raise StripeError(
            400,
            "Invoices with `collection_method=send_invoice` must have either `due_date` or "
            "`days_until_due` set.",
            param="days_until_due",
        )
    pm = params.text("default_payment_method")
    if pm:
        call.store.get("payment_method", pm, "default_payment_method")
    code = params.text("currency")
    invoice = new_invoice(
        call,
        customer,
        currency=checked_currency(code) if code else (customer["currency"] or "usd"),
        collection_method=str(method),
        auto_advance=params.boolean("auto_advance") is True,
        days_until_due=days,
        metadata=params.metadata(),
        description=params.text("description"),
        default_payment_method=pm,
    )
    if "due_date" in params:
        invoice["due_date"] = params.integer("due_date")
    for name in ("footer", "statement_descriptor", "number"):
        if name in params:
            invoice[name] = params.text(name)
    subscription = params.text("subscription")
    if subscription:
        sub = call.store.get("subscription", subscription, "subscription")
        invoice["parent"] = {
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        }
    call.emit("invoice.created", invoice)
    return invoice


@operation("invoices.retrieve", "GET", "/v1/invoices/{invoice}")
def retrieve_invoice(call: Call) -> Obj:
    invoice_id = call.path["invoice"]
    if call.store.was_deleted("invoice", invoice_id):
        raise missing("invoice", invoice_id)
    return call.store.get("invoice", invoice_id)


@operation("invoices.update", "POST", "/v1/invoices/{invoice}", DRAFT_UPDATES)
def update_invoice(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    params = call.params
    if invoice["status"] != "draft":
        blocked = sorted(
            name for name in params.values if name not in FINALIZED_UPDATES and name != "expand"
        )
        if blocked:
            raise invalid(blocked[0], "Finalized invoices can't be updated in this way.")
    values: Obj = {}
    for name in ("description", "footer", "statement_descriptor", "number"):
        if name in params:
            values[name] = params.text(name)
    if "auto_advance" in params:
        values["auto_advance"] = params.boolean("auto_advance")
    if "collection_method" in params:
        values["collection_method"] = params.choice(
            "collection_method", ("charge_automatically", "send_invoice")
        )
    if "days_until_due" in params:
        days = params.integer("days_until_due", minimum=0)
        values["due_date"] = call.now() + 86_400 * days if days is not None else None
    if "due_date" in params:
        values["due_date"] = params.integer("due_date")
    if "default_payment_method" in params:
        pm = params.text("default_payment_method")
        if pm:
            call.store.get("payment_method", pm, "default_payment_method")
        values["default_payment_method"] = pm
    if "metadata" in params:
        values["metadata"] = params.metadata(invoice["metadata"])
    previous = changed(invoice, values)
    if previous:
        call.emit("invoice.updated", invoice, previous)
    return invoice


@operation("invoices.delete", "DELETE", "/v1/invoices/{invoice}")
def delete_invoice(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if invoice["status"] != "draft":
        raise state_error("You can only delete draft invoices.")
    call.store.remove("invoice", invoice["id"])
    call.emit("invoice.deleted", invoice)
    return {"id": invoice["id"], "object": "invoice", "deleted": True}


@operation(
    "invoices.list",
    "GET",
    "/v1/invoices",
    names(
        """
        collection_method created customer customer_account due_date status subscription
        """
    ),
    listing=True,
)
def list_invoices(call: Call) -> Obj:
    params = call.params
    customer, status = params.text("customer"), params.text("status")
    subscription, method = params.text("subscription"), params.text("collection_method")
    if status is not None and status not in ("draft", "open", "paid", "uncollectible", "void"):
        raise invalid(
            "status", "Invalid status: must be one of draft, open, paid, uncollectible, or void"
        )
    created = created_filter(params)

    def keep(invoice: Obj) -> bool:
        parent = ((invoice["parent"] or {}).get("subscription_details") or {}).get("subscription")
        return (
            (customer is None or invoice["customer"] == customer)
            and (status is None or invoice["status"] == status)
            and (subscription is None or parent == subscription)
            and (method is None or invoice["collection_method"] == method)
            and created(invoice)
        )

    return page(call.store.newest_first("invoice", keep), params, "/v1/invoices", "invoice")


@operation("invoices.search", "GET", "/v1/invoices/search", SEARCH)
def search_invoices(call: Call) -> Obj:
    return search_result(call, "invoice", search.INVOICE_FIELDS, "invoices")


def _draft(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if invoice["status"] != "draft":
        raise state_error("You can only change the lines of a draft invoice.")
    return invoice


def _line_values(call: Call, invoice: Obj, entry: dict[str, Any], param: str) -> Obj:
    """The amount, price and description one ``lines[n]`` entry asks for."""
    if "pricing" in entry or "price_data" in entry:
        pricing = entry.get("pricing")
        source = dict(entry)
        if isinstance(pricing, dict) and pricing.get("price"):
            source["price"] = pricing["price"]
        price = price_from(call, source, param)
        if price["currency"] != invoice["currency"]:
            raise invalid(
                f"{param}[pricing][price]",
                f"The price's currency does not match the invoice's ({invoice['currency']}).",
            )
        quantity = as_int(entry.get("quantity", "1"), f"{param}[quantity]")
        return {
            "price": price,
            "quantity": quantity,
            "amount": int(price["unit_amount"] or 0) * quantity,
            "description": entry.get("description") or _product_name(call, price),
        }
    if "amount" not in entry:
        raise param_missing(f"{param}[amount]")
    return {
        "price": None,
        "quantity": as_int(entry.get("quantity", "1"), f"{param}[quantity]"),
        "amount": as_int(entry["amount"], f"{param}[amount]"),
        "description": entry.get("description"),
    }


def _product_name(call: Call, price: Obj) -> str | None:
    product = call.store.find("product", price["product"])
    return product["name"] if product else None


@operation(
    "invoices.add_lines", "POST", "/v1/invoices/{invoice}/add_lines", {"lines", "invoice_metadata"}
)
def add_lines(call: Call) -> Obj:
    invoice = _draft(call)
    entries = call.params.items("lines")
    if not entries:
        raise param_missing("lines")
    for index, entry in enumerate(entries):
        values = _line_values(call, invoice, entry, f"lines[{index}]")
        add_line(
            call,
            invoice,
            amount=values["amount"],
            description=values["description"],
            price=values["price"],
            quantity=values["quantity"],
            metadata=merge_metadata(entry.get("metadata"), None, f"lines[{index}][metadata]"),
        )
    call.emit("invoice.updated", invoice, {"lines": {}})
    return invoice


def _line(invoice: Obj, line_id: str, param: str) -> Obj:
    lines: list[Obj] = invoice["lines"]["data"]
    for line in lines:
        if line["id"] == line_id:
            return line
    raise missing("invoice line item", line_id, param)


def _update_line(call: Call, invoice: Obj, line: Obj, entry: dict[str, Any], param: str) -> None:
    if "description" in entry:
        line["description"] = entry["description"] or None
    if "metadata" in entry:
        line["metadata"] = merge_metadata(entry["metadata"], line["metadata"], f"{param}[metadata]")
    if "amount" in entry or "pricing" in entry or "price_data" in entry or "quantity" in entry:
        merged = {"amount": str(line["amount"]), **entry}
        values = _line_values(call, invoice, merged, param)
        line.update(amount=values["amount"], subtotal=values["amount"], quantity=values["quantity"])
    totals(invoice)


@operation(
    "invoices.update_lines",
    "POST",
    "/v1/invoices/{invoice}/update_lines",
    {"lines", "invoice_metadata"},
)
def update_lines(call: Call) -> Obj:
    invoice = _draft(call)
    for index, entry in enumerate(call.params.items("lines")):
        param = f"lines[{index}]"
        if not entry.get("id"):
            raise param_missing(f"{param}[id]")
        _update_line(call, invoice, _line(invoice, str(entry["id"]), f"{param}[id]"), entry, param)
    call.emit("invoice.updated", invoice, {"lines": {}})
    return invoice


@operation(
    "invoices.remove_lines",
    "POST",
    "/v1/invoices/{invoice}/remove_lines",
    {"lines", "invoice_metadata"},
)
def remove_lines(call: Call) -> Obj:
    invoice = _draft(call)
    for index, entry in enumerate(call.params.items("lines")):
        param = f"lines[{index}]"
        if not entry.get("id"):
            raise param_missing(f"{param}[id]")
        if entry.get("behavior") not in ("delete", "unassign"):
            raise param_missing(f"{param}[behavior]")
        line = _line(invoice, str(entry["id"]), f"{param}[id]")
        invoice["lines"]["data"].remove(line)
    totals(invoice)
    call.emit("invoice.updated", invoice, {"lines": {}})
    return invoice


@operation("invoices.line_items.list", "GET", "/v1/invoices/{invoice}/lines", listing=True)
def list_lines(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    url = f"/v1/invoices/{invoice['id']}/lines"
    return page(list(invoice["lines"]["data"]), call.params, url, "line_item")


@operation(
    "invoices.line_items.update", "POST", "/v1/invoices/{invoice}/lines/{line_item_id}", LINE_FIELDS
)
def update_line(call: Call) -> Obj:
    invoice = _draft(call)
    line = _line(invoice, call.path["line_item_id"], "line_item_id")
    _update_line(call, invoice, line, call.params.values, "")
    return line


@operation("invoices.finalize_invoice", "POST", "/v1/invoices/{invoice}/finalize", {"auto_advance"})
def finalize_invoice(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if "auto_advance" in call.params:
        invoice["auto_advance"] = call.params.boolean("auto_advance")
    return finalize(call, invoice)


@operation(
    "invoices.pay",
    "POST",
    "/v1/invoices/{invoice}/pay",
    {"forgive", "mandate", "off_session", "paid_out_of_band", "payment_method", "source"},
)
def pay_invoice(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if invoice["status"] == "draft":
        finalize(call, invoice)
        if invoice["status"] == "paid":
            return invoice
    if invoice["status"] == "paid":
        raise state_error("Invoice is already paid")
    if invoice["status"] == "void":
        raise state_error("This invoice has been voided and can no longer be paid.")
    if call.params.boolean("paid_out_of_band"):
        intent = intent_of(call, invoice)
        if intent is not None and intent["status"] in payments.CANCELABLE:
            payments.cancel(call, intent, None)
        mark_paid(call, invoice, out_of_band=True)
        return invoice
    method = call.params.text("payment_method")
    if intent_of(call, invoice) is None:
        intent = payments.new_intent(
            call,
            invoice["amount_remaining"],
            invoice["currency"],
            customer=invoice["customer"],
            payment_method_types=["card"],
        )
        call.account.invoice_of[intent["id"]] = invoice["id"]
        record_payment(call, invoice, intent)
    return attempt(call, invoice, method, raise_decline=True)


@operation("invoices.send_invoice", "POST", "/v1/invoices/{invoice}/send")
def send_invoice(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if invoice["status"] == "draft":
        finalize(call, invoice)
    if invoice["status"] not in ("open", "uncollectible"):
        raise state_error(f"You can only send open invoices; this one is {invoice['status']}.")
    call.emit("invoice.sent", invoice)
    return invoice


@operation("invoices.void_invoice", "POST", "/v1/invoices/{invoice}/void")
def void_invoice(call: Call) -> Obj:
    return void(call, call.store.get("invoice", call.path["invoice"]))


@operation("invoices.mark_uncollectible", "POST", "/v1/invoices/{invoice}/mark_uncollectible")
def mark_uncollectible(call: Call) -> Obj:
    invoice = call.store.get("invoice", call.path["invoice"])
    if invoice["status"] != "open":
        raise state_error(
            f"You can only mark open invoices as uncollectible; this one is {invoice['status']}."
        )
    invoice["status"] = "uncollectible"
    invoice["status_transitions"]["marked_uncollectible_at"] = call.now()
    invoice["next_payment_attempt"] = None
    call.emit("invoice.marked_uncollectible", invoice)
    return invoice


@operation(
    "invoices.create_preview",
    "POST",
    "/v1/invoices/create_preview",
    names(
        """
        automatic_tax currency customer customer_details discounts invoice_items issuer
        on_behalf_of preview_mode schedule schedule_details subscription subscription_details
        """
    ),
)
def create_preview(call: Call) -> Obj:
    params = call.params
    details = Params(params.mapping("subscription_details"))
    subscription_id = params.text("subscription")
    if subscription_id:
        current = call.store.get("subscription", subscription_id, "subscription")
        customer = call.store.get("customer", current["customer"])
    else:
        customer_id = params.text("customer")
        if not customer_id:
            raise StripeError(
                400,
                "Missing required param: customer or subscription.",
                code="parameter_missing",
                param="customer",
            )
        customer = live_customer(call, customer_id)
        current = None
    # Work on copies: a preview changes nothing, not even the id sequence's meaning.
    snapshot = call.store.snapshot()
    pending = copy.deepcopy(call.account.pending_lines)
    counters = dict(call.account.counters)
    silent = Call(call.stripe, call.account, Params({}), {}, "POST", "", None, None, call.version)
    try:
        if current is not None:
            subscription = call.store.get("subscription", current["id"])
            raw = details.items("items")
            if raw:
                proration = str(
                    details.choice("proration_behavior", PRORATIONS, "create_prorations")
                )
                change_items(silent, subscription, raw, proration)
            _, end = period_of(subscription)
            new_end = next_end(end, subscription["items"]["data"][0]["price"])
            for item in subscription["items"]["data"]:
                item.update(current_period_start=end, current_period_end=new_end)
            invoice = bill(silent, subscription, "upcoming", (end, new_end))
        else:
            raw = details.items("items")
            if not raw:
                raise param_missing("subscription_details[items]")
            subscription = new_subscription(
                silent, customer, Params({"items": raw, "payment_behavior": "default_incomplete"})
            )
            invoice = call.store.get("invoice", str(subscription["latest_invoice"]))
            if invoice["status"] != "draft":
                invoice = copy.deepcopy(invoice)
        preview = copy.deepcopy(invoice)
    finally:
        restored = call.store
        restored.objects, restored.deleted = snapshot["objects"], snapshot["deleted"]
        call.account.pending_lines = pending
        call.account.counters = counters
        for event in silent.events:
            if call.stripe.webhooks is not None:
                call.stripe.webhooks.forget(event)
    preview.update(
        id=f"upcoming_{preview['id']}",
        status="draft",
        number=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
    )
    preview["status_transitions"] = {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    }
    preview["amount_paid"] = 0
    preview["amount_remaining"] = preview["amount_due"]
    return preview
