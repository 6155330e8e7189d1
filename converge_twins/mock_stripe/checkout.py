"""Checkout sessions: ``/v1/checkout/sessions``, and completing one as its customer would.

A session is ``open`` until the customer pays (the control plane's
``POST /_twin/checkout/{id}/complete`` plays the customer, with Stripe's test card unless told
another), it expires (``expire``, or its ``expires_at`` passing on the twin's clock), and then
``complete`` or ``expired``. Completing a ``subscription`` session creates the customer (unless
the session has one), attaches the card, and creates the subscription with its paid invoice and
payment intent; a ``payment`` session confirms a payment intent for the total (and, with
``invoice_creation``, bills an invoice); a ``setup`` session saves the card. Each step sends the
events Stripe sends, ``checkout.session.completed`` last.
"""

from __future__ import annotations

import copy
from typing import Any

from converge_twins.mock_stripe import customers, invoicing, payments, subscribing
from converge_twins.mock_stripe.api import names, operation
from converge_twins.mock_stripe.catalog import price_from
from converge_twins.mock_stripe.errors import StripeError, invalid, missing, param_missing
from converge_twins.mock_stripe.expand import includable
from converge_twins.mock_stripe.forms import Params, as_int
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page

MIN_LIFETIME, MAX_LIFETIME = 1800, 86_400
CREATE_FIELDS = names(
    """
    adaptive_pricing after_expiration allow_promotion_codes automatic_tax
    billing_address_collection cancel_url client_reference_id consent_collection currency
    custom_fields custom_text customer customer_creation customer_email customer_update
    discounts expires_at invoice_creation line_items locale metadata mode optional_items
    origin_context payment_intent_data payment_method_collection payment_method_configuration
    payment_method_data payment_method_options payment_method_types permissions
    phone_number_collection redirect_on_completion return_url saved_payment_method_options
    setup_intent_data shipping_address_collection shipping_options submit_type subscription_data
    success_url tax_id_collection ui_mode wallet_options
    """
)
UPDATE_FIELDS = frozenset({"collected_information", "line_items", "metadata", "shipping_options"})


def _items(call: Call, session_id: str, params: Params, mode: str) -> list[Obj]:
    entries = params.items("line_items")
    if mode in ("payment", "subscription") and not entries:
        raise param_missing("line_items")
    items = []
    for index, entry in enumerate(entries):
        where = f"line_items[{index}]"
        price = price_from(call, entry, where)
        quantity = as_int(entry.get("quantity", "1"), f"{where}[quantity]")
        if quantity < 1:
            raise invalid(f"{where}[quantity]", "Invalid quantity: must be at least 1")
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                f"{where}[price]",
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
            )
        product = call.store.find("product", price["product"]) or {}
        total = int(price["unit_amount"] or 0) * quantity
        items.append(
            {
                "id": call.new_id("li_"),
                "object": "item",
                "adjustable_quantity": None,
                "amount_discount": 0,
                "amount_subtotal": total,
                "amount_tax": 0,
                "amount_total": total,
                "currency": price["currency"],
                "description": product.get("name"),
                "metadata": {},
                "price": copy.deepcopy(price),
                "quantity": quantity,
            }
        )
    if mode == "subscription" and not any(i["price"]["type"] == "recurring" for i in items):
        raise invalid(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
        )
    if len({item["currency"] for item in items}) > 1:
        raise invalid("line_items", "All line items must use the same currency.")
    call.account.checkout_items[session_id] = items
    return items


def _expires_at(call: Call, now: int) -> int:
    value = call.params.integer("expires_at")
    if value is None:
        return now + MAX_LIFETIME
    if value < now + MIN_LIFETIME:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes "
            "from Checkout Session creation.",
        )
    if value > now + MAX_LIFETIME:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        )
    return value


