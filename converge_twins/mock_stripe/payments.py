"""Payment methods, charges and payment intents: ``/v1/payment_intents``.

Cards are Stripe's test payment methods: ``pm_card_visa`` (and the other brands) always succeed;
``pm_card_chargeDeclined``, ``…InsufficientFunds``, ``…ExpiredCard``, ``…IncorrectCvc``,
``…ProcessingError``, ``…LostCard`` and ``…StolenCard`` are declined with Stripe's codes, and
cannot be attached to a customer; ``pm_card_chargeCustomerFail`` attaches, then every charge is
declined. Using a test token makes a new ``pm_…`` payment method, as on Stripe.

A payment intent goes ``requires_payment_method`` → ``requires_confirmation`` → (confirm)
``succeeded``, or ``requires_capture`` with ``capture_method=manual`` (then capture), or back to
``requires_payment_method`` with ``last_payment_error`` when the card is declined (a 402
``card_error`` naming the decline). Open intents can be canceled. Every step is an event.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_stripe import search
from converge_twins.mock_stripe.api import SEARCH, names, operation
from converge_twins.mock_stripe.catalog import search_result
from converge_twins.mock_stripe.errors import StripeError, invalid, missing
from converge_twins.mock_stripe.state import Call, changed
from converge_twins.mock_stripe.store import Obj, created_filter, page
from converge_twins.mock_stripe.values import currency, empty_address, minimum_charge


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    decline: Decline | None = None
    attaches: bool = True  # declined cards fail the check made when attaching them


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
TEST_CARDS = {
    "pm_card_visa": Card("visa", "4242"),
    "pm_card_visa_debit": Card("visa", "5556"),
    "pm_card_mastercard": Card("mastercard", "4444"),
    "pm_card_mastercard_debit": Card("mastercard", "8210"),
    "pm_card_mastercard_prepaid": Card("mastercard", "5100"),
    "pm_card_amex": Card("amex", "8431"),
    "pm_card_discover": Card("discover", "1117"),
    "pm_card_diners": Card("diners", "0004"),
    "pm_card_jcb": Card("jcb", "0505"),
    "pm_card_unionpay": Card("unionpay", "0005"),
    "pm_card_us": Card("visa", "4242"),
    "pm_card_chargeCustomerFail": Card("visa", "0341", GENERIC),
    "pm_card_chargeDeclined": Card("visa", "0002", GENERIC, attaches=False),
    "pm_card_visa_chargeDeclined": Card("visa", "0002", GENERIC, attaches=False),
    "pm_card_chargeDeclinedInsufficientFunds": Card(
        "visa",
        "9995",
        Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
        attaches=False,
    ),
    "pm_card_chargeDeclinedLostCard": Card(
        "visa",
        "9987",
        Decline("card_declined", "lost_card", "Your card was declined."),
        attaches=False,
    ),
    "pm_card_chargeDeclinedStolenCard": Card(
        "visa",
        "9979",
        Decline("card_declined", "stolen_card", "Your card was declined."),
        attaches=False,
    ),
    "pm_card_chargeDeclinedExpiredCard": Card(
        "visa",
        "0069",
        Decline("expired_card", "expired_card", "Your card has expired."),
        attaches=False,
    ),
    "pm_card_chargeDeclinedIncorrectCvc": Card(
        "visa",
        "0127",
        Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
        attaches=False,
    ),
    "pm_card_chargeDeclinedProcessingError": Card(
        "visa",
        "0119",
        Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        attaches=False,
    ),
}
STATEMENT = "CONVERGE TWIN"

# Called with (call, intent) when an intent succeeds or fails: invoices settle themselves.
IntentHook = Callable[[Call, Obj], None]
ON_SUCCEEDED: list[IntentHook] = []
ON_FAILED: list[IntentHook] = []


# --- payment methods ----------------------------------------------------------------------------


def _new_payment_method(call: Call, token: str, customer: str | None) -> Obj:
    card = TEST_CARDS[token]
    pm: Obj = {
        "id": call.new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": empty_address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": call.token(16),
            "funding": "credit",
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": call.now(),
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    call.store.put(pm)
    call.account.test_cards[pm["id"]] = token
    return pm


def payment_method(call: Call, value: str, param: str, customer: str | None = None) -> Obj:
    """The payment method ``value`` names: a ``pm_…`` id, or a test token made into one."""
    if value in TEST_CARDS:
        return _new_payment_method(call, value, customer)
    pm = call.store.find("payment_method", value)
    if pm is None:
        raise missing("PaymentMethod", value, param)
    return pm


def card_of(call: Call, pm: Obj) -> Card:
    return TEST_CARDS[call.account.test_cards.get(str(pm["id"]), "pm_card_visa")]


def attach(call: Call, value: str, customer: str, param: str) -> Obj:
    """Attach a payment method to ``customer`` (a card that fails its check is refused)."""
    card = TEST_CARDS.get(value)
    if card is not None and not card.attaches and card.decline is not None:
        raise card_error(card.decline, param=param)
    pm = payment_method(call, value, param, customer)
    if pm["customer"] not in (None, customer):
        raise invalid(
            param, "The payment method you provided has already been attached to another customer."
        )
    if pm["customer"] is None:
        pm["customer"] = customer
    call.emit("payment_method.attached", pm)
    return pm


def card_error(decline: Decline, param: str | None = None, **extra: Any) -> StripeError:
    return StripeError(
        402,
        decline.message,
        kind="card_error",
        code=decline.code,
        decline_code=decline.decline_code,
        param=param,
        extra=extra,
    )


# --- charges ----------------------------------------------------------------------------------


def _charge(call: Call, intent: Obj, pm: Obj, decline: Decline | None, captured: bool) -> Obj:
    card = pm["card"]
    charge: Obj = {
        "id": call.new_id("ch_"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if captured and decline is None else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": call.new_id("txn_") if captured and decline is None else None,
        "billing_details": copy.deepcopy(pm["billing_details"]),
        "calculated_statement_descriptor": STATEMENT,
        "captured": captured and decline is None,
        "created": call.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": decline.code if decline else None,
        "failure_message": decline.message if decline else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "declined_by_network" if decline else "approved_by_network",
            "reason": decline.decline_code if decline else None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "The bank did not return any further details with this decline."
            if decline
            else "Payment complete.",
            "type": "issuer_declined" if decline else "authorized",
        },
        "paid": decline is None,
        "payment_intent": intent["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": intent["amount"] if decline is None else None,
                "brand": card["brand"],
                "checks": copy.deepcopy(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "last4": card["last4"],
                "network": card["brand"],
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "failed" if decline else "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    return call.store.put(charge)


# --- payment intents ---------------------------------------------------------------------------

INTENT_FIELDS = names(
    """
    amount currency customer description metadata payment_method payment_method_types
    capture_method confirm confirmation_method receipt_email setup_future_usage
    statement_descriptor statement_descriptor_suffix automatic_payment_methods off_session
    return_url shipping transfer_group error_on_requires_action payment_method_options
    use_stripe_sdk excluded_payment_method_types
    """
)
INTENT_UPDATES = names(
    """
    amount currency customer description metadata payment_method payment_method_types
    receipt_email setup_future_usage statement_descriptor statement_descriptor_suffix shipping
    transfer_group capture_method excluded_payment_method_types payment_method_options
    """
)
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


def new_intent(
    call: Call,
    amount: int,
    currency_code: str,
    *,
    customer: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    capture_method: str = "automatic",
    payment_method_types: list[str] | None = None,
    receipt_email: str | None = None,
    setup_future_usage: str | None = None,
) -> Obj:
    intent_id = call.new_id("pi_")
    automatic = payment_method_types is None
    intent: Obj = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True}
        if automatic
        else None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{intent_id}_secret_{call.token(25)}",
        "confirmation_method": "automatic",
        "created": call.now(),
        "currency": currency_code,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": {
            "id": call.account.payment_configuration,
            "parent": None,
        }
        if automatic
        else None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types or ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    call.store.put(intent)
    call.emit("payment_intent.created", intent)
    return intent


def confirm(call: Call, intent: Obj, pm: Obj, *, raise_decline: bool = True) -> Obj:
    """Charge ``pm`` for ``intent``; a decline is a 402 unless ``raise_decline`` is false."""
    if intent["status"] not in (
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ):
        raise StripeError(
            400,
            f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    decline = card_of(call, pm).decline
    manual = intent["capture_method"] == "manual"
    charge = _charge(call, intent, pm, decline, captured=not manual)
    intent["payment_method"] = pm["id"]
    intent["latest_charge"] = charge["id"]
    if decline is not None:
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "charge": charge["id"],
                "code": decline.code,
                "decline_code": decline.decline_code,
                "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
                "message": decline.message,
                "payment_method": copy.deepcopy(pm),
                "type": "card_error",
            },
            payment_method=None,
        )
        call.emit("charge.failed", charge)
        call.emit("payment_intent.payment_failed", intent)
        for hook in ON_FAILED:
            hook(call, intent)
        if raise_decline:
            raise card_error(
                decline,
                charge=charge["id"],
                payment_intent=copy.deepcopy(intent),
                payment_method=copy.deepcopy(pm),
            )
        return intent
    intent["last_payment_error"] = None
    call.emit("charge.succeeded", charge)
    if manual:
        intent.update(status="requires_capture", amount_capturable=intent["amount"])
        call.emit("payment_intent.amount_capturable_updated", intent)
        return intent
    intent.update(status="succeeded", amount_received=intent["amount"])
    call.emit("payment_intent.succeeded", intent)
    for hook in ON_SUCCEEDED:
        hook(call, intent)
    return intent


def _chosen_method(call: Call, intent: Obj, param: str = "payment_method") -> Obj:
    value = call.params.text("payment_method") or intent["payment_method"]
    if not value:
        raise StripeError(
            400,
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent with cus_…, specify a payment method attached to this "
            "customer along with the customer ID.",
            code="payment_intent_unexpected_state",
            param=param,
        )
    return payment_method(call, value, param, None)


@operation("payment_intents.create", "POST", "/v1/payment_intents", INTENT_FIELDS)
def create_intent(call: Call) -> Obj:
    params = call.params
    amount = params.integer("amount", required=True)
    code = currency(params) or "usd"
    assert amount is not None
    if amount < minimum_charge(code):
        raise invalid(
            "amount",
            f"Amount must be at least {minimum_charge(code)} {code} in its smallest unit.",
            code="amount_too_small",
        )
    customer = params.text("customer")
    if customer:
        call.store.get("customer", customer, "customer")
    capture = params.choice(
        "capture_method", ("automatic", "automatic_async", "manual"), "automatic_async"
    )
    types = params.strings("payment_method_types") or None
    automatic = params.mapping("automatic_payment_methods")
    if types and automatic.get("enabled") == "true":
        raise invalid(
            "automatic_payment_methods",
            "You may only specify one of these "
            "parameters: automatic_payment_methods, payment_method_types.",
        )
    intent = new_intent(
        call,
        amount,
        code,
        customer=customer,
        description=params.text("description"),
        metadata=params.metadata(),
        capture_method="automatic" if capture == "automatic_async" else str(capture),
        payment_method_types=types,
        receipt_email=params.text("receipt_email"),
        setup_future_usage=params.choice("setup_future_usage", ("off_session", "on_session")),
    )
    if capture == "automatic_async":
        intent["capture_method"] = "automatic_async"
    pm_value = params.text("payment_method")
    if pm_value:
        pm = payment_method(call, pm_value, "payment_method", None)
        intent.update(payment_method=pm["id"], status="requires_confirmation")
    if params.boolean("confirm"):
        intent["status"] = "requires_payment_method" if not pm_value else intent["status"]
        confirm(call, intent, _chosen_method(call, intent))
    return intent


@operation("payment_intents.retrieve", "GET", "/v1/payment_intents/{intent}", {"client_secret"})
def retrieve_intent(call: Call) -> Obj:
    return call.store.get("payment_intent", call.path["intent"])


@operation("payment_intents.update", "POST", "/v1/payment_intents/{intent}", INTENT_UPDATES)
def update_intent(call: Call) -> Obj:
    intent = call.store.get("payment_intent", call.path["intent"])
    params = call.params
    values: Obj = {}
    settled = intent["status"] in ("succeeded", "canceled")
    for name in (
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_group",
    ):
        if name in params:
            values[name] = params.text(name)
    if "metadata" in params:
        values["metadata"] = params.metadata(intent["metadata"])
    money = [
        name for name in ("amount", "currency", "payment_method", "customer") if name in params
    ]
    if money and settled:
        raise StripeError(
            400,
            f"You cannot update this PaymentIntent's {money[0]} because it has a status of "
            f"{intent['status']}.",
            code="payment_intent_unexpected_state",
            param=money[0],
        )
    if "amount" in params:
        values["amount"] = params.integer("amount", minimum=1)
    if "currency" in params:
        values["currency"] = currency(params)
    if "customer" in params:
        customer = params.text("customer")
        if customer:
            call.store.get("customer", customer, "customer")
        values["customer"] = customer
    if "payment_method" in params:
        value = params.text("payment_method")
        values["payment_method"] = (
            payment_method(call, value, "payment_method")["id"] if value else None
        )
        if value and intent["status"] == "requires_payment_method":
            values["status"] = "requires_confirmation"
    previous = changed(intent, values)
    if previous:
        call.emit("payment_intent.updated", intent, previous)
    return intent


@operation(
    "payment_intents.confirm",
    "POST",
    "/v1/payment_intents/{intent}/confirm",
    names(
        """
        payment_method receipt_email return_url off_session setup_future_usage
        error_on_requires_action mandate_data payment_method_options use_stripe_sdk
        capture_method client_secret payment_method_types shipping
        """
    ),
)
def confirm_intent(call: Call) -> Obj:
    intent = call.store.get("payment_intent", call.path["intent"])
    if "receipt_email" in call.params:
        intent["receipt_email"] = call.params.text("receipt_email")
    return confirm(call, intent, _chosen_method(call, intent))


@operation(
    "payment_intents.capture",
    "POST",
    "/v1/payment_intents/{intent}/capture",
    names(
        """
        amount_to_capture metadata statement_descriptor statement_descriptor_suffix
        final_capture application_fee_amount transfer_data
        """
    ),
)
def capture_intent(call: Call) -> Obj:
    intent = call.store.get("payment_intent", call.path["intent"])
    if intent["status"] != "requires_capture":
        raise StripeError(
            400,
            f"This PaymentIntent could not be captured because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            "be captured: requires_capture.",
            code="payment_intent_unexpected_state",
        )
    amount = call.params.integer("amount_to_capture", minimum=1) or intent["amount"]
    if amount > intent["amount_capturable"]:
        raise invalid(
            "amount_to_capture",
            "The amount to capture is greater than the amount capturable.",
            code="amount_too_large",
        )
    charge = call.store.get("charge", str(intent["latest_charge"]))
    charge.update(captured=True, amount_captured=amount, balance_transaction=call.new_id("txn_"))
    if "metadata" in call.params:
        intent["metadata"] = call.params.metadata(intent["metadata"])
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    call.emit("charge.captured", charge)
    call.emit("payment_intent.succeeded", intent)
    for hook in ON_SUCCEEDED:
        hook(call, intent)
    return intent


@operation(
    "payment_intents.cancel",
    "POST",
    "/v1/payment_intents/{intent}/cancel",
    {"cancellation_reason"},
)
def cancel_intent(call: Call) -> Obj:
    intent = call.store.get("payment_intent", call.path["intent"])
    reason = call.params.choice(
        "cancellation_reason", ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
    )
    if intent["status"] not in CANCELABLE:
        raise StripeError(
            400,
            f"You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            f"be canceled: {', '.join(CANCELABLE)}.",
            code="payment_intent_unexpected_state",
        )
    if call.account.invoice_of.get(intent["id"]) and reason is None:
        raise StripeError(
            400,
            "You cannot cancel this PaymentIntent because it was created by an invoice. Void "
            "the invoice instead.",
            code="payment_intent_unexpected_state",
        )
    cancel(call, intent, reason)
    return intent


def cancel(call: Call, intent: Obj, reason: str | None) -> None:
    intent.update(
        status="canceled", canceled_at=call.now(), cancellation_reason=reason, amount_capturable=0
    )
    call.emit("payment_intent.canceled", intent)


@operation(
    "payment_intents.list",
    "GET",
    "/v1/payment_intents",
    {"created", "customer", "customer_account"},
    listing=True,
)
def list_intents(call: Call) -> Obj:
    customer = call.params.text("customer")
    created = created_filter(call.params)
    items = call.store.newest_first(
        "payment_intent",
        lambda pi: (customer is None or pi["customer"] == customer) and created(pi),
    )
    return page(items, call.params, "/v1/payment_intents", "payment_intent")


@operation("payment_intents.search", "GET", "/v1/payment_intents/search", SEARCH)
def search_intents(call: Call) -> Obj:
    return search_result(call, "payment_intent", search.PAYMENT_INTENT_FIELDS, "payment_intents")
