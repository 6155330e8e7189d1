"""mock-stripe's billing through the official SDK: subscriptions with the invoices and payment
intents behind them, invoices on their own, payment intents, checkout, and what the twin's clock
makes happen (renewals, trial ends, cancellations, expiries)."""

from __future__ import annotations

import pytest
import stripe

from tests.support.stripe_twin import StripeTwin, open_checkout, paying_customer, recurring_price

DAY = 86_400


def subscribe(client: stripe.StripeClient, customer_id: str, price_id: str, **extra: object):
    params = {"customer": customer_id, "items": [{"price": price_id}], **extra}
    return client.v1.subscriptions.create(params=params)  # type: ignore[arg-type]


def event_types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()][::-1]


# --- subscriptions ------------------------------------------------------------------------------


def test_a_paid_subscription_has_its_invoice_and_payment_intent(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    price = recurring_price(stripe_sdk, 2500)
    subscription = subscribe(stripe_sdk, customer.id, price.id, expand=["latest_invoice.payments"])
    assert subscription.status == "active"
    invoice = subscription.latest_invoice
    assert invoice.status == "paid"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (2500, 2500, 0)
    assert invoice.number.startswith(customer.invoice_prefix + "-")
    assert invoice.hosted_invoice_url and invoice.invoice_pdf
    line = invoice.lines.data[0]
    assert line.parent.subscription_item_details.subscription == subscription.id
    assert line.pricing.price_details.price == price.id
    intent_id = invoice.payments.data[0].payment.payment_intent
    intent = stripe_sdk.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]})
    assert intent.status == "succeeded"
    assert intent.amount_received == 2500
    assert intent.latest_charge.paid is True
    assert intent.payment_method == customer.invoice_settings.default_payment_method
    assert customer.invoice_settings.default_payment_method.startswith("pm_")
    assert stripe_sdk.v1.customers.retrieve(customer.id).currency == "usd"
    types = event_types(stripe_sdk)
    for kind in (
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
        "charge.succeeded",
        "payment_method.attached",
    ):
        assert kind in types


def test_without_a_payment_method_the_subscription_waits_for_payment(stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "late@example.com"})
    price = recurring_price(stripe_sdk)
    subscription = subscribe(
        stripe_sdk, customer.id, price.id, expand=["latest_invoice.confirmation_secret"]
    )
    assert subscription.status == "incomplete"
    invoice = subscription.latest_invoice
    assert invoice.status == "open"
    assert invoice.confirmation_secret.client_secret.startswith("pi_")
    paid = stripe_sdk.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    after = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "active"
    updates = stripe_sdk.v1.events.list(params={"type": "customer.subscription.updated"})
    assert updates.data[0].data.previous_attributes["status"] == "incomplete"


def test_a_declined_card_leaves_the_subscription_incomplete(stripe_sdk):
    customer = paying_customer(
        stripe_sdk,
        payment_method="pm_card_chargeCustomerFail",
        invoice_settings={"default_payment_method": "pm_card_chargeCustomerFail"},
    )
    price = recurring_price(stripe_sdk)
    subscription = subscribe(stripe_sdk, customer.id, price.id, expand=["latest_invoice.payments"])
    assert subscription.status == "incomplete"
    intent_id = subscription.latest_invoice.payments.data[0].payment.payment_intent
    intent = stripe_sdk.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == "generic_decline"
    with pytest.raises(stripe.CardError):
        subscribe(stripe_sdk, customer.id, price.id, payment_behavior="error_if_incomplete")


def test_declined_cards_cannot_be_attached(stripe_sdk):
    with pytest.raises(stripe.CardError) as caught:
        stripe_sdk.v1.customers.create(params={"payment_method": "pm_card_chargeDeclined"})
    assert caught.value.code == "card_declined"
    assert stripe_sdk.v1.customers.list().data == []


def test_an_incomplete_subscription_expires_after_23_hours(stripe_twin: StripeTwin, stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "gone@example.com"})
    subscription = subscribe(stripe_sdk, customer.id, recurring_price(stripe_sdk).id)
    stripe_twin.advance(23 * 3600)
    after = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "incomplete_expired"
    assert stripe_sdk.v1.invoices.retrieve(after.latest_invoice).status == "void"