@operation("checkout.sessions.create", "POST", "/v1/checkout/sessions", CREATE_FIELDS)
def create_session(call: Call) -> Obj:
    params = call.params
    mode = params.choice("mode", ("payment", "setup", "subscription"))
    if mode is None:
        raise param_missing("mode")
    ui_mode = str(params.choice("ui_mode", ("custom", "elements", "embedded", "hosted"), "hosted"))
    success_url, return_url = params.text("success_url"), params.text("return_url")
    if ui_mode == "hosted":
        if return_url:
            raise invalid(
                "return_url",
                "`return_url` can only be used with `ui_mode=embedded` or `ui_mode=custom`.",
            )
    elif success_url:
        raise invalid(
            "success_url",
            f"`success_url` cannot be used with `ui_mode={ui_mode}`; use `return_url`.",
        )
    elif not return_url and params.text("redirect_on_completion") != "never":
        raise param_missing("return_url")
    customer = params.text("customer")
    if customer:
        if call.store.was_deleted("customer", customer):
            raise missing("customer", customer, "customer")
        call.store.get("customer", customer, "customer")
        if params.text("customer_email"):
            raise StripeError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
    creation = params.choice("customer_creation", ("always", "if_required"))
    if creation and mode == "subscription":
        raise invalid(
            "customer_creation",
            "`customer_creation` can only be used in `payment` and `setup` mode.",
        )
    if "subscription_data" in params and mode != "subscription":
        raise invalid(
            "subscription_data", "You can only specify `subscription_data` in `subscription` mode."
        )
    if "payment_intent_data" in params and mode != "payment":
        raise invalid(
            "payment_intent_data", "You can only specify `payment_intent_data` in `payment` mode."
        )
    session_id = call.new_id("cs_test_", 58)
    items = _items(call, session_id, params, mode)
    amount = sum(item["amount_total"] for item in items)
    now = call.now()
    invoice_creation = params.mapping("invoice_creation")
    base = call.stripe.base_url
    session: Obj = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.boolean("allow_promotion_codes"),
        "amount_subtotal": amount if items else None,
        "amount_total": amount if items else None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": params.choice(
            "billing_address_collection", ("auto", "required")
        ),
        "cancel_url": params.text("cancel_url"),
        "client_reference_id": params.text("client_reference_id", max_length=200),
        "client_secret": f"{session_id}_secret_{call.token(24)}" if ui_mode != "hosted" else None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": items[0]["currency"] if items else params.text("currency"),
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_account": None,
        "customer_creation": None if mode == "subscription" else (creation or "if_required"),
        "customer_details": None,
        "customer_email": params.text("customer_email"),
        "discounts": [],
        "expires_at": _expires_at(call, now),
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None
        if mode != "payment"
        else {
            "enabled": invoice_creation.get("enabled") == "true",
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": params.text("locale"),
        "managed_payments": {"enabled": False},
        "metadata": params.metadata(),
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": params.strings("payment_method_types") or ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.choice("submit_type", ("auto", "book", "donate", "pay", "subscribe")),
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": ui_mode,
        "url": f"{base}/c/pay/{session_id}" if ui_mode == "hosted" else None,
        "wallet_options": None,
    }
    call.account.checkout_options[session_id] = {
        "subscription_data": params.mapping("subscription_data"),
        "payment_intent_data": params.mapping("payment_intent_data"),
    }
    return call.store.put(session)


@operation("checkout.sessions.retrieve", "GET", "/v1/checkout/sessions/{session}")
def retrieve_session(call: Call) -> Obj:
    return call.store.get("checkout.session", call.path["session"])


@operation("checkout.sessions.update", "POST", "/v1/checkout/sessions/{session}", UPDATE_FIELDS)
def update_session(call: Call) -> Obj:
    session = call.store.get("checkout.session", call.path["session"])
    if session["status"] != "open":
        raise StripeError(
            400, f"This Checkout Session is {session['status']}; only open sessions can be updated."
        )
    values: Obj = {}
    if "metadata" in call.params:
        values["metadata"] = call.params.metadata(session["metadata"])
    changed(session, values)
    return session


@operation("checkout.sessions.expire", "POST", "/v1/checkout/sessions/{session}/expire")
def expire_session(call: Call) -> Obj:
    session = call.store.get("checkout.session", call.path["session"])
    if session["status"] != "open":
        raise StripeError(
            400,
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
        )
    expire(call, session)
    return session


def expire(call: Call, session: Obj) -> None:
    session["status"] = "expired"
    session["url"] = None
    call.emit("checkout.session.expired", session)


@operation(
    "checkout.sessions.line_items.list",
    "GET",
    "/v1/checkout/sessions/{session}/line_items",
    listing=True,
)
def list_session_items(call: Call) -> Obj:
    session = call.store.get("checkout.session", call.path["session"])
    items = list(call.account.checkout_items.get(session["id"], []))
    return page(items, call.params, f"/v1/checkout/sessions/{session['id']}/line_items", "item")


@includable("checkout.session", "line_items")
def _line_items(call: Call, session: Obj) -> Obj:
    items = copy.deepcopy(call.account.checkout_items.get(session["id"], []))
    return {
        "object": "list",
        "data": items,
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session['id']}/line_items",
    }


@operation(
    "checkout.sessions.list",
    "GET",
    "/v1/checkout/sessions",
    names(
        """
        created customer customer_account customer_details payment_intent payment_link status
        subscription
        """
    ),
    listing=True,
)
def list_sessions(call: Call) -> Obj:
    params = call.params
    customer, status = params.text("customer"), params.text("status")
    subscription, intent = params.text("subscription"), params.text("payment_intent")
    email = params.mapping("customer_details").get("email")
    created = created_filter(params)

    def keep(session: Obj) -> bool:
        details = session["customer_details"] or {}
        return (
            (customer is None or session["customer"] == customer)
            and (status is None or session["status"] == status)
            and (subscription is None or session["subscription"] == subscription)
            and (intent is None or session["payment_intent"] == intent)
            and (email is None or details.get("email") == email)
            and created(session)
        )

    items = call.store.newest_first("checkout.session", keep)
    return page(items, params, "/v1/checkout/sessions", "checkout.session")


