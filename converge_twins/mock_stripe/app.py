"""mock-stripe: the parts of Stripe's API gravix uses, form-encoded, with test-mode keys only.

Authentication is ``Authorization: Bearer sk_test_…``; anything else is Stripe's 401 (error type
``invalid_request_error``, as the real API sends for a bad key; the SDKs raise their
``AuthenticationError`` from the status), so a live key can never be used by mistake. Every POST
honours ``Idempotency-Key``: the same key with the same parameters replays the first answer
(``Idempotent-Replayed: true``), with other parameters it is a 400 ``idempotency_error``.

Resources: customers, products, prices, checkout sessions, subscriptions, billing portal
sessions, events; lists are newest first with ``limit``/``starting_after``/``ending_before``.
Checkout and portal URLs point back at this twin (``/c/pay/<id>``, ``/p/session/<id>``).

Control: ``POST /_twin/checkout/{id}/complete`` completes a session (customer and an active
subscription for subscription mode) and delivers ``checkout.session.completed`` and
``customer.subscription.updated`` before answering; ``GET|POST /_twin/webhooks`` shows or
changes the delivery URL. Environment: ``STRIPE_WEBHOOK_URL``, ``STRIPE_WEBHOOK_SECRET``
(default ``whsec_converge_test_secret``), plus the shared ``TWIN_*`` variables.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from converge_twins.control import Twin, build_app, environment
from converge_twins.mock_stripe.forms import Params, StripeError
from converge_twins.mock_stripe.forms import decode as decode_form
from converge_twins.mock_stripe.webhooks import DEFAULT_WEBHOOK_SECRET, Webhooks

Obj = dict[str, Any]
Handler = Callable[[Request, Params], Awaitable[Obj]]
API_VERSION = "2025-03-31.basil"
INTERVAL_SECONDS = {"day": 86_400, "week": 604_800, "month": 2_592_000, "year": 31_536_000}
ERROR_KINDS = {402: "card_error", 429: "rate_limit_error"}
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
)


def masked(key: str) -> str:
    return f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}" if len(key) > 12 else "****"


def error_response(status: int, path: str, message: str | None) -> Response:
    kind = ERROR_KINDS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    defaults = {
        404: f"Unrecognized request URL ({path}).",
        429: "Request rate limit exceeded.",
        405: f"Unrecognized request URL ({path}).",
        413: "Request body too large.",
    }
    text = message or defaults.get(status, "An unknown error occurred. Please try again.")
    return JSONResponse(StripeError(status, text, kind=kind).body(), status_code=status)


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class StripeTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-stripe", env, error_response)
        self.webhooks = Webhooks(
            self.twin,
            env.get("STRIPE_WEBHOOK_URL") or None,
            env.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET,
        )
        self.objects: dict[str, dict[str, Obj]] = {}
        self.line_items: dict[str, list[Obj]] = {}
        self.idempotency: dict[str, tuple[str, int, bytes]] = {}
        self.api_version = API_VERSION
        self.background: set[asyncio.Task[Any]] = set()
        self.twin.on_reset(self.reset)

    def reset(self) -> None:
        self.objects.clear()
        self.line_items.clear()
        self.idempotency.clear()
        self.api_version = API_VERSION

    # storage -----------------------------------------------------------------------------

    def store(self, kind: str, obj: Obj) -> Obj:
        self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, label: str, param: str = "id") -> Obj:
        found = self.objects.get(kind, {}).get(object_id)
        if found is None:
            raise missing(label, object_id, param)
        return found

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.twin.ids.prefixed(prefix, length)

    def listing(
        self, request: Request, params: Params, kind: str, keep: Callable[[Obj], bool]
    ) -> Obj:
        items = [obj for obj in reversed(self.objects.get(kind, {}).values()) if keep(obj)]
        ids = [obj["id"] for obj in items]
        after, before = params.text("starting_after"), params.text("ending_before")
        if after is not None:
            if after not in ids:
                raise missing(kind, after, "starting_after")
            items = items[ids.index(after) + 1 :]
        elif before is not None:
            if before not in ids:
                raise missing(kind, before, "ending_before")
            items = items[: ids.index(before)]
        limit = params.integer("limit") or 10
        if not 1 <= limit <= 100:
            raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
        page = items[-limit:] if before is not None else items[:limit]
        return {
            "object": "list",
            "data": page,
            "has_more": len(items) > len(page),
            "url": request.url.path,
        }

    def event(self, kind: str, obj: Obj, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": json.loads(json.dumps(obj))}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self.new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.twin.clock.timestamp(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhooks.url else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        return self.store("event", event)

    def deliver_later(self, event: Obj) -> None:
        """Events caused by an API call go out after the answer, as Stripe's do."""
        task = asyncio.get_running_loop().create_task(self.webhooks.deliver(event))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # the request pipeline ----------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header:
            raise StripeError(401, NO_KEY)
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith("sk_test_") or len(key) <= 8:
            raise StripeError(401, f"Invalid API Key provided: {masked(key or header)}")

    def endpoint(
        self, handler: Handler, allowed: frozenset[str] = frozenset()
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            request_id = self.new_id("req_", 14)
            headers = {"Request-Id": request_id, "Stripe-Version": self.api_version}
            key: str | None = None
            fingerprint = ""
            try:
                self.authenticate(request)
                version = request.headers.get("stripe-version")
                if version:
                    self.api_version = version
                    headers["Stripe-Version"] = version
                raw = await request.body()
                source = raw.decode() if request.method == "POST" else request.url.query
                pairs = parse_qsl(source, keep_blank_values=True)
                key = request.headers.get("idempotency-key")
                fingerprint = json.dumps([request.method, request.url.path, sorted(pairs)])
                if key and request.method == "POST":
                    stored = self.idempotency.get(key)
                    if stored is not None:
                        if stored[0] != fingerprint:
                            raise StripeError(
                                400,
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                                kind="idempotency_error",
                            )
                        replay = {**headers, "Idempotent-Replayed": "true", "Idempotency-Key": key}
                        return Response(stored[2], stored[1], replay, media_type="application/json")
                params = Params(decode_form(pairs), allowed)
                status, body = 200, await handler(request, params)
            except StripeError as exc:
                status, body = exc.status, exc.body()
            content = json.dumps(body, indent=2).encode()
            if key and request.method == "POST" and status < 500 and status != 401:
                self.idempotency[key] = (fingerprint, status, content)
                headers["Idempotency-Key"] = key
            return Response(content, status, headers, media_type="application/json")

        return run

    # customers ---------------------------------------------------------------------------

    async def create_customer(self, request: Request, params: Params) -> Obj:
        customer: Obj = {
            "id": self.new_id("cus_", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self.twin.clock.timestamp(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.text("description"),
            "email": params.text("email"),
            "invoice_prefix": self.twin.ids.token(8).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
            },
            "livemode": False,
            "metadata": params.metadata(),
            "name": params.text("name"),
            "phone": params.text("phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        return self.store("customer", customer)

    async def customer(self, request: Request, params: Params) -> Obj:
        customer = self.get("customer", request.path_params["id"], "customer")
        if request.method == "DELETE":
            del self.objects["customer"][customer["id"]]
            return {"id": customer["id"], "object": "customer", "deleted": True}
        if request.method == "POST":
            for field in ("email", "name", "description", "phone"):
                if field in params:
                    customer[field] = params.text(field)
            customer["metadata"] = params.metadata(customer["metadata"])
        return customer

    async def list_customers(self, request: Request, params: Params) -> Obj:
        email = params.text("email")
        return self.listing(
            request, params, "customer", lambda c: email is None or c["email"] == email
        )

    # products and prices -----------------------------------------------------------------

    def new_product(self, name: str | None, params: Params | None = None) -> Obj:
        if not name:
            raise StripeError(
                400, "Missing required param: name.", code="parameter_missing", param="name"
            )
        now = self.twin.clock.timestamp()
        product = {
            "id": self.new_id("prod_", 14),
            "object": "product",
            "active": True if params is None else params.boolean("active") is not False,
            "created": now,
            "default_price": None,
            "description": params.text("description") if params else None,
            "images": [],
            "livemode": False,
            "metadata": params.metadata() if params else {},
            "name": name,
            "type": "service",
            "updated": now,
        }
        return self.store("product", product)

    async def create_product(self, request: Request, params: Params) -> Obj:
        return self.new_product(params.text("name", required=True), params)

    async def product(self, request: Request, params: Params) -> Obj:
        product = self.get("product", request.path_params["id"], "product")
        if request.method == "POST":
            for field in ("name", "description"):
                if field in params:
                    product[field] = params.text(field)
            if "active" in params:
                product["active"] = params.boolean("active")
            product["metadata"] = params.metadata(product["metadata"])
            product["updated"] = self.twin.clock.timestamp()
        return product

    async def list_products(self, request: Request, params: Params) -> Obj:
        active = params.boolean("active")
        return self.listing(
            request, params, "product", lambda p: active is None or p["active"] == active
        )

    async def create_price(self, request: Request, params: Params) -> Obj:
        currency = params.text("currency", required=True)
        product_id = params.text("product")
        if product_id:
            self.get("product", product_id, "product", "product")
        else:
            data = params.mapping("product_data")
            if not data:
                raise StripeError(
                    400,
                    "Missing required param: product.",
                    code="parameter_missing",
                    param="product",
                )
            product_id = self.new_product(data.get("name"))["id"]
        unit_amount = params.integer("unit_amount")
        if unit_amount is None:
            raise StripeError(
                400,
                "Missing required param: unit_amount.",
                code="parameter_missing",
                param="unit_amount",
            )
        recurring_params = params.mapping("recurring")
        recurring = None
        if recurring_params:
            interval = recurring_params.get("interval")
            if interval not in INTERVAL_SECONDS:
                raise StripeError(
                    400,
                    "Invalid recurring[interval]: must be one of day, week, month, or year",
                    param="recurring[interval]",
                )
            recurring = {
                "interval": interval,
                "interval_count": int(recurring_params.get("interval_count", "1")),
                "usage_type": "licensed",
                "aggregate_usage": None,
                "meter": None,
                "trial_period_days": None,
            }
        lookup_key = params.text("lookup_key")
        if lookup_key:
            for other in self.objects.get("price", {}).values():
                if other["lookup_key"] == lookup_key:
                    if params.boolean("transfer_lookup_key"):
                        other["lookup_key"] = None
                    else:
                        raise StripeError(
                            400,
                            f"A price (`{other['id']}`) already uses that lookup key.",
                            param="lookup_key",
                        )
        price = {
            "id": self.new_id("price_"),
            "object": "price",
            "active": params.boolean("active") is not False,
            "billing_scheme": "per_unit",
            "created": self.twin.clock.timestamp(),
            "currency": currency.lower() if currency else currency,
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": params.metadata(),
            "nickname": params.text("nickname"),
            "product": product_id,
            "recurring": recurring,
            "tax_behavior": "unspecified",
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        return self.store("price", price)

    async def price(self, request: Request, params: Params) -> Obj:
        price = self.get("price", request.path_params["id"], "price")
        if request.method == "POST":
            for field in ("nickname", "lookup_key"):
                if field in params:
                    price[field] = params.text(field)
            if "active" in params:
                price["active"] = params.boolean("active")
            price["metadata"] = params.metadata(price["metadata"])
        return price

    async def list_prices(self, request: Request, params: Params) -> Obj:
        keys = set(params.strings("lookup_keys"))
        active = params.boolean("active")
        product = params.text("product")
        kind = params.text("type")
        return self.listing(
            request,
            params,
            "price",
            lambda p: (
                (not keys or p["lookup_key"] in keys)
                and (active is None or p["active"] == active)
                and (product is None or p["product"] == product)
                and (kind is None or p["type"] == kind)
            ),
        )

    # checkout ----------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def create_checkout(self, request: Request, params: Params) -> Obj:
        mode = params.text("mode", required=True)
        if mode not in ("payment", "subscription", "setup"):
            raise StripeError(
                400, "Invalid mode: must be one of payment, setup, or subscription", param="mode"
            )
        success_url = params.text("success_url")
        if not success_url and params.text("ui_mode") in (None, "hosted"):
            raise StripeError(
                400,
                "Missing required param: success_url.",
                code="parameter_missing",
                param="success_url",
            )
        customer_id = params.text("customer")
        if customer_id:
            self.get("customer", customer_id, "customer", "customer")
            if params.text("customer_email"):
                raise StripeError(
                    400,
                    "You may only specify one of these parameters: customer, customer_email.",
                    param="customer_email",
                )
        session_id = self.new_id("cs_test_", 58)
        items = self.checkout_items(session_id, params, mode)
        currency = items[0]["currency"] if items else None
        amount = sum(item["amount_total"] for item in items)
        now = self.twin.clock.timestamp()
        subscription_data = params.mapping("subscription_data")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.text("cancel_url"),
            "client_reference_id": params.text("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": customer_id,
            "customer_details": None,
            "customer_email": params.text("customer_email"),
            "expires_at": now + 86_400,
            "invoice": None,
            "livemode": False,
            "metadata": params.metadata(),
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": success_url,
            "ui_mode": params.text("ui_mode") or "hosted",
            "url": f"{self.base_url(request)}/c/pay/{session_id}",
        }
        metadata = subscription_data.get("metadata")
        self.store("checkout_subscription_metadata", {"id": session_id, "metadata": metadata or {}})
        return self.expanded(self.store("checkout.session", session), params)

    def checkout_items(self, session_id: str, params: Params, mode: str) -> list[Obj]:
        line_items = params.items("line_items")
        if mode in ("payment", "subscription") and not line_items:
            raise StripeError(
                400,
                "Missing required param: line_items.",
                code="parameter_missing",
                param="line_items",
            )
        items = []
        for index, entry in enumerate(line_items):
            price_id = entry.get("price")
            if not isinstance(price_id, str) or not price_id:
                raise StripeError(
                    400,
                    f"Missing required param: line_items[{index}][price].",
                    code="parameter_missing",
                    param=f"line_items[{index}][price]",
                )
            price = self.get("price", price_id, "price", f"line_items[{index}][price]")
            quantity = int(entry.get("quantity", "1"))
            product = self.objects.get("product", {}).get(price["product"], {})
            items.append(
                {
                    "id": self.new_id("li_"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": price["unit_amount"] * quantity,
                    "amount_tax": 0,
                    "amount_total": price["unit_amount"] * quantity,
                    "currency": price["currency"],
                    "description": product.get("name"),
                    "price": price,
                    "quantity": quantity,
                }
            )
        if mode == "subscription" and not any(item["price"]["recurring"] for item in items):
            raise StripeError(
                400,
                "You must provide at least one recurring price in `subscription` mode when "
                "using prices.",
                param="line_items",
            )
        self.line_items[session_id] = items
        return items

    def expanded(self, session: Obj, params: Params) -> Obj:
        if "line_items" not in params.strings("expand"):
            return session
        items = self.line_items.get(session["id"], [])
        return {
            **session,
            "line_items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items",
            },
        }

    async def checkout(self, request: Request, params: Params) -> Obj:
        session = self.get("checkout.session", request.path_params["id"], "checkout.session")
        return self.expanded(session, params)

    async def expire_checkout(self, request: Request, params: Params) -> Obj:
        session = self.get("checkout.session", request.path_params["id"], "checkout.session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".',
            )
        session["status"] = "expired"
        return session

    async def checkout_line_items(self, request: Request, params: Params) -> Obj:
        session = self.get("checkout.session", request.path_params["id"], "checkout.session")
        items = self.line_items.get(session["id"], [])
        return {"object": "list", "data": items, "has_more": False, "url": request.url.path}

    async def list_checkouts(self, request: Request, params: Params) -> Obj:
        customer, status = params.text("customer"), params.text("status")
        subscription = params.text("subscription")
        return self.listing(
            request,
            params,
            "checkout.session",
            lambda s: (
                (customer is None or s["customer"] == customer)
                and (status is None or s["status"] == status)
                and (subscription is None or s["subscription"] == subscription)
            ),
        )

    # subscriptions -----------------------------------------------------------------------

    def new_subscription(
        self, customer_id: str, prices: list[tuple[Obj, int]], metadata: Mapping[str, Any]
    ) -> Obj:
        now = self.twin.clock.timestamp()
        subscription_id = self.new_id("sub_")
        interval = next(
            (price["recurring"]["interval"] for price, _ in prices if price["recurring"]), "month"
        )
        end = now + INTERVAL_SECONDS[interval]
        items = [
            {
                "id": self.new_id("si_", 14),
                "object": "subscription_item",
                "created": now,
                "current_period_end": end,
                "current_period_start": now,
                "metadata": {},
                "price": price,
                "quantity": quantity,
                "subscription": subscription_id,
            }
            for price, quantity in prices
        ]
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "billing_cycle_anchor": now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": prices[0][0]["currency"] if prices else "usd",
            "current_period_end": end,
            "current_period_start": now,
            "customer": customer_id,
            "default_payment_method": None,
            "ended_at": None,
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "start_date": now,
            "status": "active",
            "trial_end": None,
            "trial_start": None,
        }
        return self.store("subscription", subscription)

    def subscription_prices(self, params: Params) -> list[tuple[Obj, int]]:
        entries = params.items("items")
        if not entries:
            raise StripeError(
                400, "Missing required param: items.", code="parameter_missing", param="items"
            )
        prices = []
        for index, entry in enumerate(entries):
            price = self.get("price", str(entry.get("price")), "price", f"items[{index}][price]")
            if not price["recurring"]:
                raise StripeError(
                    400,
                    "The price specified is set to `type=one_time` but this field only "
                    "accepts prices with `type=recurring`.",
                    param=f"items[{index}][price]",
                )
            prices.append((price, int(entry.get("quantity", "1"))))
        return prices

    async def create_subscription(self, request: Request, params: Params) -> Obj:
        customer_id = params.text("customer", required=True) or ""
        self.get("customer", customer_id, "customer", "customer")
        subscription = self.new_subscription(
            customer_id, self.subscription_prices(params), params.metadata()
        )
        self.deliver_later(self.event("customer.subscription.created", subscription))
        return subscription

    async def subscription(self, request: Request, params: Params) -> Obj:
        subscription = self.get("subscription", request.path_params["id"], "subscription")
        if request.method == "GET":
            return subscription
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        now = self.twin.clock.timestamp()
        if request.method == "DELETE":
            before = {"status": subscription["status"]}
            subscription.update(status="canceled", canceled_at=now, ended_at=now)
            self.deliver_later(self.event("customer.subscription.deleted", subscription, before))
            return subscription
        previous: Obj = {}
        if "cancel_at_period_end" in params:
            previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
            subscription["cancel_at_period_end"] = params.boolean("cancel_at_period_end")
            subscription["cancel_at"] = (
                subscription["current_period_end"] if subscription["cancel_at_period_end"] else None
            )
        if "metadata" in params:
            previous["metadata"] = subscription["metadata"]
            subscription["metadata"] = params.metadata(subscription["metadata"])
        if "items" in params:
            previous["items"] = json.loads(json.dumps(subscription["items"]))
            for index, entry in enumerate(params.items("items")):
                price_id = entry.get("price")
                item_id = entry.get("id")
                current = subscription["items"]["data"]
                target = next((i for i in current if i["id"] == item_id), None)
                if item_id and target is None:
                    raise missing("subscription_item", str(item_id), f"items[{index}][id]")
                if price_id:
                    price = self.get("price", str(price_id), "price", f"items[{index}][price]")
                    if target is None:
                        continue
                    target["price"] = price
                if "quantity" in entry and target is not None:
                    target["quantity"] = int(entry["quantity"])
        if previous:
            self.deliver_later(self.event("customer.subscription.updated", subscription, previous))
        return subscription

    async def list_subscriptions(self, request: Request, params: Params) -> Obj:
        customer, status, price = (
            params.text("customer"),
            params.text("status"),
            params.text("price"),
        )
        return self.listing(
            request,
            params,
            "subscription",
            lambda s: (
                (customer is None or s["customer"] == customer)
                and (
                    (status is None and s["status"] != "canceled")
                    or status == "all"
                    or s["status"] == status
                )
                and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
            ),
        )

    # billing portal and events -----------------------------------------------------------

    async def create_portal(self, request: Request, params: Params) -> Obj:
        customer_id = params.text("customer", required=True) or ""
        self.get("customer", customer_id, "customer", "customer")
        token = self.twin.ids.token(32)
        session = {
            "id": self.new_id("bps_"),
            "object": "billing_portal.session",
            "configuration": "bpc_" + self.twin.ids.token(24),
            "created": self.twin.clock.timestamp(),
            "customer": customer_id,
            "flow": None,
            "livemode": False,
            "locale": None,
            "on_behalf_of": None,
            "return_url": params.text("return_url"),
            "url": f"{self.base_url(request)}/p/session/{token}",
        }
        return self.store("billing_portal.session", session)

    async def events(self, request: Request, params: Params) -> Obj:
        kind = params.text("type")
        return self.listing(request, params, "event", lambda e: kind is None or e["type"] == kind)

    async def one_event(self, request: Request, params: Params) -> Obj:
        return self.get("event", request.path_params["id"], "event")

    # hosted pages and control ------------------------------------------------------------

    async def checkout_page(self, request: Request) -> Response:
        session = self.objects.get("checkout.session", {}).get(request.path_params["id"])
        if session is None:
            return HTMLResponse("<h1>Checkout session not found</h1>", status_code=404)
        return HTMLResponse(
            f"<h1>mock-stripe checkout</h1><p>{session['id']}: {session['status']}</p>"
            f"<p>Complete it with POST /_twin/checkout/{session['id']}/complete</p>"
        )

    async def portal_page(self, request: Request) -> Response:
        return HTMLResponse("<h1>mock-stripe billing portal</h1>")

    async def complete_checkout(self, request: Request) -> Response:
        session = self.objects.get("checkout.session", {}).get(request.path_params["id"])
        if session is None:
            return JSONResponse({"error": "no such checkout session"}, status_code=404)
        if session["status"] != "open":
            return JSONResponse(
                {"error": f"the session is {session['status']}, not open"}, status_code=409
            )
        customer_id = session["customer"]
        email = session["customer_email"]
        if customer_id is None:
            params = Params({"email": email} if email else {})
            customer_id = (await self.create_customer(request, params))["id"]
        customer = self.objects["customer"][customer_id]
        subscription = None
        if session["mode"] == "subscription":
            prices = [
                (item["price"], item["quantity"])
                for item in self.line_items.get(session["id"], [])
                if item["price"]["recurring"]
            ]
            metadata = self.objects["checkout_subscription_metadata"][session["id"]]["metadata"]
            subscription = self.new_subscription(customer_id, prices, metadata)
        session.update(
            status="complete",
            payment_status="paid",
            customer=customer_id,
            customer_details={"email": email or customer["email"], "name": customer["name"]},
            subscription=subscription["id"] if subscription else None,
        )
        deliveries = [
            await self.webhooks.deliver(self.event("checkout.session.completed", session))
        ]
        if subscription is not None:
            updated = self.event(
                "customer.subscription.updated", subscription, {"status": "incomplete"}
            )
            deliveries.append(await self.webhooks.deliver(updated))
        return JSONResponse(
            {"session": session, "subscription": subscription, "deliveries": deliveries}
        )

    async def webhook_settings(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
                url = body["url"]
                if url is not None and not isinstance(url, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"error": 'send {"url": "http://…" or null}'}, status_code=400)
            self.webhooks.url = url
        return JSONResponse({"url": self.webhooks.url, "secret_configured": True})

    # routes ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        e = self.endpoint
        customer_fields = frozenset(
            {"email", "name", "description", "phone", "metadata", "address", "shipping",
             "payment_method", "invoice_settings", "preferred_locales", "tax_exempt"}
        )  # fmt: skip
        checkout_fields = frozenset(
            {"mode", "line_items", "success_url", "cancel_url", "customer", "customer_email",
             "client_reference_id", "metadata", "subscription_data", "ui_mode", "return_url",
             "allow_promotion_codes", "billing_address_collection", "payment_method_types",
             "customer_creation", "locale", "expires_at", "automatic_tax", "currency"}
        )  # fmt: skip
        price_fields = frozenset(
            {"currency", "unit_amount", "product", "product_data", "recurring", "lookup_key",
             "nickname", "metadata", "active", "transfer_lookup_key", "tax_behavior"}
        )  # fmt: skip
        return [
            Route("/v1/customers", e(self.create_customer, customer_fields), methods=["POST"]),
            Route("/v1/customers", e(self.list_customers), methods=["GET"]),
            Route("/v1/customers/{id}", e(self.customer), methods=["GET", "POST", "DELETE"]),
            Route(
                "/v1/products",
                e(self.create_product, frozenset({"name", "description", "metadata", "active"})),
                methods=["POST"],
            ),
            Route("/v1/products", e(self.list_products), methods=["GET"]),
            Route("/v1/products/{id}", e(self.product), methods=["GET", "POST"]),
            Route("/v1/prices", e(self.create_price, price_fields), methods=["POST"]),
            Route("/v1/prices", e(self.list_prices), methods=["GET"]),
            Route("/v1/prices/{id}", e(self.price), methods=["GET", "POST"]),
            Route(
                "/v1/checkout/sessions", e(self.create_checkout, checkout_fields), methods=["POST"]
            ),
            Route("/v1/checkout/sessions", e(self.list_checkouts), methods=["GET"]),
            Route("/v1/checkout/sessions/{id}", e(self.checkout), methods=["GET"]),
            Route("/v1/checkout/sessions/{id}/expire", e(self.expire_checkout), methods=["POST"]),
            Route(
                "/v1/checkout/sessions/{id}/line_items",
                e(self.checkout_line_items),
                methods=["GET"],
            ),
            Route(
                "/v1/subscriptions",
                e(self.create_subscription, frozenset({"customer", "items", "metadata"})),
                methods=["POST"],
            ),
            Route("/v1/subscriptions", e(self.list_subscriptions), methods=["GET"]),
            Route(
                "/v1/subscriptions/{id}", e(self.subscription), methods=["GET", "POST", "DELETE"]
            ),
            Route(
                "/v1/billing_portal/sessions",
                e(self.create_portal, frozenset({"customer", "return_url", "configuration"})),
                methods=["POST"],
            ),
            Route("/v1/events", e(self.events), methods=["GET"]),
            Route("/v1/events/{id}", e(self.one_event), methods=["GET"]),
            Route("/c/pay/{id}", self.checkout_page, methods=["GET"]),
            Route("/p/session/{token}", self.portal_page, methods=["GET"]),
        ]

    def control(self) -> list[BaseRoute]:
        return [
            Route("/checkout/{id}/complete", self.complete_checkout, methods=["POST"]),
            Route("/webhooks", self.webhook_settings, methods=["GET", "POST"]),
        ]


def create_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    twin = StripeTwin(environment(env))
    return build_app(twin.twin, twin.routes(), twin.control())