def test_renewal_bills_the_next_period_on_the_twins_clock(stripe_twin: StripeTwin, stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(stripe_sdk, customer.id, recurring_price(stripe_sdk, 1000).id)
    item = subscription["items"].data[0]
    stripe_twin.advance(item.current_period_end - item.created + 1)
    renewed = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    new_item = renewed["items"].data[0]
    assert new_item.current_period_start == item.current_period_end
    assert new_item.current_period_end > new_item.current_period_start
    invoice = stripe_sdk.v1.invoices.retrieve(renewed.latest_invoice)
    assert invoice.billing_reason == "subscription_cycle"
    assert invoice.status == "paid"
    assert (invoice.period_start, invoice.period_end) == (
        new_item.current_period_start,
        new_item.current_period_end,
    )
    invoices = stripe_sdk.v1.invoices.list(params={"subscription": subscription.id})
    assert len(invoices.data) == 2


def test_cancel_at_period_end_ends_it_when_the_period_ends(stripe_twin: StripeTwin, stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(stripe_sdk, customer.id, recurring_price(stripe_sdk).id)
    item = subscription["items"].data[0]
    updated = stripe_sdk.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": True}
    )
    assert updated.cancel_at == item.current_period_end
    stripe_twin.advance(item.current_period_end - item.created + 1)
    ended = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.ended_at == item.current_period_end
    assert "customer.subscription.deleted" in event_types(stripe_sdk)
    assert len(stripe_sdk.v1.invoices.list(params={"subscription": subscription.id}).data) == 1


def test_a_trial_is_free_then_billed_when_it_ends(stripe_twin: StripeTwin, stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(
        stripe_sdk, customer.id, recurring_price(stripe_sdk, 1200).id, trial_period_days=7
    )
    assert subscription.status == "trialing"
    assert subscription.trial_end - subscription.trial_start == 7 * DAY
    first = stripe_sdk.v1.invoices.retrieve(subscription.latest_invoice)
    assert (first.amount_due, first.status) == (0, "paid")
    stripe_twin.advance(4 * DAY + 60)
    assert "customer.subscription.trial_will_end" in event_types(stripe_sdk)
    stripe_twin.advance(3 * DAY)
    after = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "active"
    billed = stripe_sdk.v1.invoices.retrieve(after.latest_invoice)
    assert (billed.amount_paid, billed.status) == (1200, "paid")


def test_a_trial_without_payment_method_can_pause_then_resume(stripe_twin: StripeTwin, stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "trial@example.com"})
    subscription = subscribe(
        stripe_sdk,
        customer.id,
        recurring_price(stripe_sdk).id,
        trial_period_days=1,
        trial_settings={"end_behavior": {"missing_payment_method": "pause"}},
    )
    stripe_twin.advance(DAY + 1)
    assert stripe_sdk.v1.subscriptions.retrieve(subscription.id).status == "paused"
    resumed = stripe_sdk.v1.subscriptions.resume(subscription.id)
    assert resumed.status in ("active", "past_due")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.subscriptions.resume(subscription.id)


def test_an_upgrade_is_prorated(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    small = recurring_price(stripe_sdk, 1000)
    big = recurring_price(stripe_sdk, 3000)
    subscription = subscribe(stripe_sdk, customer.id, small.id)
    item = subscription["items"].data[0]
    preview = stripe_sdk.v1.invoices.create_preview(
        params={
            "subscription": subscription.id,
            "subscription_details": {"items": [{"id": item.id, "price": big.id}]},
        }
    )
    assert preview.status == "draft"
    assert preview.amount_due > 3000  # the next period plus the rest of this one
    upgraded = stripe_sdk.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "price": big.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert upgraded["items"].data[0].price.id == big.id
    invoice = stripe_sdk.v1.invoices.retrieve(upgraded.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    amounts = sorted(line.amount for line in invoice.lines.data)
    assert amounts[0] < 0 < amounts[1]
    assert invoice.status == "paid"
    unchanged = stripe_sdk.v1.subscriptions.retrieve(subscription.id)
    assert unchanged.latest_invoice == invoice.id


def test_subscription_items_are_added_changed_and_removed(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(stripe_sdk, customer.id, recurring_price(stripe_sdk).id)
    addon = recurring_price(stripe_sdk, 500)
    item = stripe_sdk.v1.subscription_items.create(
        params={
            "subscription": subscription.id,
            "price": addon.id,
            "quantity": 2,
            "proration_behavior": "none",
        }
    )
    assert item.current_period_end == subscription["items"].data[0].current_period_end
    listed = stripe_sdk.v1.subscription_items.list(params={"subscription": subscription.id})
    assert len(listed.data) == 2
    assert stripe_sdk.v1.subscription_items.update(item.id, params={"quantity": 3}).quantity == 3
    assert stripe_sdk.v1.subscription_items.delete(item.id).deleted is True
    last = subscription["items"].data[0]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.subscription_items.delete(last.id)


def test_search_subscriptions_and_invoices(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(
        stripe_sdk, customer.id, recurring_price(stripe_sdk).id, metadata={"plan": "pro"}
    )
    found = stripe_sdk.v1.subscriptions.search(
        params={"query": "status:'active' AND metadata['plan']:'pro'"}
    )
    assert [s.id for s in found.data] == [subscription.id]
    invoices = stripe_sdk.v1.invoices.search(
        params={"query": f"subscription:'{subscription.id}' AND total>=1900"}
    )
    assert [i.id for i in invoices.data] == [subscription.latest_invoice]


def test_deleting_a_customer_cancels_its_subscriptions(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    subscription = subscribe(stripe_sdk, customer.id, recurring_price(stripe_sdk).id)
    stripe_sdk.v1.customers.delete(customer.id)
    assert stripe_sdk.v1.subscriptions.retrieve(subscription.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.customers.update(customer.id, params={"name": "ghost"})


# --- invoices on their own ----------------------------------------------------------------------


def test_invoice_lines_are_edited_while_draft(stripe_sdk):
    customer = paying_customer(stripe_sdk)
    invoice = stripe_sdk.v1.invoices.create(params={"customer": customer.id})
    invoice = stripe_sdk.v1.invoices.add_lines(
        invoice.id,
        params={
            "lines": [
                {"amount": 500, "description": "setup"},
                {"amount": 250, "description": "extra"},
            ]
        },
    )
    assert invoice.amount_due == 750
    first, second = invoice.lines.data
    invoice = stripe_sdk.v1.invoices.update_lines(
        invoice.id, params={"lines": [{"id": first.id, "amount": 600}]}
    )
    assert invoice.amount_due == 850
    line = stripe_sdk.v1.invoices.line_items.update(
        invoice.id, second.id, params={"description": "changed"}
    )
    assert line.description == "changed"
    invoice = stripe_sdk.v1.invoices.remove_lines(
        invoice.id, params={"lines": [{"id": second.id, "behavior": "delete"}]}
    )
    assert invoice.amount_due == 600
    final = stripe_sdk.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.invoices.add_lines(final.id, params={"lines": [{"amount": 1}]})
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.invoices.update(final.id, params={"collection_method": "send_invoice"})
    assert stripe_sdk.v1.invoices.update(
        final.id, params={"metadata": {"k": "v"}}
    ).metadata.to_dict() == {"k": "v"}


def test_an_open_invoice_is_voided_or_marked_uncollectible(stripe_sdk):
    customer = paying_customer(stripe_sdk)

    def open_invoice() -> str:
        draft = stripe_sdk.v1.invoices.create(params={"customer": customer.id})
        stripe_sdk.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 900}]})
        return stripe_sdk.v1.invoices.finalize_invoice(draft.id).id

    voided = stripe_sdk.v1.invoices.void_invoice(open_invoice())
    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.invoices.pay(voided.id)
    bad = stripe_sdk.v1.invoices.mark_uncollectible(open_invoice())
    assert bad.status == "uncollectible"
    sent = stripe_sdk.v1.invoices.send_invoice(open_invoice())
    assert sent.status == "open"
    outside = stripe_sdk.v1.invoices.pay(open_invoice(), params={"paid_out_of_band": True})
    assert outside.status == "paid"
    statuses = {i.status for i in stripe_sdk.v1.invoices.list(params={"customer": customer.id})}
    assert statuses == {"void", "uncollectible", "open", "paid"}


def test_a_send_invoice_invoice_needs_a_due_date(stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "b2b@example.com"})
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.invoices.create(
            params={"customer": customer.id, "collection_method": "send_invoice"}
        )
    invoice = stripe_sdk.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 14}
    )
    assert invoice.due_date == invoice.created + 14 * DAY


