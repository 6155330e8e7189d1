"""Upgrades through Stripe: a checkout session to pay, then a signed webhook that raises the tier.

The tier is raised only by the webhook, never by the checkout call: a user who opens a checkout
and walks away must not be upgraded. The webhook answers 2xx for any verified event it cannot
use, so Stripe does not retry it forever; only a bad signature or body gets a 400.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from converge_gravix import payload, profiles
from converge_gravix.auth import authenticate
from converge_gravix.context import context
from converge_gravix.errors import ApiError
from converge_gravix.stripe_client import StripeClient, verify_signature
from converge_gravix.supabase_client import SupabaseClient
from converge_gravix.tiers import PRICES, PURCHASABLE, Tier, parse_tier, rank

log = logging.getLogger("converge_gravix.billing")

LOOKUP_PREFIX = "gravix_"
ACTIVE_STATUSES = frozenset({"active", "trialing"})
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired"})


async def create_checkout(request: Request) -> Response:
    """A Stripe checkout session for an upgrade.

    Two ways in, as Stripe's own integration guide has them: an API client posts JSON and gets
    the session as JSON (201); the pricing page's HTML form posts ``tier=pro`` urlencoded and is
    redirected to Stripe's hosted checkout (303 See Other, ``Location`` the session's URL).
    """
    user = await authenticate(request)
    from_form = _is_form(request)
    body = await (payload.form_object(request) if from_form else payload.json_object(request))
    tier = parse_tier(body.get("tier"))
    if tier not in PURCHASABLE:
        raise payload.invalid(f"tier must be one of {', '.join(PURCHASABLE)}", "tier")
    if rank(user.tier) >= rank(tier):
        raise ApiError(
            409, "already_subscribed", f"your tier is already {user.tier}", tier=user.tier
        )
    ctx = context(request)
    profile = await profiles.load(ctx.db, user.id)
    customer_id = profile.get("stripe_customer_id") if profile else None
    if not customer_id:
        customer = await ctx.stripe.create(
            "customers",
            {
                "email": user.email,
                "metadata": {"user_id": user.id},
            },
        )
        customer_id = str(customer["id"])
        await profiles.save(ctx.db, user.id, stripe_customer_id=customer_id, email=user.email)
    app_url = ctx.settings.app_url.rstrip("/")
    session = await ctx.stripe.create(
        "checkout/sessions",
        {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": user.id,
            "line_items": [{"price": await price_for(ctx.stripe, tier), "quantity": 1}],
            "success_url": f"{app_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{app_url}/billing/cancel",
            "metadata": {"user_id": user.id, "tier": tier},
            "subscription_data": {"metadata": {"user_id": user.id, "tier": tier}},
        },
    )
    created = {
        "session_id": session.get("id"),
        "url": session.get("url"),
        "tier": tier,
        "customer_id": customer_id,
    }
    if from_form and isinstance(session.get("url"), str):
        return RedirectResponse(str(session["url"]), status_code=303)
    return JSONResponse(created, status_code=201)


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


async def price_for(stripe: StripeClient, tier: Tier) -> str:
    """The monthly price of ``tier``, found by its lookup key and created on first use."""
    lookup_key = LOOKUP_PREFIX + tier
    found = await stripe.list("prices", {"lookup_keys": [lookup_key], "active": True})
    for price in found:
        if price.get("lookup_key") == lookup_key:
            return str(price["id"])
    created = await stripe.create(
        "prices",
        {
            "currency": "usd",
            "unit_amount": PRICES[tier],
            "recurring": {"interval": "month"},
            "lookup_key": lookup_key,
            "product_data": {"name": f"Gravix {tier.capitalize()}"},
        },
    )
    return str(created["id"])


async def receive_webhook(request: Request) -> Response:
    ctx = context(request)
    raw = await request.body()
    verify_signature(
        raw,
        request.headers.get("stripe-signature"),
        ctx.settings.stripe_webhook_secret,
        tolerance=ctx.settings.stripe_webhook_tolerance,
    )
    try:
        event = json.loads(raw)
        kind = str(event["type"])
        obj = event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "invalid_event", "the webhook body is not a Stripe event") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "invalid_event", "the webhook body is not a Stripe event")
    handled = await _apply(ctx.db, kind, obj)
    return JSONResponse({"received": True, "type": kind, "handled": handled})


async def _apply(db: SupabaseClient, kind: str, obj: dict[str, Any]) -> bool:
    raw_metadata = obj.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    customer = obj.get("customer") if isinstance(obj.get("customer"), str) else None
    if kind == "checkout.session.completed":
        user_id = obj.get("client_reference_id") or metadata.get("user_id")
        tier = parse_tier(metadata.get("tier"))
        subscription = obj.get("subscription")
        ended = False
    elif kind in {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }:
        user_id = metadata.get("user_id")
        status = obj.get("status")
        ended = kind == "customer.subscription.deleted" or status in ENDED_STATUSES
        active = status in ACTIVE_STATUSES and not ended
        tier = (parse_tier(metadata.get("tier")) or _tier_of_items(obj)) if active else None
        subscription = obj.get("id")
    else:
        return False
    if not user_id and customer:
        profile = await profiles.find_by_customer(db, customer)
        user_id = profile.get("user_id") if profile else None
    if not isinstance(user_id, str) or not user_id:
        log.warning("stripe event %s names no known user; ignored", kind)
        return False
    values: dict[str, object] = {"stripe_subscription_id": subscription}
    # A subscription in between (past_due, incomplete) or of a tier that cannot be told keeps
    # the tier already recorded; only an ended one takes it away.
    if tier is not None or ended:
        values["tier"] = tier
    if customer:
        values["stripe_customer_id"] = customer
    await profiles.save(db, user_id, **values)
    return True


def _tier_of_items(subscription: dict[str, Any]) -> Tier | None:
    """The tier of a subscription's first price, from the lookup key it was created with."""
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    price = data[0].get("price")
    lookup_key = price.get("lookup_key") if isinstance(price, dict) else None
    if isinstance(lookup_key, str) and lookup_key.startswith(LOOKUP_PREFIX):
        return parse_tier(lookup_key.removeprefix(LOOKUP_PREFIX))
    return None


routes = [
    Route("/v1/billing/checkout", create_checkout, methods=["POST"]),
    Route("/v1/billing/webhook", receive_webhook, methods=["POST"]),
]
