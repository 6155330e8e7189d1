"""Invoices as Stripe keeps them: built, finalized, paid, voided; the payments behind them.

An invoice is a ``draft``, then finalized: ``open`` with a number and hosted URLs, and for
``charge_automatically`` a payment intent for the amount due. Paying it (``pay``, confirming its
payment intent, a subscription charging its own invoice) makes it ``paid``; an open invoice can
instead be voided or marked uncollectible. A zero invoice is paid as it is finalized. The
payment intent is reached through ``expand[]=payments``
(``invoice.payments.data[].payment.payment_intent``), and ``expand[]=confirmation_secret`` gives
its client secret, as in today's API. Subscriptions follow their invoices through
:data:`ON_PAID` and :data:`ON_PAYMENT_FAILED`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from converge_twins.mock_stripe import payments
from converge_twins.mock_stripe.errors import StripeError, missing, state_error
from converge_twins.mock_stripe.expand import includable
from converge_twins.mock_stripe.state import Call
from converge_twins.mock_stripe.store import Obj

AUTOMATIC_COLLECTION_DELAY = 3600  # Stripe attempts an auto-advancing invoice an hour after
InvoiceHook = Callable[[Call, Obj], None]
ON_PAID: list[InvoiceHook] = []  # subscriptions follow their invoices
ON_PAYMENT_FAILED: list[InvoiceHook] = []

# --- building --------------------------------------------------------------------------------


def new_invoice(
    call: Call,
    customer: Obj,
    *,
    currency: str = "usd",
    billing_reason: str = "manual",
    collection_method: str = "charge_automatically",
    subscription: Obj | None = None,
    auto_advance: bool = False,
    days_until_due: int | None = None,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    default_payment_method: str | None = None,
    period: tuple[int, int] | None = None,
) -> Obj:
    now = call.now()
    start, end = period or (now, now)
    invoice: Obj = {
        "id": call.new_id("in_"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "mock-stripe",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": now + AUTOMATIC_COLLECTION_DELAY if auto_advance else None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": copy.deepcopy(customer["address"]),
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": copy.deepcopy(customer["shipping"]),
        "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": now + 86_400 * days_until_due if days_until_due is not None else None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
        if subscription
        else None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": {
            "amount_tax_display": None,
            "pdf": {"page_size": "auto"},
            "template": None,
            "template_version": None,
        },
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
    invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
    call.store.put(invoice)
    return invoice


def add_line(
    call: Call,
    invoice: Obj,
    *,
    amount: int,
    description: str | None,
    price: Obj | None = None,
    quantity: int = 1,
    period: tuple[int, int] | None = None,
    subscription_item: Obj | None = None,
    proration: bool = False,
    metadata: dict[str, str] | None = None,
    discountable: bool = True,
) -> Obj:
    start, end = period or (invoice["period_start"], invoice["period_end"])
    subscription = (invoice["parent"] or {}).get("subscription_details", {}).get("subscription")
    details: Obj = {"credited_items": None} if proration else None  # type: ignore[assignment]
    if subscription_item is not None:
        parent: Obj = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": details,
                "subscription": subscription_item["subscription"],
                "subscription_item": subscription_item["id"],
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": call.new_id("ii_"),
                "proration": proration,
                "proration_details": details,
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    line: Obj = {
        "id": call.new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": discountable and not proration,
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": dict(metadata or {}),
        "parent": parent,
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        }
        if price
        else None,
        "quantity": quantity,
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }
    invoice["lines"]["data"].append(line)
    totals(invoice)
    return line


def totals(invoice: Obj) -> None:
    subtotal = sum(int(line["amount"]) for line in invoice["lines"]["data"])
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=max(0, subtotal),
        amount_remaining=max(0, subtotal) - invoice["amount_paid"],
    )


def live_customer(call: Call, customer_id: str, param: str = "customer") -> Obj:
    if call.store.was_deleted("customer", customer_id):
        raise missing("customer", customer_id, param)
    return call.store.get("customer", customer_id, param)


def default_method(call: Call, invoice: Obj) -> str | None:
    """The payment method an invoice is charged with when none is given."""
    if invoice["default_payment_method"]:
        return str(invoice["default_payment_method"])
    subscription_id = ((invoice["parent"] or {}).get("subscription_details") or {}).get(
        "subscription"
    )
    if subscription_id:
        subscription = call.store.find("subscription", subscription_id)
        if subscription and subscription["default_payment_method"]:
            return str(subscription["default_payment_method"])
    customer = call.store.find("customer", invoice["customer"])
    if customer:
        chosen = customer["invoice_settings"]["default_payment_method"]
        return str(chosen) if chosen else None
    return None


# --- lifecycle ---------------------------------------------------------------------------------


def finalize(call: Call, invoice: Obj) -> Obj:
    if invoice["status"] != "draft":
        raise state_error(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    now = call.now()
    customer = call.store.find("customer", invoice["customer"])
    if invoice["number"] is None:
        prefix = customer["invoice_prefix"] if customer else "MOCK"
        sequence = customer["next_invoice_sequence"] if customer else 1
        if customer:
            customer["next_invoice_sequence"] = sequence + 1
        invoice["number"] = f"{prefix}-{sequence:04d}"
    token = call.token(40)
    base = call.stripe.base_url
    invoice.update(
        status="open",
        effective_at=invoice["effective_at"] or now,
        hosted_invoice_url=f"{base}/i/{token}",
        invoice_pdf=f"{base}/i/{token}/pdf",
        automatically_finalizes_at=None,
        webhooks_delivered_at=now,
    )
    invoice["status_transitions"]["finalized_at"] = now
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = now + 30 * 86_400
    call.stripe.hosted[token] = (call.account.id, invoice["id"])
    if invoice["amount_due"] > 0 and invoice["collection_method"] == "charge_automatically":
        intent = payments.new_intent(
            call,
            invoice["amount_due"],
            invoice["currency"],
            customer=invoice["customer"],
            description=_intent_description(invoice),
            payment_method_types=["card"],
        )
        call.account.invoice_of[intent["id"]] = invoice["id"]
        record_payment(call, invoice, intent)
        if invoice["auto_advance"]:
            invoice["next_payment_attempt"] = now + AUTOMATIC_COLLECTION_DELAY
    call.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:
        mark_paid(call, invoice)
    return invoice


def _intent_description(invoice: Obj) -> str:
    return {
        "subscription_create": "Subscription creation",
        "subscription_cycle": "Subscription update",
        "subscription_update": "Subscription update",
    }.get(invoice["billing_reason"], f"Invoice {invoice['number']}")


def record_payment(call: Call, invoice: Obj, intent: Obj) -> Obj:
    record: Obj = {
        "id": call.new_id("inpay_"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": call.now(),
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent["id"], "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    return call.store.put(record)


def _payments_of(call: Call, invoice_id: str) -> list[Obj]:
    return call.store.newest_first("invoice_payment", lambda p: p["invoice"] == invoice_id)[::-1]


def intent_of(call: Call, invoice: Obj) -> Obj | None:
    for record in _payments_of(call, invoice["id"]):
        intent_id = record["payment"].get("payment_intent")
        if intent_id:
            return call.store.find("payment_intent", intent_id)
    return None


def mark_paid(call: Call, invoice: Obj, *, out_of_band: bool = False) -> None:
    now = call.now()
    paid = invoice["amount_due"]
    invoice.update(
        status="paid",
        amount_paid=paid,
        amount_remaining=0,
        attempted=True if not out_of_band else invoice["attempted"],
        next_payment_attempt=None,
        auto_advance=False,
    )
    invoice["status_transitions"]["paid_at"] = now
    for record in _payments_of(call, invoice["id"]):
        if record["status"] == "open":
            record.update(status="paid", amount_paid=record["amount_requested"])
            record["status_transitions"]["paid_at"] = now
            call.emit("invoice_payment.paid", record)
    call.emit("invoice.paid", invoice)
    if not out_of_band:
        call.emit("invoice.payment_succeeded", invoice)
    for hook in ON_PAID:
        hook(call, invoice)


def attempt(call: Call, invoice: Obj, method: str | None, *, raise_decline: bool) -> Obj:
    """Charge an open invoice's payment intent with ``method`` (or the default one)."""
    intent = intent_of(call, invoice)
    if intent is None:
        raise state_error("This invoice has no payment to attempt.")
    chosen = method or default_method(call, invoice)
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    if chosen is None:
        fail(call, invoice)
        if raise_decline:
            raise StripeError(
                400,
                "This customer has no attached payment source or default payment method. "
                "Please consider adding a default payment method.",
            )
        return invoice
    pm = payments.payment_method(call, chosen, "payment_method", invoice["customer"])
    payments.confirm(call, intent, pm, raise_decline=raise_decline)
    return invoice