# --- completing a session --------------------------------------------------------------------


def _customer_for(call: Call, session: Obj, email: str, name: str | None) -> Obj | None:
    if session["customer"]:
        return call.store.get("customer", session["customer"])
    if session["mode"] == "payment" and session["customer_creation"] != "always":
        return None
    values: dict[str, Any] = {"email": email}
    if name:
        values["name"] = name
    return customers.create_customer(call.with_params(values))


def complete(call: Call, session: Obj, method: str, *, email: str | None, name: str | None) -> Obj:
    """Play the customer paying ``session`` with the test card ``method``."""
    if session["status"] != "open":
        raise StripeError(409, f"the session is {session['status']}, not open")
    card = payments.TEST_CARDS.get(method)
    if card is None:
        raise StripeError(
            400, f"payment_method must be a test card token such as pm_card_visa, not {method!r}"
        )
    if card.decline is not None and card.attaches is False:
        raise payments.card_error(card.decline)
    address = email or session["customer_email"]
    if address is None and session["customer"]:
        address = call.store.get("customer", session["customer"])["email"]
    address = address or f"customer.{call.token(6).lower()}@example.com"
    customer = _customer_for(call, session, address, name)
    options = call.account.checkout_options.get(session["id"], {})
    items = call.account.checkout_items.get(session["id"], [])
    values: Obj = {}
    if session["mode"] == "subscription":
        assert customer is not None
        pm = payments.attach(call, method, customer["id"], "payment_method")
        data = Params(options.get("subscription_data") or {})
        sub_params: dict[str, Any] = {
            "items": [
                {"price": i["price"]["id"], "quantity": str(i["quantity"])}
                for i in items
                if i["price"]["type"] == "recurring"
            ],
            "metadata": data.mapping("metadata"),
            "default_payment_method": pm["id"],
        }
        for key in ("trial_period_days", "description", "trial_end"):
            if data.text(key):
                sub_params[key] = data.text(key)
        subscription = subscribing.new_subscription(call, customer, Params(sub_params))
        invoice = call.store.get("invoice", str(subscription["latest_invoice"]))
        if subscription["status"] not in ("active", "trialing"):
            raise payments.card_error(card.decline or payments.GENERIC)
        values.update(
            subscription=subscription["id"],
            invoice=invoice["id"],
            payment_status="paid" if invoice["amount_due"] else "no_payment_required",
        )
    elif session["mode"] == "payment":
        values.update(_pay(call, session, customer, method))
    else:
        if customer is not None:
            payments.attach(call, method, customer["id"], "payment_method")
        values["setup_intent"] = call.new_id("seti_")
    values.update(
        status="complete",
        customer=customer["id"] if customer else None,
        customer_details={
            "address": None,
            "business_name": None,
            "email": address,
            "individual_name": None,
            "name": name or (customer or {}).get("name"),
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        collected_information={
            "business_name": None,
            "individual_name": None,
            "shipping_details": None,
        },
        url=None,
    )
    changed(session, values)
    call.emit("checkout.session.completed", session)
    return session


def _pay(call: Call, session: Obj, customer: Obj | None, method: str) -> Obj:
    options = call.account.checkout_options.get(session["id"], {})
    items = call.account.checkout_items.get(session["id"], [])
    data = Params(options.get("payment_intent_data") or {})
    if session["invoice_creation"] and session["invoice_creation"]["enabled"] and customer:
        invoice = invoicing.new_invoice(call, customer, currency=session["currency"])
        for item in items:
            invoicing.add_line(
                call,
                invoice,
                amount=item["amount_total"],
                description=item["description"],
                price=item["price"],
                quantity=item["quantity"],
            )
        call.emit("invoice.created", invoice)
        invoicing.finalize(call, invoice)
        intent = invoicing.intent_of(call, invoice)
        assert intent is not None
        pm = payments.payment_method(call, method, "payment_method", customer["id"])
        payments.confirm(call, intent, pm)
        return {"payment_intent": intent["id"], "invoice": invoice["id"], "payment_status": "paid"}
    intent = payments.new_intent(
        call,
        int(session["amount_total"] or 0),
        str(session["currency"]),
        customer=customer["id"] if customer else None,
        description=data.text("description"),
        metadata=data.metadata(),
        capture_method=data.text("capture_method") or "automatic",
        payment_method_types=["card"],
    )
    pm = payments.payment_method(
        call, method, "payment_method", customer["id"] if customer else None
    )
    payments.confirm(call, intent, pm)
    paid = intent["status"] == "succeeded"
    return {"payment_intent": intent["id"], "payment_status": "paid" if paid else "unpaid"}


def advance(call: Call) -> None:
    """Open sessions whose ``expires_at`` the clock has passed expire."""
    now = call.now()
    for session in call.store.newest_first("checkout.session")[::-1]:
        if session["status"] == "open" and session["expires_at"] <= now:
            expire(call, session)