def test_an_auto_advancing_invoice_is_collected_an_hour_after_finalizing(
    stripe_twin: StripeTwin, stripe_sdk
):
    customer = paying_customer(stripe_sdk)
    draft = stripe_sdk.v1.invoices.create(params={"customer": customer.id, "auto_advance": True})
    stripe_sdk.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 4200}]})
    final = stripe_sdk.v1.invoices.finalize_invoice(draft.id)
    assert final.status == "open"
    assert final.next_payment_attempt == final.status_transitions.finalized_at + 3600
    stripe_twin.advance(3600)
    assert stripe_sdk.v1.invoices.retrieve(draft.id).status == "paid"


# --- payment intents ------------------------------------------------------------------------------


def test_payment_intent_rules(stripe_sdk):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert caught.value.code == "amount_too_small"
    intent = stripe_sdk.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "metadata": {"order": "7"}}
    )
    assert intent.automatic_payment_methods.enabled is True
    assert intent.client_secret.startswith(intent.id + "_secret_")
    updated = stripe_sdk.v1.payment_intents.update(intent.id, params={"amount": 1500})
    assert updated.amount == 1500
    confirmed = stripe_sdk.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert confirmed.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.payment_intents.update(intent.id, params={"amount": 10_000})
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.payment_intents.cancel(intent.id)
    found = stripe_sdk.v1.payment_intents.search(
        params={"query": "status:'succeeded' AND amount:1500 AND metadata['order']:'7'"}
    )
    assert [p.id for p in found.data] == [intent.id]