def fail(call: Call, invoice: Obj) -> None:
    invoice["next_payment_attempt"] = None
    call.emit("invoice.payment_failed", invoice)
    for hook in ON_PAYMENT_FAILED:
        hook(call, invoice)


def _on_intent_succeeded(call: Call, intent: Obj) -> None:
    invoice_id = call.account.invoice_of.get(intent["id"])
    invoice = call.store.find("invoice", invoice_id) if invoice_id else None
    if invoice is not None and invoice["status"] == "open":
        mark_paid(call, invoice)


def _on_intent_failed(call: Call, intent: Obj) -> None:
    invoice_id = call.account.invoice_of.get(intent["id"])
    invoice = call.store.find("invoice", invoice_id) if invoice_id else None
    if invoice is not None and invoice["status"] == "open":
        fail(call, invoice)


payments.ON_SUCCEEDED.append(_on_intent_succeeded)
payments.ON_FAILED.append(_on_intent_failed)


def void(call: Call, invoice: Obj) -> Obj:
    if invoice["status"] not in ("open", "uncollectible"):
        raise state_error(
            f"You can only void open or uncollectible invoices; this one is {invoice['status']}."
        )
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = call.now()
    invoice["next_payment_attempt"] = None
    intent = intent_of(call, invoice)
    if intent is not None and intent["status"] in payments.CANCELABLE:
        payments.cancel(call, intent, "void_invoice")
    for record in _payments_of(call, invoice["id"]):
        if record["status"] == "open":
            record["status"] = "canceled"
            record["status_transitions"]["canceled_at"] = call.now()
    call.emit("invoice.voided", invoice)
    return invoice


# --- includables ------------------------------------------------------------------------------


@includable("invoice", "payments")
def _payments_list(call: Call, invoice: Obj) -> Obj:
    data = [copy.deepcopy(record) for record in _payments_of(call, invoice["id"])]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "url": f"/v1/invoice_payments?invoice={invoice['id']}",
    }


@includable("invoice", "confirmation_secret")
def _confirmation_secret(call: Call, invoice: Obj) -> Obj | None:
    intent = intent_of(call, invoice)
    if intent is None or invoice["status"] != "open":
        return None
    return {"client_secret": intent["client_secret"], "type": "payment_intent"}


def collect_due(call: Call) -> None:
    """Automatic collection: open auto-advancing invoices are charged when their time comes."""
    now = call.now()
    for invoice in call.store.newest_first("invoice")[::-1]:
        attempt_at = invoice["next_payment_attempt"]
        if invoice["status"] == "open" and attempt_at is not None and attempt_at <= now:
            invoice["next_payment_attempt"] = None
            attempt(call, invoice, None, raise_decline=False)