# --- checkout ---------------------------------------------------------------------------------


def test_completing_a_subscription_checkout_bills_it(stripe_twin: StripeTwin, stripe_sdk):
    session = open_checkout(
        stripe_sdk,
        customer_email="ada@example.com",
        subscription_data={"metadata": {"tier": "pro"}},
    )
    completed = stripe_twin.complete(session.id)
    assert completed.status_code == 200, completed.text
    done = stripe_sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription", "invoice", "customer"]}
    )
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer.email == "ada@example.com"
    assert done.customer_details.email == "ada@example.com"
    assert done.subscription.status == "active"
    assert done.subscription.metadata["tier"] == "pro"
    assert done.subscription.default_payment_method.startswith("pm_")
    assert done.invoice.status == "paid"
    assert done.invoice.id == done.subscription.latest_invoice
    assert done.url is None
    assert stripe_twin.complete(session.id).status_code == 409


def test_completing_a_payment_checkout_confirms_a_payment_intent(
    stripe_twin: StripeTwin, stripe_sdk
):
    session = stripe_sdk.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "http://127.0.0.1/ok",
            "customer_creation": "always",
            "invoice_creation": {"enabled": True},
            "line_items": [
                {
                    "quantity": 2,
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 750,
                        "product_data": {"name": "Report"},
                    },
                }
            ],
        }
    )
    assert session.amount_total == 1500
    assert stripe_twin.complete(session.id, email="buyer@example.com").status_code == 200
    done = stripe_sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "invoice"]}
    )
    assert done.payment_intent.status == "succeeded"
    assert done.payment_intent.amount == 1500
    assert done.payment_intent.currency == "eur"
    assert done.invoice.status == "paid"
    assert done.customer is not None


def test_a_declined_card_leaves_the_checkout_open(stripe_twin: StripeTwin, stripe_sdk):
    session = open_checkout(stripe_sdk)
    declined = stripe_twin.complete(session.id, payment_method="pm_card_chargeDeclined")
    assert declined.status_code == 402
    assert declined.json()["decline_code"] == "generic_decline"
    assert stripe_sdk.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_an_open_checkout_expires_with_the_clock(stripe_twin: StripeTwin, stripe_sdk):
    session = open_checkout(stripe_sdk)
    stripe_twin.advance(session.expires_at - session.created)
    assert stripe_sdk.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert "checkout.session.expired" in event_types(stripe_sdk)


def test_embedded_checkout_has_a_client_secret_and_no_url(stripe_sdk):
    price = recurring_price(stripe_sdk)
    session = stripe_sdk.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "ui_mode": "embedded",
            "return_url": "http://127.0.0.1/done?session_id={CHECKOUT_SESSION_ID}",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    assert session.url is None
    assert session.client_secret.startswith(session.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_sdk.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "ui_mode": "embedded",
                "success_url": "http://127.0.0.1/ok",
                "line_items": [{"price": price.id, "quantity": 1}],
            }
        )


def test_payment_mode_refuses_a_recurring_price(stripe_sdk):
    price = recurring_price(stripe_sdk)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_sdk.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "http://127.0.0.1/ok",
                "line_items": [{"price": price.id, "quantity": 1}],
            }
        )
    assert "recurring price" in str(caught.value.user_message)


def test_billing_portal_session_points_at_the_twin(stripe_twin: StripeTwin, stripe_sdk):
    customer = stripe_sdk.v1.customers.create(params={"email": "p@example.com"})
    portal = stripe_sdk.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://127.0.0.1/account"}
    )
    assert portal.url.startswith(stripe_twin.url)
    assert portal.configuration.startswith("bpc_")
